//! From a finding's input-field path (`container.mounts[0]`, `container.env.DB_PASSWORD`,
//! `container.labels["com.example.token"]`, `project.secrets.api_key`) to the compose keys
//! that set it, most specific first — so a report points at the offending key
//! (`privileged: true`, the volume entry, the `DB_PASSWORD=` item) rather than the service.

use super::node::{Kind, Node};

/// The segments of a field path: `.name`, `[0]` and `["key"]` parts.
pub fn segments(field: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = field.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            '[' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                let quoted = chars.peek() == Some(&'"');
                if quoted {
                    chars.next();
                }
                let mut seg = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' if quoted => {
                            if let Some(n) = chars.next() {
                                seg.push(n);
                            }
                        }
                        '"' if quoted => {
                            // The closing `]`.
                            chars.next();
                            break;
                        }
                        ']' if !quoted => break,
                        c => seg.push(c),
                    }
                }
                out.push(seg);
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn owned(path: &[&str]) -> Vec<String> {
    path.iter().map(|s| (*s).to_string()).collect()
}

/// `path + [name]` for a mapping at `path`, or `path + [i]` for the list item that sets
/// `name` (`NAME=value`, `NAME: value` or `NAME`).
fn named(svc: &Node, path: &[&str], name: &str) -> Option<Vec<String>> {
    let mut node = svc;
    for seg in path {
        node = match &node.kind {
            Kind::Map(_) => node.get(seg)?,
            Kind::Seq(items) => items.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    let mut out = owned(path);
    match &node.kind {
        Kind::Map(_) => out.push(name.to_string()),
        Kind::Seq(items) => {
            let i = items.iter().position(|item| {
                item.as_str().is_some_and(|s| {
                    s == name
                        || s.strip_prefix(name)
                            .is_some_and(|r| r.starts_with('=') || r.starts_with(':'))
                })
            })?;
            out.push(i.to_string());
        }
        _ => return None,
    }
    Some(out)
}

fn count(node: Option<&Node>) -> usize {
    match node.map(|n| &n.kind) {
        Some(Kind::Seq(items)) => items.len(),
        Some(Kind::Null) | None => 0,
        Some(_) => 1,
    }
}

/// Candidate paths inside a service for a container field (without its `container.`),
/// most specific first; the caller takes the first that exists, else the service key.
pub fn candidates(svc: &Node, segs: &[String]) -> Vec<Vec<String>> {
    let Some((head, rest)) = segs.split_first() else {
        return Vec::new();
    };
    let r: Vec<&str> = rest.iter().map(String::as_str).collect();
    let first = r.first().copied().unwrap_or("");
    let mut out: Vec<Vec<String>> = Vec::new();
    let with_rest = |key: &str, out: &mut Vec<Vec<String>>| {
        let mut p = vec![key.to_string()];
        p.extend(rest.iter().cloned());
        out.push(p);
        out.push(vec![key.to_string()]);
    };
    match head.as_str() {
        "image" | "image_ref" | "image_config" => {
            out.push(owned(&["image"]));
            out.push(owned(&["build"]));
        }
        "pid_mode" => out.push(owned(&["pid"])),
        "ipc_mode" => out.push(owned(&["ipc"])),
        "uts_mode" => out.push(owned(&["uts"])),
        "network_mode" | "networks" => {
            out.push(owned(&["network_mode"]));
            with_rest("networks", &mut out);
        }
        "env" => {
            out.extend(named(svc, &["environment"], first));
            out.push(owned(&["environment"]));
            out.push(owned(&["env_file"]));
        }
        "labels" | "sysctls" | "extra_hosts" | "ulimits" => {
            out.extend(named(svc, &[head.as_str()], first));
            out.push(vec![head.clone()]);
        }
        "build" if first == "args" => {
            if let Some(name) = r.get(1) {
                out.extend(named(svc, &["build", "args"], name));
            }
            out.push(owned(&["build", "args"]));
            out.push(owned(&["build"]));
        }
        "mounts" => {
            let i = first.parse::<usize>().unwrap_or(usize::MAX);
            let volumes = count(svc.get("volumes"));
            let tmpfs = count(svc.get("tmpfs"));
            if i < volumes {
                out.push(vec!["volumes".into(), i.to_string()]);
            } else if i < volumes + tmpfs && svc.get("tmpfs").is_some() {
                out.push(vec!["tmpfs".into(), (i - volumes).to_string()]);
                out.push(owned(&["tmpfs"]));
            }
            out.push(owned(&["volumes"]));
            out.push(owned(&["tmpfs"]));
            out.push(owned(&["secrets"]));
        }
        "ports" => {
            // A range (`8000-8010:80`) is several published ports: indices then differ.
            let ranges = match svc.get("ports").map(|n| &n.kind) {
                Some(Kind::Seq(items)) => items
                    .iter()
                    .any(|i| i.as_str().is_some_and(|s| s.contains('-'))),
                _ => true,
            };
            if !ranges {
                out.push(vec!["ports".into(), first.to_string()]);
            }
            out.push(owned(&["ports"]));
            out.push(owned(&["expose"]));
        }
        "restart_policy" => {
            out.push(owned(&["restart"]));
            out.push(owned(&["deploy", "restart_policy"]));
        }
        "logging" => {
            with_rest("logging", &mut out);
            out.push(owned(&["log_driver"]));
            out.push(owned(&["log_opt"]));
        }
        "resources" => {
            let list: &[&[&str]] = match first {
                "memory_bytes" => &[&["mem_limit"], &["deploy", "resources", "limits", "memory"]],
                "nano_cpus" => &[
                    &["cpus"],
                    &["deploy", "resources", "limits", "cpus"],
                    &["cpu_quota"],
                ],
                "pids_limit" => &[&["pids_limit"], &["deploy", "resources", "limits", "pids"]],
                "memory_reservation_bytes" => &[
                    &["mem_reservation"],
                    &["deploy", "resources", "reservations", "memory"],
                ],
                other => {
                    out.push(vec![other.to_string()]);
                    &[]
                }
            };
            out.extend(list.iter().map(|p| owned(p)));
            out.push(owned(&["deploy", "resources"]));
            out.push(owned(&["deploy"]));
        }
        other => {
            // Same name in the file: the whole path, then ever shorter prefixes.
            for n in (0..=r.len()).rev() {
                let mut p = vec![other.to_string()];
                p.extend(r[..n].iter().map(|s| (*s).to_string()));
                out.push(p);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::segments;

    #[test]
    fn field_paths_split_into_segments() {
        assert_eq!(
            segments("container.mounts[0]"),
            ["container", "mounts", "0"]
        );
        assert_eq!(
            segments(r#"container.labels["com.example.deploy-token"]"#),
            ["container", "labels", "com.example.deploy-token"]
        );
        assert_eq!(
            segments(r#"container.sysctls["a\"b"].x"#),
            ["container", "sysctls", "a\"b", "x"]
        );
        assert_eq!(
            segments("container.env.DB_PASSWORD"),
            ["container", "env", "DB_PASSWORD"]
        );
        assert_eq!(segments("container"), ["container"]);
    }
}
