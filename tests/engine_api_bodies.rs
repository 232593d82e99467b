//! The Engine API adapter on the bodies dockerd receives: create (API 1.41 and a newer
//! multi-network shape), inspect, update, exec, image inspect; Go's case-insensitive field
//! names; unknown fields ignored; wrong types named.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dockgate::engine_api::{self, EngineApiError};
use dockgate::model::{Operation, Source};
use serde_json::{Value, json};

fn create_body() -> Value {
    json!({
        "Image": "registry.example.com:5000/team/app:2.1",
        "User": "1000:1000",
        "Env": ["A=1", "B=", "C"],
        "Cmd": ["serve", "--port", "8080"],
        "Entrypoint": "/entry.sh",
        "Labels": {"com.docker.compose.project": "shop", "com.docker.compose.service": "api", "team": "x"},
        "Volumes": {"/data": {}, "/anon": {}},
        "ExposedPorts": {"8080/tcp": {}},
        "Healthcheck": {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 30000000000i64, "Timeout": 0, "Retries": 3},
        "SomeFutureField": {"x": 1},
        "HostConfig": {
            "Binds": ["/srv/data:/data:ro,rslave", "cache:/cache", "/var/run/docker.sock:/var/run/docker.sock"],
            "Mounts": [{"Type": "bind", "Source": "/etc", "Target": "/host-etc", "ReadOnly": true, "BindOptions": {"Propagation": "rshared"}},
                       {"Type": "volume", "Source": null, "Target": "/v"}],
            "Tmpfs": {"/run": "rw,noexec", "/ro": "ro"},
            "PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}, {"HostIp": "", "HostPort": ""}],
                             "53/udp": [{"HostIp": "", "HostPort": "5353"}], "9000/tcp": null},
            "Memory": 268435456, "NanoCpus": 0, "CpuQuota": 50000, "CpuPeriod": 100000, "PidsLimit": -1, "CpuShares": 0,
            "ReadonlyRootfs": true, "Privileged": false,
            "SecurityOpt": ["seccomp:unconfined", "no-new-privileges"],
            "CapAdd": ["cap_sys_admin"], "CapDrop": ["ALL"],
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m"}},
            "NetworkMode": "shop_default", "PidMode": "host", "IpcMode": "shareable", "UTSMode": "host",
            "UsernsMode": "host", "CgroupParent": "/custom",
            "Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "", "CgroupPermissions": ""}],
            "Sysctls": {"net.ipv4.ip_forward": "1"},
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 5}
        },
        "NetworkingConfig": {"EndpointsConfig": {"shop_default": {"Aliases": ["api"]}}}
    })
}

#[test]
fn a_create_body_normalises_field_by_field() {
    let req = engine_api::from_create(&create_body(), Some("shop_api_1")).unwrap();
    assert_eq!(
        (req.operation, req.source),
        (Operation::Create, Source::Engine)
    );
    assert_eq!(req.origin.project.as_deref(), Some("shop"));
    assert_eq!(req.origin.service.as_deref(), Some("api"));
    assert_eq!(req.origin.container_name.as_deref(), Some("shop_api_1"));
    let c = &req.container;
    assert_eq!(c.image_ref.registry, "registry.example.com:5000");
    assert_eq!(c.user.as_deref(), Some("1000:1000"));
    assert_eq!(c.env["B"].as_deref(), Some(""));
    assert_eq!(c.env["C"], None);
    assert_eq!(c.entrypoint.as_deref().unwrap(), ["/entry.sh"]);
    assert_eq!(c.command.as_deref().unwrap(), ["serve", "--port", "8080"]);
    let m = |t: &str| c.mounts.iter().find(|m| m.target == t).unwrap();
    assert!(
        m("/data").read_only && m("/data").propagation == "rslave" && m("/data").kind == "bind"
    );
    assert_eq!(
        c.mounts.iter().filter(|x| x.target == "/data").count(),
        1,
        "Volumes does not repeat a bind"
    );
    assert_eq!(
        (m("/cache").kind.as_str(), m("/cache").source.as_str()),
        ("volume", "cache")
    );
    assert_eq!(m("/host-etc").propagation, "rshared");
    assert_eq!(
        (m("/v").kind.as_str(), m("/v").source.as_str()),
        ("volume", "")
    );
    assert!(m("/ro").read_only && !m("/run").read_only);
    assert_eq!(m("/anon").kind, "volume");
    assert_eq!(c.ports.len(), 3);
    assert!(c.ports.iter().any(|p| p.host_ip == "127.0.0.1"
        && p.host_port == Some(18080)
        && p.container_port == 8080));
    assert!(
        c.ports
            .iter()
            .any(|p| p.host_port.is_none() && p.container_port == 8080)
    );
    assert!(
        c.ports
            .iter()
            .any(|p| p.protocol == "udp" && p.host_port == Some(5353))
    );
    assert_eq!(c.resources.memory_bytes, Some(268_435_456));
    assert_eq!(
        c.resources.nano_cpus,
        Some(500_000_000),
        "CpuQuota/CpuPeriod become nano-CPUs"
    );
    assert_eq!(c.resources.pids_limit, None, "-1 is unlimited");
    assert_eq!(c.resources.cpu_shares, None);
    assert!(c.read_only && !c.privileged);
    assert_eq!(c.security_opt, ["seccomp=unconfined", "no-new-privileges"]);
    assert_eq!(
        (c.cap_add.as_slice(), c.cap_drop.as_slice()),
        (&["SYS_ADMIN".to_string()][..], &["ALL".to_string()][..])
    );
    assert_eq!(c.logging.options["max-size"], "10m");
    assert_eq!(
        (
            c.pid_mode.as_str(),
            c.ipc_mode.as_str(),
            c.uts_mode.as_str(),
            c.userns_mode.as_str()
        ),
        ("host", "shareable", "host", "host")
    );
    assert_eq!(c.cgroup_parent, "/custom");
    assert_eq!(
        (
            c.devices[0].container_path.as_str(),
            c.devices[0].permissions.as_str()
        ),
        ("/dev/fuse", "rwm")
    );
    assert_eq!(c.sysctls["net.ipv4.ip_forward"], "1");
    assert_eq!(
        (c.restart_policy.name.as_str(), c.restart_policy.max_retries),
        ("on-failure", 5)
    );
    let h = c.healthcheck.as_ref().unwrap();
    assert_eq!(
        (h.interval_ns, h.timeout_ns, h.retries),
        (Some(30_000_000_000), None, Some(3))
    );
    assert_eq!(c.networks, ["shop_default"]);
    let bytes = serde_json::to_vec(&create_body()).unwrap();
    assert_eq!(
        engine_api::from_create_bytes(&bytes, Some("shop_api_1")).unwrap(),
        req
    );
}

