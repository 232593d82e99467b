# Filesystem and mount controls (DG-201..DG-205).
package dockgate.filesystem

import data.dockgate.lib

c := input.container

# Which requests the rules judge (the lib's rules, by full path: see lib.rego).
container_request if data.dockgate.lib.container_request

project_request if data.dockgate.lib.project_request

# Mounts whose source is a host path (bind mounts and Windows named pipes).
host_mount(m) if m.type in {"bind", "npipe"}

# DG-201 container runtime socket mounted: a source ending in a socket name from policy
# data, or one of the directories that hold those sockets.
findings contains lib.finding("DG-201", lib.index("container.mounts", i),
	sprintf("mounts the container runtime socket %s, which gives root on the host: remove the mount (use a socket proxy with a read-only allow-list if the API is really needed)", [m.source])) if {
	container_request
	some i, m in c.mounts
	host_mount(m)
	runtime_socket(m.source)
}

runtime_socket(source) if {
	s := lower(source)
	some name in runtime_socket_names
	endswith(s, name)
}

runtime_socket(source) if lib.clean_path(source) in runtime_socket_dirs

# The tables of policy data, normalised once per evaluation (when there is a host mount).
runtime_socket_names := {lower(name) | some name in lib.setting("runtime_sockets", [])}

runtime_socket_dirs := {lib.clean_path(dir) | some dir in lib.setting("runtime_socket_dirs", [])}

# DG-202 sensitive host directory mounted (or a path with `..`, which cannot be checked).
findings contains lib.finding("DG-202", lib.index("container.mounts", i),
	sprintf("mounts the sensitive host path %s: mount a dedicated directory or a named volume instead", [m.source])) if {
	container_request
	some i, m in c.mounts
	m.type == "bind"
	sensitive(lib.clean_path(m.source))
}

findings contains lib.finding("DG-202", lib.index("container.mounts", i),
	sprintf("mounts host path %s, which contains `..`: write the canonical absolute path", [m.source])) if {
	container_request
	some i, m in c.mounts
	m.type == "bind"
	".." in split(m.source, "/")
}

# sensitive(p): the cleaned host path `p` is a sensitive directory or below one
# (lib.under(p, dir) for one of them, with the directories cleaned once per evaluation).
sensitive(p) if p in sensitive_dirs

sensitive(p) if {
	some prefix in sensitive_prefixes
	startswith(p, prefix)
}

sensitive_dirs := {lib.clean_path(dir) | some dir in lib.setting("sensitive_host_paths", [])}

sensitive_prefixes := {concat("", [d, "/"]) | some d in sensitive_dirs; d != "/"}

# DG-203 shared or slave mount propagation
findings contains lib.finding("DG-203", lib.index("container.mounts", i),
	sprintf("mount %s uses %s propagation: use the default (rprivate) propagation", [m.target, m.propagation])) if {
	container_request
	some i, m in c.mounts
	lower(m.propagation) in {"shared", "rshared", "slave", "rslave"}
}

# DG-204 root filesystem writable
findings contains lib.finding("DG-204", "container.read_only",
	"root filesystem is writable: set read_only: true and mount writable paths as tmpfs or volumes") if {
	container_request
	c.read_only != true
}

# DG-205 one volume mounted by several services (reported on each service that mounts it)
findings contains lib.finding("DG-205", lib.path("project.volumes", name),
	sprintf("volume %q is also mounted by %s: give each service its own volume", [name, concat(", ", others)])) if {
	project_request
	some name, v in input.project.volumes
	me := input.origin.service
	me in v.used_by
	others := sort({sprintf("%q", [s]) | some s in v.used_by; s != me})
	count(others) > 0
}
