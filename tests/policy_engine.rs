//! The policy engine against real wasm: every bundle form, entrypoints and data, compile and
//! runtime errors, runaway policies, and parity with native regorus under concurrency.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use dockgate::build::{BuildError, BuildOptions, Evaluator, PolicySources, build};
use dockgate::model::{
    AdmissionRequest, ContainerSpec, ImageRef, Mount, Operation, Origin, PortBinding, Source,
};
use dockgate::policy::{Bundle, EngineError, EngineOptions, PolicyEngine};
use serde_json::{Value, json};

const POLICY: &str = r#"package shop.docker

deny contains {"id": "SHOP-1", "msg": msg, "severity": "critical", "field": "container.privileged"} if {
	input.container.privileged
	msg := sprintf("%s is privileged", [input.origin.service])
}

deny contains msg if {
	some m in input.container.mounts
	m.source in data.shop.banned_paths
	msg := sprintf("mounts %s", [m.source])
}

warn contains "no user" if input.container.user == null
"#;

fn sources() -> PolicySources {
    PolicySources::from_memory(
        vec![("shop/docker.rego".into(), POLICY.into())],
        json!({"shop": {"banned_paths": ["/etc", "/var/run/docker.sock"]}}),
    )
}

fn shop_bundle() -> Bundle {
    build(
        &sources(),
        &BuildOptions {
            entrypoints: vec!["shop/docker/deny".into(), "shop/docker/warn".into()],
            ..Default::default()
        },
    )
    .unwrap()
}

fn request(service: &str, privileged: bool, mount: Option<&str>) -> AdmissionRequest {
    let container = ContainerSpec {
        image: "nginx:1.27".into(),
        image_ref: ImageRef::parse("nginx:1.27").unwrap(),
        privileged,
        mounts: mount
            .map(|m| {
                vec![Mount {
                    kind: "bind".into(),
                    source: m.into(),
                    target: "/x".into(),
                    ..Default::default()
                }]
            })
            .unwrap_or_default(),
        ..Default::default()
    };
    AdmissionRequest::new(
        Operation::Check,
        Source::Compose,
        Origin {
            service: Some(service.into()),
            ..Default::default()
        },
        container,
    )
}

/// `src` built for `entrypoints` and `evaluator`, loaded with `options`.
async fn built_engine(
    src: &PolicySources,
    entrypoints: &[&str],
    evaluator: Evaluator,
    options: &EngineOptions,
) -> PolicyEngine {
    let bundle = build(
        src,
        &BuildOptions {
            entrypoints: entrypoints.iter().map(|e| (*e).to_string()).collect(),
            evaluator,
            ..Default::default()
        },
    )
    .unwrap();
    PolicyEngine::load(bundle, options).await.unwrap()
}

/// One instance with a generous time limit (tests that run many evaluations on debug builds).
fn one_slow_instance() -> EngineOptions {
    EngineOptions {
        pool_size: 1,
        eval_timeout: Duration::from_secs(30),
        ..EngineOptions::default()
    }
}

fn options() -> EngineOptions {
    EngineOptions {
        pool_size: 2,
        ..EngineOptions::default()
    }
}

#[tokio::test]
async fn several_entrypoints_and_data_make_one_decision() {
    let engine = PolicyEngine::load(shop_bundle(), &options()).await.unwrap();
    let d = engine
        .decide(&request("web", true, Some("/etc")))
        .await
        .unwrap();
    assert!(!d.allowed);
    assert_eq!(d.violations.len(), 2, "{d:?}");
    let priv_finding = d.violations.iter().find(|f| f.rule_id == "SHOP-1").unwrap();
    assert_eq!(priv_finding.message, "web is privileged");
    assert_eq!(priv_finding.field.as_deref(), Some("container.privileged"));
    assert!(d.violations.iter().any(|f| f.message == "mounts /etc"));
    assert_eq!(d.warnings.len(), 1);
    assert_eq!(d.bundle_revision, engine.info().revision);

    let ok = engine
        .decide(&request("web", false, Some("/srv")))
        .await
        .unwrap();
    assert!(ok.allowed, "{ok:?}");
    assert!(ok.violations.is_empty());
}