#[test]
fn field_names_match_case_insensitively_as_in_go() {
    // dockerd would honour every one of these spellings; so must a policy's view.
    let body = json!({"image": "nginx", "hostconfig": {"PRIVILEGED": true, "capadd": ["NET_RAW"], "binds": ["/:/host"],
                      "Privileged": false, "privileged": true}, "labels": {"Keep.Case": "x"}});
    let c = engine_api::from_create(&body, None).unwrap().container;
    assert!(c.privileged, "the last spelling wins, as in Go");
    assert_eq!(c.cap_add, ["NET_RAW"]);
    assert_eq!(c.mounts[0].source, "/");
    assert!(
        c.labels.contains_key("Keep.Case"),
        "map keys are data, not renamed"
    );
    // Go also folds `ſ` to `s` and the Kelvin sign to `k`.
    let body = json!({"Image": "nginx", "HostConfig": {"Bind\u{17f}": ["/var/run/docker.sock:/s"], "\u{17f}ecurityOpt": ["seccomp=unconfined"]}});
    let c = engine_api::from_create(&body, None).unwrap().container;
    assert_eq!(c.mounts[0].source, "/var/run/docker.sock");
    assert_eq!(c.security_opt, ["seccomp=unconfined"]);
}

#[test]
fn wrong_types_name_the_field() {
    let cases = [
        (
            json!({"Image": "nginx", "HostConfig": {"Memory": "lots"}}),
            "HostConfig.Memory",
        ),
        (
            json!({"Image": "nginx", "HostConfig": {"Privileged": "yes"}}),
            "HostConfig.Privileged",
        ),
        (json!({"Image": "nginx", "Env": "A=1"}), "Env"),
        (
            json!({"Image": "nginx", "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": 80}]}}}),
            "HostConfig.PortBindings",
        ),
        (json!({"Image": "Not A Ref"}), "Image"),
        (
            json!({"Image": "nginx", "HostConfig": {"PortBindings": {"http/tcp": []}}}),
            "HostConfig.PortBindings.http/tcp",
        ),
    ];
    for (body, field) in cases {
        let e = engine_api::from_create(&body, None).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, EngineApiError::Field { .. }), "{text}");
        assert!(text.contains(field), "{field} not named in: {text}");
    }
    assert!(matches!(
        engine_api::from_create_bytes(b"{not json", None),
        Err(EngineApiError::Json { .. })
    ));
    let e = engine_api::from_create(&json!([1]), None).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("field `$`: expected a JSON object, found an array"),
        "{e}"
    );
    // An image ID is a valid image.
    let id = format!("sha256:{}", "a".repeat(64));
    assert!(
        engine_api::from_create(&json!({"Image": id}), None)
            .unwrap()
            .container
            .image_ref
            .digest
            .is_some()
    );
}

