# The aggregator and single entrypoint: `dockgate/main/decision`.
#
# It collects the raw findings of every area package, keeps those of the active profile
# (and of rules enabled explicitly), applies per-rule overrides from policy data, sets aside
# exempted findings, and routes each finding to deny, warn or audit by its action.
# Everything here comes from policy data (`data.dockgate.config`); nothing in the workload
# itself (labels, names it chose for itself apart from exemption matchers) changes a verdict.
package dockgate.main

import data.dockgate.lib

decision := {
	"deny": deny,
	"warn": warn,
	"audit": audit,
}

# ---------------------------------------------------------------------------------------
# Raw findings of the area packages. A new area package is added here.

raw contains f if some f in data.dockgate.privilege.findings

raw contains f if some f in data.dockgate.filesystem.findings

raw contains f if some f in data.dockgate.images.findings

raw contains f if some f in data.dockgate.secrets.findings

raw contains f if some f in data.dockgate.resources.findings

raw contains f if some f in data.dockgate.network.findings

raw contains f if some f in data.dockgate.logging.findings

# ---------------------------------------------------------------------------------------
# Profile and per-rule overrides.

# The active profile; an unknown name selects the stricter profile.
profile := p if {
	p := lib.setting("profile", "baseline")
	p in {"baseline", "restricted"}
} else := "restricted"

rule(id) := object.get(lib.setting("rules", {}), id, {})

# A control runs when its rule is enabled explicitly (`enabled: true` also turns a
# restricted control on under baseline), or, when `enabled` is not set, when its profile is
# part of the active profile. `enabled: false` turns it off.
runs(f) if object.get(rule(f.id), "enabled", null) == true

runs(f) if {
	object.get(rule(f.id), "enabled", null) == null
	in_profile(f.profile)
}

in_profile("baseline") := true

in_profile("restricted") if profile == "restricted"

severities := {"critical", "high", "medium", "low", "info"}

actions := {"deny", "warn", "audit"}

severity(f) := s if {
	s := object.get(rule(f.id), "severity", f.severity)
	s in severities
} else := f.severity

# The action; an unknown action denies.
action(f) := a if {
	a := object.get(rule(f.id), "action", "deny")
	a in actions
} else := "deny"

# ---------------------------------------------------------------------------------------
# Exemptions: only from policy data, each with a reason, at least one matcher, all of which
# must match, and an optional expiry date (inclusive; a malformed date never applies).

# The exemptions that match this workload (computed once per evaluation), then those that
# cover a given control.
workload_exemptions := [e |
	some e in lib.setting("exemptions", [])
	applies(e)
]

exemptions_for(id) := [e |
	some e in workload_exemptions
	covers(e.rules, id)
]

applies(e) if {
	is_object(e)
	is_string(e.reason)
	trim_space(e.reason) != ""
	is_object(e.match)
	count(e.match) > 0
	every key, pattern in e.match {
		matches(key, pattern)
	}
	not expired(e)
}

covers(rules, id) if {
	is_array(rules)
	some r in rules
	r in {id, "*"}
}

expired(e) if {
	object.get(e, "expires", null) != null
	lib.expired(e.expires)
}

matches("project", pattern) if glob_match(pattern, input.origin.project)

matches("project", pattern) if glob_match(pattern, input.project.name)

matches("service", pattern) if glob_match(pattern, input.origin.service)

matches("container_name", pattern) if glob_match(pattern, trim_prefix(input.origin.container_name, "/"))

matches("image", pattern) if glob_match(pattern, input.container.image)

matches("image", pattern) if glob_match(pattern, lib.image_full)

matches("image", pattern) if glob_match(pattern, lib.image_repo)

matches("user", pattern) if glob_match(pattern, input.user.name)

glob_match(pattern, value) if {
	is_string(pattern)
	is_string(value)
	value != ""
	glob.match(pattern, null, value)
}

# ---------------------------------------------------------------------------------------
# Findings as reported.

findings contains object.union(f, {"severity": severity(f), "action": action(f)}) if {
	some f in raw
	runs(f)
	count(exemptions_for(f.id)) == 0
}

exempted contains object.union(f, {
	"severity": severity(f),
	"action": "audit",
	"exempted": true,
	"exemption": {"reason": e.reason, "expires": object.get(e, "expires", null)},
}) if {
	some f in raw
	runs(f)
	es := exemptions_for(f.id)
	count(es) > 0
	e := es[0]
}

deny contains f if {
	some f in findings
	f.action == "deny"
}

warn contains f if {
	some f in findings
	f.action == "warn"
}

audit contains f if {
	some f in findings
	f.action == "audit"
}

# Exempted findings are recorded, never enforced.
audit contains f if some f in exempted
