//! The document's normalisation conventions, shared by every adapter.
//!
//! Both the compose adapter and the Engine API adapter must spell the same fact the same way
//! (`CAP_NET_ADMIN` and `net_admin` are `NET_ADMIN`; `seccomp:unconfined` is
//! `seccomp=unconfined`; `src:dst:ro` is a read-only bind), so the spelling rules live here,
//! next to the types they fill, rather than in either adapter. Pure functions, no I/O.

use std::collections::BTreeMap;

use super::Mount;

/// A capability as the document spells it: upper case, without `CAP_` (`ALL` stays `ALL`).
pub fn capability(raw: &str) -> String {
    let upper = raw.trim().to_ascii_uppercase();
    match upper.strip_prefix("CAP_") {
        Some(rest) => rest.to_string(),
        None => upper,
    }
}

/// A security option as `key=value`: the legacy `key:value` form is rewritten; a bare flag
/// (`no-new-privileges`) and a `key=value` option are kept as written.
pub fn security_opt(raw: &str) -> String {
    let raw = raw.trim();
    if raw.contains('=') {
        return raw.to_string();
    }
    match raw.split_once(':') {
        Some((k, v)) => format!("{k}={v}"),
        None => raw.to_string(),
    }
}

/// One `NAME=value` / `NAME` entry of an environment list, as (name, value).
pub fn env_entry(raw: &str) -> (String, Option<String>) {
    match raw.split_once('=') {
        Some((k, v)) => (k.to_string(), Some(v.to_string())),
        None => (raw.to_string(), None),
    }
}

/// An environment list (`["A=1", "B"]`) as the document's map.
pub fn env_list<'a>(items: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, Option<String>> {
    items.into_iter().map(env_entry).collect()
}

/// The propagation modes Docker accepts in a bind's options.
pub const PROPAGATIONS: [&str; 6] = [
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// Parses a bind/volume string as the daemon does for `HostConfig.Binds` and compose does for
/// the short volume syntax: `[source:]target[:options]`, options comma-separated (`ro`, `rw`,
/// `z`, `Z`, `nocopy`, a propagation mode). A source that is not a path (no `/`, `.` or `~`
/// start) is a named volume; no source is an anonymous volume.
pub fn bind_string(raw: &str) -> Mount {
    let parts: Vec<&str> = raw.split(':').collect();
    let (source, target, opts) = match parts.as_slice() {
        [target] => ("", *target, ""),
        [a, b] if is_mode(b) && !a.is_empty() && !b.starts_with('/') => ("", *a, *b),
        [source, target] => (*source, *target, ""),
        [source, target, opts] => (*source, *target, *opts),
        // More colons than fields: keep the first as source and the last as options, join
        // the rest (the daemon would reject such a spec; the policy still sees the paths).
        [source, middle @ .., opts] => {
            return finish(source, &middle.join(":"), opts);
        }
        [] => ("", "", ""),
    };
    finish(source, target, opts)
}

fn finish(source: &str, target: &str, opts: &str) -> Mount {
    let kind = if source.is_empty() || !is_path(source) {
        "volume"
    } else {
        "bind"
    };
    let mut mount = Mount {
        kind: kind.to_string(),
        source: source.to_string(),
        target: target.to_string(),
        read_only: false,
        propagation: String::new(),
    };
    for opt in opts.split(',').map(str::trim) {
        if opt == "ro" {
            mount.read_only = true;
        } else if PROPAGATIONS.contains(&opt) {
            mount.propagation = opt.to_string();
        }
    }
    mount
}

fn is_mode(s: &str) -> bool {
    !s.is_empty()
        && s.split(',').all(|o| {
            matches!(
                o,
                "ro" | "rw" | "z" | "Z" | "nocopy" | "consistent" | "cached" | "delegated"
            ) || PROPAGATIONS.contains(&o)
        })
}

/// True when a volume source is a host path rather than a volume name.
pub fn is_path(source: &str) -> bool {
    source.starts_with('/')
        || source.starts_with('.')
        || source.starts_with('~')
        || source.contains('/')
}

/// Tmpfs options (`rw,noexec,size=64m`): whether they make the mount read-only.
pub fn tmpfs_read_only(options: &str) -> bool {
    options.split(',').any(|o| o.trim() == "ro")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_and_security_options() {
        assert_eq!(capability("cap_net_admin"), "NET_ADMIN");
        assert_eq!(capability(" SYS_ADMIN "), "SYS_ADMIN");
        assert_eq!(capability("all"), "ALL");
        assert_eq!(security_opt("seccomp:unconfined"), "seccomp=unconfined");
        assert_eq!(security_opt("label:type:svirt_t"), "label=type:svirt_t");
        assert_eq!(security_opt("seccomp=/p:x.json"), "seccomp=/p:x.json");
        assert_eq!(security_opt("no-new-privileges"), "no-new-privileges");
        assert_eq!(
            security_opt("no-new-privileges:true"),
            "no-new-privileges=true"
        );
    }

    #[test]
    fn bind_strings() {
        let m = bind_string("/var/run/docker.sock:/var/run/docker.sock:ro,rshared");
        assert_eq!(
            (m.kind.as_str(), m.read_only, m.propagation.as_str()),
            ("bind", true, "rshared")
        );
        let v = bind_string("data:/var/lib/data");
        assert_eq!(
            (v.kind.as_str(), v.source.as_str(), v.target.as_str()),
            ("volume", "data", "/var/lib/data")
        );
        let a = bind_string("/cache");
        assert_eq!(
            (a.kind.as_str(), a.source.as_str(), a.target.as_str()),
            ("volume", "", "/cache")
        );
        let r = bind_string("/cache:ro");
        assert_eq!(
            (r.source.as_str(), r.target.as_str(), r.read_only),
            ("", "/cache", true)
        );
        assert_eq!(env_entry("A=b=c"), ("A".into(), Some("b=c".into())));
        assert_eq!(env_entry("A"), ("A".into(), None));
    }
}
