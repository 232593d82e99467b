//! Routing an AuthZ request: which Engine API call it is and what deciding it needs.
//!
//! The version prefix (`/v1.41`) and the query are stripped. Container create, start/restart,
//! update and exec are admission decisions; Swarm service create/update are decided by
//! configuration (never silently passed); read-only calls (`GET`, `HEAD`), `/_ping`,
//! `/version`, `/info` and plugin management are always allowed, so an operator can inspect
//! and repair a host when the policy server is down or a policy denies everything.

/// What a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST /containers/create` (the body is the config; `name` from the query).
    Create {
        /// `?name=`.
        name: Option<String>,
    },
    /// `POST /containers/{id}/start` or `/restart` (no body: inspect the container).
    Start {
        /// The container id or name.
        id: String,
    },
    /// `POST /containers/{id}/update` (the body is the update).
    Update {
        /// The container id or name.
        id: String,
    },
    /// `POST /containers/{id}/exec` (the body is the exec config).
    Exec {
        /// The container id or name.
        id: String,
    },
    /// `POST /services/create` or `/services/{id}/update` (Swarm).
    Swarm,
    /// Read-only, health, version, info and plugin management: always allowed.
    AlwaysAllow,
    /// Anything else (allowed unless configured otherwise).
    Other,
}

/// Strips `/vX.Y` and the query; returns (path, query).
pub fn split_uri(uri: &str) -> (&str, &str) {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let path = match path.strip_prefix("/v") {
        Some(rest) => {
            let (ver, _) = rest.split_once('/').unwrap_or((rest, ""));
            if !ver.is_empty() && ver.chars().all(|c| c.is_ascii_digit() || c == '.') {
                &path[2 + ver.len()..]
            } else {
                path
            }
        }
        None => path,
    };
    (if path.is_empty() { "/" } else { path }, query)
}

fn query_param(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Classifies a request.
pub fn route(method: &str, uri: &str) -> Route {
    let (path, query) = split_uri(uri);
    let method = method.to_ascii_uppercase();
    if method == "GET" || method == "HEAD" {
        return Route::AlwaysAllow;
    }
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (method.as_str(), segs.as_slice()) {
        (_, ["_ping"] | ["version"] | ["info"]) => Route::AlwaysAllow,
        (_, ["plugins", ..]) => Route::AlwaysAllow,
        ("POST", ["containers", "create"]) => Route::Create {
            name: query_param(query, "name").filter(|n| !n.is_empty()),
        },
        ("POST", ["containers", id, "start" | "restart"]) => Route::Start { id: (*id).into() },
        ("POST", ["containers", id, "update"]) => Route::Update { id: (*id).into() },
        ("POST", ["containers", id, "exec"]) => Route::Exec { id: (*id).into() },
        ("POST", ["services", "create"]) | ("POST", ["services", _, "update"]) => Route::Swarm,
        _ => Route::Other,
    }
}

/// Whether a request can change what an image name points to (pull, import, load, push is
/// not one; tag, delete, prune, build, commit): the plugin's image cache is cleared for it.
pub fn changes_images(method: &str, uri: &str) -> bool {
    let (path, _) = split_uri(uri);
    let method = method.to_ascii_uppercase();
    if method == "GET" || method == "HEAD" {
        return false;
    }
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    !matches!(segs.as_slice(), ["images", _, "push"])
        && matches!(
            segs.as_slice(),
            ["images", ..] | ["build", ..] | ["commit", ..] | ["session", ..]
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_changing_calls_are_recognised() {
        for (m, u) in [
            ("POST", "/v1.41/images/create?fromImage=busybox&tag=latest"),
            ("POST", "/v1.41/images/load?quiet=1"),
            ("POST", "/v1.41/images/busybox:latest/tag?repo=x&tag=y"),
            ("DELETE", "/v1.41/images/busybox:latest"),
            ("POST", "/v1.41/images/prune"),
            ("POST", "/v1.41/build?t=app:1"),
            ("POST", "/v1.41/build/prune"),
            ("POST", "/v1.41/commit?container=abc&repo=x"),
            ("POST", "/session"),
        ] {
            assert!(changes_images(m, u), "{m} {u}");
        }
        for (m, u) in [
            ("GET", "/v1.41/images/busybox/json"),
            ("GET", "/v1.41/images/json"),
            ("POST", "/v1.41/images/busybox/push"),
            ("POST", "/v1.41/containers/create"),
            ("DELETE", "/v1.41/containers/abc"),
        ] {
            assert!(!changes_images(m, u), "{m} {u}");
        }
    }

    #[test]
    fn admission_calls_are_recognised_with_or_without_version() {
        assert_eq!(
            route("POST", "/v1.41/containers/create?name=shop_web_1"),
            Route::Create {
                name: Some("shop_web_1".into())
            }
        );
        assert_eq!(
            route("POST", "/containers/create"),
            Route::Create { name: None }
        );
        assert_eq!(
            route("POST", "/v1.41/containers/abc/start"),
            Route::Start { id: "abc".into() }
        );
        assert_eq!(
            route("POST", "/v1.24/containers/abc/restart?t=3"),
            Route::Start { id: "abc".into() }
        );
        assert_eq!(
            route("POST", "/v1.41/containers/abc/update"),
            Route::Update { id: "abc".into() }
        );
        assert_eq!(
            route("POST", "/v1.41/containers/abc/exec"),
            Route::Exec { id: "abc".into() }
        );
        assert_eq!(route("POST", "/v1.41/services/create"), Route::Swarm);
        assert_eq!(
            route("POST", "/v1.41/services/x/update?version=3"),
            Route::Swarm
        );
    }

    #[test]
    fn lockout_protection_always_allows_reads_and_repair_calls() {
        for (m, u) in [
            ("GET", "/v1.41/containers/json"),
            ("HEAD", "/_ping"),
            ("GET", "/_ping"),
            ("POST", "/_ping"),
            ("GET", "/v1.41/version"),
            ("GET", "/info"),
            ("POST", "/v1.41/plugins/dockgate/disable"),
            ("POST", "/v1.41/plugins/pull?remote=x"),
        ] {
            assert_eq!(route(m, u), Route::AlwaysAllow, "{m} {u}");
        }
        assert_eq!(route("DELETE", "/v1.41/containers/abc"), Route::Other);
    }

    #[test]
    fn names_are_percent_decoded_and_paths_are_not_fooled() {
        assert_eq!(
            route("POST", "/v1.41/containers/create?name=a%2Fb&x=1"),
            Route::Create {
                name: Some("a/b".into())
            }
        );
        // A version-like segment that is not a version is not stripped.
        assert_eq!(
            split_uri("/vx/containers/create").0,
            "/vx/containers/create"
        );
        assert_eq!(split_uri("/v1.41").0, "/");
    }
}
