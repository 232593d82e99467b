package dockgate.main_test

import data.dockgate.lib_test as t

decision(req, cfg) := d if {
	d := data.dockgate.main.decision with input as req with data.dockgate.config as cfg
}

ids(fs) := {f.id | some f in fs}

all_findings(d) := (d.deny | d.warn) | d.audit

baseline := data.dockgate.config

restricted := t.restricted

# A workload that violates a baseline control (DG-101) and a restricted one (DG-204).
bad := t.container({"privileged": true, "read_only": false})

# ---------------------------------------------------------------------------------------
# The hardened service passes everything.

test_hardened_has_zero_findings_under_restricted if {
	d := decision(t.hardened, restricted)
	d == {"deny": set(), "warn": set(), "audit": set()}
}

test_hardened_engine_create_has_zero_findings_under_restricted if {
	count(all_findings(decision(t.engine, restricted))) == 0
	# at START the adapter adds what the image configures
	start := object.union(t.engine, {"operation": "START", "container": {"image_config": {"user": "10001", "healthcheck": null}}})
	count(all_findings(decision(start, restricted))) == 0
}

test_hardened_exec_has_zero_findings_under_restricted if {
	count(all_findings(decision(t.exec({"user": "10001"}), restricted))) == 0
}

test_every_control_is_reachable if {
	# every catalogue control is denied for one of these inputs under restricted
	worst := t.request({
		"container": object.union(t.hardened.container, {
			"image": "python", "image_ref": {"registry": "docker.io", "repository": "library/python", "tag": null, "digest": null},
			"user": null, "privileged": true, "read_only": false, "cap_add": ["SYS_ADMIN"], "cap_drop": [],
			"security_opt": [], "network_mode": "host", "pid_mode": "host", "ipc_mode": "host", "uts_mode": "host",
			"userns_mode": "host", "cgroup_parent": "/x", "env": {"DB_PASSWORD": "x", "URL": "https://u:p@h/"},
			"mounts": [{"type": "bind", "source": "/var/run/docker.sock", "target": "/s", "read_only": false, "propagation": "rshared"}, {"type": "bind", "source": "/etc", "target": "/e", "read_only": true, "propagation": ""}],
			"ports": [{"host_ip": "", "host_port": 80, "container_port": 5432, "protocol": "tcp"}],
			"devices": [{"host_path": "/dev/mem", "container_path": "/dev/mem", "permissions": "rwm"}],
			"sysctls": {"kernel.msgmax": "1"}, "resources": {"memory_bytes": null, "nano_cpus": null, "pids_limit": null, "cpu_shares": null},
			"logging": {"driver": "syslog", "options": {}}, "healthcheck": null, "restart_policy": {"name": "always", "max_retries": 0},
			"networks": ["bridge"], "build": {"context": ".", "dockerfile": null, "args": {"NPM_TOKEN": null}},
		}),
		"project": {"name": "shop", "services": ["api", "worker"],
			"secrets": {"k": {"source": "environment", "reference": "K", "used_by": ["api"]}},
			"volumes": {"v": {"external": false, "driver": "local", "used_by": ["api", "worker"]}}},
	})
	cfg := object.union(restricted, {"allowed_registries": ["ghcr.io/example/*"]})
	container_ids := ids(decision(worst, cfg).deny)
	json_file := t.container({"logging": {"driver": "json-file", "options": {}}})
	lsm_off := t.container({"security_opt": ["seccomp=unconfined", "apparmor=unconfined", "label=disable"]})
	exec_ids := ids(decision(t.exec({"privileged": true, "user": "root"}), cfg).deny)
	reached := {id |
		some req in [worst, json_file, lsm_off]
		some id in ids(decision(req, cfg).deny)
	} | exec_ids
	missing := {id | some id, _ in data.dockgate.catalogue.controls; not id in reached}
	missing == set()
}

# ---------------------------------------------------------------------------------------
# Profiles.

test_baseline_keeps_restricted_controls_silent if {
	d := decision(bad, baseline)
	ids(d.deny) == {"DG-101"}
}

test_restricted_adds_restricted_controls if {
	d := decision(bad, restricted)
	ids(d.deny) == {"DG-101", "DG-204"}
}

test_default_profile_is_baseline if {
	cfg := object.remove(baseline, ["profile"])
	ids(decision(bad, cfg).deny) == {"DG-101"}
}

test_unknown_profile_is_restricted if {
	cfg := object.union(baseline, {"profile": "lenient"})
	ids(decision(bad, cfg).deny) == {"DG-101", "DG-204"}
}

# ---------------------------------------------------------------------------------------
# Overrides.

test_decision_finding_shape if {
	d := decision(t.container({"privileged": true}), baseline)
	d.deny == {{
		"id": "DG-101",
		"title": "container is privileged",
		"msg": `service "api": remove privileged: true; add only the capabilities the workload needs with cap_add (DG-101)`,
		"severity": "critical",
		"profile": "baseline",
		"field": "container.privileged",
		"package": "dockgate.privilege",
		"action": "deny",
	}}
	d.warn == set()
	d.audit == set()
}

test_override_action_warn if {
	cfg := object.union(restricted, {"rules": {"DG-204": {"action": "warn"}}})
	d := decision(bad, cfg)
	ids(d.deny) == {"DG-101"}
	ids(d.warn) == {"DG-204"}
	d.audit == set()
}

test_override_action_audit_and_severity if {
	cfg := object.union(baseline, {"rules": {"DG-101": {"action": "audit", "severity": "low"}}})
	d := decision(bad, cfg)
	d.deny == set()
	some f in d.audit
	f.id == "DG-101"
	f.severity == "low"
	f.action == "audit"
}

