package dockgate.filesystem_test

import data.dockgate.lib_test as t

findings(req) := fs if {
	fs := data.dockgate.filesystem.findings with input as req
}

bind(source, target) := {"type": "bind", "source": source, "target": target, "read_only": false, "propagation": ""}

volume(name, target) := {"type": "volume", "source": name, "target": target, "read_only": false, "propagation": ""}

test_hardened_has_no_filesystem_findings if {
	count(findings(t.hardened)) == 0
	count(findings(t.engine)) == 0
}

# DG-201
test_dg201_docker_sock if {
	some f in findings(t.container({"mounts": [bind("/srv/config", "/config"), bind("/var/run/docker.sock", "/var/run/docker.sock")]}))
	f.id == "DG-201"
	f.field == "container.mounts[1]"
}

test_dg201_other_runtimes_and_dirs if {
	every src in ["/run/containerd/containerd.sock", "/run/user/1000/podman/podman.sock", "/home/u/.docker/run/docker.sock", "/var/run", "/run/", "\\\\.\\pipe\\docker_engine"] {
		t.fired(findings(t.container({"mounts": [bind(src, "/sock")]})), "DG-201")
	}
}

test_dg201_named_volume_and_other_paths if {
	not t.fired(findings(t.container({"mounts": [volume("docker.sock", "/data")]})), "DG-201")
	not t.fired(findings(t.container({"mounts": [bind("/srv/app/run", "/run/app")]})), "DG-201")
}

# DG-202
test_dg202_sensitive_paths if {
	every src in ["/", "/etc", "/etc/ssl/", "/proc/1", "/var/lib/docker/volumes", "/root/.ssh", "//usr//lib"] {
		t.fired(findings(t.container({"mounts": [bind(src, "/host")]})), "DG-202")
	}
}

test_dg202_dotdot if t.fired(findings(t.container({"mounts": [bind("/srv/../etc", "/host")]})), "DG-202")

test_dg202_ordinary_paths if {
	every src in ["/srv/app/data", "/home/app/config", "/etcetera", "/var/lib/app", "/opt/app"] {
		not t.fired(findings(t.container({"mounts": [bind(src, "/data")]})), "DG-202")
	}
	# a volume named like a path component is not a host path
	not t.fired(findings(t.container({"mounts": [volume("etc", "/etc/app")]})), "DG-202")
}

test_dg202_table_from_data if {
	fs := findings(t.container({"mounts": [bind("/srv/secret", "/s")]})) with data.dockgate.config.sensitive_host_paths as ["/srv"]
	t.fired(fs, "DG-202")
}

# DG-203
test_dg203_shared_propagation if {
	every p in ["shared", "rshared", "slave", "rslave"] {
		t.fired(findings(t.container({"mounts": [object.union(bind("/srv/data", "/data"), {"propagation": p})]})), "DG-203")
	}
}

test_dg203_private_propagation if {
	every p in ["", "private", "rprivate"] {
		not t.fired(findings(t.container({"mounts": [object.union(bind("/srv/data", "/data"), {"propagation": p})]})), "DG-203")
	}
}

# DG-204
test_dg204_writable_rootfs if {
	some f in findings(t.container({"read_only": false}))
	f.id == "DG-204"
	f.field == "container.read_only"
}

test_dg204_read_only if not t.fired(findings(t.container({"read_only": true})), "DG-204")

# DG-205
shared_volume := t.request({
	"project": object.union(t.hardened.project, {
		"services": ["api", "worker"],
		"volumes": {"uploads": {"external": false, "driver": "local", "used_by": ["api", "worker"]}},
	}),
})

test_dg205_shared_volume if {
	some f in findings(shared_volume)
	f.id == "DG-205"
	f.field == "project.volumes.uploads"
	contains(f.msg, `mounted by "worker"`)
}

test_dg205_own_volume if {
	req := t.request({"project": object.union(t.hardened.project, {"volumes": {
		"uploads": {"external": false, "driver": "local", "used_by": ["api"]},
		"cache": {"external": false, "driver": "local", "used_by": ["worker", "beat"]},
	}})})
	not t.fired(findings(req), "DG-205")
}

test_dg205_needs_project if {
	# the same volume facts without a project (engine source) cannot decide it
	not t.fired(findings(object.union(shared_volume, {"origin": {"service": null}})), "DG-205")
}
