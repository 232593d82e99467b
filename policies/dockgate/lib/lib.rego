# Shared helpers of the dockgate policy library: policy data with defaults, the subject of
# messages, the finding constructor, and normalisation of users, capabilities, security
# options, paths and dates.
#
# Cost (regorus, natively and inside the wasm module; every decision is a fresh evaluation):
# - a rule's value is computed once per evaluation, a function's result on every call: what
#   many rules need (policy data tables, the subject, the catalogue) is a rule, not a function;
# - other packages refer to the rules of this package by their full path
#   (`data.dockgate.lib.container_request`), not through the import alias
#   (`lib.container_request`): regorus resolves an alias reference by evaluating every rule of
#   this package, and walks all the modules again on each such access (calls of functions,
#   `lib.finding(...)`, resolve cheaply);
# - each regex.match/regex.replace/regex.find_n and glob.match compiles its pattern on every
#   call: none runs unless its answer is needed, and none where a string builtin decides;
# - an index into the result of a call (`split(s, ":")[0]`) is bound to a variable first:
#   natively, regorus builds (and drops) an error for such a reference, with a backtrace when
#   RUST_BACKTRACE is set.
package dockgate.lib

# ---------------------------------------------------------------------------------------
# Policy data (`data.dockgate.config`, from policies/dockgate/config/data.json).

default config := {}

config := data.dockgate.config if is_object(data.dockgate.config)

# setting(key, fallback): one key of the policy data, or `fallback` when it is absent.
setting(key, fallback) := object.get(config, key, fallback)

# ---------------------------------------------------------------------------------------
# Which part of the input a rule may judge.

# Container controls (C/E) judge every operation except EXEC: an exec request is judged by
# the exec controls, not by re-judging the container it enters.
container_request if {
	input.operation != "EXEC"
	is_object(input.container)
}

# Exec controls (X).
exec_request if {
	input.operation == "EXEC"
	is_object(input.exec)
}

# Project controls (P): a compose service evaluated with its project.
project_request if {
	container_request
	is_object(input.project)
	is_string(input.origin.service)
}

# ---------------------------------------------------------------------------------------
# Messages and findings.

# The subject of messages: the compose service, else the container name, else the
# container id, else the image.
subject := sprintf("service %q", [input.origin.service]) if {
	is_string(input.origin.service)
	input.origin.service != ""
} else := sprintf("container %q", [trim_prefix(input.origin.container_name, "/")]) if {
	is_string(input.origin.container_name)
	input.origin.container_name != ""
} else := sprintf("container %s", [substring(input.origin.container_id, 0, 12)]) if {
	is_string(input.origin.container_id)
	input.origin.container_id != ""
} else := sprintf("image %q", [input.container.image])

# finding(id, field, fix): a raw finding of control `id` about input path `field`; `fix`
# says what is wrong and how to fix it. Severity and profile are the catalogue defaults;
# dockgate.main applies profile, overrides and exemptions.
finding(id, field, fix) := {
	"id": id,
	"title": control.title,
	"msg": sprintf("%s: %s (%s)", [subject, fix, id]),
	"severity": control.severity,
	"profile": control.profile,
	"field": field,
	"package": packages[substring(id, 3, 1)],
} if {
	control := controls[id]
}

# The catalogue, looked up by the local rules (a variable index into a `data.` path costs a
# walk over the modules on every lookup).
controls := data.dockgate.catalogue.controls

packages := data.dockgate.catalogue.packages

