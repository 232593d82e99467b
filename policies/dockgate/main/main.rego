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

# (A union of the sets, not a rule per package: no interpretation per finding.)
raw := data.dockgate.privilege.findings |
	data.dockgate.filesystem.findings |
	data.dockgate.images.findings |
	data.dockgate.secrets.findings |
	data.dockgate.resources.findings |
	data.dockgate.network.findings |
	data.dockgate.logging.findings

# ---------------------------------------------------------------------------------------
# Profile and per-rule overrides.

# The active profile; an unknown name selects the stricter profile.
profile := p if {
	p := lib.setting("profile", "baseline")
	p in {"baseline", "restricted"}
} else := "restricted"

# Per-rule overrides (read once per evaluation), the IDs they name, and one control's.
rules := lib.setting("rules", {})

overridden contains id if some id, _ in rules

rule(id) := object.get(rules, id, {})

# A control runs when its rule `r` is enabled explicitly (`enabled: true` also turns a
# restricted control on under baseline), or, when `enabled` is not set, when its profile is
# part of the active profile. `enabled: false` turns it off.
runs(_, r) if object.get(r, "enabled", null) == true

runs(f, r) if {
	object.get(r, "enabled", null) == null
	f.profile in profiles
}

# The profiles the active profile includes.
profiles contains "baseline"

profiles contains "restricted" if profile == "restricted"

severities := {"critical", "high", "medium", "low", "info"}

actions := {"deny", "warn", "audit"}

severity(f, r) := s if {
	s := object.get(r, "severity", f.severity)
	s in severities
} else := f.severity

# The action; an unknown action denies.
action(r) := a if {
	a := object.get(r, "action", "deny")
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

covers(ids, id) if {
	is_array(ids)
	some r in ids
	r in {id, "*"}
}

# What the workload's exemptions name (computed once): exempt(id) when one of them covers
# control `id`, by its ID or by `*`.
exempt_ids contains r if {
	some e in workload_exemptions
	is_array(e.rules)
	some r in e.rules
}

exempt(id) if id in exempt_ids

exempt(_) if exempt_all

exempt_all if "*" in exempt_ids

expired(e) if {
	object.get(e, "expires", null) != null
	lib.expired(e.expires)
}

matches("project", pattern) if glob_match(pattern, input.origin.project)

matches("project", pattern) if glob_match(pattern, input.project.name)

matches("service", pattern) if glob_match(pattern, input.origin.service)

# (A request without a container name — a compose check, an unnamed create — has none to
# match: the matcher fails, and the exemption does not apply.)
matches("container_name", pattern) if {
	name := input.origin.container_name
	is_string(name)
	glob_match(pattern, trim_prefix(name, "/"))
}

matches("image", pattern) if glob_match(pattern, input.container.image)

matches("image", pattern) if glob_match(pattern, data.dockgate.lib.image_full)

matches("image", pattern) if glob_match(pattern, data.dockgate.lib.image_repo)

matches("user", pattern) if glob_match(pattern, input.user.name)

glob_match(pattern, value) if {
	is_string(pattern)
	is_string(value)
	value != ""
	glob.match(pattern, null, value)
}

# ---------------------------------------------------------------------------------------
# Findings as reported.

# A control without an override (the common case) runs by its profile, keeps its catalogue
# severity and denies (what runs, severity and action make of an empty rule); an overridden
# one goes through its rule. Cheap checks only, per finding: no override, no exemption.
plain contains object.union(f, {"action": "deny"}) if {
	some f in raw
	not f.id in special
	f.profile in plain_profiles
}

# The IDs that need more than the plain path, and the profiles whose findings may take it
# (none when `*` exempts every control).
special := overridden | exempt_ids

plain_profiles := set() if {
	exempt_all
} else := profiles

ruled contains object.union(f, {"severity": severity(f, r), "action": action(r)}) if {
	count(overridden) > 0
	some f in raw
	f.id in overridden
	r := rule(f.id)
	runs(f, r)
	not exempt(f.id)
}

# Every enforced finding.
findings := plain | ruled

exempted contains object.union(f, {
	"severity": severity(f, r),
	"action": "audit",
	"exempted": true,
	"exemption": {"reason": e.reason, "expires": object.get(e, "expires", null)},
}) if {
	count(raw) > 0
	count(exempt_ids) > 0
	some f in raw
	exempt(f.id)
	r := rule(f.id)
	runs(f, r)
	es := exemptions_for(f.id)
	count(es) > 0
	e := es[0]
}

# Routed by action (set unions: the plain findings all deny). Exempted findings are
# recorded, never enforced.
deny := plain | {f | some f in ruled; f.action == "deny"}

warn := {f | some f in ruled; f.action == "warn"}

audit := {f | some f in ruled; f.action == "audit"} | exempted
