package dockgate.logging_test

import data.dockgate.lib_test as t

findings(req) := fs if {
	fs := data.dockgate.logging.findings with input as req
}

logging(driver, options) := t.container({"logging": {"driver": driver, "options": options}})

test_hardened_has_no_logging_findings if {
	count(findings(t.hardened)) == 0
}

# DG-701
test_dg701_driver_not_allowed if {
	some f in findings(logging("syslog", {}))
	f.id == "DG-701"
	f.field == "container.logging.driver"
	t.fired(findings(logging("none", {})), "DG-701")
}

test_dg701_allowed_drivers if {
	not t.fired(findings(logging("local", {})), "DG-701")
	not t.fired(findings(logging("json-file", {})), "DG-701")
	# unset: the daemon's driver from policy data
	not t.fired(findings(logging("", {})), "DG-701")
	t.fired(findings(logging("", {})), "DG-701") with data.dockgate.config.daemon_logging as {"driver": "journald", "options": {}}
	not t.fired(findings(logging("fluentd", {})), "DG-701") with data.dockgate.config.allowed_log_drivers as ["fluentd"]
}

# DG-702
test_dg702_unrotated_json_file if {
	some f in findings(logging("json-file", {"max-size": "10m"}))
	f.id == "DG-702"
	contains(f.msg, "missing max-file")
	t.fired(findings(logging("", {})), "DG-702")
}

test_dg702_rotated_or_other_driver if {
	not t.fired(findings(logging("json-file", {"max-size": "10m", "max-file": "3"})), "DG-702")
	not t.fired(findings(logging("local", {})), "DG-702")
	# the daemon's log-opts apply to containers using the daemon's driver
	daemon := {"driver": "json-file", "options": {"max-size": "20m", "max-file": "5"}}
	not t.fired(findings(logging("", {})), "DG-702") with data.dockgate.config.daemon_logging as daemon
}
