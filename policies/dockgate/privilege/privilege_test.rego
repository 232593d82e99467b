package dockgate.privilege_test

import data.dockgate.lib_test as t

findings(req) := fs if {
	fs := data.dockgate.privilege.findings with input as req
}

test_hardened_has_no_privilege_findings if {
	count(findings(t.hardened)) == 0
	count(findings(t.engine)) == 0
}

# DG-101
test_dg101_privileged if {
	fs := findings(t.container({"privileged": true}))
	some f in fs
	f.id == "DG-101"
	f.field == "container.privileged"
	f.msg == `service "api": remove privileged: true; add only the capabilities the workload needs with cap_add (DG-101)`
}

test_dg101_engine_subject if {
	some f in findings(object.union(t.engine, {"container": {"privileged": true}}))
	f.id == "DG-101"
	startswith(f.msg, `container "api-1": `)
}

test_dg101_not_privileged if {
	not t.fired(findings(t.container({"privileged": false})), "DG-101")
}

# DG-102..DG-106
test_dg102_host_network if t.fired(findings(t.container({"network_mode": "host"})), "DG-102")

test_dg102_user_network if {
	not t.fired(findings(t.container({"network_mode": "shop_backend"})), "DG-102")
	not t.fired(findings(t.container({"network_mode": "none"})), "DG-102")
}

test_dg103_host_pid if t.fired(findings(t.container({"pid_mode": "host"})), "DG-103")

test_dg103_container_pid if not t.fired(findings(t.container({"pid_mode": "container:abc"})), "DG-103")

test_dg104_host_ipc if t.fired(findings(t.container({"ipc_mode": "host"})), "DG-104")

test_dg104_private_ipc if not t.fired(findings(t.container({"ipc_mode": "private"})), "DG-104")

test_dg105_host_uts if t.fired(findings(t.container({"uts_mode": "host"})), "DG-105")

test_dg105_default_uts if not t.fired(findings(t.container({"uts_mode": ""})), "DG-105")

test_dg106_host_userns if {
	some f in findings(t.container({"userns_mode": "host"}))
	f.id == "DG-106"
	f.field == "container.userns_mode"
}

test_dg106_default_userns if not t.fired(findings(t.container({"userns_mode": ""})), "DG-106")

# DG-107
test_dg107_sys_admin if {
	some f in findings(t.container({"cap_add": ["NET_BIND_SERVICE", "SYS_ADMIN"]}))
	f.id == "DG-107"
	f.field == "container.cap_add[1]"
}

test_dg107_all if t.fired(findings(t.container({"cap_add": ["ALL"]})), "DG-107")

test_dg107_cap_prefix_and_case if t.fired(findings(t.container({"cap_add": ["cap_sys_ptrace"]})), "DG-107")

test_dg107_default_caps if {
	not t.fired(findings(t.container({"cap_add": ["CHOWN", "NET_BIND_SERVICE", "cap_kill"]})), "DG-107")
}

test_dg107_table_from_data if {
	fs := findings(t.container({"cap_add": ["SYS_ADMIN"]})) with data.dockgate.config.default_capabilities as ["SYS_ADMIN"]
	not t.fired(fs, "DG-107")
}

# data written in any capability form (not only lib.cap()'s): the normalised set decides
test_dg107_table_from_data_any_form if {
	data_caps := [" cap_sys_admin", "Net_Admin"]
	fs := findings(t.container({"cap_add": ["SYS_ADMIN", "cap_net_admin"]})) with data.dockgate.config.default_capabilities as data_caps
	not t.fired(fs, "DG-107")
	fs2 := findings(t.container({"cap_add": ["SYS_PTRACE"]})) with data.dockgate.config.default_capabilities as data_caps
	t.fired(fs2, "DG-107")
}

# DG-108
test_dg108_no_drop_all if {
	some f in findings(t.container({"cap_drop": ["NET_RAW"]}))
	f.id == "DG-108"
	f.field == "container.cap_drop"
}

test_dg108_add_back_not_allowed if {
	some f in findings(t.container({"cap_add": ["CHOWN"]}))
	f.id == "DG-108"
	f.field == "container.cap_add[0]"
}

test_dg108_drop_all_add_allowed if {
	not t.fired(findings(t.container({"cap_drop": ["all"], "cap_add": ["NET_BIND_SERVICE"]})), "DG-108")
}

test_dg108_allowed_from_data_any_form if {
	fs := findings(t.container({"cap_add": ["CHOWN"]})) with data.dockgate.config.allowed_capabilities as ["cap_chown "]
	not t.fired(fs, "DG-108")
	fs2 := findings(t.container({"cap_add": ["KILL"]})) with data.dockgate.config.allowed_capabilities as ["cap_chown "]
	t.fired(fs2, "DG-108")
}

test_dg108_allowed_from_data if {
	fs := findings(t.container({"cap_add": ["CHOWN"]})) with data.dockgate.config.allowed_capabilities as ["CHOWN"]
	not t.fired(fs, "DG-108")
}

# DG-109..DG-111
test_dg109_seccomp_unconfined if {
	t.fired(findings(t.container({"security_opt": ["no-new-privileges", "seccomp=unconfined"]})), "DG-109")
	t.fired(findings(t.container({"security_opt": ["seccomp:unconfined"]})), "DG-109")
}

test_dg109_seccomp_profile if {
	not t.fired(findings(t.container({"security_opt": ["seccomp=/etc/docker/seccomp/app.json"]})), "DG-109")
}

