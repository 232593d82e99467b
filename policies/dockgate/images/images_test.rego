package dockgate.images_test

import data.dockgate.lib_test as t

findings(req) := fs if {
	fs := data.dockgate.images.findings with input as req
}

image(written, registry, repository, tag, digest) := t.container({
	"image": written,
	"image_ref": {"registry": registry, "repository": repository, "tag": tag, "digest": digest},
})

test_hardened_has_no_image_findings if {
	count(findings(t.hardened)) == 0
}

# DG-301
test_dg301_no_tag if {
	some f in findings(image("nginx", "docker.io", "library/nginx", null, null))
	f.id == "DG-301"
	f.field == "container.image"
}

# A build-only service: the message speaks of the build, not of a pull.
test_dg301_no_tag_on_a_built_image if {
	req := t.container({
		"image": "shop_api",
		"image_ref": {"registry": "docker.io", "repository": "library/shop_api", "tag": null, "digest": null},
		"build": {"context": "/src/shop", "dockerfile": null, "args": {}},
	})
	fs := [f | some f in findings(req); f.id == "DG-301"]
	count(fs) == 1
	contains(fs[0].msg, "built without a version tag")
	not contains(fs[0].msg, "pull time")
}

test_dg301_no_tag_on_a_pulled_image_speaks_of_the_pull if {
	some f in findings(image("nginx", "docker.io", "library/nginx", null, null))
	f.id == "DG-301"
	contains(f.msg, "pull time")
}

test_dg301_latest if t.fired(findings(image("nginx:latest", "docker.io", "library/nginx", "latest", null)), "DG-301")

test_dg301_version_tag_or_digest if {
	not t.fired(findings(image("nginx:1.27-alpine", "docker.io", "library/nginx", "1.27-alpine", null)), "DG-301")
	not t.fired(findings(image(concat("@", ["nginx", t.digest]), "docker.io", "library/nginx", null, t.digest)), "DG-301")
}

# DG-302
test_dg302_tag_only if t.fired(findings(image("nginx:1.27-alpine", "docker.io", "library/nginx", "1.27-alpine", null)), "DG-302")

test_dg302_digest if not t.fired(findings(image(concat("@", ["nginx:1.27-alpine", t.digest]), "docker.io", "library/nginx", "1.27-alpine", t.digest)), "DG-302")

# DG-303
test_dg303_inactive_while_empty if {
	fs := findings(image("evil.example/x/y:1", "evil.example", "x/y", "1", null)) with data.dockgate.config.allowed_registries as []
	not t.fired(fs, "DG-303")
}

test_dg303_not_allowed if {
	fs := findings(image("evil.example/x/y:1", "evil.example", "x/y", "1", null)) with data.dockgate.config.allowed_registries as ["ghcr.io/example/*", "registry.internal"]
	t.fired(fs, "DG-303")
	# `*` does not cross a path component
	fs2 := findings(image("ghcr.io/example/a/b:1", "ghcr.io", "example/a/b", "1", null)) with data.dockgate.config.allowed_registries as ["ghcr.io/example/*"]
	t.fired(fs2, "DG-303")
}

test_dg303_allowed if {
	allowed := ["ghcr.io/example/*", "registry.internal", "docker.io/library/**"]
	not t.fired(findings(t.hardened), "DG-303") with data.dockgate.config.allowed_registries as allowed
	not t.fired(findings(image("registry.internal/team/app:2", "registry.internal", "team/app", "2", null)), "DG-303") with data.dockgate.config.allowed_registries as allowed
	not t.fired(findings(image("nginx:1.27", "docker.io", "library/nginx", "1.27", null)), "DG-303") with data.dockgate.config.allowed_registries as allowed
}

# DG-304
test_dg304_full_variant if {
	some f in findings(image("python:3.12", "docker.io", "library/python", "3.12", null))
	f.id == "DG-304"
	contains(f.msg, "-slim or -alpine")
	t.fired(findings(image("node", "docker.io", "library/node", null, null)), "DG-304")
	t.fired(findings(image("postgres:16-bookworm", "docker.io", "library/postgres", "16-bookworm", null)), "DG-304")
}

test_dg304_minimal_variants if {
	every img in [["python", "3.12-slim"], ["python", "3.12-slim-bookworm"], ["nginx", "1.27-alpine3.20"], ["redis", "alpine"], ["eclipse-temurin", "21-jre-noble"]] {
		not t.fired(findings(image(img[0], "docker.io", concat("/", ["library", img[0]]), img[1], null)), "DG-304")
	}
	# not in the table (no known minimal variant), or digest-only: not judged
	not t.fired(findings(image("ubuntu:24.04", "docker.io", "library/ubuntu", "24.04", null)), "DG-304")
	not t.fired(findings(image("python", "docker.io", "library/python", null, t.digest)), "DG-304")
}