#[tokio::test]
async fn every_bundle_form_loads() {
    let bundle = shop_bundle();
    let dir = tempfile::tempdir().unwrap();

    // .tar.gz
    let tgz = dir.path().join("bundle.tar.gz");
    std::fs::write(&tgz, bundle.to_tar_gz().unwrap()).unwrap();
    let from_tgz = Bundle::read(&tgz).unwrap();
    assert_eq!(from_tgz.entrypoints(), bundle.entrypoints());

    // directory with the same layout (as `tar xzf` leaves it)
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("shop")).unwrap();
    std::fs::write(
        tree.join(".manifest"),
        serde_json::to_vec(&bundle.manifest).unwrap(),
    )
    .unwrap();
    std::fs::write(tree.join("policy.wasm"), &bundle.wasm).unwrap();
    std::fs::write(
        tree.join("shop/data.json"),
        br#"{"banned_paths": ["/etc"]}"#,
    )
    .unwrap();
    std::fs::write(tree.join("shop/docker.rego"), POLICY).unwrap();
    let from_dir = Bundle::read(&tree).unwrap();
    assert_eq!(from_dir.data, json!({"shop": {"banned_paths": ["/etc"]}}));

    // bare .wasm: entrypoints come from the module, data is empty
    let wasm = dir.path().join("policy.wasm");
    std::fs::write(&wasm, &bundle.wasm).unwrap();
    let bare = Bundle::read(&wasm).unwrap();
    assert!(bare.entrypoints().is_empty());

    for b in [from_tgz, from_dir, bare] {
        let bare_module = b.entrypoints().is_empty();
        let engine = PolicyEngine::load(b, &options()).await.unwrap();
        assert_eq!(
            engine.info().entrypoints,
            vec![
                "shop/docker/deny".to_string(),
                "shop/docker/warn".to_string()
            ]
        );
        let d = engine
            .decide(&request("db", true, Some("/etc")))
            .await
            .unwrap();
        let expected = if bare_module { 1 } else { 2 }; // no data: the mount rule is silent
        assert_eq!(d.violations.len(), expected, "{d:?}");
    }
}

#[test]
fn compile_errors_name_file_line_and_column() {
    let src = PolicySources::from_memory(
        vec![(
            "bad/policy.rego".into(),
            "package bad\n\ndeny contains msg if {\n  msg := concat(\"\", [\"a\"]\n}\n".into(),
        )],
        json!({}),
    );
    let err = build(&src, &BuildOptions::default()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, BuildError::Compile(_)), "{err:?}");
    assert!(text.contains("bad/policy.rego:"), "{text}");
    assert!(text.contains("concat"), "the source line is shown: {text}");

    let unknown_fn = PolicySources::from_memory(
        vec![(
            "p.rego".into(),
            "package p\n\ndeny contains x if x := nosuch(1)\n".into(),
        )],
        json!({}),
    );
    let err = build_error(&unknown_fn, "p/deny");
    assert!(err.contains("p.rego:3"), "{err}");

    let bad_entry = build(
        &sources(),
        &BuildOptions {
            entrypoints: vec!["shop/nothing".into()],
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(bad_entry, BuildError::Entrypoint { .. }),
        "{bad_entry:?}"
    );
}

