//! The compose loader on in-memory projects: `-f` merging, `extends`, variables and env
//! files, anchors and merge keys, `!reset`, profiles, the project context, and positions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use dockgate::compose::{ComposeError, LoadOptions, MemFs, Project, load_with};
use dockgate::model::Operation;

fn load(files: &[(&str, &str)], opts: LoadOptions) -> Result<Project, ComposeError> {
    let mut fs = MemFs::new();
    for (name, content) in files {
        fs.add(PathBuf::from("/p").join(name), content.as_bytes().to_vec());
    }
    let opts = LoadOptions {
        project_dir: Some(PathBuf::from("/p")),
        ..opts
    };
    load_with(&opts, &fs)
}

fn files(names: &[&str]) -> LoadOptions {
    LoadOptions {
        files: names.iter().map(PathBuf::from).collect(),
        ..LoadOptions::default()
    }
}

const BASE: &str = "\
services:
  web:
    image: nginx:1.25
    command: [nginx, -g, daemon off;]
    environment: [A=1, B=2]
    ports: ['8080:80']
    volumes: ['./a:/data', 'cache:/cache']
    cap_add: [NET_ADMIN]
    logging: {driver: json-file, options: {max-size: 10m}}
volumes:
  cache: {}
";

const OVERRIDE: &str = "\
services:
  web:
    image: nginx:1.27
    command: nginx-debug
    environment: {B: 3, C: 4}
    ports: ['8443:443']
    volumes: ['./b:/data']
    cap_add: [SYS_TIME, NET_ADMIN]
    logging: {options: {max-file: '3'}}
";

#[test]
fn override_files_merge_by_the_compose_rules() {
    let p = load(
        &[("compose.yaml", BASE), ("compose.override.yaml", OVERRIDE)],
        LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(p.files.len(), 2, "the override file is discovered");
    let c = &p.services()[0].spec;
    assert_eq!(c.image, "nginx:1.27");
    assert_eq!(c.command.as_deref().unwrap(), ["nginx-debug"]);
    assert_eq!(c.env["A"].as_deref(), Some("1"));
    assert_eq!(c.env["B"].as_deref(), Some("3"));
    assert_eq!(c.env["C"].as_deref(), Some("4"));
    assert_eq!(c.ports.len(), 2);
    let data: Vec<_> = c.mounts.iter().filter(|m| m.target == "/data").collect();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0].source, "/p/b");
    assert!(c.mounts.iter().any(|m| m.source == "p_cache"));
    assert_eq!(c.cap_add, ["NET_ADMIN", "SYS_TIME"]);
    assert_eq!(c.logging.driver, "json-file");
    assert_eq!(c.logging.options.len(), 2);
    // Positions point at the file that set the value.
    let pos = p.position("web", "image").unwrap();
    assert!(
        pos.file.ends_with("compose.override.yaml") && pos.line == 3 && pos.col == 5,
        "{pos}"
    );
    let pos = p.position("web", "ports.1").unwrap();
    assert!(
        pos.file.ends_with("compose.override.yaml") && pos.line == 6,
        "{pos}"
    );
    let pos = p.position("web", "ports[0]").unwrap();
    assert!(pos.file.ends_with("compose.yaml") && pos.line == 6, "{pos}");
    let pos = p.position("web", "no.such.field").unwrap();
    assert_eq!((pos.line, pos.col), (2, 3), "falls back to the service key");
    assert!(p.position("nope", "image").is_none());
    let pos = p
        .position_of_input_field("web", "container.logging.driver")
        .unwrap();
    assert_eq!(pos.line, 9);
}

#[test]
fn reset_and_override_tags() {
    let over = "services:\n  web:\n    ports: !reset []\n    environment: !override {Z: 1}\n";
    let p = load(
        &[("a.yaml", BASE), ("b.yaml", over)],
        files(&["a.yaml", "b.yaml"]),
    )
    .unwrap();
    let c = &p.services()[0].spec;
    assert!(c.ports.is_empty());
    assert_eq!(c.env.keys().collect::<Vec<_>>(), ["Z"]);
}

