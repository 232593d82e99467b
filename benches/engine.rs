//! Policy engine benchmarks (criterion). Figures and the command are in BENCHMARKS.md.
//!
//! - `decide/*`: one container through the built-in library (restricted profile), the wasm
//!   path (PolicyEngine) beside native regorus doing the same work (a clone of a prepared
//!   engine per request, as a thread-safe native server would);
//! - `instance/create`: a fresh instance of the library module (what the pool pays to replace
//!   a failed one);
//! - `load/*`: compiling the library module cold vs loading it from the module cache, each to
//!   the first decision (what a restart costs).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use dockgate::library::{self, Profile};
use dockgate::model::{AdmissionRequest, ContainerSpec, ImageRef, Operation, Origin, Source};
use dockgate::policy::{EngineOptions, PolicyEngine};

fn request() -> AdmissionRequest {
    let mut c = ContainerSpec {
        image: "nginx:1.27".into(),
        image_ref: ImageRef::parse("nginx:1.27").unwrap(),
        user: Some("101:101".into()),
        read_only: true,
        cap_drop: vec!["ALL".into()],
        security_opt: vec!["no-new-privileges=true".into()],
        ..Default::default()
    };
    c.env.insert("DB_PASSWORD".into(), Some("hunter2".into()));
    c.labels.insert("team".into(), "web".into());
    let origin = Origin {
        project: Some("shop".into()),
        service: Some("web".into()),
        ..Default::default()
    };
    AdmissionRequest::new(Operation::Create, Source::Engine, origin, c)
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bundle = library::bundle(Some(Profile::Restricted)).unwrap();
    let engine = rt
        .block_on(PolicyEngine::load(
            bundle.clone(),
            &EngineOptions::default(),
        ))
        .unwrap();
    let req = request();
    let input_json = serde_json::to_string(&req).unwrap();

    let mut native = regorus::Engine::new();
    for f in library::sources()
        .unwrap()
        .rego
        .iter()
        .filter(|f| !f.is_test())
    {
        native.add_policy(f.path.clone(), f.text.clone()).unwrap();
    }
    native
        .add_data(regorus::Value::from_json_str(&bundle.data.to_string()).unwrap())
        .unwrap();
    native.set_input(regorus::Value::new_object());
    native
        .eval_rule("data.dockgate.main.decision".into())
        .unwrap();

    let mut g = c.benchmark_group("decide");
    g.bench_function("wasm", |b| {
        b.to_async(&rt)
            .iter(|| async { engine.decide(&req).await.unwrap() })
    });
    g.bench_function("native", |b| {
        b.iter(|| {
            let mut e = native.clone();
            e.set_input(regorus::Value::from_json_str(&input_json).unwrap());
            e.eval_rule("data.dockgate.main.decision".into()).unwrap()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("instance");
    g.sample_size(20);
    g.bench_function("create", |b| {
        b.to_async(&rt)
            .iter(|| async { engine.probe_instance().await.unwrap() })
    });
    g.finish();
    eprintln!(
        "instance linear memory: {} bytes ({:.2} MiB)",
        rt.block_on(engine.probe_instance()).unwrap(),
        rt.block_on(engine.probe_instance()).unwrap() as f64 / 1048576.0
    );

    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    for (name, cache) in [("cached", true), ("cold", false)] {
        let options = EngineOptions {
            pool_size: 1,
            module_cache: cache,
            ..EngineOptions::default()
        };
        g.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let e = PolicyEngine::load(bundle.clone(), &options).await.unwrap();
                e.decide(&req).await.unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(engine, benches);
criterion_main!(engine);
