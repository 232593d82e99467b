# Test fixtures shared by every *_test package, and tests of dockgate.lib.
#
# `hardened` is the normalised input of tests/fixtures/controls/hardened.compose.yaml as
# `dockgate normalize -p shop` prints it (service "api"; host paths shown as if the project
# lived in /srv/shop): it passes every control under the restricted profile, so each
# positive test changes one thing and each negative test shows a near miss that must stay
# quiet.
package dockgate.lib_test

import data.dockgate.lib

digest := "sha256:9c6b4b89bf64b1b8fbcd4699f1bab3a6c78ac60aa2e29887cc9929592e127ee4"

hardened := {
	"apiVersion": "dockgate.dev/v1",
	"kind": "AdmissionRequest",
	"operation": "CHECK",
	"source": "compose",
	"origin": {
		"file": "tests/fixtures/controls/hardened.compose.yaml",
		"project": "shop", "service": "api", "container_name": "shop_api_1", "container_id": null,
	},
	"user": null,
	"container": {
		"image": concat("@", ["ghcr.io/example/shop-api:1.4.2", digest]),
		"image_ref": {"registry": "ghcr.io", "repository": "example/shop-api", "tag": "1.4.2", "digest": digest},
		"user": "10001:10001",
		"privileged": false,
		"read_only": true,
		"cap_add": [],
		"cap_drop": ["ALL"],
		"security_opt": ["no-new-privileges=true"],
		"network_mode": "shop_backend",
		"pid_mode": "",
		"ipc_mode": "",
		"uts_mode": "",
		"userns_mode": "",
		"cgroup_parent": "",
		"env": {"DB_PASSWORD_FILE": "/run/secrets/db_password", "LOG_FORMAT": "json"},
		"mounts": [
			{"type": "tmpfs", "source": "", "target": "/tmp", "read_only": false, "propagation": ""},
			{"type": "bind", "source": "/srv/shop/secrets/db_password.txt", "target": "/run/secrets/db_password", "read_only": true, "propagation": ""},
		],
		"ports": [{"host_ip": "127.0.0.1", "host_port": 8080, "container_port": 8080, "protocol": "tcp"}],
		"devices": [],
		"sysctls": {},
		"resources": {"memory_bytes": 268435456, "nano_cpus": 500000000, "pids_limit": 200, "cpu_shares": null},
		"logging": {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}},
		"healthcheck": {
			"test": ["CMD", "/app/healthcheck"], "disabled": false,
			"interval_ns": 30000000000, "timeout_ns": 5000000000, "retries": 3, "start_period_ns": 10000000000,
		},
		"restart_policy": {"name": "on-failure", "max_retries": 5},
		"secrets": [{"source": "db_password", "target": "/run/secrets/db_password"}],
		"labels": {
			"com.docker.compose.container-number": "1",
			"com.docker.compose.oneoff": "False",
			"com.docker.compose.project": "shop",
			"com.docker.compose.project.config_files": "/srv/shop/hardened.compose.yaml",
			"com.docker.compose.project.working_dir": "/srv/shop",
			"com.docker.compose.service": "api",
			"com.docker.compose.version": "1.29.2",
			"org.opencontainers.image.source": "https://github.com/example/shop-api",
		},
		"entrypoint": null,
		"command": null,
		"networks": ["shop_backend"],
		"build": null,
		"image_config": null,
	},
	"exec": null,
	"project": {
		"name": "shop",
		"secrets": {"db_password": {"source": "file", "reference": "./secrets/db_password.txt", "used_by": ["api"]}},
		"volumes": {},
		"services": ["api"],
	},
}

# container(patch): `hardened` with the given container fields replaced (not merged).
container(patch) := request({"container": object.union(object.remove(hardened.container, object.keys(patch)), patch)})

# request(patch): `hardened` with the given top-level fields replaced (not merged).
request(patch) := object.union(object.remove(hardened, object.keys(patch)), patch)

