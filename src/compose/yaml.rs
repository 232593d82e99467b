//! YAML text → [`Node`] tree, with positions from the parser's own marks.
//!
//! One parser (saphyr-parser's marked events) produces both the values and their positions,
//! so the two can never disagree. This module also owns the defences against hostile YAML:
//! aliases are expanded against a node budget (a "billion laughs" file fails fast instead of
//! eating memory), nesting is bounded, duplicate keys are errors, and only one document is
//! accepted. Scalars resolve by the YAML 1.2 core schema, as Compose (Go) does: `yes`/`on`
//! are strings, `0755` is octal (as Go's yaml.v3 and PyYAML read it).

use std::collections::HashMap;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use super::ComposeError;
use super::node::{Entry, Kind, MergeTag, Node, Position};

/// Most nodes a file may expand to, aliases included.
pub const MAX_NODES: usize = 1_000_000;
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 100;

enum Frame {
    Seq {
        pos: Position,
        anchor: usize,
        tag: Option<MergeTag>,
        items: Vec<Node>,
    },
    Map {
        pos: Position,
        anchor: usize,
        tag: Option<MergeTag>,
        entries: Vec<Entry>,
        merges: Vec<Node>,
        key: Option<(String, Position, bool)>,
    },
}

struct Builder {
    file: Arc<str>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize, usize)>,
    nodes: usize,
    root: Option<Node>,
    documents: usize,
}

/// Parses one YAML document.
pub fn parse(file: &Arc<str>, text: &str) -> Result<Node, ComposeError> {
    let mut b = Builder {
        file: Arc::clone(file),
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        root: None,
        documents: 0,
    };
    let mut parser = Parser::new_from_str(text);
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| ComposeError::Yaml {
            pos: Position::new(file, e.marker().line(), e.marker().col() + 1),
            message: if e.info().contains("recursion limit") {
                format!(
                    "nesting deeper than the parser's limit ({}): flatten the document",
                    e.info()
                )
            } else {
                format!("{}: fix the YAML syntax", e.info())
            },
        })?;
        b.event(event, span)?;
    }
    b.root.ok_or_else(|| ComposeError::Yaml {
        pos: Position::new(file, 1, 1),
        message: "the file is empty: a compose file is a mapping with at least `services:`".into(),
    })
}

impl Builder {
    fn pos(&self, span: &Span) -> Position {
        Position::new(&self.file, span.start.line(), span.start.col() + 1)
    }

    fn err(&self, pos: Position, message: impl Into<String>) -> ComposeError {
        ComposeError::Yaml {
            pos,
            message: message.into(),
        }
    }