# path(base, key): `base.key` for identifier-like keys (`^[A-Za-z_][A-Za-z0-9_]*$`), else
# `base["key"]`. Without a regex: an identifier is not empty, nothing is left once the
# identifier characters are trimmed from both ends, and it does not start with a digit.
path(base, key) := concat("", [base, ".", key]) if {
	key != ""
	trim(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == ""
	not contains("0123456789", substring(key, 0, 1))
} else := sprintf("%s[%q]", [base, key])

# index(base, i): `base[i]`.
index(base, i) := sprintf("%s[%d]", [base, i])

# ---------------------------------------------------------------------------------------
# Users.

# is_root(u): a user spec (`name`, `uid`, `name:group`, `uid:gid`) that runs as root. The
# group does not matter: uid 0 is root whatever its group.
is_root(u) if {
	is_string(u)
	parts := split(u, ":")
	lower(trim_space(parts[0])) in {"", "root", "0"}
}

# The user the container's processes run as, when known: the container's own `user`, else
# (at START/AUDIT, when the adapter inspected the image) the image's USER, "" (root) when the
# image sets none. Undefined at CREATE/CHECK when the container sets no user.
effective_user := input.container.user if {
	is_string(input.container.user)
	input.container.user != ""
} else := input.container.image_config.user if {
	is_string(input.container.image_config.user)
} else := "" if {
	is_object(input.container.image_config)
}

# ---------------------------------------------------------------------------------------
# Capabilities and security options.

# cap(c): a capability name in the catalogue's form (upper case, no CAP_ prefix).
cap(c) := trim_prefix(upper(trim_space(c)), "CAP_")

cap_add contains cap(c) if some c in input.container.cap_add

cap_drop contains cap(c) if some c in input.container.cap_drop

# security options as [key, value] pairs: `key=value` and `key:value` are the same option;
# a bare flag has value "".
opt_pair(o) := [lower(trim_space(k)), trim_space(substring(o, count(k) + 1, -1))] if {
	contains(o, "=")
	parts := split(o, "=")
	k := parts[0]
} else := [lower(trim_space(k)), trim_space(substring(o, count(k) + 1, -1))] if {
	contains(o, ":")
	parts := split(o, ":")
	k := parts[0]
} else := [lower(trim_space(o)), ""]

# ---------------------------------------------------------------------------------------
# Host paths.

# clean_path(p): `p` with repeated and trailing slashes removed (`/` stays `/`). One
# function with an else chain (its branches short-circuit): every run of slashes becomes one
# slash, with a regex only when there is a run of two or more (otherwise the replacement
# would return `p` itself), then one trailing slash goes unless the path is `/`.
clean_path(p) := p if {
	p == "/"
} else := trim_suffix(p, "/") if {
	not contains(p, "//")
} else := trim_suffix_once(regex.replace(p, `/+`, "/"))

trim_suffix_once(p) := p if p == "/"

trim_suffix_once(p) := trim_suffix(p, "/") if p != "/"

# under(p, dir): host path `p` is `dir` or below it (`/` contains only itself here: "and
# below" for `/` would be every path).
under(p, dir) if clean_path(p) == clean_path(dir)

under(p, dir) if {
	d := clean_path(dir)
	d != "/"
	startswith(clean_path(p), concat("", [d, "/"]))
}

# ---------------------------------------------------------------------------------------
# Images.

# The normalised image name without tag or digest: `docker.io/library/nginx`.
image_repo := concat("/", [input.container.image_ref.registry, input.container.image_ref.repository])

# The normalised full reference: `docker.io/library/nginx:1.27@sha256:...`.
image_full := concat("", [image_repo, tag_part, digest_part])

default tag_part := ""

tag_part := concat("", [":", input.container.image_ref.tag]) if is_string(input.container.image_ref.tag)

default digest_part := ""

digest_part := concat("", ["@", input.container.image_ref.digest]) if is_string(input.container.image_ref.digest)

# ---------------------------------------------------------------------------------------
# Patterns and dates.

# regex_any(patterns, s): `s` matches one of the regular expressions.
regex_any(patterns, s) if {
	some p in patterns
	regex.match(p, s)
}

# valid_date(s): `s` is a real calendar date `YYYY-MM-DD` of the years 2000-2199 (leap
# years included), so that time.parse_rfc3339_ns can neither fail on it nor overflow. One
# regex: the days of the months, or the 29th of February of a leap year.
valid_date(s) if {
	is_string(s)
	regex.match(`^(?:(20|21)[0-9]{2}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))|(2000|(20|21)(0[48]|[2468][048]|[13579][26]))-02-29)$`, s)
}

# expired(date): the end of `date` (23:59:59 UTC) has passed; an invalid date counts as
# expired, so a malformed exemption never applies.
expired(date) if not current(date)

# current(date): a valid date whose end (23:59:59 UTC) has not passed.
current(date) if {
	valid_date(date)
	time.now_ns() <= time.parse_rfc3339_ns(concat("", [date, "T23:59:59Z"]))
}
