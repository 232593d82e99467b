//! Merging compose files (`-f a.yaml -f b.yaml`) and `extends`, by the Compose merge rules.
//!
//! Mappings merge key by key; scalars are replaced; sequences follow the field: `environment`,
//! `labels`, `sysctls`, `extra_hosts`... merge as mappings (the list form is converted);
//! `volumes` and `devices` merge by container path, `secrets` and `configs` by target, `ports`
//! are a union; `cap_add`, `security_opt`, `dns`, `profiles`... are unions; `command` and
//! `entrypoint` are replaced. The `!reset` and `!override` tags of an override win over every
//! rule. Nodes keep their own positions, so a merged value still points at the file that set it.

use super::node::{Entry, Kind, MergeTag, Node};

const MAPPING_FIELDS: [&str; 9] = [
    "environment",
    "labels",
    "sysctls",
    "ulimits",
    "depends_on",
    "extra_hosts",
    "storage_opt",
    "annotations",
    "networks",
];
const UNION_FIELDS: [&str; 15] = [
    "cap_add",
    "cap_drop",
    "security_opt",
    "dns",
    "dns_search",
    "dns_opt",
    "expose",
    "external_links",
    "links",
    "volumes_from",
    "device_cgroup_rules",
    "profiles",
    "env_file",
    "tmpfs",
    "group_add",
];
const KEYED_FIELDS: [&str; 4] = ["volumes", "devices", "secrets", "configs"];

/// Merges two whole compose files (top level).
pub fn merge_files(base: Node, over: Node) -> Node {
    merge_map_with(base, over, &|key, b, o| match key {
        "services" => merge_map_with(b, o, &|_, b, o| merge_service(b, o)),
        "volumes" | "networks" | "secrets" | "configs" => {
            merge_map_with(b, o, &|_, b, o| deep_merge(b, o))
        }
        _ => o,
    })
}

/// Merges an override service onto a base service.
pub fn merge_service(base: Node, over: Node) -> Node {
    merge_map_with(base, over, &|key, b, o| merge_field(key, b, o))
}

fn merge_field(key: &str, base: Node, over: Node) -> Node {
    if MAPPING_FIELDS.contains(&key) {
        let colon = key == "extra_hosts";
        return merge_map_with(
            as_mapping(base, colon),
            as_mapping(over, colon),
            &|_, b, o| {
                if key == "networks" {
                    deep_merge(b, o)
                } else {
                    o
                }
            },
        );
    }
    if UNION_FIELDS.contains(&key) {
        return keyed_union(as_list(base), as_list(over), &|n| scalar_key(n));
    }
    if KEYED_FIELDS.contains(&key) {
        return keyed_union(base, over, &|n| item_key(key, n));
    }
    match key {
        "ports" => keyed_union(base, over, &|n| format!("{:?}", n.to_json())),
        "build" => merge_map_with(build_map(base), build_map(over), &|k, b, o| {
            if k == "args" || k == "labels" {
                merge_map_with(as_mapping(b, false), as_mapping(o, false), &|_, _, o| o)
            } else {
                deep_merge(b, o)
            }
        }),
        "logging" => merge_logging(base, over),
        "healthcheck" | "deploy" | "blkio_config" | "develop" => deep_merge(base, over),
        _ => over,
    }
}

/// Maps merge recursively; anything else is replaced.
pub fn deep_merge(base: Node, over: Node) -> Node {
    merge_map_with(base, over, &|_, b, o| deep_merge(b, o))
}

/// Merges two mappings entry by entry with `f` for keys present in both; a non-mapping on
/// either side (or an `!override` tag) makes the override win whole.
fn merge_map_with(base: Node, over: Node, f: &dyn Fn(&str, Node, Node) -> Node) -> Node {
    if over.tag == Some(MergeTag::Override) {
        return over;
    }
    let (Kind::Map(mut entries), Kind::Map(over_entries)) = (base.kind, over.kind.clone()) else {
        return over;
    };
    for oe in over_entries {
        let idx = entries.iter().position(|e| e.key == oe.key);
        if oe.value.tag == Some(MergeTag::Reset) {
            if let Some(i) = idx {
                entries.remove(i);
            }
            continue;
        }
        match idx {
            Some(i) => {
                let be = entries.remove(i);
                let merged = if oe.value.tag == Some(MergeTag::Override) {
                    oe.value
                } else {
                    f(&oe.key, be.value, oe.value)
                };
                entries.insert(
                    i,
                    Entry {
                        key: oe.key,
                        key_pos: oe.key_pos,
                        value: merged,
                    },
                );
            }
            None => entries.push(oe),
        }
    }
    Node {
        pos: base.pos,
        kind: Kind::Map(entries),
        tag: None,
    }
}

