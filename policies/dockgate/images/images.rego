# Image and supply-chain controls (DG-301..DG-304).
package dockgate.images

import data.dockgate.lib

c := input.container

ref := c.image_ref

has_image if {
	data.dockgate.lib.container_request
	is_string(c.image)
	c.image != ""
}

pinned if is_string(ref.digest)

# DG-301 no tag, or `latest` (a digest pins the image whatever the tag says)
findings contains lib.finding("DG-301", "container.image",
	sprintf("image %q has no tag, so it means whatever `latest` is at pull time: pin a version tag (and a digest)", [c.image])) if {
	has_image
	not pinned
	not is_string(ref.tag)
	not builds
}

# A service that builds its image tags the build `latest` when its image has no tag (and
# compose names a build-only service's image `<project>_<service>`): nothing is pulled, but
# `latest` still names whichever build ran last.
findings contains lib.finding("DG-301", "container.image",
	sprintf("image %q is built without a version tag, so it is tagged `latest` and names whichever build ran last: set image: <name>:<version> on the service (and deploy the pushed image by digest)", [c.image])) if {
	has_image
	not pinned
	not is_string(ref.tag)
	builds
}

builds if is_object(c.build)

findings contains lib.finding("DG-301", "container.image",
	sprintf("image %q uses the `latest` tag: pin a version tag (and a digest)", [c.image])) if {
	has_image
	not pinned
	ref.tag == "latest"
}

# DG-302 not pinned by digest
findings contains lib.finding("DG-302", "container.image",
	sprintf("image %q is not pinned by digest: append @sha256:<digest> of the tested image", [c.image])) if {
	has_image
	not pinned
}

# DG-303 registry/repository not in the allow-list (inactive while the list is empty)
findings contains lib.finding("DG-303", "container.image",
	sprintf("image %s is not from an allowed registry or repository (%s): use an image from an allowed source", [image_repo, concat(", ", allowed)])) if {
	has_image
	allowed := lib.setting("allowed_registries", [])
	count(allowed) > 0
	not allowed_source(allowed)
}

# An entry is a glob over `registry/repository` (`*` stays within one path component,
# `**` crosses them), or a bare registry host, which allows the whole registry.
# (A bare registry host is checked first: the globs run only when it does not match. Not
# with `else`: regorus's VM does not fall through to `else` after a body that iterates and
# finds nothing, see runtime/src/compiled.rs.)
allowed_source(allowed) if ref.registry in allowed

allowed_source(allowed) if {
	not ref.registry in allowed
	some pattern in allowed
	glob.match(pattern, ["/"], image_repo)
}

image_repo := data.dockgate.lib.image_repo

# DG-304 known official image in a non-minimal variant
findings contains lib.finding("DG-304", "container.image",
	sprintf("image %q is a full variant of %s: use a minimal variant (a tag with %s) or a distroless image", [c.image, image_repo, concat(" or ", [sprintf("-%s", [m]) | some m in variants])])) if {
	has_image
	variants := minimal_variants[image_repo]
	is_array(variants) # (also fails the body when the image has no entry, VM or not)
	tag := effective_tag
	not minimal(tag, variants)
}

minimal_variants := lib.setting("minimal_variants", {})

# The tag that selects the variant: the written tag, or `latest` when neither a tag nor a
# digest is written. A digest-only reference does not say its variant.
effective_tag := ref.tag if is_string(ref.tag)

effective_tag := "latest" if {
	not is_string(ref.tag)
	not pinned
}

# A tag is minimal when one of its `-`-separated parts starts with a minimal marker:
# `3.12-slim`, `3.12-slim-bookworm`, `alpine`, `1.27-alpine3.20`, `21-jre-noble`.
minimal(tag, variants) if {
	some part in split(lower(tag), "-")
	some m in variants
	startswith(part, lower(m))
}
