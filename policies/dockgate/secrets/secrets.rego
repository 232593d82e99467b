# Secrets controls (DG-401..DG-404).
package dockgate.secrets

import data.dockgate.lib

c := input.container

# Which requests the rules judge (the lib's rules, by full path: see lib.rego).
container_request if data.dockgate.lib.container_request

project_request if data.dockgate.lib.project_request

# secret_name(name): a secret-like variable name (env or build arg), per the name patterns
# of policy data, and not one that an ignore pattern marks as a setting about a secret
# (`TOKEN_TTL`).
#
# Cost: a regex compilation is expensive inside the wasm runtime, so the names are matched
# all at once: joined one per line, with the patterns joined into one alternation and
# multi-line anchors (a pattern's `^`/`$` then mean the start/end of a name), one
# regex.find_n returns every matching line, that is every matching name. The ignore patterns
# run only on a matching name that a finding would report. The regex starts with a branch
# that never matches (`[^\s\S]`, the empty class): it finds what the rest finds, but a
# top-level alternation keeps the regex engine from extracting inner literals from the
# case-insensitive patterns, which was most of its compilation time.
secret_name(name) if {
	name in secret_like_names
	not lib.regex_any(ignore_patterns, name)
}

secret_like_names := {name |
	some name in regex.find_n(sprintf(`[^\s\S]|(?m)^[^\n]*(?:%s)[^\n]*$`, [alternation]), concat("\n", candidate_names), -1)
}

ignore_patterns := lib.setting("secret_name_ignore_patterns", [])

# `(?:p1)|(?:p2)|...`, in one concat (a sprintf per pattern cost more than the search).
alternation := concat("", ["(?:", concat(")|(?:", patterns), ")"]) if {
	patterns := lib.setting("secret_name_patterns", [])
	count(patterns) > 0
}

candidate_names := array.concat([name | some name, _ in c.env], build_arg_names)

default build_arg_names := []

build_arg_names := [name | some name, _ in c.build.args] if is_object(c.build)

# A value that points at a file under the secrets directories (`/run/secrets/db`): the fix.
secret_file(value) if {
	some dir in secret_file_dirs
	startswith(value, dir)
}

secret_file_dirs := lib.setting("secret_file_dirs", [])

# DG-401 secret-like environment variable with a literal value
findings contains lib.finding("DG-401", lib.path("container.env", name),
	sprintf("environment variable %s holds a secret literally: mount it as a compose secret and point %s at /run/secrets/<name> (or read the file directly)", [name, file_var(name)])) if {
	container_request
	some name, value in c.env
	is_string(value)
	value != ""
	not secret_file(value)
	secret_name(name)
}

file_var(name) := name if endswith(upper(name), "_FILE")

file_var(name) := concat("", [name, "_FILE"]) if not endswith(upper(name), "_FILE")

# DG-402 a known credential format in an env value, label, command, entrypoint or build arg
# (messages never repeat the value).
#
# Every scanned string: [source, key, value]. Its field, what it is and how to fix it are
# worded for a finding only (scanned_field, what, scan_fix below).
scanned contains ["env", name, value] if {
	some name, value in c.env
	is_string(value)
}

scanned contains ["label", name, value] if {
	some name, value in c.labels
	is_string(value)
}

scanned contains [key, i, arg] if {
	some key in ["command", "entrypoint"]
	is_array(c[key])
	some i, arg in c[key]
	is_string(arg)
}

scanned contains ["build arg", name, value] if {
	is_object(c.build)
	some name, value in c.build.args
	is_string(value)
}

scanned_field("env", name) := lib.path("container.env", name)

scanned_field("label", name) := lib.path("container.labels", name)

scanned_field("command", i) := lib.index("container.command", i)

scanned_field("entrypoint", i) := lib.index("container.entrypoint", i)

scanned_field("build arg", name) := lib.path("container.build.args", name)

# what(source, key): what a scanned string is, in messages; scan_fix[source]: how to fix it.
what("env", name) := sprintf("environment variable %s", [name])

what("label", name) := sprintf("label %s", [name])

what("command", i) := sprintf("%s argument %d", ["command", i])

what("entrypoint", i) := sprintf("%s argument %d", ["entrypoint", i])

what("build arg", name) := sprintf("build arg %s", [name])

scan_fix := {
	"env": "pass the secret as a file under /run/secrets/",
	"label": "remove it from the label (labels are readable by anyone who can inspect the container)",
	"command": "read the secret from a file under /run/secrets/",
	"entrypoint": "read the secret from a file under /run/secrets/",
	"build arg": "use a build secret (RUN --mount=type=secret) instead",
}

patterns := lib.setting("credential_patterns", {})

# A pattern is tried only on text that contains one of its hints (literal substrings that
# every match contains; no hints: always tried). Cost, as for secret_name: each pattern is
# first run once over all scanned strings joined one per line (with multi-line anchors,
# which can only add matches), and only a pattern that matches there is run string by string.
# Most requests hold no credential at all: one search of every pattern at once over all the
# text (an alternation matches where one of its branches does) settles that, and only then
# are the kinds tried one by one.
possible_kinds := {kind |
	any_credential
	some kind in hinted_kinds
	regex.match(sprintf("(?m:%s)", [patterns[kind].regex]), all_text)
}

any_credential if regex.match(credential_alternation, all_text)

credential_alternation := concat("", ["(?m:(?:", concat(")|(?:", [p.regex | some p in patterns]), "))"])

all_text := concat("\n", [value | some [_, _, value] in scanned])

# The kinds hinted in all the text (hinted(pattern, all_text), without a call per kind).
hinted_kinds := {kind |
	some kind, pattern in patterns
	some hint in object.get(pattern, "hints", [])
	contains(all_text, hint)
} | {kind |
	some kind, pattern in patterns
	count(object.get(pattern, "hints", [])) == 0
}

hinted(pattern, s) if {
	some hint in object.get(pattern, "hints", [])
	contains(s, hint)
}

hinted(pattern, _) if count(object.get(pattern, "hints", [])) == 0

findings contains lib.finding("DG-402", scanned_field(source, key),
	sprintf("%s contains a %s: revoke it, and %s", [what(source, key), kind, scan_fix[source]])) if {
	container_request
	some [source, key, value] in scanned
	some kind in possible_kinds
	hinted(patterns[kind], value)
	regex.match(patterns[kind].regex, value)
}

# DG-403 a compose secret sourced from the environment (reported on each service using it)
findings contains lib.finding("DG-403", lib.path("project.secrets", name),
	sprintf("secret %q is read from the environment%s: source it from a file (secrets: %s: file: ./...) or an external secret store", [name, env_var(s), name])) if {
	project_request
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
	container_request
	is_object(c.build)
	some name, _ in c.build.args
	secret_name(name)
}