fn merge_logging(base: Node, over: Node) -> Node {
    let driver = |n: &Node| n.get("driver").and_then(|d| d.as_str().map(str::to_string));
    let (bd, od) = (driver(&base), driver(&over));
    if bd.is_none() || od.is_none() || bd == od {
        deep_merge(base, over)
    } else {
        merge_map_with(base, over, &|_, _, o| o)
    }
}

/// Sequences united by `key`: an override item replaces the base item with the same key,
/// new items are appended.
fn keyed_union(base: Node, over: Node, key: &dyn Fn(&Node) -> String) -> Node {
    if over.tag == Some(MergeTag::Override) {
        return over;
    }
    let (Kind::Seq(mut items), Kind::Seq(over_items)) = (base.kind, over.kind.clone()) else {
        return over;
    };
    for o in over_items {
        let k = key(&o);
        match items.iter().position(|b| key(b) == k) {
            Some(i) => items[i] = o,
            None => items.push(o),
        }
    }
    Node {
        pos: base.pos,
        kind: Kind::Seq(items),
        tag: None,
    }
}

fn scalar_key(n: &Node) -> String {
    match &n.kind {
        Kind::Str(s) => s.clone(),
        _ => format!("{:?}", n.to_json()),
    }
}

/// The merge key of a `volumes`/`devices`/`secrets`/`configs` item.
fn item_key(field: &str, n: &Node) -> String {
    match (&n.kind, field) {
        (Kind::Str(s), "volumes") => {
            let parts: Vec<&str> = s.split(':').collect();
            match parts.as_slice() {
                [t] => t.to_string(),
                [_, t, ..] if t.starts_with('/') => t.to_string(),
                [t, ..] => t.to_string(),
                [] => String::new(),
            }
        }
        (Kind::Str(s), "devices") => {
            let parts: Vec<&str> = s.split(':').collect();
            parts.get(1).unwrap_or(&parts[0]).to_string()
        }
        (Kind::Str(s), _) => s.clone(),
        (Kind::Map(_), _) => {
            let get = |k: &str| n.get(k).and_then(|v| v.as_str()).map(str::to_string);
            get("target")
                .or_else(|| get("source"))
                .unwrap_or_else(|| format!("{:?}", n.to_json()))
        }
        _ => format!("{:?}", n.to_json()),
    }
}

/// The mapping form of a list-or-mapping field (`["A=1", "B"]` → `{A: "1", B: null}`;
/// `depends_on: [db]` → `{db: {}}`).
pub fn as_mapping(n: Node, colon: bool) -> Node {
    let Kind::Seq(items) = n.kind else {
        return n;
    };
    let entries = items
        .into_iter()
        .map(|item| {
            let text = match &item.kind {
                Kind::Str(s) => s.clone(),
                _ => format!("{}", item.to_json()),
            };
            let split = if colon {
                text.split_once(':').or_else(|| text.split_once('='))
            } else {
                text.split_once('=')
            };
            let (key, value) = match split {
                Some((k, v)) => (k.trim().to_string(), Kind::Str(v.to_string())),
                None => (text.clone(), Kind::Null),
            };
            Entry {
                key,
                key_pos: item.pos.clone(),
                value: Node::new(item.pos, value),
            }
        })
        .collect();
    Node {
        pos: n.pos,
        kind: Kind::Map(entries),
        tag: n.tag,
    }
}

fn as_list(n: Node) -> Node {
    match n.kind {
        Kind::Seq(_) => n,
        _ => Node {
            pos: n.pos.clone(),
            kind: Kind::Seq(vec![n.clone()]),
            tag: n.tag,
        },
    }
}

fn build_map(n: Node) -> Node {
    match n.kind {
        Kind::Str(_) => Node::new(
            n.pos.clone(),
            Kind::Map(vec![Entry {
                key: "context".into(),
                key_pos: n.pos.clone(),
                value: n,
            }]),
        ),
        _ => n,
    }
}
