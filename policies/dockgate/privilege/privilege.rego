# Privilege and isolation controls (DG-101..DG-119).
package dockgate.privilege

import data.dockgate.lib

c := input.container

# Which requests the rules judge (the lib's rules, by full path: see lib.rego).
container_request if data.dockgate.lib.container_request

exec_request if data.dockgate.lib.exec_request

# DG-101 container is privileged
findings contains lib.finding("DG-101", "container.privileged",
	"remove privileged: true; add only the capabilities the workload needs with cap_add") if {
	container_request
	c.privileged == true
}

# DG-102..DG-106 host namespaces
namespaces := [
	["DG-102", "network_mode", "network", "join a user-defined network instead of network_mode: host"],
	["DG-103", "pid_mode", "PID", "remove pid: host"],
	["DG-104", "ipc_mode", "IPC", "remove ipc: host (use private or shareable)"],
	["DG-105", "uts_mode", "UTS", "remove uts: host"],
	["DG-106", "userns_mode", "user", "remove userns_mode: host so the daemon's user namespace remapping applies"],
]

findings contains lib.finding(id, sprintf("container.%s", [key]),
	sprintf("shares the host %s namespace: %s", [ns, fix])) if {
	container_request
	some row in namespaces
	lower(object.get(c, row[1], "")) == "host"
	[id, key, ns, fix] := row
}

# DG-107 a capability outside Docker's default set, or ALL
findings contains lib.finding("DG-107", lib.index("container.cap_add", i),
	sprintf("cap_add %s is outside Docker's default capability set: remove it", [added])) if {
	container_request
	some i, raw in c.cap_add
	added := lib.cap(raw)
	not default_cap(added)
}

# default_cap(cap), allowed_cap(cap): capability `cap` (in lib.cap() form) is in the policy
# data's list. The list as written is tried first: data is usually written in cap() form,
# and then the normalised set (a cap() call per entry, on every evaluation) is never built.
default_cap(cap) if cap in lib.setting("default_capabilities", [])

default_cap(cap) if {
	not cap in lib.setting("default_capabilities", [])
	cap in default_caps
}

allowed_cap(cap) if cap in lib.setting("allowed_capabilities", [])

allowed_cap(cap) if {
	not cap in lib.setting("allowed_capabilities", [])
	cap in allowed_caps
}

# The capability sets of policy data, normalised.
default_caps := {lib.cap(x) | some x in lib.setting("default_capabilities", [])}

allowed_caps := {lib.cap(x) | some x in lib.setting("allowed_capabilities", [])}

# DG-108 ALL capabilities not dropped ...
findings contains lib.finding("DG-108", "container.cap_drop",
	"does not drop all capabilities: set cap_drop: [ALL] and add back only what it needs") if {
	container_request
	not "ALL" in data.dockgate.lib.cap_drop
}

# ... or a capability added back that policy data does not allow
findings contains lib.finding("DG-108", lib.index("container.cap_add", i),
	sprintf("cap_add %s is not in the allowed capabilities (%s): remove it", [added, concat(", ", sort(allowed_caps))])) if {
	container_request
	some i, raw in c.cap_add
	added := lib.cap(raw)
	not allowed_cap(added)
}

# DG-109..DG-111 a Linux security module disabled
lsm_off := {
	"seccomp": ["DG-109", "unconfined", "seccomp is disabled: remove seccomp=unconfined (or use a custom seccomp profile)"],
	"apparmor": ["DG-110", "unconfined", "AppArmor is disabled: remove apparmor=unconfined (or name a custom profile)"],
	"label": ["DG-111", "disable", "SELinux labelling is disabled: remove label=disable"],
}

findings contains lib.finding(id, lib.index("container.security_opt", i), fix) if {
	container_request
	some i, _ in c.security_opt
	[key, value] := security_opts[i]
	[id, off, fix] := lsm_off[key]
	lower(value) == off
}