/// The message of a build of `sources` for `entrypoint` that must fail.
fn build_error(sources: &PolicySources, entrypoint: &str) -> String {
    build(
        sources,
        &BuildOptions {
            entrypoints: vec![entrypoint.into()],
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string()
}

/// A rule (or function) at a path that the data also sets is refused at build, with the
/// rule's file and line, as OPA refuses it (before this check, such a bundle failed at load
/// with a wasm stack overflow). Rules beside the data, in the same package, are fine.
#[test]
fn a_rule_and_data_at_one_path_are_refused_at_build() {
    let options = BuildOptions {
        entrypoints: vec!["m/r".into()],
        ..Default::default()
    };
    let policy = "package m\n\ncaps := {upper(c) | some c in data.m.caps}\n\nr := count(caps)\n";
    let clash = PolicySources::from_memory(
        vec![("m/m.rego".into(), policy.into())],
        json!({"m": {"caps": ["net_admin"]}}),
    );
    let err = build(&clash, &options).unwrap_err().to_string();
    assert!(err.contains("m/m.rego:3"), "{err}");
    assert!(err.contains("data.m.caps"), "{err}");

    let function = "package m\n\nf(x) := x\n\nr := f(1)\n";
    let clash = PolicySources::from_memory(
        vec![("m.rego".into(), function.into())],
        json!({"m": {"f": 1}}),
    );
    let err = build(&clash, &options).unwrap_err().to_string();
    assert!(
        err.contains("m.rego:3") && err.contains("data.m.f"),
        "{err}"
    );

    let under_scalar = PolicySources::from_memory(
        vec![("m.rego".into(), "package m.sub\n\nr := 1\n".into())],
        json!({"m": "a string"}),
    );
    let err = build_error(&under_scalar, "m/sub/r");
    assert!(err.contains("m.rego:3") && err.contains("string"), "{err}");

    let beside = PolicySources::from_memory(
        vec![(
            "m.rego".into(),
            "package m\n\nr := count(data.m.caps)\n".into(),
        )],
        json!({"m": {"caps": ["net_admin"]}}),
    );
    build(&beside, &options).unwrap();
}

#[tokio::test]
async fn runtime_errors_are_errors_and_the_engine_keeps_serving() {
    let src = PolicySources::from_memory(
        vec![(
            "p.rego".into(),
            r#"package p

f(_) := 1
f(_) := 2

deny contains "conflict" if {
	input.boom
	f(1) == 1
}

deny contains "plain" if input.plain
"#
            .into(),
        )],
        json!({}),
    );
    let bundle = build(
        &src,
        &BuildOptions {
            entrypoints: vec!["p/deny".into()],
            ..Default::default()
        },
    )
    .unwrap();
    let engine = PolicyEngine::load(bundle, &options()).await.unwrap();
    let err = engine.decide(&json!({"boom": true})).await.unwrap_err();
    assert!(matches!(err, EngineError::Evaluation { .. }), "{err:?}");
    assert!(err.to_string().contains("p.rego"), "{err}");
    for _ in 0..3 {
        let d = engine.decide(&json!({"plain": true})).await.unwrap();
        assert_eq!(d.violations[0].message, "plain");
    }
}

#[tokio::test]
async fn undefined_entrypoints_never_allow() {
    let src = PolicySources::from_memory(
        vec![("p.rego".into(), "package p\n\nallow if input.ok\n".into())],
        json!({}),
    );
    let bundle = build(
        &src,
        &BuildOptions {
            entrypoints: vec!["p/allow".into()],
            ..Default::default()
        },
    )
    .unwrap();
    let engine = PolicyEngine::load(bundle, &options()).await.unwrap();
    let err = engine
        .evaluate("p/allow", &json!({"ok": false}))
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Undefined { .. }), "{err:?}");
    // `allow` is not a set of findings: deciding with it is an error, not an allow.
    assert!(engine.decide(&json!({"ok": true})).await.is_err());
}

