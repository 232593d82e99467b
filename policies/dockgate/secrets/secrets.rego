# Secrets controls (DG-401..DG-404).
package dockgate.secrets

import data.dockgate.lib

c := input.container

# A secret-like variable name, per the name patterns of policy data, unless an ignore
# pattern says it is a setting about a secret rather than one (`TOKEN_TTL`).
secret_name(name) if {
	lib.regex_any(lib.setting("secret_name_patterns", []), name)
	not lib.regex_any(lib.setting("secret_name_ignore_patterns", []), name)
}

# A value that points at a file under the secrets directories (`/run/secrets/db`): the fix.
secret_file(value) if {
	some dir in lib.setting("secret_file_dirs", [])
	startswith(value, dir)
}

# DG-401 secret-like environment variable with a literal value
findings contains lib.finding("DG-401", lib.path("container.env", name),
	sprintf("environment variable %s holds a secret literally: mount it as a compose secret and point %s at /run/secrets/<name> (or read the file directly)", [name, file_var(name)])) if {
	lib.container_request
	some name, value in c.env
	is_string(value)
	value != ""
	secret_name(name)
	not secret_file(value)
}

file_var(name) := name if endswith(upper(name), "_FILE")

file_var(name) := concat("", [name, "_FILE"]) if not endswith(upper(name), "_FILE")

# DG-402 a known credential format in an env value, label, command, entrypoint or build arg
# (messages never repeat the value)
credentials(s) := {kind |
	is_string(s)
	some kind, pattern in lib.setting("credential_patterns", {})
	regex.match(pattern, s)
}

findings contains lib.finding("DG-402", lib.path("container.env", name),
	sprintf("environment variable %s contains a %s: revoke it, and pass the secret as a file under /run/secrets/", [name, kind])) if {
	lib.container_request
	some name, value in c.env
	some kind in credentials(value)
}

findings contains lib.finding("DG-402", lib.path("container.labels", name),
	sprintf("label %s contains a %s: revoke it and remove it from the label (labels are readable by anyone who can inspect the container)", [name, kind])) if {
	lib.container_request
	some name, value in c.labels
	some kind in credentials(value)
}

findings contains lib.finding("DG-402", lib.index(sprintf("container.%s", [key]), i),
	sprintf("%s argument %d contains a %s: revoke it, and read the secret from a file under /run/secrets/", [key, i, kind])) if {
	lib.container_request
	some key in ["command", "entrypoint"]
	args := c[key]
	is_array(args)
	some i, arg in args
	some kind in credentials(arg)
}

findings contains lib.finding("DG-402", lib.path("container.build.args", name),
	sprintf("build arg %s contains a %s: revoke it, and use a build secret (RUN --mount=type=secret) instead", [name, kind])) if {
	lib.container_request
	is_object(c.build)
	some name, value in c.build.args
	some kind in credentials(value)
}

# DG-403 a compose secret sourced from the environment (reported on each service using it)
findings contains lib.finding("DG-403", lib.path("project.secrets", name),
	sprintf("secret %q is read from the environment%s: source it from a file (secrets: %s: file: ./...) or an external secret store", [name, env_var(s), name])) if {
	lib.project_request
	some name, s in input.project.secrets
	s.source == "environment"
	input.origin.service in s.used_by
}

env_var(s) := sprintf(" variable %s", [s.reference]) if {
	is_string(s.reference)
	s.reference != ""
} else := ""

# DG-404 secret-like build arg (any value: build args end up in the image history)
findings contains lib.finding("DG-404", lib.path("container.build.args", name),
	sprintf("build arg %s looks like a secret, and build args are kept in the image history: use a build secret (build.secrets and RUN --mount=type=secret) instead", [name])) if {
	lib.container_request
	is_object(c.build)
	some name, _ in c.build.args
	secret_name(name)
}