# The security options as [key, value] pairs, by index (once per evaluation).
security_opts := [lib.opt_pair(o) | some o in c.security_opt]

# DG-112 no-new-privileges not set
no_new_privileges if {
	some i, _ in c.security_opt
	[key, value] := security_opts[i]
	key == "no-new-privileges"
	lower(value) in {"", "true"}
}

findings contains lib.finding("DG-112", "container.security_opt",
	"no-new-privileges is not set: add security_opt: [\"no-new-privileges:true\"]") if {
	container_request
	not no_new_privileges
}

# DG-113 runs as root
findings contains lib.finding("DG-113", "container.user",
	sprintf("runs as root (user %q): set user to a non-root UID:GID, e.g. \"10001:10001\"", [c.user])) if {
	container_request
	is_string(c.user)
	c.user != ""
	lib.is_root(c.user)
}

findings contains lib.finding("DG-113", "container.image_config.user",
	"runs as root (no user, and the image's USER is root): set user to a non-root UID:GID, e.g. \"10001:10001\"") if {
	container_request
	not has_user
	is_object(c.image_config)
	lib.is_root(data.dockgate.lib.effective_user)
}

findings contains lib.finding("DG-113", "container.user",
	"sets no user, so it runs as the image's user (root unless the image says otherwise): set user to a non-root UID:GID, e.g. \"10001:10001\"") if {
	container_request
	not has_user
	not is_object(c.image_config)
}

has_user if {
	is_string(c.user)
	c.user != ""
}

# DG-114 host devices
findings contains lib.finding("DG-114", lib.index("container.devices", i),
	sprintf("exposes host device %s: remove it from devices", [d.host_path])) if {
	container_request
	some i, d in c.devices
}

# DG-115 cgroup parent overridden
findings contains lib.finding("DG-115", "container.cgroup_parent",
	sprintf("overrides the cgroup parent (%s): remove cgroup_parent", [c.cgroup_parent])) if {
	container_request
	c.cgroup_parent != ""
}

# DG-116 sysctl outside the safe set
findings contains lib.finding("DG-116", lib.path("container.sysctls", name),
	sprintf("sets sysctl %s, outside the namespaced safe set: remove it", [name])) if {
	container_request
	some name, _ in c.sysctls
	not safe_sysctl(name)
}

safe_sysctl(name) if name in safe_sysctls

safe_sysctl(name) if {
	not name in safe_sysctls
	some pattern in safe_sysctl_globs
	glob.match(pattern, ["."], name)
}

# The safe set of policy data, and its entries that are globs (once per evaluation, when a
# sysctl is set).
safe_sysctls := lib.setting("safe_sysctls", [])

safe_sysctl_globs := [pattern | some pattern in safe_sysctls; contains(pattern, "*")]

# DG-117 privileged exec
findings contains lib.finding("DG-117", "exec.privileged",
	"privileged exec: run docker exec without --privileged") if {
	exec_request
	input.exec.privileged == true
}

# DG-118 exec as root
findings contains lib.finding("DG-118", "exec.user",
	sprintf("exec as root (user %q): run docker exec --user with a non-root user", [input.exec.user])) if {
	exec_request
	is_string(input.exec.user)
	input.exec.user != ""
	lib.is_root(input.exec.user)
}

findings contains lib.finding("DG-118", "exec.user",
	"exec as root (no --user, and the container runs as root or as an unknown user): run docker exec --user with a non-root user") if {
	exec_request
	not exec_has_user
	not container_user_known_non_root
}

exec_has_user if {
	is_string(input.exec.user)
	input.exec.user != ""
}

container_user_known_non_root if {
	u := data.dockgate.lib.effective_user
	not lib.is_root(u)
}

# DG-119 no security options at all
findings contains lib.finding("DG-119", "container.security_opt",
	"sets no security options: add at least security_opt: [\"no-new-privileges:true\"]") if {
	container_request
	count(c.security_opt) == 0
}
