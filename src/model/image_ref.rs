//! Docker image references: parsing and normalisation as Docker does it.
//!
//! Grammar (distribution's `reference` package): `[registry/]path[:tag][@digest]`. The first
//! path component is a registry when it contains `.` or `:` or is `localhost`; otherwise the
//! registry is `docker.io`, and a single-component path gets `library/`. `index.docker.io` is
//! `docker.io`. Repository components are lower case.

use serde::{Deserialize, Serialize};

/// A normalised image reference.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageRef {
    /// `docker.io`, `ghcr.io`, `localhost:5000`, ...
    pub registry: String,
    /// `library/nginx`, `org/app`, ...
    pub repository: String,
    /// The tag, or null when none is written (Docker then uses `latest`).
    pub tag: Option<String>,
    /// The digest (`sha256:...`), or null.
    pub digest: Option<String>,
}

/// Why a reference is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefError {
    /// The reference is empty.
    #[error("image reference is empty")]
    Empty,
    /// The reference is longer than Docker accepts.
    #[error("image reference is longer than 255 characters")]
    TooLong,
    /// A repository path component breaks the grammar.
    #[error(
        "invalid repository component {0:?}: use lower-case letters, digits and single `.`, `_`, `__` or `-` separators"
    )]
    Component(String),
    /// The tag breaks the grammar.
    #[error(
        "invalid tag {0:?}: up to 128 of letters, digits, `_`, `.`, `-`, not starting with `.` or `-`"
    )]
    Tag(String),
    /// The digest breaks the grammar.
    #[error("invalid digest {0:?}: expected `algorithm:hex`, e.g. `sha256:` and 64 hex digits")]
    Digest(String),
    /// The registry host breaks the grammar.
    #[error("invalid registry {0:?}")]
    Registry(String),
}

impl ImageRef {
    /// Parses `reference` as Docker would for `docker pull`.
    pub fn parse(reference: &str) -> Result<Self, ImageRefError> {
        if reference.is_empty() {
            return Err(ImageRefError::Empty);
        }
        if reference.len() > 255 + 72 {
            return Err(ImageRefError::TooLong);
        }
        let (name_tag, digest) = match reference.split_once('@') {
            Some((n, d)) => (n, Some(parse_digest(d)?)),
            None => (reference, None),
        };
        let (name, tag) = match name_tag.rfind(':') {
            Some(i) if !name_tag[i + 1..].contains('/') => {
                (&name_tag[..i], Some(parse_tag(&name_tag[i + 1..])?))
            }
            _ => (name_tag, None),
        };
        if name.is_empty() {
            return Err(ImageRefError::Empty);
        }
        if name.len() > 255 {
            return Err(ImageRefError::TooLong);
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => ("docker.io".to_string(), name.to_string()),
        };
        let registry = if registry == "index.docker.io" {
            "docker.io".to_string()
        } else {
            registry
        };
        if !valid_registry(&registry) {
            return Err(ImageRefError::Registry(registry));
        }
        for component in path.split('/') {
            if !valid_component(component) {
                return Err(ImageRefError::Component(component.to_string()));
            }
        }
        let repository = if registry == "docker.io" && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The familiar full name, `docker.io/library/nginx:1.27` (tag and digest as present).
    pub fn full_name(&self) -> String {
        let mut s = format!("{}/{}", self.registry, self.repository);
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

fn parse_tag(tag: &str) -> Result<String, ImageRefError> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(tag.to_string())
    } else {
        Err(ImageRefError::Tag(tag.to_string()))
    }
}

fn parse_digest(digest: &str) -> Result<String, ImageRefError> {
    let bad = || ImageRefError::Digest(digest.to_string());
    let (alg, hex) = digest.split_once(':').ok_or_else(bad)?;
    let alg_ok = !alg.is_empty()
        && alg.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '.' | '_' | '-')
        });
    let hex_ok = hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit());
    let sha256_ok = alg != "sha256" || hex.len() == 64;
    if alg_ok && hex_ok && sha256_ok {
        Ok(digest.to_string())
    } else {
        Err(bad())
    }
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+ ( (\.|_|__|-+) [a-z0-9]+ )*
    let bytes = c.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.chars().all(|ch| ch == '-');
        if !ok {
            return false;
        }
    }
    true
}

fn valid_registry(r: &str) -> bool {
    let (host, port) = match r.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || r.starts_with('[') => (h, Some(p)),
        _ => (r, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ImageRef {
        ImageRef::parse(s).expect(s)
    }

    #[test]
    fn docker_hub_official_images_get_library() {
        let r = p("nginx");
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.repository, "library/nginx");
        assert_eq!(r.tag, None);
        assert_eq!(p("nginx:1.27-alpine").tag.as_deref(), Some("1.27-alpine"));
        assert_eq!(p("docker.io/nginx").repository, "library/nginx");
        assert_eq!(p("index.docker.io/library/nginx").registry, "docker.io");
    }

    #[test]
    fn registries_ports_and_digests() {
        let r = p(
            "localhost:5000/team/app:v1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        );
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert!(
            r.digest
                .as_deref()
                .is_some_and(|d| d.starts_with("sha256:"))
        );
        assert_eq!(p("ghcr.io/org/tool").registry, "ghcr.io");
        assert_eq!(p("org/tool").registry, "docker.io");
        assert_eq!(p("org/tool").repository, "org/tool");
    }

    #[test]
    fn rejects_invalid_references() {
        assert!(ImageRef::parse("").is_err());
        assert!(ImageRef::parse("Nginx").is_err());
        assert!(ImageRef::parse("nginx:").is_err());
        assert!(ImageRef::parse("nginx:-bad").is_err());
        assert!(ImageRef::parse("nginx@sha256:abc").is_err());
        assert!(ImageRef::parse("a//b").is_err());
        assert!(ImageRef::parse(&"a".repeat(300)).is_err());
    }
}
