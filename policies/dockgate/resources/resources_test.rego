package dockgate.resources_test

import data.dockgate.lib_test as t

findings(req) := fs if {
	fs := data.dockgate.resources.findings with input as req
}

limits(patch) := t.container({"resources": object.union(t.hardened.container.resources, patch)})

test_hardened_has_no_resource_findings if {
	count(findings(t.hardened)) == 0
}

# DG-501
test_dg501_no_memory_limit if {
	some f in findings(limits({"memory_bytes": null}))
	f.id == "DG-501"
	f.field == "container.resources.memory_bytes"
	t.fired(findings(limits({"memory_bytes": 0})), "DG-501")
}

test_dg501_memory_limit if not t.fired(findings(limits({"memory_bytes": 6291456})), "DG-501")

# DG-502
test_dg502_no_cpu_limit if {
	t.fired(findings(limits({"nano_cpus": null, "cpu_shares": 512})), "DG-502")
}

test_dg502_cpu_limit if not t.fired(findings(limits({"nano_cpus": 250000000})), "DG-502")

# DG-503
test_dg503_no_pids_limit if {
	every v in [null, 0, -1] {
		t.fired(findings(limits({"pids_limit": v})), "DG-503")
	}
}

test_dg503_pids_limit if not t.fired(findings(limits({"pids_limit": 100})), "DG-503")

# DG-504
restart(name, n) := t.container({"restart_policy": {"name": name, "max_retries": n}})

test_dg504_unbounded_restarts if {
	every p in [["always", 0], ["unless-stopped", 0], ["no", 0], ["on-failure", 0], ["on-failure", 10]] {
		t.fired(findings(restart(p[0], p[1])), "DG-504")
	}
	some f in findings(restart("on-failure", 0))
	f.id == "DG-504"
	contains(f.msg, `"on-failure (unlimited retries)"`)
}

test_dg504_bounded_restarts if {
	every n in [1, 3, 5] {
		not t.fired(findings(restart("on-failure", n)), "DG-504")
	}
	not t.fired(findings(restart("on-failure", 8)), "DG-504") with data.dockgate.config.max_restart_retries as 10
}

# DG-505
hc(test, disabled) := {"test": test, "disabled": disabled, "interval_ns": null, "timeout_ns": null, "retries": null, "start_period_ns": null}

test_dg505_none if {
	some f in findings(t.container({"healthcheck": null}))
	f.id == "DG-505"
	f.field == "container.healthcheck"
}

test_dg505_disabled if {
	t.fired(findings(t.container({"healthcheck": hc(["NONE"], true)})), "DG-505")
	# disabled even though the image has one
	req := t.container({"healthcheck": hc([], true), "image_config": {"user": "app", "healthcheck": hc(["CMD", "true"], false)}})
	t.fired(findings(object.union(req, {"operation": "START"})), "DG-505")
}

test_dg505_image_healthcheck_at_runtime if {
	with_image := t.container({"healthcheck": null, "image_config": {"user": "app", "healthcheck": hc(["CMD-SHELL", "curl -f localhost"], false)}})
	not t.fired(findings(object.union(with_image, {"operation": "AUDIT"})), "DG-505")
	# an own healthcheck with only timings inherits the image's test
	inherits := t.container({"healthcheck": hc([], false), "image_config": {"user": "app", "healthcheck": hc(["CMD", "true"], false)}})
	not t.fired(findings(inherits), "DG-505")
	without := t.container({"healthcheck": hc([], false), "image_config": {"user": "app", "healthcheck": null}})
	t.fired(findings(without), "DG-505")
}

test_dg505_own_healthcheck if not t.fired(findings(t.container({"healthcheck": hc(["CMD", "/app/healthcheck"], false)})), "DG-505")
