# Resource and availability controls (DG-501..DG-505).
package dockgate.resources

import data.dockgate.lib

c := input.container

# Which requests the rules judge (the lib's rule, by full path: see lib.rego).
container_request if data.dockgate.lib.container_request

r := c.resources

# A limit is set when it is a positive number (null, 0 and -1 mean unlimited).
limited(v) if {
	is_number(v)
	v > 0
}

# DG-501 memory not limited
findings contains lib.finding("DG-501", "container.resources.memory_bytes",
	"memory is not limited: set deploy.resources.limits.memory (or mem_limit), e.g. 512M") if {
	container_request
	not limited(r.memory_bytes)
}

# DG-502 CPU not limited
findings contains lib.finding("DG-502", "container.resources.nano_cpus",
	"CPU is not limited: set deploy.resources.limits.cpus (or cpus), e.g. \"0.5\"") if {
	container_request
	not limited(r.nano_cpus)
}

# DG-503 PIDs not limited
findings contains lib.finding("DG-503", "container.resources.pids_limit",
	"the number of processes is not limited: set pids_limit (or deploy.resources.limits.pids), e.g. 200") if {
	container_request
	not limited(r.pids_limit)
}

# DG-504 restart policy not on-failure with 1..max retries
max_retries := lib.setting("max_restart_retries", 5)

findings contains lib.finding("DG-504", "container.restart_policy",
	sprintf("restart policy is %q: use on-failure with at most %d retries (restart: on-failure:%d)", [policy_text, max_retries, max_retries])) if {
	container_request
	not bounded_restart
}

bounded_restart if {
	c.restart_policy.name == "on-failure"
	c.restart_policy.max_retries > 0
	c.restart_policy.max_retries <= max_retries
}

policy_text := sprintf("on-failure:%d", [c.restart_policy.max_retries]) if {
	c.restart_policy.name == "on-failure"
	c.restart_policy.max_retries > 0
} else := "on-failure (unlimited retries)" if {
	c.restart_policy.name == "on-failure"
} else := c.restart_policy.name

# DG-505 no healthcheck: the container's own, else (at START/AUDIT) the image's
findings contains lib.finding("DG-505", "container.healthcheck",
	"healthcheck is disabled: remove disable: true / test: [\"NONE\"] and define a healthcheck test") if {
	container_request
	is_object(c.healthcheck)
	c.healthcheck.disabled == true
}

findings contains lib.finding("DG-505", "container.healthcheck",
	"has no healthcheck: define healthcheck.test (e.g. [\"CMD\", \"/app/healthcheck\"]) with interval, timeout and retries") if {
	container_request
	not disabled
	not own_test
	not image_healthcheck
}

disabled if c.healthcheck.disabled == true

# A healthcheck with a test of its own (an empty test inherits the image's).
own_test if {
	is_object(c.healthcheck)
	active(c.healthcheck)
}

image_healthcheck if {
	is_object(c.image_config)
	hc := c.image_config.healthcheck
	is_object(hc)
	active(hc)
}

active(hc) if {
	hc.disabled != true
	count(hc.test) > 0
	upper(hc.test[0]) != "NONE"
}