test_override_severity_keeps_deny if {
	cfg := object.union(baseline, {"rules": {"DG-101": {"severity": "medium"}}})
	some f in decision(bad, cfg).deny
	f.id == "DG-101"
	f.severity == "medium"
}

test_invalid_override_values_fail_closed if {
	cfg := object.union(baseline, {"rules": {"DG-101": {"action": "ignore", "severity": "whatever"}}})
	some f in decision(bad, cfg).deny
	f.id == "DG-101"
	f.severity == "critical"
}

test_override_disable if {
	cfg := object.union(restricted, {"rules": {"DG-101": {"enabled": false}}})
	ids(all_findings(decision(bad, cfg))) == {"DG-204"}
}

test_override_enable_restricted_control_under_baseline if {
	cfg := object.union(baseline, {"rules": {"DG-204": {"enabled": true, "action": "warn"}}})
	d := decision(bad, cfg)
	ids(d.deny) == {"DG-101"}
	ids(d.warn) == {"DG-204"}
}

# ---------------------------------------------------------------------------------------
# Exemptions.

exempt(e) := object.union(restricted, {"exemptions": [e]})

legacy := {"rules": ["DG-204"], "match": {"project": "shop", "service": "api"}, "reason": "legacy app writes to /var/cache; TICKET-12"}

test_exemption_match_moves_finding_to_audit if {
	d := decision(bad, exempt(legacy))
	ids(d.deny) == {"DG-101"}
	some f in d.audit
	f.id == "DG-204"
	f.exempted == true
	f.exemption.reason == legacy.reason
}

test_exemption_wildcard_rules_and_globs if {
	e := {"rules": ["*"], "match": {"service": "a*", "image": "ghcr.io/example/*"}, "reason": "vendor appliance"}
	d := decision(bad, exempt(e))
	d.deny == set()
	ids(d.audit) == {"DG-101", "DG-204"}
}

test_exemption_by_container_name_and_user if {
	req := object.union(object.union(t.engine, {"container": {"privileged": true}}), {"user": {"name": "ops-admin", "authn_method": "TLS"}})
	by_name := {"rules": ["DG-101"], "match": {"container_name": "api-*"}, "reason": "r"}
	ids(decision(req, exempt(by_name)).deny) == set()
	by_user := {"rules": ["DG-101"], "match": {"user": "ops-*"}, "reason": "r"}
	ids(decision(req, exempt(by_user)).deny) == set()
	other_user := {"rules": ["DG-101"], "match": {"user": "dev-*"}, "reason": "r"}
	ids(decision(req, exempt(other_user)).deny) == {"DG-101"}
}

# A request without a container name (null): a container_name matcher does not match, and
# the evaluation does not fail (it used to: trim_prefix on null).
test_exemption_by_container_name_without_a_name if {
	req := object.union(t.engine, {"container": {"privileged": true}, "origin": {"container_name": null}})
	by_name := {"rules": ["DG-101"], "match": {"container_name": "*"}, "reason": "r"}
	d := decision(req, exempt(by_name))
	ids(d.deny) == {"DG-101"}
	ids(d.audit) == set()
	unnamed := object.union(req, {"origin": {"container_name": ""}})
	ids(decision(unnamed, exempt(by_name)).deny) == {"DG-101"}
}

test_exemption_non_match if {
	every e in [
		object.union(legacy, {"match": {"project": "shop", "service": "worker"}}),
		object.union(legacy, {"match": {"project": "other"}}),
		object.union(legacy, {"rules": ["DG-101"]}),
		object.union(legacy, {"match": {"service": "api", "image": "docker.io/*"}}),
		object.union(legacy, {"match": {"team": "api"}}),
	] {
		"DG-204" in ids(decision(bad, exempt(e)).deny)
	}
}

test_exemption_expired if {
	e := object.union(legacy, {"expires": "2020-01-31"})
	"DG-204" in ids(decision(bad, exempt(e)).deny)
	# a malformed date never applies
	e2 := object.union(legacy, {"expires": "next week"})
	"DG-204" in ids(decision(bad, exempt(e2)).deny)
}

test_exemption_not_yet_expired if {
	e := object.union(legacy, {"expires": "2199-12-31"})
	d := decision(bad, exempt(e))
	not "DG-204" in ids(d.deny)
	some f in d.audit
	f.exemption.expires == "2199-12-31"
}

test_exemption_needs_reason_and_matcher if {
	"DG-204" in ids(decision(bad, exempt(object.remove(legacy, ["reason"]))).deny)
	"DG-204" in ids(decision(bad, exempt(object.union(legacy, {"reason": "  "}))).deny)
	"DG-204" in ids(decision(bad, exempt(object.union(object.remove(legacy, ["match"]), {"match": {}}))).deny)
}

test_label_self_exemption_is_ignored if {
	# the workload tries to exempt itself through its own labels and names
	labelled := t.container({"privileged": true, "read_only": false, "labels": {
		"dockgate.dev/exempt": "*",
		"dockgate.dev/exemptions": "DG-101,DG-204",
		"dockgate.exempt": "true",
		"com.docker.compose.project": "trusted",
	}})
	d := decision(labelled, restricted)
	ids(d.deny) == {"DG-101", "DG-204"}
	d.audit == set()
	# even with an exemption for another project in policy data
	e := {"rules": ["*"], "match": {"project": "trusted"}, "reason": "r"}
	ids(decision(labelled, exempt(e)).deny) == {"DG-101", "DG-204"}
}
