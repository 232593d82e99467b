//! `dockgate check` benchmarks (criterion). Figures and the command are in BENCHMARKS.md.
//!
//! - `check/large-500`: evaluation of the generated 500-service project
//!   (`tests/fixtures/check/large/`, `generate.py`) through `check::check_project` — every
//!   service decided by the built-in library (baseline) across the engine pool (one instance
//!   per core), findings located; the project is loaded once, outside the measurement;
//! - `load/large-500`: loading that project (parse, interpolate, schema-validate, normalise);
//! - `check/corpus`: every project of `../shared/corpus/awesome-compose/` decided at once (when
//!   the corpus is there).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use dockgate::check::projects::{self, Loaded, Shared};
use dockgate::check::{self, Evaluated, TaskFailed};
use dockgate::library::{self, Profile};
use dockgate::policy::{EngineOptions, PolicyEngine};

#[derive(Debug)]
struct Failed;

impl From<TaskFailed> for Failed {
    fn from(_: TaskFailed) -> Self {
        Failed
    }
}

async fn check_all(engine: &Arc<PolicyEngine>, loaded: &[Arc<Loaded>]) -> usize {
    let tasks: Vec<_> = loaded
        .iter()
        .map(|l| {
            let (l, engine) = (l.clone(), engine.clone());
            tokio::spawn(async move {
                check::check_project(&l.project, |req| {
                    let engine = engine.clone();
                    async move {
                        let decision = engine.decide(&req).await.map_err(|_| Failed)?;
                        Ok::<_, Failed>(Evaluated {
                            decision,
                            audit_id: String::new(),
                            evaluation_time_us: 0,
                        })
                    }
                })
                .await
            })
        })
        .collect();
    let mut services = 0;
    for t in tasks {
        services += t.await.unwrap().unwrap().0.services.len();
    }
    services
}

fn load(paths: &[PathBuf], recursive: bool) -> Vec<Arc<Loaded>> {
    let cwd = std::env::current_dir().unwrap();
    let shared = Shared {
        cwd: cwd.clone(),
        ..Shared::default()
    };
    projects::targets(&[], paths, recursive, &cwd)
        .unwrap()
        .iter()
        .map(|t| Arc::new(projects::load(t, &shared).unwrap()))
        .collect()
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = Arc::new(
        rt.block_on(PolicyEngine::load(
            library::bundle(Some(Profile::Baseline)).unwrap(),
            &EngineOptions::default(),
        ))
        .unwrap(),
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let large = [root.join("tests/fixtures/check/large")];
    let loaded = load(&large, false);
    assert_eq!(rt.block_on(check_all(&engine, &loaded)), 500);

    let mut g = c.benchmark_group("check");
    g.sample_size(10);
    g.bench_function("large-500", |b| {
        b.iter(|| rt.block_on(check_all(&engine, &loaded)))
    });
    let corpus = root.join("../shared/corpus/awesome-compose");
    if corpus.is_dir() {
        let loaded = load(&[corpus], true);
        println!(
            "corpus: {} projects, {} services",
            loaded.len(),
            rt.block_on(check_all(&engine, &loaded))
        );
        g.bench_function("corpus", |b| {
            b.iter(|| rt.block_on(check_all(&engine, &loaded)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    g.bench_function("large-500", |b| b.iter(|| load(&large, false)));
    g.finish();
}

criterion_group! {
    name = check_benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = benches
}
criterion_main!(check_benches);