#[test]
fn extends_in_the_same_file_and_another() {
    let main = "\
services:
  base:
    image: busybox
    environment: {A: base, B: base}
    read_only: true
  child:
    extends: base
    environment: {B: child}
  remote:
    extends: {file: common/base.yaml, service: hardened}
    user: '1000'
";
    let common = "services:\n  hardened:\n    extends: root\n    cap_drop: [ALL]\n    volumes: ['./conf:/etc/app:ro']\n    env_file: common.env\n  root:\n    image: alpine:3.20\n    security_opt: ['no-new-privileges:true']\n";
    let p = load(
        &[
            ("compose.yaml", main),
            ("common/base.yaml", common),
            ("common/common.env", "FROM_COMMON=1\n"),
        ],
        LoadOptions::default(),
    )
    .unwrap();
    let get = |n: &str| &p.services().iter().find(|s| s.name == n).unwrap().spec;
    let child = get("child");
    assert_eq!(child.image, "busybox");
    assert!(child.read_only);
    assert_eq!(child.env["A"].as_deref(), Some("base"));
    assert_eq!(child.env["B"].as_deref(), Some("child"));
    let remote = get("remote");
    assert_eq!(remote.image, "alpine:3.20");
    assert_eq!(remote.cap_drop, ["ALL"]);
    assert_eq!(remote.security_opt, ["no-new-privileges=true"]);
    assert_eq!(remote.user.as_deref(), Some("1000"));
    assert_eq!(
        remote.mounts[0].source, "/p/common/conf",
        "paths of the other file are its own"
    );
    assert_eq!(remote.env["FROM_COMMON"].as_deref(), Some("1"));

    let cycle = "services:\n  a:\n    image: x\n    extends: b\n  b:\n    extends: a\n";
    let e = load(&[("compose.yaml", cycle)], LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("loops"), "{e}");
    let missing = "services:\n  a:\n    extends: nope\n";
    let e = load(&[("compose.yaml", missing)], LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("compose.yaml:3:14") && e.contains("\"nope\""),
        "{e}"
    );
}

#[test]
fn variables_env_files_and_precedence() {
    let compose = "\
services:
  app:
    image: app:${TAG}
    env_file: [app.env, {path: optional.env, required: false}]
    environment:
      FROM_ENV: ${WHO:-nobody}
      PASSTHROUGH:
      NOT_ANYWHERE:
";
    let dotenv = "TAG=from-dotenv\nWHO=dotenv\nPASSTHROUGH=dotenv-value\n";
    let app_env = "IN_FILE=1\nFROM_ENV=overridden-by-environment\n";
    let mut opts = LoadOptions::default();
    opts.env.insert("WHO".into(), "shell".into());
    let p = load(
        &[
            ("compose.yaml", compose),
            (".env", dotenv),
            ("app.env", app_env),
        ],
        opts,
    )
    .unwrap();
    let c = &p.services()[0].spec;
    assert_eq!(c.image, "app:from-dotenv");
    assert_eq!(
        c.env["FROM_ENV"].as_deref(),
        Some("shell"),
        "the shell wins over .env"
    );
    assert_eq!(c.env["IN_FILE"].as_deref(), Some("1"));
    assert_eq!(c.env["PASSTHROUGH"].as_deref(), Some("dotenv-value"));
    assert_eq!(c.env["NOT_ANYWHERE"], None);

    let e = load(&[("compose.yaml", compose)], LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("app.env"),
        "a missing required env_file is an error: {e}"
    );
    let bad = "A=\"unterminated\n";
    let e = load(
        &[("compose.yaml", compose), (".env", bad)],
        LoadOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains(".env:1:"), "{e}");
}

