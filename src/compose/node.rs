//! The position-carrying YAML tree the compose adapter works on.
//!
//! Every node and every mapping key keeps the `file:line:col` where the YAML parser saw it,
//! so merging, `extends` and interpolation keep positions for free: the merged project is a
//! tree of nodes from several files, each still saying where it came from. Converting to
//! `serde_json::Value` (for schema validation and normalisation) drops the positions; looking
//! a path up in the tree finds them again.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// Where a YAML node or key starts: file as given, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Position {
    /// The file, as it was named to the loader.
    pub file: Arc<str>,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

impl Position {
    /// A position in `file`.
    pub fn new(file: &Arc<str>, line: usize, col: usize) -> Self {
        Self {
            file: Arc::clone(file),
            line,
            col,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A compose-spec merge directive written as a YAML tag (`!reset`, `!override`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeTag {
    /// `!reset`: the override removes the base value.
    Reset,
    /// `!override`: the override replaces the base value instead of merging with it.
    Override,
}

/// A YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node starts.
    pub pos: Position,
    /// The value.
    pub kind: Kind,
    /// A merge directive tag, if the node carried one.
    pub tag: Option<MergeTag>,
}

/// The value of a node (YAML 1.2 core schema).
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `null`, `~` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string (every quoted scalar, and plain scalars that are nothing else).
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order; keys are strings (scalar keys are stringified).
    Map(Vec<Entry>),
}

/// One mapping entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// Where the key starts.
    pub key_pos: Position,
    /// The value.
    pub value: Node,
}

impl Node {
    /// A node without a tag.
    pub fn new(pos: Position, kind: Kind) -> Self {
        Self {
            pos,
            kind,
            tag: None,
        }
    }

    /// The entry for `key`, when this is a mapping that has it.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// The value for `key`, when this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// Mutable value for `key`.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match &mut self.kind {
            Kind::Map(entries) => entries
                .iter_mut()
                .find(|e| e.key == key)
                .map(|e| &mut e.value),
            _ => None,
        }
    }

    /// The entries, when this is a mapping.
    pub fn entries(&self) -> Option<&[Entry]> {
        match &self.kind {
            Kind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The string, when this is a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The number of nodes in this subtree, and its height.
    pub fn size_and_height(&self) -> (usize, usize) {
        match &self.kind {
            Kind::Seq(items) => items.iter().fold((1, 1), |(n, h), c| {
                let (cn, ch) = c.size_and_height();
                (n + cn, h.max(ch + 1))
            }),
            Kind::Map(entries) => entries.iter().fold((1, 1), |(n, h), e| {
                let (cn, ch) = e.value.size_and_height();
                (n + cn, h.max(ch + 1))
            }),
            _ => (1, 1),
        }
    }

    /// The position of the node at `path` (mapping keys and sequence indices): the key's
    /// position for a mapping entry, the item's for a sequence item. `None` when the path
    /// does not exist.
    pub fn position_at(&self, path: &[&str]) -> Option<&Position> {
        let mut node = self;
        let mut pos = &self.pos;
        for seg in path {
            match &node.kind {
                Kind::Map(entries) => {
                    let e = entries.iter().find(|e| e.key == *seg)?;
                    pos = &e.key_pos;
                    node = &e.value;
                }
                Kind::Seq(items) => {
                    let item = items.get(seg.parse::<usize>().ok()?)?;
                    pos = &item.pos;
                    node = item;
                }
                _ => return None,
            }
        }
        Some(pos)
    }

    /// Applies `f` to every string scalar, with the node's position; stops at the first error.
    pub fn try_for_each_str_mut<E>(
        &mut self,
        f: &mut impl FnMut(&mut String, &Position) -> Result<(), E>,
    ) -> Result<(), E> {
        match &mut self.kind {
            Kind::Str(s) => f(s, &self.pos),
            Kind::Seq(items) => items.iter_mut().try_for_each(|n| n.try_for_each_str_mut(f)),
            Kind::Map(entries) => entries
                .iter_mut()
                .try_for_each(|e| e.value.try_for_each_str_mut(f)),
            _ => Ok(()),
        }
    }

    /// The JSON form (positions and tags dropped). Non-finite floats become strings.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.kind {
            Kind::Null => J::Null,
            Kind::Bool(b) => J::Bool(*b),
            Kind::Int(i) => J::from(*i),
            Kind::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or_else(|| J::String(f.to_string())),
            Kind::Str(s) => J::String(s.clone()),
            Kind::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }
}
