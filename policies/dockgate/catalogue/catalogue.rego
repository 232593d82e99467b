# The control catalogue: the policies' own metadata (title, profile, default severity,
# where the control can be decided, references). `docs/controls.md` mirrors it, section by
# section; `dockgate explain DG-nnn` prints from both.
#
# where: compose (a compose service), engine (an Engine API create/update body or a
# container inspect), exec (an exec create request), project (the whole compose project).
package dockgate.catalogue

# Area digit of the ID -> the package that implements the area.
packages := {
	"1": "dockgate.privilege",
	"2": "dockgate.filesystem",
	"3": "dockgate.images",
	"4": "dockgate.secrets",
	"5": "dockgate.resources",
	"6": "dockgate.network",
	"7": "dockgate.logging",
}

controls := {
	# Privilege and isolation
	"DG-101": {
		"title": "container is privileged",
		"profile": "baseline", "severity": "critical", "where": ["compose", "engine"],
		"refs": ["CIS 5.5", "KICS Privileged Containers Enabled"],
	},
	"DG-102": {
		"title": "shares the host network namespace (`network_mode: host`)",
		"profile": "baseline", "severity": "high", "where": ["compose", "engine"],
		"refs": ["CIS 5.10", "KICS Shared Host Network Namespace"],
	},
	"DG-103": {
		"title": "shares the host PID namespace",
		"profile": "baseline", "severity": "high", "where": ["compose", "engine"],
		"refs": ["CIS 5.16", "KICS Host Namespace is Shared"],
	},
	"DG-104": {
		"title": "shares the host IPC namespace",
		"profile": "baseline", "severity": "high", "where": ["compose", "engine"],
		"refs": ["CIS 5.17", "KICS Shared Host IPC Namespace"],
	},
	"DG-105": {
		"title": "shares the host UTS namespace",
		"profile": "baseline", "severity": "medium", "where": ["compose", "engine"],
		"refs": ["CIS 5.21"],
	},
	"DG-106": {
		"title": "shares the host user namespace (`userns_mode: host`)",
		"profile": "baseline", "severity": "high", "where": ["compose", "engine"],
		"refs": ["CIS 5.31", "KICS Shared Host User Namespace"],
	},
	"DG-107": {
		"title": "adds a capability outside Docker's default set, or `ALL`",
		"profile": "baseline", "severity": "high", "where": ["compose", "engine"],
		"refs": ["CIS 5.4", "KICS Container Capabilities Unrestricted"],
	},
	"DG-108": {
		"title": "does not drop `ALL` capabilities (add back only what is listed as allowed in policy data)",
		"profile": "restricted", "severity": "medium", "where": ["compose", "engine"],
		"refs": ["CIS 5.4", "SEED least privilege"],
	},
	"DG-109": {
		"title": "seccomp disabled (`seccomp:unconfined` / `seccomp=unconfined`)",
		"profile": "baseline", "severity": "high", "where": ["compose", "engine"],
		"refs": ["CIS 5.22", "KICS Default Seccomp Profile Disabled"],
	},
	"DG-110": {
		"title": "AppArmor disabled (`apparmor:unconfined`)",
		"profile": "baseline", "severity": "high", "where": ["compose", "engine"],
		"refs": ["CIS 5.2"],
	},
	"DG-111": {
		"title": "SELinux labelling disabled (`label:disable`)",
		"profile": "baseline", "severity": "high", "where": ["compose", "engine"],
		"refs": ["CIS 5.3"],
	},
	"DG-112": {
		"title": "`no-new-privileges` not set",
		"profile": "restricted", "severity": "medium", "where": ["compose", "engine"],
		"refs": ["CIS 5.26", "KICS No New Privileges Not Set"],
	},
	"DG-113": {
		"title": "runs as root: no `user`, or `root`, `0`, `0:0`, `root:root` (at runtime, also the image's configured user when the container sets none)",
		"profile": "restricted", "severity": "high", "where": ["compose", "engine"],
		"refs": ["CIS 4.1", "SEED non-root users"],
	},
	"DG-114": {
		"title": "host devices exposed (`devices`)",
		"profile": "baseline", "severity": "high", "where": ["compose", "engine"],
		"refs": ["CIS 5.18"],
	},
	"DG-115": {
		"title": "cgroup parent overridden",
		"profile": "restricted", "severity": "low", "where": ["compose", "engine"],
		"refs": ["CIS 5.25", "KICS Cgroup Not Default"],
	},
	"DG-116": {
		"title": "sets a sysctl outside the namespaced safe set",
		"profile": "baseline", "severity": "medium", "where": ["compose", "engine"],
		"refs": ["Kubernetes Pod Security baseline"],
	},
	"DG-117": {
		"title": "privileged exec (`docker exec --privileged`)",
		"profile": "baseline", "severity": "critical", "where": ["exec"],
		"refs": ["CIS 5.23"],
	},
	"DG-118": {
		"title": "exec as root into a container",
		"profile": "restricted", "severity": "medium", "where": ["exec"],
		"refs": ["CIS 5.24"],
	},
	"DG-119": {
		"title": "no security options at all (`security_opt` empty)",
		"profile": "restricted", "severity": "low", "where": ["compose", "engine"],
		"refs": ["KICS Security Opt Not Set"],
	},
	# Filesystem and mounts
	"DG-201": {
		"title": "container runtime socket mounted (docker.sock, containerd.sock, podman.sock, any path ending in one)",
		"profile": "baseline", "severity": "critical", "where": ["compose", "engine"],
		"refs": ["CIS 5.32", "KICS Docker Socket Mounted In Container"],
	},
	"DG-202": {
		"title": "sensitive host directory mounted (`/`, `/boot`, `/dev`, `/etc`, `/lib`, `/proc`, `/sys`, `/usr`, `/var/lib/docker`, `/root`, and below)",
		"profile": "baseline", "severity": "high", "where": ["compose", "engine"],
		"refs": ["CIS 5.6", "KICS Volume Has Sensitive Host Directory"],
	},
	"DG-203": {
		"title": "bind mount propagation is shared or slave (`shared`, `rshared`, `slave`, `rslave`)",
		"profile": "baseline", "severity": "medium", "where": ["compose", "engine"],
		"refs": ["CIS 5.20", "KICS Volume Mounted In Multiple Containers"],
	},
	"DG-204": {
		"title": "root filesystem writable (`read_only` not true)",
		"profile": "restricted", "severity": "medium", "where": ["compose", "engine"],
		"refs": ["CIS 5.13", "SEED immutability"],
	},
	"DG-205": {
		"title": "one volume mounted by several services",
		"profile": "restricted", "severity": "low", "where": ["project"],
		"refs": ["KICS Shared Volumes Between Containers"],
	},
	# Images and supply chain
	"DG-301": {
		"title": "image has no tag or uses `latest`",
		"profile": "baseline", "severity": "medium", "where": ["compose", "engine"],
		"refs": ["CIS 5.28", "SEED pinning", "SEED immutability"],
	},
	"DG-302": {
		"title": "image not pinned by digest (`@sha256:`)",
		"profile": "restricted", "severity": "medium", "where": ["compose", "engine"],
		"refs": ["SEED pinning", "SEED image verification"],
	},
	"DG-303": {
		"title": "image registry/repository not in the allow-list from policy data (rule is inactive while the list is empty)",
		"profile": "restricted", "severity": "high", "where": ["compose", "engine"],
		"refs": ["SEED signing and trusted sources"],
	},
	"DG-304": {
		"title": "a known official image used in a non-minimal variant (e.g. `python:3.12` instead of `-slim`/`-alpine`/distroless), per a data-driven table",
		"profile": "restricted", "severity": "low", "where": ["compose", "engine"],
		"refs": ["SEED minimal base images"],
	},
	# Secrets
	"DG-401": {
		"title": "secret-like environment variable (name matches PASSWORD, PASSWD, SECRET, TOKEN, API_KEY, PRIVATE_KEY, ACCESS_KEY, CREDENTIAL, ...) with a literal value; `*_FILE` variables pointing under `/run/secrets/` are the fix",
		"profile": "restricted", "severity": "high", "where": ["compose", "engine"],
		"refs": ["SEED secrets as files not env", "CIS 4.10"],
	},
	"DG-402": {
		"title": "a known credential format in an env value, label, command or build arg (AWS access key, private key block, GitHub/GitLab/Slack tokens, JWT, URL with embedded password)",
		"profile": "baseline", "severity": "critical", "where": ["compose", "engine"],
		"refs": ["SEED never embed secrets"],
	},
	"DG-403": {
		"title": "a compose secret sourced from `environment:` instead of a file or external store",
		"profile": "restricted", "severity": "medium", "where": ["project"],
		"refs": ["SEED secrets injected as files"],
	},
	"DG-404": {
		"title": "secret-like build arg (`build.args`) — it ends up in the image history",
		"profile": "restricted", "severity": "high", "where": ["compose"],
		"refs": ["SEED never embed secrets in images"],
	},
	# Resources and availability
	"DG-501": {
		"title": "memory not limited",
		"profile": "restricted", "severity": "medium", "where": ["compose", "engine"],
		"refs": ["CIS 5.11", "KICS Memory Not Limited", "SEED limits"],
	},
	"DG-502": {
		"title": "CPU not limited",
		"profile": "restricted", "severity": "medium", "where": ["compose", "engine"],
		"refs": ["CIS 5.12", "KICS Cpus Not Limited", "SEED limits"],
	},
	"DG-503": {
		"title": "PIDs not limited",
		"profile": "restricted", "severity": "medium", "where": ["compose", "engine"],
		"refs": ["CIS 5.29", "KICS Pids Limit Not Set"],
	},
	"DG-504": {
		"title": "restart policy is not `on-failure` with at most 5 retries",
		"profile": "restricted", "severity": "low", "where": ["compose", "engine"],
		"refs": ["CIS 5.15", "KICS Restart Policy On Failure Not Set To 5"],
	},
	"DG-505": {
		"title": "no healthcheck (none set, or disabled; at runtime the image's HEALTHCHECK counts)",
		"profile": "restricted", "severity": "low", "where": ["compose", "engine"],
		"refs": ["CIS 5.27", "KICS Healthcheck Not Set"],
	},
	# Network exposure
	"DG-601": {
		"title": "port published on all host interfaces (no host IP, `0.0.0.0` or `::`)",
		"profile": "restricted", "severity": "medium", "where": ["compose", "engine"],
		"refs": ["CIS 5.14", "KICS Container Traffic Not Bound To Host Interface"],
	},
	"DG-602": {
		"title": "privileged host port (< 1024) published",
		"profile": "restricted", "severity": "medium", "where": ["compose", "engine"],
		"refs": ["CIS 5.8", "KICS Privileged Ports Mapped In Container"],
	},
	"DG-603": {
		"title": "a database or cache port (5432, 3306, 1433, 6379, 11211, 27017, 9200, 5672, ...) published on the host",
		"profile": "restricted", "severity": "high", "where": ["compose", "engine"],
		"refs": ["SEED minimize attack surface"],
	},
	"DG-604": {
		"title": "attached to Docker's default bridge (`network_mode: bridge`, or an engine container on `docker0`)",
		"profile": "restricted", "severity": "low", "where": ["compose", "engine"],
		"refs": ["CIS 5.30"],
	},
	# Logging
	"DG-701": {
		"title": "logging driver is not one of the allowed drivers in policy data (default `json-file`, `local`)",
		"profile": "restricted", "severity": "medium", "where": ["compose", "engine"],
		"refs": ["SEED JSON logs via json-file"],
	},
	"DG-702": {
		"title": "`json-file` without both `max-size` and `max-file` (unbounded logs fill the host disk)",
		"profile": "restricted", "severity": "medium", "where": ["compose", "engine"],
		"refs": ["SEED logging", "SEED availability"],
	},
}