test_dg110_apparmor_unconfined if t.fired(findings(t.container({"security_opt": ["apparmor:unconfined"]})), "DG-110")

test_dg110_apparmor_profile if not t.fired(findings(t.container({"security_opt": ["apparmor=docker-default"]})), "DG-110")

test_dg111_label_disable if t.fired(findings(t.container({"security_opt": ["label=disable"]})), "DG-111")

test_dg111_label_type if not t.fired(findings(t.container({"security_opt": ["label=type:svirt_apache_t"]})), "DG-111")

# DG-112
test_dg112_missing if t.fired(findings(t.container({"security_opt": ["apparmor=docker-default"]})), "DG-112")

test_dg112_false if t.fired(findings(t.container({"security_opt": ["no-new-privileges=false"]})), "DG-112")

test_dg112_set if {
	every opt in ["no-new-privileges", "no-new-privileges=true", "no-new-privileges:true"] {
		not t.fired(findings(t.container({"security_opt": [opt]})), "DG-112")
	}
}

# DG-113
test_dg113_root_users if {
	every u in ["root", "0", "0:0", "root:root"] {
		t.fired(findings(t.container({"user": u})), "DG-113")
	}
}

test_dg113_no_user_at_create if {
	some f in findings(object.union(t.engine, {"container": {"user": null}}))
	f.id == "DG-113"
	f.field == "container.user"
}

test_dg113_no_user_image_root_at_start if {
	req := t.container({"user": null, "image_config": {"user": null, "healthcheck": null}})
	some f in findings(object.union(req, {"operation": "START"}))
	f.id == "DG-113"
	f.field == "container.image_config.user"
}

test_dg113_no_user_image_non_root_at_start if {
	req := t.container({"user": null, "image_config": {"user": "app", "healthcheck": null}})
	not t.fired(findings(object.union(req, {"operation": "START"})), "DG-113")
}

test_dg113_non_root if not t.fired(findings(t.container({"user": "app:app"})), "DG-113")

# DG-114
test_dg114_device if {
	some f in findings(t.container({"devices": [{"host_path": "/dev/fuse", "container_path": "/dev/fuse", "permissions": "rwm"}]}))
	f.id == "DG-114"
	f.field == "container.devices[0]"
}

test_dg114_no_devices if not t.fired(findings(t.container({"devices": []})), "DG-114")

# DG-115
test_dg115_cgroup_parent if t.fired(findings(t.container({"cgroup_parent": "/custom"})), "DG-115")

test_dg115_default if not t.fired(findings(t.container({"cgroup_parent": ""})), "DG-115")

# DG-116
test_dg116_unsafe_sysctl if {
	some f in findings(t.container({"sysctls": {"net.ipv4.tcp_syncookies": "1", "kernel.msgmax": "65536"}}))
	f.id == "DG-116"
	f.field == `container.sysctls["kernel.msgmax"]`
}

test_dg116_unsafe_net_sysctl if t.fired(findings(t.container({"sysctls": {"net.ipv4.ip_forward": "1"}})), "DG-116")

test_dg116_safe_sysctls if {
	not t.fired(findings(t.container({"sysctls": {"net.ipv4.ip_unprivileged_port_start": "80", "kernel.shm_rmid_forced": "1"}})), "DG-116")
}

test_dg116_globs_from_data if {
	fs := findings(t.container({"sysctls": {"net.core.somaxconn": "1024"}})) with data.dockgate.config.safe_sysctls as ["net.core.*"]
	not t.fired(fs, "DG-116")
}

# DG-117
test_dg117_privileged_exec if {
	some f in findings(t.exec({"privileged": true, "user": "app"}))
	f.id == "DG-117"
	f.field == "exec.privileged"
}

test_dg117_plain_exec if not t.fired(findings(t.exec({"privileged": false})), "DG-117")

test_dg117_only_at_exec if {
	# the exec section is ignored outside EXEC
	not t.fired(findings(t.request({"exec": {"privileged": true, "user": "root", "command": ["sh"], "tty": true, "env": {}}})), "DG-117")
}

# DG-118
test_dg118_exec_user_root if t.fired(findings(t.exec({"user": "0"})), "DG-118")

test_dg118_exec_inherits_root if {
	req := t.exec({"user": null})
	t.fired(findings(object.union(req, {"container": {"user": "root"}})), "DG-118")
	# unknown user (no user, image not inspected) counts as root
	t.fired(findings(object.union(req, {"container": {"user": null}})), "DG-118")
}

test_dg118_exec_non_root if {
	not t.fired(findings(t.exec({"user": "app"})), "DG-118")
	# no --user: the container's non-root user applies
	not t.fired(findings(t.exec({"user": null})), "DG-118")
	req := t.exec({"user": ""})
	not t.fired(findings(object.union(req, {"container": {"user": null, "image_config": {"user": "app", "healthcheck": null}}})), "DG-118")
}

test_exec_does_not_rejudge_container if {
	req := t.exec({"user": "app"})
	count(findings(object.union(req, {"container": {"privileged": true, "user": "root"}}))) == 0
}

# DG-119
test_dg119_no_security_opt if t.fired(findings(t.container({"security_opt": []})), "DG-119")

test_dg119_some_security_opt if not t.fired(findings(t.container({"security_opt": ["apparmor=docker-default"]})), "DG-119")
