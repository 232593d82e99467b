# Acme's own admission rules, evaluated next to the dockgate library (or alone).
#
# Entrypoint `acme/docker`: the package document, whose `deny`, `warn` and `audit` sets
# dockgate reads as findings. Lists live in policy data (`data.acme`, from data.json next to
# this file), not in the rules.
package acme.docker

# Container rules judge containers; an exec request is about the command, not the container.
container_request if input.operation != "EXEC"

# Who the finding is about: the compose service, else the container, else the image.
subject := sprintf("service %q", [input.origin.service]) if {
	is_string(input.origin.service)
} else := sprintf("container %q", [input.origin.container_name]) if {
	is_string(input.origin.container_name)
} else := sprintf("image %q", [input.container.image])

# ACME-1: images come only from Acme's registries.
deny contains {
	"id": "ACME-1",
	"msg": sprintf("%s: image %q is not from %s: push it there and deploy it from there", [subject, input.container.image, concat(" or ", data.acme.registries)]),
	"severity": "high",
	"field": "container.image",
} if {
	container_request
	not input.container.image_ref.registry in data.acme.registries
}

# ACME-2: every service names the team that owns it, one of the known teams.
deny contains {
	"id": "ACME-2",
	"msg": sprintf("%s: label com.acme.team is %s: set it to one of %s", [subject, team_shown, concat(", ", data.acme.teams)]),
	"severity": "medium",
	"field": "container.labels[\"com.acme.team\"]",
} if {
	container_request
	not object.get(input.container.labels, "com.acme.team", "") in data.acme.teams
}

team_shown := sprintf("%q", [input.container.labels["com.acme.team"]]) if {
	input.container.labels["com.acme.team"]
} else := "missing"

# A plain string is a finding too: a warning without an ID (severity medium by default).
warn contains sprintf("%s: DEBUG is on; turn it off outside development", [subject]) if {
	container_request
	lower(object.get(input.container.env, "DEBUG", "")) in {"1", "true", "yes"}
}