#[tokio::test]
async fn runaway_policies_are_interrupted_while_others_keep_succeeding() {
    let src = PolicySources::from_memory(
        vec![(
            "p.rego".into(),
            r#"package p

deny contains "spin" if {
	input.spin
	r := numbers.range(1, 2000)
	some a in r
	some b in r
	some c in r
	a + b + c < 0
}

deny contains "hog" if {
	input.hog
	big := [sprintf("%d-padding-padding-padding", [x]) | some x in numbers.range(1, 20000000)]
	count(big) < 0
}

deny contains "ok" if input.ok
"#
            .into(),
        )],
        json!({}),
    );
    let bundle = build(
        &src,
        &BuildOptions {
            entrypoints: vec!["p/deny".into()],
            ..Default::default()
        },
    )
    .unwrap();
    let engine = Arc::new(
        PolicyEngine::load(
            bundle,
            &EngineOptions {
                pool_size: 2,
                eval_timeout: Duration::from_millis(300),
                // Room enough that the spin hits the time limit first.
                memory_limit_bytes: 1024 * 1024 * 1024,
                ..EngineOptions::default()
            },
        )
        .await
        .unwrap(),
    );

    let runaway = {
        let e = engine.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            let r = e.decide(&json!({"spin": true})).await;
            (r, t.elapsed())
        })
    };
    let mut served = 0;
    while !runaway.is_finished() {
        let d = engine.decide(&json!({"ok": true})).await.unwrap();
        assert_eq!(d.violations[0].message, "ok");
        served += 1;
        tokio::task::yield_now().await;
    }
    let (result, took) = runaway.await.unwrap();
    assert!(
        matches!(result, Err(EngineError::Timeout { .. })),
        "{result:?}"
    );
    assert!(took < Duration::from_secs(5), "interrupted after {took:?}");
    assert!(served > 0, "other evaluations ran meanwhile");

    // The same bundle with a tight memory limit: the comprehension hits it.
    let small = PolicyEngine::load(
        build(
            &src,
            &BuildOptions {
                entrypoints: vec!["p/deny".into()],
                ..Default::default()
            },
        )
        .unwrap(),
        &EngineOptions {
            pool_size: 1,
            eval_timeout: Duration::from_secs(20),
            memory_limit_bytes: 64 * 1024 * 1024,
            ..EngineOptions::default()
        },
    )
    .await
    .unwrap();
    let hog = small.decide(&json!({"hog": true})).await;
    assert!(
        matches!(hog, Err(EngineError::MemoryLimit { .. })),
        "{hog:?}"
    );
    // Failed instances were discarded and replaced; the engines still serve.
    for e in [&*engine, &small] {
        let d = e.decide(&json!({"ok": true})).await.unwrap();
        assert_eq!(d.violations.len(), 1);
        assert_eq!(e.stats().discarded, 1, "{:?}", e.stats());
    }
}

