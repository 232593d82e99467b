package acme.docker_test

import data.acme.docker

# A compliant service, as `dockgate normalize` prints it (only the fields the rules read).
web := {
	"operation": "CHECK",
	"origin": {"project": "shop", "service": "web", "container_name": "shop_web_1"},
	"container": {
		"image": "registry.acme.example/shop/web:2.3.1",
		"image_ref": {"registry": "registry.acme.example", "repository": "shop/web", "tag": "2.3.1", "digest": null},
		"labels": {"com.acme.team": "payments"},
		"env": {"LOG_LEVEL": "info"},
	},
}

# `web` with some fields replaced (object.union alone would merge nested objects).
replace(obj, patch) := object.union(object.remove(obj, object.keys(patch)), patch)

with_container(patch) := replace(web, {"container": replace(web.container, patch)})

ids(fs) := {f.id | some f in fs}

test_compliant_service_has_no_findings if {
	count(docker.deny) == 0 with input as web
	count(docker.warn) == 0 with input as web
}

test_acme1_image_from_docker_hub if {
	req := with_container({
		"image": "python:latest",
		"image_ref": {"registry": "docker.io", "repository": "library/python", "tag": "latest", "digest": null},
	})
	fs := docker.deny with input as req
	ids(fs) == {"ACME-1"}
	some f in fs
	f.msg == `service "web": image "python:latest" is not from registry.acme.example: push it there and deploy it from there`
}

test_acme2_missing_or_unknown_team if {
	ids(docker.deny) == {"ACME-2"} with input as with_container({"labels": {}})
	fs := docker.deny with input as with_container({"labels": {"com.acme.team": "marketing"}})
	some f in fs
	contains(f.msg, `label com.acme.team is "marketing"`)
}

test_debug_warns_with_a_plain_string if {
	docker.warn == {`service "web": DEBUG is on; turn it off outside development`} with input as with_container({"env": {"DEBUG": "True"}})
}

test_exec_requests_are_not_judged_on_the_container if {
	req := replace(with_container({"labels": {}}), {"operation": "EXEC"})
	count(docker.deny) == 0 with input as req
}

test_teams_come_from_policy_data if {
	count(docker.deny) == 0 with input as with_container({"labels": {"com.acme.team": "marketing"}})
		with data.acme.teams as ["marketing"]
}
