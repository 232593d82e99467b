package dockgate.network_test

import data.dockgate.lib_test as t

findings(req) := fs if {
	fs := data.dockgate.network.findings with input as req
}

port(ip, host, cport) := {"host_ip": ip, "host_port": host, "container_port": cport, "protocol": "tcp"}

ports(ps) := t.container({"ports": ps})

test_hardened_has_no_network_findings if {
	count(findings(t.hardened)) == 0
}

# DG-601
test_dg601_all_interfaces if {
	every ip in ["", "0.0.0.0", "::"] {
		t.fired(findings(ports([port(ip, 8080, 8080)])), "DG-601")
	}
	some f in findings(ports([port("127.0.0.1", 8081, 8081), port("", null, 8080)]))
	f.id == "DG-601"
	f.field == "container.ports[1]"
}

test_dg601_bound_interface if {
	not t.fired(findings(ports([port("127.0.0.1", 8080, 8080), port("10.0.0.5", 9000, 9000), port("::1", 8443, 8443)])), "DG-601")
}

# DG-602
test_dg602_privileged_port if {
	some f in findings(ports([port("127.0.0.1", 443, 8443)]))
	f.id == "DG-602"
	f.field == "container.ports[0]"
}

test_dg602_high_or_ephemeral_port if {
	not t.fired(findings(ports([port("127.0.0.1", 8443, 443), port("127.0.0.1", null, 80), port("127.0.0.1", 1024, 80)])), "DG-602")
}

# DG-603
test_dg603_database_port if {
	some f in findings(ports([port("127.0.0.1", 15432, 5432)]))
	f.id == "DG-603"
	contains(f.msg, "PostgreSQL")
	t.fired(findings(ports([port("127.0.0.1", 6379, 16379)])), "DG-603")
}

test_dg603_app_port if not t.fired(findings(ports([port("127.0.0.1", 8080, 8080)])), "DG-603")

test_dg603_table_from_data if {
	not t.fired(findings(ports([port("127.0.0.1", 5432, 5432)])), "DG-603") with data.dockgate.config.database_ports as []
}

# DG-604
test_dg604_default_bridge if {
	t.fired(findings(t.container({"network_mode": "bridge"})), "DG-604")
	t.fired(findings(t.container({"networks": ["bridge"]})), "DG-604")
	# an engine container without network settings lands on docker0
	t.fired(findings(object.union(t.engine, {"container": {"network_mode": "default", "networks": []}})), "DG-604")
}

test_dg604_user_network if {
	not t.fired(findings(t.container({"network_mode": "", "networks": ["backend"]})), "DG-604")
	not t.fired(findings(t.container({"network_mode": "none", "networks": []})), "DG-604")
	# compose without networks: uses the project's default network, not docker0
	not t.fired(findings(t.container({"network_mode": "", "networks": []})), "DG-604")
	not t.fired(findings(object.union(t.engine, {"container": {"network_mode": "shop_backend"}})), "DG-604")
}
