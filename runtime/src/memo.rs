//! Values of pure rules kept across evaluations, in the heap's arena.
//!
//! Many rules of a policy depend only on the policy and its data: the normalised capability
//! sets, the secret-name pattern alternation, the catalogue's controls. Rego evaluates them on
//! every evaluation; regorus's VM (patched, see `patches/`) tells which rules of an evaluation
//! were *pure* — read neither the input nor the context and called no impure builtin, directly
//! or through what they called — and accepts the values of such rules to skip evaluating them.
//! This module keeps those values for one compiled entrypoint and the data they were computed
//! with.
//!
//! Memory: the values are computed during an evaluation, in memory that the host's next
//! rewind hands back, so they are copied into the arena (see `heap`) node by node — except
//! nodes below the heap snapshot (the data document, the program's literals, values already
//! kept), which are permanent and shared. What does not fit in the arena, or in
//! [`MAX_BYTES`] of it, or is nested too deep, is not kept (the rule is then evaluated as
//! before), and the memo stops growing. A rewind below the arena, or below the data the values
//! were computed with, forgets them (without running destructors).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use regorus::{Number, Value};

use crate::heap;

/// At most this many bytes of the arena hold kept values (the rest is for compiled regexes).
pub const MAX_BYTES: usize = 256 * 1024;

/// Values nested deeper than this are not kept.
const MAX_DEPTH: u32 = 64;

/// Kept values by rule index, for one program and one data document.
#[derive(Default)]
pub struct Memo {
    /// The data handle the values were computed with.
    data: u32,
    values: Option<Arc<Vec<Option<Value>>>>,
    /// Arena bytes taken by kept values (approximate: bump growth of the arena).
    bytes: usize,
    /// No more values are kept (the arena or the budget ran out).
    closed: bool,
}

impl Memo {
    /// The values kept for data handle `data` (a program of `rules` rules), starting an empty
    /// memo if there is none; `None` when there is no room to start one.
    pub fn for_data(&mut self, data: u32, rules: usize) -> Option<Arc<Vec<Option<Value>>>> {
        if self.data != data {
            // Other data: its values are wrong for this one, and may share nodes of the old
            // data, whose memory may be handed back: forgotten, not dropped.
            self.forget(false);
            self.data = data;
        }
        if self.values.is_none() {
            if self.closed {
                return None;
            }
            let (values, fitted) = heap::in_arena(|| Arc::new(vec![None; rules]));
            if !fitted {
                self.closed = true;
                return None;
            }
            self.values = Some(values);
        }
        self.values.clone()
    }

    /// Keeps `fresh`, the pure rules an evaluation with data `data` computed (index, value),
    /// copying into the arena every node at or above `permanent_below` (the heap snapshot).
    pub fn keep(&mut self, data: u32, fresh: Vec<(usize, Value)>, permanent_below: usize) {
        if self.closed || self.data != data || fresh.is_empty() {
            return;
        }
        let Some(old) = self.values.as_ref() else {
            return;
        };
        let unused_before = heap::arena_unused();
        let ((merged, all_kept), fitted) = heap::in_arena(|| {
            let mut values: Vec<Option<Value>> = old.as_ref().clone();
            let mut all_kept = true;
            for (index, value) in &fresh {
                if let Some(slot @ None) = values.get_mut(*index) {
                    *slot = persist(value, permanent_below, 0);
                    all_kept &= slot.is_some();
                }
            }
            (Arc::new(values), all_kept)
        });
        let grown = unused_before.saturating_sub(heap::arena_unused());
        if !fitted || self.bytes + grown > MAX_BYTES {
            // Dropped now, while every block it uses (arena or ordinary heap) is valid.
            drop(merged);
            self.closed = true;
            return;
        }
        self.bytes += grown;
        self.values = Some(merged);
        // A value too deep to keep would be offered again after every evaluation: stop
        // growing instead of merging on every call.
        self.closed = !all_kept;
    }

    /// Forgets every kept value without running destructors: the host rewound below the
    /// arena (`arena_gone`: its memory is being handed back), or below the data the values
    /// were computed with (they may share its nodes). In the second case the arena stays, and
    /// the bytes the forgotten values hold in it still count against [`MAX_BYTES`].
    pub fn forget(&mut self, arena_gone: bool) {
        if let Some(values) = self.values.take() {
            core::mem::forget(values);
        }
        let bytes = if arena_gone { 0 } else { self.bytes };
        *self = Memo {
            bytes,
            ..Memo::default()
        };
    }
}

fn permanent<T: ?Sized>(ptr: *const T, below: usize) -> bool {
    (ptr as *const u8 as usize) < below
}

/// A copy of `value` whose every node at or above `below` is allocated anew (in the arena,
/// when called inside `heap::in_arena`); nodes below are shared. `None`: too deep to keep.
fn persist(value: &Value, below: usize, depth: u32) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    let copy = match value {
        Value::Null | Value::Bool(_) | Value::Undefined => value.clone(),
        Value::Number(Number::BigInt(big)) if !permanent(Arc::as_ptr(big), below) => {
            Value::from(Number::BigInt(Arc::new(big.as_ref().clone())))
        }
        Value::Number(_) => value.clone(),
        Value::String(s) if !permanent(Arc::as_ptr(s), below) => Value::String(Arc::from(&**s)),
        Value::Array(a) if !permanent(Arc::as_ptr(a), below) => {
            let mut items = Vec::with_capacity(a.len());
            for item in a.iter() {
                items.push(persist(item, below, depth + 1)?);
            }
            Value::from(items)
        }
        Value::Set(s) if !permanent(Arc::as_ptr(s), below) => {
            let mut items = BTreeSet::new();
            for item in s.iter() {
                items.insert(persist(item, below, depth + 1)?);
            }
            Value::from(items)
        }
        Value::Object(o) if !permanent(Arc::as_ptr(o), below) => {
            let mut fields = BTreeMap::new();
            for (k, v) in o.iter() {
                fields.insert(persist(k, below, depth + 1)?, persist(v, below, depth + 1)?);
            }
            Value::from(fields)
        }
        Value::String(_) | Value::Array(_) | Value::Set(_) | Value::Object(_) => value.clone(),
    };
    Some(copy)
}