    fn count(&mut self, n: usize, pos: &Position) -> Result<(), ComposeError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(self.err(
                pos.clone(),
                format!(
                    "the document expands to more than {MAX_NODES} nodes (an alias bomb?): \
                     remove the nested aliases"
                ),
            ));
        }
        Ok(())
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), ComposeError> {
        let pos = self.pos(&span);
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(
                        self.err(pos, "more than one YAML document: a compose file holds one")
                    );
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                self.count(1, &pos)?;
                let merge_tag = merge_tag(tag.as_deref());
                let kind = resolve(&value, style, tag.as_deref());
                let is_merge_key = style == ScalarStyle::Plain && value == "<<";
                let mut node = Node::new(pos, kind);
                node.tag = merge_tag;
                if anchor > 0 {
                    self.anchors.insert(anchor, (node.clone(), 1, 1));
                }
                self.push(node, is_merge_key)?;
            }
            Event::Alias(id) => {
                let Some((node, size, height)) = self.anchors.get(&id).cloned() else {
                    return Err(self.err(pos, "alias to an unknown anchor"));
                };
                self.count(size, &pos)?;
                if self.stack.len() + height > MAX_DEPTH {
                    return Err(self.too_deep(pos));
                }
                self.push(node, false)?;
            }
            Event::SequenceStart(anchor, tag) => {
                self.count(1, &pos)?;
                if self.stack.len() >= MAX_DEPTH {
                    return Err(self.too_deep(pos));
                }
                self.stack.push(Frame::Seq {
                    pos,
                    anchor,
                    tag: merge_tag(tag.as_deref()),
                    items: Vec::new(),
                });
            }
            Event::MappingStart(anchor, tag) => {
                self.count(1, &pos)?;
                if self.stack.len() >= MAX_DEPTH {
                    return Err(self.too_deep(pos));
                }
                self.stack.push(Frame::Map {
                    pos,
                    anchor,
                    tag: merge_tag(tag.as_deref()),
                    entries: Vec::new(),
                    merges: Vec::new(),
                    key: None,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Err(self.err(pos, "unbalanced collection end"));
                };
                let (node, anchor) = self.finish(frame)?;
                if anchor > 0 {
                    let (size, height) = node.size_and_height();
                    self.anchors.insert(anchor, (node.clone(), size, height));
                }
                self.push(node, false)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(())
    }

    fn too_deep(&self, pos: Position) -> ComposeError {
        self.err(
            pos,
            format!("nesting deeper than {MAX_DEPTH} levels: flatten the document"),
        )
    }

    fn finish(&self, frame: Frame) -> Result<(Node, usize), ComposeError> {
        Ok(match frame {
            Frame::Seq {
                pos,
                anchor,
                tag,
                items,
            } => {
                let mut n = Node::new(pos, Kind::Seq(items));
                n.tag = tag;
                (n, anchor)
            }
            Frame::Map {
                pos,
                anchor,
                tag,
                mut entries,
                merges,
                key,
            } => {
                if let Some((k, kpos, _)) = key {
                    return Err(self.err(kpos, format!("key {k:?} has no value")));
                }
                for source in merges {
                    let maps: Vec<Node> = match source.kind {
                        Kind::Seq(items) => items,
                        _ => vec![source],
                    };
                    for m in maps {
                        let Kind::Map(extra) = m.kind else {
                            return Err(self.err(
                                m.pos,
                                "a merge key `<<` takes a mapping or a list of mappings",
                            ));
                        };
                        for e in extra {
                            if !entries.iter().any(|x| x.key == e.key) {
                                entries.push(e);
                            }
                        }
                    }
                }
                let mut n = Node::new(pos, Kind::Map(entries));
                n.tag = tag;
                (n, anchor)
            }
        })
    }

    fn push(&mut self, node: Node, is_merge_key: bool) -> Result<(), ComposeError> {
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Frame::Map {
                entries,
                merges,
                key,
                ..
            }) => match key.take() {
                None => {
                    let name = match &node.kind {
                        Kind::Str(s) => s.clone(),
                        Kind::Int(i) => i.to_string(),
                        Kind::Float(f) => f.to_string(),
                        Kind::Bool(b) => b.to_string(),
                        Kind::Null => "null".to_string(),
                        Kind::Seq(_) | Kind::Map(_) => {
                            return Err(ComposeError::Yaml {
                                pos: node.pos,
                                message: "a mapping key must be a scalar".into(),
                            });
                        }
                    };
                    if !is_merge_key && let Some(prev) = entries.iter().find(|e| e.key == name) {
                        return Err(ComposeError::Yaml {
                            pos: node.pos,
                            message: format!(
                                "duplicate key {name:?} (first at {}): keep one",
                                prev.key_pos
                            ),
                        });
                    }
                    *key = Some((name, node.pos, is_merge_key));
                    Ok(())
                }
                Some((name, key_pos, merge)) => {
                    if merge {
                        merges.push(node);
                    } else {
                        entries.push(Entry {
                            key: name,
                            key_pos,
                            value: node,
                        });
                    }
                    Ok(())
                }
            },
        }
    }
}