fn inspect() -> Value {
    json!({
        "Id": "0123456789abcdef0123456789abcdef",
        "Name": "/shop_api_1",
        "Image": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "Config": {"Image": "nginx:1.27", "User": "", "Env": ["PATH=/usr/bin"], "Labels": {"com.docker.compose.project": "shop"}},
        "HostConfig": {"Memory": 0, "NanoCpus": 1000000000, "RestartPolicy": {"Name": "", "MaximumRetryCount": 0}, "NetworkMode": "bridge"},
        "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}},
        "State": {"Running": true}
    })
}

/// An inspect with memory, CPU and pids limits and an on-failure restart policy.
fn upd_base() -> serde_json::Value {
    let mut i = inspect();
    i["HostConfig"]["Memory"] = json!(64 << 20);
    i["HostConfig"]["NanoCpus"] = json!(500_000_000);
    i["HostConfig"]["PidsLimit"] = json!(64);
    i["HostConfig"]["RestartPolicy"] = json!({"Name": "on-failure", "MaximumRetryCount": 3});
    i
}

#[test]
fn inspect_update_exec_and_image() {
    let req = engine_api::from_inspect(&inspect(), Operation::Audit).unwrap();
    assert_eq!(req.operation, Operation::Audit);
    assert_eq!(req.origin.container_name.as_deref(), Some("shop_api_1"));
    assert_eq!(
        req.origin.container_id.as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );
    assert_eq!(req.container.image, "nginx:1.27");
    assert_eq!(req.container.user, None);
    assert_eq!(req.container.restart_policy.name, "no");
    assert_eq!(req.container.networks, ["bridge"]);
    assert_eq!(req.subject(), "container \"shop_api_1\"");

    let upd = engine_api::from_update(
        &inspect(),
        &json!({"Memory": 1073741824, "PidsLimit": 200, "RestartPolicy": {"Name": "always"}}),
    )
    .unwrap();
    assert_eq!(upd.operation, Operation::Update);
    assert_eq!(upd.container.resources.memory_bytes, Some(1 << 30));
    assert_eq!(
        upd.container.resources.nano_cpus,
        Some(1_000_000_000),
        "kept from the inspect"
    );
    assert_eq!(upd.container.resources.pids_limit, Some(200));
    assert_eq!(upd.container.restart_policy.name, "always");
    // What `docker update --cpus 0.25` sends: every other field zero, meaning unchanged.
    let cli = engine_api::from_update(
        &upd_base(),
        &json!({"Memory": 0, "MemorySwap": 0, "NanoCpus": 250000000, "CpuShares": 0,
                "CpuQuota": 0, "CpuPeriod": 0, "RestartPolicy": {"Name": "", "MaximumRetryCount": 0}}),
    )
    .unwrap();
    assert_eq!(cli.container.resources.memory_bytes, Some(64 << 20));
    assert_eq!(cli.container.resources.nano_cpus, Some(250_000_000));
    assert_eq!(cli.container.resources.pids_limit, Some(64));
    assert_eq!(cli.container.restart_policy.name, "on-failure");
    // `docker update --pids-limit -1` lifts the limit.
    let lifted = engine_api::from_update(&upd_base(), &json!({"PidsLimit": -1})).unwrap();
    assert_eq!(lifted.container.resources.pids_limit, None);
    assert!(
        engine_api::from_update(&inspect(), &json!({"Memory": []}))
            .unwrap_err()
            .to_string()
            .contains("Memory")
    );

    let exec = engine_api::from_exec(
        &json!({"Privileged": true, "User": "root", "Cmd": ["sh"], "Tty": true, "Env": ["X=1"]}),
        &inspect(),
    )
    .unwrap();
    assert_eq!(exec.operation, Operation::Exec);
    let e = exec.exec.as_ref().unwrap();
    assert!(e.privileged && e.tty);
    assert_eq!(
        (e.user.as_deref(), e.command.as_slice()),
        (Some("root"), &["sh".to_string()][..])
    );
    assert_eq!(e.env["X"].as_deref(), Some("1"));

    let mut req = req;
    engine_api::apply_image_inspect(
        &mut req,
        &json!({"Config": {"User": "nginx", "Healthcheck": {"Test": ["NONE"]}}}),
    )
    .unwrap();
    let ic = req.container.image_config.as_ref().unwrap();
    assert_eq!(ic.user.as_deref(), Some("nginx"));
    assert!(ic.healthcheck.as_ref().unwrap().disabled);
}

#[test]
fn newer_api_shapes_are_accepted() {
    // API 1.44+: several endpoints at create, Mounts with extra options, unknown fields.
    let body = json!({"Image": "nginx", "HostConfig": {"Mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1}}],
        "Annotations": {"a": "b"}}, "NetworkingConfig": {"EndpointsConfig": {"a": {}, "b": {"MacAddress": "x"}}}});
    let c = engine_api::from_create(&body, None).unwrap().container;
    assert_eq!(c.networks, ["a", "b"]);
    assert_eq!(c.mounts[0].kind, "tmpfs");
}