/// Inputs that exercise most of the library's rules.
fn varied_requests() -> Vec<AdmissionRequest> {
    let mut out = Vec::new();
    let images = [
        "nginx",
        "nginx:latest",
        "python:3.12",
        "ghcr.io/org/app:1.2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "redis:7-alpine",
    ];
    for (i, image) in images.iter().enumerate() {
        for variant in 0..6 {
            let mut c = ContainerSpec {
                image: image.to_string(),
                image_ref: ImageRef::parse(image).unwrap(),
                ..Default::default()
            };
            match variant {
                0 => c.privileged = true,
                1 => {
                    c.user = Some("1000:1000".into());
                    c.read_only = true;
                    c.cap_drop = vec!["ALL".into()];
                    c.security_opt = vec!["no-new-privileges=true".into()];
                }
                2 => {
                    c.network_mode = "host".into();
                    c.pid_mode = "host".into();
                    c.cap_add = vec!["SYS_ADMIN".into()];
                }
                3 => {
                    c.env.insert("DB_PASSWORD".into(), Some("hunter2".into()));
                    c.env
                        .insert("AWS_KEY".into(), Some("AKIAIOSFODNN7EXAMPLE".into()));
                }
                4 => {
                    c.mounts.push(Mount {
                        kind: "bind".into(),
                        source: "/var/run/docker.sock".into(),
                        target: "/var/run/docker.sock".into(),
                        ..Default::default()
                    });
                    c.ports.push(PortBinding {
                        host_ip: String::new(),
                        host_port: Some(5432),
                        container_port: 5432,
                        protocol: "tcp".into(),
                    });
                }
                _ => {
                    c.sysctls.insert("kernel.msgmax".into(), "1".into());
                    c.security_opt = vec!["seccomp=unconfined".into()];
                }
            }
            let origin = Origin {
                service: Some(format!("svc{i}{variant}")),
                project: Some("p".into()),
                ..Default::default()
            };
            out.push(AdmissionRequest::new(
                Operation::Create,
                Source::Engine,
                origin,
                c,
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wasm_results_equal_native_regorus() {
    let lib = dockgate::library::sources().unwrap();
    for profile in ["baseline", "restricted"] {
        let mut bundle = dockgate::library::bundle(None).unwrap();
        bundle.set_data(&dockgate::library::PROFILE_PATH, json!(profile));

        // Native reference.
        let mut native = regorus::Engine::new();
        for f in lib.rego.iter().filter(|f| !f.is_test()) {
            native.add_policy(f.path.clone(), f.text.clone()).unwrap();
        }
        native
            .add_data(regorus::Value::from_json_str(&bundle.data.to_string()).unwrap())
            .unwrap();
        let requests = varied_requests();
        let mut expected = Vec::new();
        for r in &requests {
            let mut e = native.clone();
            e.set_input(regorus::Value::from_json_str(&serde_json::to_string(r).unwrap()).unwrap());
            let v = e.eval_rule("data.dockgate.main.decision".into()).unwrap();
            expected.push(serde_json::from_str::<Value>(&v.to_json_str().unwrap()).unwrap());
        }
        assert!(
            expected
                .iter()
                .any(|v| !v["deny"].as_array().unwrap().is_empty())
        );

        let engine = Arc::new(PolicyEngine::load(bundle, &options()).await.unwrap());
        let requests = Arc::new(requests);
        let mut tasks = Vec::new();
        for task in 0..16 {
            let engine = engine.clone();
            let requests = requests.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                for k in 0..requests.len() {
                    let i = (k + task * 7) % requests.len();
                    let input = serde_json::to_value(&requests[i]).unwrap();
                    let v = engine
                        .evaluate("dockgate/main/decision", &input)
                        .await
                        .unwrap();
                    got.push((i, v));
                }
                got
            }));
        }
        let mut compared = 0;
        for t in tasks {
            for (i, v) in t.await.unwrap() {
                assert_eq!(v, expected[i], "{profile}: request {i} differs");
                compared += 1;
            }
        }
        assert_eq!(compared, 16 * requests.len());
    }
}

/// Temporaries freed during an evaluation are reused by it: thousands of regex matches (each
/// compiles a regex of a few hundred KB) fit in a small memory limit.
#[tokio::test]
async fn memory_freed_during_an_evaluation_is_reused() {
    let src = PolicySources::from_memory(
        vec![(
            "p.rego".into(),
            r#"package p

deny contains name if {
	some name, _ in input.env
	regex.match(`(?i)^(.*_)?(password|passwd|secret|token|api_key|private_key)$`, name)
}
"#
            .into(),
        )],
        json!({}),
    );
    let engine = built_engine(
        &src,
        &["p/deny"],
        Evaluator::Interpreter,
        &EngineOptions {
            memory_limit_bytes: 64 * 1024 * 1024,
            ..one_slow_instance()
        },
    )
    .await;
    let mut env = serde_json::Map::new();
    for i in 0..3000 {
        env.insert(format!("VAR_{i}"), json!("x"));
    }
    env.insert("DB_PASSWORD".into(), json!("x"));
    let d = engine.decide(&json!({"env": env})).await.unwrap();
    assert_eq!(d.violations.len(), 1, "{d:?}");
    assert_eq!(d.violations[0].message, "DB_PASSWORD");
    assert!(
        engine.instance_memory_peak() <= 64 * 1024 * 1024,
        "{}",
        engine.instance_memory_peak()
    );
}

#[tokio::test]
async fn a_bundle_without_a_manifest_revision_gets_one_from_module_and_data() {
    // As `opa build` without `--revision` makes it.
    let mut base = shop_bundle();
    base.manifest.revision.clear();
    let a = PolicyEngine::load(base.clone(), &options()).await.unwrap();
    let same = PolicyEngine::load(base.clone(), &options()).await.unwrap();
    assert_eq!(a.info().revision, same.info().revision);
    // Only the data changes (as a profile or an exemption does): a new revision, so caches
    // keyed by revision (the plugin's verdicts) cannot serve the old policy's answers.
    let mut changed = base;
    changed.set_data(&["shop", "extra"], serde_json::json!(true));
    let b = PolicyEngine::load(changed, &options()).await.unwrap();
    assert_eq!(a.info().module_sha256, b.info().module_sha256);
    assert_ne!(a.info().revision, b.info().revision);
}

/// The runtime keeps compiled patterns across evaluations (regex.match, regex.find_n,
/// regex.replace): outcomes equal native regorus's — values for valid patterns, errors for
/// invalid ones, arguments of the wrong type and patterns over the size limit — for patterns
/// from data and from the input, evaluation after evaluation on one instance, past the
/// table's 128 patterns (more are compiled per call).
#[tokio::test]
async fn kept_regexes_give_regorus_results_across_evaluations() {
    let policy = r#"package rx

all_patterns := array.concat(data.rx.patterns, input.patterns)

matched contains p if {
	some p in all_patterns
	regex.match(p, input.text)
}

found[p] := regex.find_n(p, input.text, input.n) if some p in all_patterns

replaced[p] := regex.replace(input.text, p, "<$0>") if some p in all_patterns

result := {"matched": matched, "found": found, "replaced": replaced}
"#;
    let data = json!({"rx": {"patterns": ["(?i)pass(word)?", "^[a-z]+$", "(?m)^x.*$", "\\d{2,}"]}});
    let src = PolicySources::from_memory(vec![("rx.rego".into(), policy.into())], data.clone());
    let mut native = regorus::Engine::new();
    native.add_policy("rx.rego".into(), policy.into()).unwrap();
    native
        .add_data(regorus::Value::from_json_str(&data.to_string()).unwrap())
        .unwrap();

    let texts = [
        "Password 123",
        "abc",
        "x1\nxyz\nq",
        "",
        "pass 7 PASS 88 pAsSwOrD",
    ];
    let mut inputs = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        // 60 distinct input patterns per text: 300 in all, past the table's 128.
        let patterns: Vec<String> = (0..60).map(|k| format!("a+|z{}", i * 100 + k)).collect();
        for n in [json!(-1), json!(0), json!(1), json!(2)] {
            inputs.push(json!({"text": text, "patterns": patterns, "n": n}));
        }
    }
    // Errors, as natively: an invalid pattern, a non-string pattern or text, a non-integer
    // or non-numeric n, a pattern over the compiled-size limit.
    inputs.push(json!({"text": "a", "patterns": ["["], "n": 1}));
    inputs.push(json!({"text": "a", "patterns": [1], "n": 1}));
    inputs.push(json!({"text": 1, "patterns": [], "n": 1}));
    inputs.push(json!({"text": "a", "patterns": [], "n": 1.5}));
    inputs.push(json!({"text": "a", "patterns": [], "n": "1"}));
    inputs.push(json!({"text": "a", "patterns": ["(?:\\w{100}){100}"], "n": 1}));
    // Both evaluators: the interpreter calls the kept regexes as extensions, the VM through
    // host-await calls.
    for evaluator in [Evaluator::Interpreter, Evaluator::Vm] {
        let engine = built_engine(&src, &["rx/result"], evaluator, &one_slow_instance()).await;
        let mut errors = 0;
        for round in 0..3 {
            for input in &inputs {
                let mut e = native.clone();
                e.set_input(regorus::Value::from_json_str(&input.to_string()).unwrap());
                let want = e
                    .eval_rule("data.rx.result".into())
                    .map(|v| serde_json::from_str::<Value>(&v.to_json_str().unwrap()).unwrap());
                let got = engine.evaluate("rx/result", input).await;
                match (&want, &got) {
                    (Ok(w), Ok(g)) => assert_eq!(g, w, "round {round}, {input}"),
                    (Err(_), Err(_)) => errors += 1,
                    _ => panic!(
                        "{evaluator:?}, round {round}, {input}: native {want:?}, wasm {got:?}"
                    ),
                }
            }
        }
        assert_eq!(errors, 3 * 6, "{evaluator:?}");
    }
}

/// Evaluates `rules` of policy `text` (package `t`) in wasm, built for `evaluator`, and
/// natively with regorus's interpreter, with input `{"s": "abc"}`; returns (wasm, native) per
/// rule, `null` for undefined and `"error"` for an evaluation error.
async fn both_ways(text: &str, rules: &[&str], evaluator: Evaluator) -> Vec<(Value, Value)> {
    let src = PolicySources::from_memory(vec![("t.rego".into(), text.into())], json!({}));
    let entrypoints: Vec<String> = rules.iter().map(|r| format!("t/{r}")).collect();
    let entrypoints: Vec<&str> = entrypoints.iter().map(String::as_str).collect();
    let engine = built_engine(&src, &entrypoints, evaluator, &options()).await;
    let mut native = regorus::Engine::new();
    native.add_policy("t.rego".into(), text.into()).unwrap();
    let input = json!({"s": "abc"});
    let mut out = Vec::new();
    for r in rules {
        let wasm = match engine.evaluate(&format!("t/{r}"), &input).await {
            Ok(v) => v,
            Err(EngineError::Undefined { .. }) => Value::Null,
            Err(EngineError::Evaluation { .. }) => json!("error"),
            Err(e) => panic!("{r}: {e}"),
        };
        let mut e = native.clone();
        e.set_input(regorus::Value::from_json_str(&input.to_string()).unwrap());
        let native = match e.eval_rule(format!("data.t.{r}")) {
            Err(_) => json!("error"),
            Ok(regorus::Value::Undefined) => Value::Null,
            Ok(v) => serde_json::from_str(&v.to_json_str().unwrap()).unwrap(),
        };
        out.push((wasm, native));
    }
    out
}

/// Rules on which regorus 0.14.1's VM departs from Rego (runtime/src/compiled.rs): an
/// assignment of an undefined value, and `else` after a body that iterates and finds nothing.
const VM_DEPARTURES: &str = r#"package t

xs := ["x", "y"]
unused_undefined := 1 if { v := input.missing }
negated_undefined := 1 if { v := {"a": 1}["b"]; not v }
else_after_loop := 1 if { some x in xs; x == "z" } else := 2
else_after_index := 1 if { xs[_] == "z" } else := 2
"#;

const VM_DEPARTURE_RULES: [&str; 4] = [
    "unused_undefined",
    "negated_undefined",
    "else_after_loop",
    "else_after_index",
];

/// A bundle built as users build theirs (the interpreter, the default) decides the rules on
/// which the VM departs as Rego does.
#[tokio::test]
async fn default_builds_keep_regos_semantics_where_the_vm_departs() {
    assert_wasm_agrees(VM_DEPARTURES, &VM_DEPARTURE_RULES, Evaluator::Interpreter).await;
}

/// Asserts that every rule of `text` decides in wasm (built for `evaluator`) as natively.
async fn assert_wasm_agrees(text: &str, rules: &[&str], evaluator: Evaluator) {
    for (rule, (wasm, native)) in rules.iter().zip(both_ways(text, rules, evaluator).await) {
        assert_eq!(wasm, native, "{evaluator:?}: {rule}");
    }
}

/// The VM's departures, pinned: `dockgate build --evaluator vm` is opt-in because of them.
/// When a regorus upgrade makes this fail, the VM has caught up: revisit the default
/// evaluator and the warnings in runtime/src/compiled.rs and docs/writing-policies.md.
#[tokio::test]
async fn the_vm_departs_from_rego_where_documented() {
    let got = both_ways(VM_DEPARTURES, &VM_DEPARTURE_RULES, Evaluator::Vm).await;
    for (rule, (wasm, native)) in VM_DEPARTURE_RULES.iter().zip(&got) {
        assert_ne!(
            wasm, native,
            "{rule}: the VM now agrees with the interpreter"
        );
    }
}

/// On the VM as in the (strict) interpreter, a builtin's error fails the evaluation — also
/// in a body whose value would otherwise just be undefined, and also for the runtime's own
/// regex and host builtins — so a deny rule that errs fails closed.
#[tokio::test]
async fn builtin_errors_fail_the_evaluation_on_the_vm_too() {
    let text = r#"package t

in_set contains 1 if { to_number(input.s) > 0 }
assigned := 1 if { x := substring(count(input.s), 0, 1) }
negated := 1 if { not regex.match("[", input.s) }
clock := 1 if { time.parse_rfc3339_ns(input.s) > 0 }
fine := count([1, 2])
"#;
    let rules = ["in_set", "assigned", "negated", "clock", "fine"];
    let got = both_ways(text, &rules, Evaluator::Vm).await;
    for (rule, (wasm, native)) in rules.iter().zip(&got) {
        assert_eq!(wasm, native, "{rule}");
    }
    assert_eq!(got[0].0, json!("error"));
    assert_eq!(got[4].0, json!(2));
}

/// On the VM the runtime keeps the values of rules that depend only on the policy and its
/// data across evaluations (runtime/src/memo.rs). Only those: a rule that reads the input —
/// directly, through another rule (also one already evaluated in the same evaluation), or
/// through a function — or calls the clock is evaluated every time; an evaluation that fails
/// keeps nothing. Evaluation after evaluation on one instance, every outcome equals native
/// regorus's.
#[tokio::test]
async fn rules_of_data_alone_are_kept_across_evaluations_and_nothing_else() {
    let policy = r#"package m

caps := {upper(c) | some c in data.cfg.caps}
alternation := concat("|", data.cfg.patterns)
from_input := input.v
via_rule := from_input
get(k) := input[k]
via_function := get("v")
after_hit := from_input
mixed := count(caps) + from_input
result := {
	"caps": caps,
	"alternation": alternation,
	"order": [from_input, after_hit, via_rule],
	"via_function": via_function,
	"mixed": mixed,
	"matches": regex.match(alternation, sprintf("x%dy", [input.v])),
}
clock := time.now_ns()
clock_and_input := [clock, input.v]
fails_on_odd := [caps, to_number(input.word)] if input.v % 2 == 1
fails_on_odd := [caps, input.v] if input.v % 2 == 0
"#;
    let data = json!({"cfg": {"caps": ["net_admin", "sys_time"], "patterns": ["x1y", "x3y"]}});
    let src = PolicySources::from_memory(vec![("m.rego".into(), policy.into())], data.clone());
    let mut native = regorus::Engine::new();
    native.add_policy("m.rego".into(), policy.into()).unwrap();
    native
        .add_data(regorus::Value::from_json_str(&data.to_string()).unwrap())
        .unwrap();
    let engine = built_engine(
        &src,
        &["m/result", "m/clock_and_input", "m/fails_on_odd"],
        Evaluator::Vm,
        &one_slow_instance(),
    )
    .await;
    let mut last_clock = 0;
    for v in 1..=6 {
        let input = json!({"v": v, "word": "not a number"});
        let mut e = native.clone();
        e.set_input(regorus::Value::from_json_str(&input.to_string()).unwrap());
        let want: Value = serde_json::from_str(
            &e.eval_rule("data.m.result".into())
                .unwrap()
                .to_json_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(want["order"], json!([v, v, v]), "native, v={v}");
        let got = engine.evaluate("m/result", &input).await.unwrap();
        assert_eq!(got, want, "v={v}");

        let clock = engine.evaluate("m/clock_and_input", &input).await.unwrap();
        assert_eq!(clock[1], json!(v));
        let now = clock[0].as_u64().unwrap();
        // Nanoseconds, evaluations apart: equal only if the value was kept.
        assert_ne!(now, last_clock, "the clock rule was not evaluated again");
        last_clock = now;

        // An evaluation that fails after computing `caps` keeps nothing, and breaks nothing.
        let odd = engine.evaluate("m/fails_on_odd", &input).await;
        if v % 2 == 1 {
            assert!(
                matches!(odd, Err(EngineError::Evaluation { .. })),
                "v={v}: {odd:?}"
            );
        } else {
            assert_eq!(odd.unwrap(), json!([["NET_ADMIN", "SYS_TIME"], v]), "v={v}");
        }
    }
}

/// With the VM asked for, what its compiler does not support (`with`, `walk` loops, a
/// package entrypoint) is evaluated by the interpreter, and everything decides as natively.
#[tokio::test]
async fn vm_builds_fall_back_to_the_interpreter_where_the_vm_cannot_compile() {
    let text = r#"package t

xs := ["x", "y"]
lookup := input.k
with_kw := v if { v := lookup with input.k as 7 }
walked := [v | walk(xs, [_, v]); is_string(v)]
plain := count(xs)
"#;
    assert_wasm_agrees(text, &["with_kw", "walked", "plain"], Evaluator::Vm).await;
}

/// The library's instance, with the runtime's regex arena, stays under 8 MiB of linear memory
/// (BENCHMARKS.md, "instance linear memory").
#[tokio::test]
async fn library_instance_memory_stays_under_8_mib() {
    let bundle = dockgate::library::bundle(Some(dockgate::library::Profile::Restricted)).unwrap();
    let engine = PolicyEngine::load(bundle, &options()).await.unwrap();
    let bytes = engine.probe_instance().await.unwrap();
    println!("library instance linear memory: {bytes} bytes");
    assert!(bytes <= 8 << 20, "{bytes} bytes");
}