#[test]
fn anchors_merge_keys_profiles_and_project_context() {
    let compose = "\
x-common: &common
  restart: unless-stopped
  logging: {driver: local}
x-env: &env
  LEVEL: info
services:
  api:
    <<: *common
    image: ghcr.io/acme/api:1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    environment:
      <<: *env
      DB_PASSWORD_FILE: /run/secrets/db
    secrets: [db, {source: token, target: tok}]
    volumes: [shared:/srv]
    deploy: {resources: {limits: {cpus: '0.25', memory: 1g, pids: 100}}}
  worker:
    <<: *common
    image: busybox
    volumes: [shared:/srv:ro]
    networks: [back, front]
  tools:
    image: busybox
    profiles: [tools]
networks:
  back: {}
  front: {name: edge}
secrets:
  db: {file: ./db.txt}
  token: {environment: API_TOKEN}
volumes:
  shared: {external: true}
";
    let p = load(
        &[("compose.yaml", compose)],
        LoadOptions {
            project_name: Some("Shop!".into()),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(p.name, "shop");
    let docs = p.admission_requests(Operation::Check);
    assert_eq!(docs.len(), 2, "the tools profile is off");
    let api = &docs[0].container;
    assert_eq!(api.restart_policy.name, "unless-stopped");
    assert_eq!(api.logging.driver, "local");
    assert_eq!(api.env["LEVEL"].as_deref(), Some("info"));
    assert_eq!(api.image_ref.registry, "ghcr.io");
    assert!(api.image_ref.digest.is_some());
    assert_eq!(api.resources.nano_cpus, Some(250_000_000));
    assert_eq!(api.resources.memory_bytes, Some(1 << 30));
    assert_eq!(api.resources.pids_limit, Some(100));
    assert_eq!(api.secrets[1].target, "/run/secrets/tok");
    assert!(
        api.mounts
            .iter()
            .any(|m| m.target == "/run/secrets/db" && m.source == "/p/db.txt" && m.read_only)
    );
    assert!(
        api.mounts.iter().any(|m| m.source == "shared"),
        "external volumes keep their name"
    );
    let worker = &docs[1].container;
    assert_eq!(worker.network_mode, "shop_back");
    assert_eq!(worker.networks, ["shop_back", "edge"]);
    let ctx = docs[0].project.as_ref().unwrap();
    assert_eq!(ctx.services, ["api", "worker"]);
    assert_eq!(ctx.secrets["db"].source, "file");
    assert_eq!(ctx.secrets["token"].source, "environment");
    assert_eq!(ctx.secrets["token"].reference.as_deref(), Some("API_TOKEN"));
    assert_eq!(ctx.secrets["token"].used_by, ["api"]);
    assert_eq!(ctx.volumes["shared"].used_by, ["api", "worker"]);
    assert!(ctx.volumes["shared"].external);
    let all = load(
        &[("compose.yaml", compose)],
        LoadOptions {
            profiles: vec!["tools".into()],
            ..LoadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(all.services().len(), 3);
}

#[test]
fn legacy_limits_healthchecks_and_commands() {
    let compose = "\
services:
  a:
    image: busybox
    mem_limit: 512mb
    cpu_quota: 50000
    cpu_period: 100000
    pids_limit: 64
    cpu_shares: 512
    command: sh -c 'echo \"hi there\"'
    healthcheck: {test: [CMD, 'true'], interval: 1m30s, timeout: 5s, retries: 3, start_period: 500ms}
    restart: 'no'
    devices: ['/dev/fuse', '/dev/sda:/dev/xvda:r']
    sysctls: [net.core.somaxconn=1024]
    tmpfs: ['/run:ro,size=64m']
    pid: host
    ipc: 'service:b'
  b:
    image: busybox
    healthcheck: {disable: true}
    network_mode: host
";
    let p = load(&[("compose.yaml", compose)], LoadOptions::default()).unwrap();
    let a = &p.services()[0].spec;
    assert_eq!(a.resources.memory_bytes, Some(512 << 20));
    assert_eq!(a.resources.nano_cpus, Some(500_000_000));
    assert_eq!(a.resources.pids_limit, Some(64));
    assert_eq!(a.resources.cpu_shares, Some(512));
    assert_eq!(
        a.command.as_deref().unwrap(),
        ["sh", "-c", "echo \"hi there\""]
    );
    let h = a.healthcheck.as_ref().unwrap();
    assert_eq!(
        (h.interval_ns, h.timeout_ns, h.retries, h.start_period_ns),
        (
            Some(90_000_000_000),
            Some(5_000_000_000),
            Some(3),
            Some(500_000_000)
        )
    );
    assert_eq!(a.restart_policy.name, "no");
    assert_eq!(a.devices[0].container_path, "/dev/fuse");
    assert_eq!(a.devices[1].permissions, "r");
    assert_eq!(a.sysctls["net.core.somaxconn"], "1024");
    assert!(
        a.mounts
            .iter()
            .any(|m| m.kind == "tmpfs" && m.target == "/run" && m.read_only)
    );
    assert_eq!(a.pid_mode, "host");
    assert_eq!(a.ipc_mode, "container:p_b_1");
    let b = &p.services()[1].spec;
    assert!(b.healthcheck.as_ref().unwrap().disabled);
    assert_eq!(b.network_mode, "host");
    assert!(b.networks.is_empty());
}