fn merge_tag(tag: Option<&Tag>) -> Option<MergeTag> {
    let tag = tag?;
    if tag.handle != "!" {
        return None;
    }
    match tag.suffix.as_str() {
        "reset" => Some(MergeTag::Reset),
        "override" => Some(MergeTag::Override),
        _ => None,
    }
}

/// Resolves a scalar by the YAML 1.2 core schema (quoted scalars and `!!str` are strings).
fn resolve(value: &str, style: ScalarStyle, tag: Option<&Tag>) -> Kind {
    if let Some(t) = tag
        && t.handle == "tag:yaml.org,2002:"
        && t.suffix == "str"
    {
        return Kind::Str(value.to_string());
    }
    if style != ScalarStyle::Plain {
        return Kind::Str(value.to_string());
    }
    match value {
        "" | "~" | "null" | "Null" | "NULL" => return Kind::Null,
        "true" | "True" | "TRUE" => return Kind::Bool(true),
        "false" | "False" | "FALSE" => return Kind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Kind::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Kind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Kind::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_int(value) {
        return Kind::Int(i);
    }
    if is_float(value)
        && let Ok(f) = value.parse::<f64>()
    {
        return Kind::Float(f);
    }
    Kind::Str(value.to_string())
}

fn parse_int(v: &str) -> Option<i64> {
    if let Some(oct) = v.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok();
    }
    if let Some(hex) = v.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    let digits = v.strip_prefix(['-', '+']).unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // A leading zero means octal (`mode: 0440`), as both Compose implementations read it
    // (Go's yaml.v3 and PyYAML); `08` is not octal and falls through to a float.
    if digits.len() > 1 && digits.starts_with('0') {
        let n = i64::from_str_radix(digits, 8).ok()?;
        return Some(if v.starts_with('-') { -n } else { n });
    }
    v.parse::<i64>().ok()
}

fn is_float(v: &str) -> bool {
    // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
    let b = v.strip_prefix(['-', '+']).unwrap_or(v).as_bytes();
    let mut i = 0;
    let int_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let exp = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn p(text: &str) -> Result<Node, ComposeError> {
        parse(&Arc::from("t.yaml"), text)
    }

    #[test]
    fn scalars_resolve_by_the_core_schema() {
        let n = p("a: yes\nb: 0755\nc: 1.5\nd: '1'\ne: ~\nf: true\ng: 0x1F\nh: 1e3\ni: 80:80\n")
            .unwrap();
        let j = n.to_json();
        assert_eq!(j["a"], "yes");
        assert_eq!(j["b"], 0o755);
        assert_eq!(j["c"], 1.5);
        assert_eq!(j["d"], "1");
        assert!(j["e"].is_null());
        assert_eq!(j["f"], true);
        assert_eq!(j["g"], 31);
        assert_eq!(j["h"], 1000.0);
        assert_eq!(j["i"], "80:80");
    }

    #[test]
    fn positions_anchors_and_merge_keys() {
        let n = p("x: &base\n  a: 1\n  b: 2\ny:\n  <<: *base\n  b: 3\n").unwrap();
        assert_eq!(n.to_json()["y"], serde_json::json!({"b": 3, "a": 1}));
        let pos = n.position_at(&["y", "b"]).unwrap();
        assert_eq!((pos.line, pos.col), (6, 3));
        assert_eq!(n.position_at(&["x"]).unwrap().line, 1);
    }

    #[test]
    fn hostile_documents_fail_cleanly() {
        let mut bomb = String::from(
            "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            bomb.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(",")));
        }
        let e = p(&bomb).unwrap_err().to_string();
        assert!(e.contains("alias bomb"), "{e}");
        let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
        assert!(p(&deep).unwrap_err().to_string().contains("nesting"));
        assert!(
            p("a: 1\na: 2\n")
                .unwrap_err()
                .to_string()
                .contains("duplicate key")
        );
        assert!(p("a: [1\n").is_err());
        assert!(p("a: 1\n---\nb: 2\n").is_err());
        assert!(p("").is_err());
    }
}
