# Logging controls (DG-701..DG-702).
package dockgate.logging

import data.dockgate.lib

c := input.container

# Which requests the rules judge (the lib's rule, by full path: see lib.rego).
container_request if data.dockgate.lib.container_request

daemon := lib.setting("daemon_logging", {"driver": "json-file", "options": {}})

# The driver in effect: the container's, else the daemon's default from policy data.
driver := lower(c.logging.driver) if c.logging.driver != ""

driver := lower(object.get(daemon, "driver", "json-file")) if c.logging.driver == ""

# The options in effect: with the daemon's driver, the daemon's log-opts apply under the
# container's own.
options := c.logging.options if c.logging.driver != ""

options := object.union(object.get(daemon, "options", {}), c.logging.options) if c.logging.driver == ""

# DG-701 driver not allowed
findings contains lib.finding("DG-701", "container.logging.driver",
	sprintf("logs with the %s driver: use one of %s (logging.driver)", [driver, concat(", ", allowed)])) if {
	container_request
	allowed := lib.setting("allowed_log_drivers", ["json-file", "local"])
	not driver in allowed
}

# DG-702 json-file without rotation
findings contains lib.finding("DG-702", "container.logging.options",
	sprintf("json-file logs are not rotated (missing %s): set logging.options max-size (e.g. 10m) and max-file (e.g. \"3\")", [concat(" and ", missing)])) if {
	container_request
	driver == "json-file"
	missing := [o | some o in ["max-size", "max-file"]; not options[o]]
	count(missing) > 0
}
