# Network exposure controls (DG-601..DG-604).
package dockgate.network

import data.dockgate.lib

c := input.container

# Which requests the rules judge (the lib's rule, by full path: see lib.rego).
container_request if data.dockgate.lib.container_request

port_text(p) := sprintf("%d:%d/%s", [p.host_port, p.container_port, p.protocol]) if is_number(p.host_port)

port_text(p) := sprintf("%d/%s", [p.container_port, p.protocol]) if not is_number(p.host_port)

# DG-601 published on all host interfaces
findings contains lib.finding("DG-601", lib.index("container.ports", i),
	sprintf("publishes port %s on all host interfaces: bind it to one address, e.g. \"127.0.0.1:%s\"", [port_text(p), port_text(p)])) if {
	container_request
	some i, p in c.ports
	p.host_ip in {"", "0.0.0.0", "::", "[::]"}
}

# DG-602 privileged host port
findings contains lib.finding("DG-602", lib.index("container.ports", i),
	sprintf("publishes privileged host port %d: use a host port of 1024 or above (or a reverse proxy)", [p.host_port])) if {
	container_request
	some i, p in c.ports
	is_number(p.host_port)
	p.host_port > 0
	p.host_port < 1024
}

# DG-603 database or cache port published
findings contains lib.finding("DG-603", lib.index("container.ports", i),
	sprintf("publishes the %s port %d on the host: keep it on an internal network and remove the ports entry", [db.name, db.port])) if {
	container_request
	some i, p in c.ports
	published := {p.container_port, p.host_port}
	some db in database_ports
	db.port in published
}

database_ports := lib.setting("database_ports", [])

# DG-604 attached to the default bridge
findings contains lib.finding("DG-604", "container.network_mode",
	"is attached to Docker's default bridge: join a user-defined network instead") if {
	container_request
	default_bridge
}

default_bridge if lower(c.network_mode) == "bridge"

default_bridge if "bridge" in c.networks

# An Engine API container with no network settings lands on docker0.
default_bridge if {
	input.source == "engine"
	lower(c.network_mode) in {"", "default"}
	count(c.networks) == 0
}