# An Engine API create of the hardened container, named "api-1".
engine := request({
	"operation": "CREATE",
	"source": "engine",
	"origin": {"file": null, "project": null, "service": null, "container_name": "api-1", "container_id": null},
	"project": null,
})

# An exec into the hardened container.
exec(spec) := request({
	"operation": "EXEC",
	"exec": object.union({"privileged": false, "user": null, "command": ["sh"], "tty": true, "env": {}}, spec),
})

# The restricted profile over the default policy data.
restricted := object.union(data.dockgate.config, {"profile": "restricted"})

ids(fs) := {f.id | some f in fs}

# fired(fs, id): control `id` has a finding in `fs`.
fired(fs, id) if id in ids(fs)

# ---------------------------------------------------------------------------------------
# dockgate.lib

test_subject_prefers_service if {
	lib.subject == `service "api"` with input as hardened
}

test_subject_falls_back_to_container_name_then_id_then_image if {
	lib.subject == `container "api-1"` with input as engine
	by_id := request({"origin": {"file": null, "project": null, "service": null, "container_name": null, "container_id": "0123456789abcdef0123"}})
	lib.subject == "container 0123456789ab" with input as by_id
	by_image := request({"origin": {"file": null, "project": null, "service": null, "container_name": null, "container_id": null}})
	lib.subject == sprintf("image %q", [hardened.container.image]) with input as by_image
}

test_is_root if {
	every u in ["", "root", "0", "0:0", "root:root", "ROOT", "0:1000"] {
		lib.is_root(u)
	}
	every u in ["10001", "10001:10001", "app", "app:root", "1000:0", "rootless"] {
		not lib.is_root(u)
	}
}

test_effective_user if {
	lib.effective_user == "10001:10001" with input as hardened
	not lib.effective_user with input as container({"user": null})
	lib.effective_user == "" with input as container({"user": null, "image_config": {"user": null, "healthcheck": null}})
	lib.effective_user == "app" with input as container({"user": "", "image_config": {"user": "app", "healthcheck": null}})
}

test_opt_pair if {
	lib.opt_pair("seccomp=unconfined") == ["seccomp", "unconfined"]
	lib.opt_pair("seccomp:unconfined") == ["seccomp", "unconfined"]
	lib.opt_pair("label=type:svirt_apache_t") == ["label", "type:svirt_apache_t"]
	lib.opt_pair("no-new-privileges") == ["no-new-privileges", ""]
}

test_under if {
	lib.under("/etc", "/etc")
	lib.under("/etc/ssl/", "/etc")
	lib.under("//etc//ssl", "/etc")
	lib.under("/", "/")
	not lib.under("/etcetera", "/etc")
	not lib.under("/srv/app", "/")
	not lib.under("/srv/app", "/etc")
}

test_path if {
	lib.path("container.env", "API_TOKEN") == "container.env.API_TOKEN"
	lib.path("container.labels", "com.example.key") == `container.labels["com.example.key"]`
}

test_valid_date if {
	every d in ["2026-01-31", "2026-04-30", "2024-02-29", "2000-02-29", "2199-12-31"] {
		lib.valid_date(d)
	}
	every d in ["2026-02-29", "2100-02-29", "1999-12-31", "2200-01-01", "2026-04-31", "2026-13-01", "2026-1-01", "tomorrow", 20260101] {
		not lib.valid_date(d)
	}
}

test_expired if {
	lib.expired("2001-01-01")
	lib.expired("2026-02-30")
	not lib.expired("2199-12-31")
}

test_finding_shape if {
	f := lib.finding("DG-204", "container.read_only", "fix it") with input as hardened
	f == {
		"id": "DG-204",
		"title": "root filesystem writable (`read_only` not true)",
		"msg": `service "api": fix it (DG-204)`,
		"severity": "medium",
		"profile": "restricted",
		"field": "container.read_only",
		"package": "dockgate.filesystem",
	}
}
