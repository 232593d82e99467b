//! Compiled regular expressions kept across evaluations.
//!
//! regorus compiles the pattern of every `regex.*` call anew (its own cache is a global that
//! this runtime must keep off: it would keep blocks that the host's next heap rewind hands
//! back). Compiling is most of what a regex call costs — a policy's patterns come from the
//! policy or its data and repeat on every evaluation — so this module overrides the regex
//! builtins that policies call per evaluation (`regex.match`, `regex.find_n`,
//! `regex.replace`) with extensions that compile a pattern once, in the heap's arena (see
//! `heap`), and search with a clone (a clone shares the compiled program and has its own
//! search cache, allocated during the evaluation and rewound with it: nothing the search
//! writes lands in the arena).
//!
//! Semantics are regorus's own builtins', argument for argument, with the runtime's engine in
//! regorus's default strict mode: the same compilation (`RegexBuilder`, 100 KiB NFA limit),
//! an argument of the wrong type, an invalid pattern or a pattern over the size limit is an
//! error (`regex.replace` with an invalid pattern is undefined, as regorus's). The cache is bounded ([`MAX_PATTERNS`], and the arena's size); a
//! pattern that does not fit is compiled per call, as before. The other regex builtins are
//! regorus's.

use core::cell::UnsafeCell;

use regex::{Regex, RegexBuilder};
use regorus::{Engine, LimitError, Value};

use crate::heap;

/// regorus's limit on a compiled NFA (`builtins/regex.rs`).
const REGEX_SIZE_LIMIT: usize = 100 * 1024;

/// At most this many patterns are kept (a policy has a handful; data can add some).
const MAX_PATTERNS: usize = 128;

/// Arena bytes reserved for compiled patterns (part of every instance's linear memory). A
/// pattern of the library keeps 5–30 KiB and needs up to a few hundred KiB while it compiles
/// (reused by the next compilation).
pub const ARENA_BYTES: usize = 1 << 20;

/// The kept patterns: a fixed table in static memory (never rewound), so that keeping one
/// allocates nothing but the pattern and its program, both in the arena.
struct Table(UnsafeCell<[Option<(String, Regex)>; MAX_PATTERNS]>);

// SAFETY: the runtime is single-threaded (wasm32 without atomics).
unsafe impl Sync for Table {}

static TABLE: Table = Table(UnsafeCell::new([const { None }; MAX_PATTERNS]));

fn table() -> &'static mut [Option<(String, Regex)>; MAX_PATTERNS] {
    // SAFETY: single-threaded; no reference obtained here outlives one builtin call, and
    // builtin calls do not nest.
    unsafe { &mut *TABLE.0.get() }
}

/// Forgets every kept pattern without running destructors: the host rewound below the
/// arena, whose memory is being handed back.
pub fn forget() {
    for slot in table().iter_mut() {
        if let Some(entry) = slot.take() {
            core::mem::forget(entry);
        }
    }
}

enum Compiled {
    Ok(Regex),
    Invalid,
    TooBig,
}

fn compile(pattern: &str) -> Compiled {
    match RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
    {
        Ok(re) => Compiled::Ok(re),
        Err(regex::Error::CompiledTooBig(_)) => Compiled::TooBig,
        Err(_) => Compiled::Invalid,
    }
}

/// A regex for `pattern` owned by this call: a clone of the kept one, compiling and keeping
/// it first when there is room.
fn regex(pattern: &str) -> Compiled {
    let slots = table();
    let mut free = None;
    for (i, slot) in slots.iter().enumerate() {
        match slot {
            Some((p, re)) if p == pattern => return Compiled::Ok(re.clone()),
            Some(_) => {}
            None => {
                free.get_or_insert(i);
            }
        }
    }
    let Some(free) = free.filter(|_| heap::has_arena()) else {
        return compile(pattern);
    };
    let (compiled, fitted) = heap::in_arena(|| match compile(pattern) {
        Compiled::Ok(re) => Ok((pattern.to_string(), re)),
        other => Err(other),
    });
    match compiled {
        Ok((key, re)) if fitted => {
            // The clone (made outside the arena) is this call's: its search cache is
            // allocated on first use, on the ordinary heap.
            let mine = re.clone();
            slots[free] = Some((key, re));
            Compiled::Ok(mine)
        }
        // Part of it lives on the ordinary heap: this call's only (dropped with it).
        Ok((_, re)) => Compiled::Ok(re),
        Err(other) => other,
    }
}

/// The outcome of a builtin: a value, or regorus's error for the same arguments.
fn finish(r: Result<Value, Fail>) -> anyhow::Result<Value> {
    match r {
        Ok(v) => Ok(v),
        Err(Fail::Error(msg)) => Err(anyhow::anyhow!(msg)),
        Err(Fail::TooBig) => Err(anyhow::Error::new(LimitError::RegexSizeLimitExceeded {
            limit: REGEX_SIZE_LIMIT,
        })),
    }
}

enum Fail {
    Error(String),
    TooBig,
}

fn string<'a>(name: &str, v: &'a Value) -> Result<&'a str, Fail> {
    v.as_string().map(|s| s.as_ref()).map_err(|_| {
        Fail::Error(format!(
            "`{name}` expects string argument. Got `{v}` instead"
        ))
    })
}

/// The regex for `pattern`; `None` when the pattern is invalid.
fn compiled(pattern: &str) -> Result<Option<Regex>, Fail> {
    match regex(pattern) {
        Compiled::Ok(re) => Ok(Some(re)),
        Compiled::Invalid => Ok(None),
        Compiled::TooBig => Err(Fail::TooBig),
    }
}

fn invalid() -> Fail {
    Fail::Error("invalid regex".into())
}

/// `regex.match(pattern, value)`.
fn regex_match(args: &[Value]) -> Result<Value, Fail> {
    const NAME: &str = "regex.match";
    let [pattern, value] = args else {
        return Err(Fail::Error(format!("`{NAME}` expects 2 arguments")));
    };
    let (pattern, value) = (string(NAME, pattern)?, string(NAME, value)?);
    let re = compiled(pattern)?.ok_or_else(invalid)?;
    Ok(Value::Bool(re.is_match(value)))
}

/// `regex.find_n(pattern, value, n)`: the first `n` matches (all when `n` < 0).
fn find_n(args: &[Value]) -> Result<Value, Fail> {
    const NAME: &str = "regex.find_n";
    let [pattern, value, n] = args else {
        return Err(Fail::Error(format!("`{NAME}` expects 3 arguments")));
    };
    let (pattern, value) = (string(NAME, pattern)?, string(NAME, value)?);
    let n = n.as_number().map_err(|_| {
        Fail::Error(format!(
            "`{NAME}` expects numeric argument. Got `{n}` instead"
        ))
    })?;
    let re = compiled(pattern)?.ok_or_else(invalid)?;
    if !n.is_integer() {
        return Err(Fail::Error("n must be an integer".into()));
    }
    let n = match n.as_i64() {
        Some(n) if n < 0 => usize::MAX,
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None => usize::MAX,
    };
    let found: Vec<Value> = re
        .find_iter(value)
        .take(n)
        .map(|m| Value::from(m.as_str()))
        .collect();
    Ok(Value::from(found))
}

/// `regex.replace(s, pattern, value)`: an invalid pattern makes it undefined (as regorus).
fn replace(args: &[Value]) -> Result<Value, Fail> {
    const NAME: &str = "regex.replace";
    let [s, pattern, value] = args else {
        return Err(Fail::Error(format!("`{NAME}` expects 3 arguments")));
    };
    let (s, pattern, value) = (
        string(NAME, s)?,
        string(NAME, pattern)?,
        string(NAME, value)?,
    );
    let Some(re) = compiled(pattern)? else {
        return Ok(Value::Undefined);
    };
    Ok(Value::from(re.replace_all(s, value).into_owned()))
}

type Builtin = fn(&[Value]) -> Result<Value, Fail>;

/// The builtins this module provides: name and arity.
pub const BUILTINS: [(&str, u8); 3] = [
    ("regex.match", 2),
    ("regex.find_n", 3),
    ("regex.replace", 3),
];

fn implementation(name: &str) -> Option<Builtin> {
    match name {
        "regex.match" => Some(regex_match),
        "regex.find_n" => Some(find_n),
        "regex.replace" => Some(replace),
        _ => None,
    }
}

/// This module's implementation of builtin `name` in the VM's calling convention (see
/// `compiled`); `None` when it is not one of [`BUILTINS`].
pub fn vm_builtin(name: &str) -> Option<crate::compiled::Builtin> {
    use regorus::unstable::{Expr, Ref, Span};
    fn vm_match(_: &Span, _: &[Ref<Expr>], args: &[Value], _: bool) -> anyhow::Result<Value> {
        finish(regex_match(args))
    }
    fn vm_find_n(_: &Span, _: &[Ref<Expr>], args: &[Value], _: bool) -> anyhow::Result<Value> {
        finish(find_n(args))
    }
    fn vm_replace(_: &Span, _: &[Ref<Expr>], args: &[Value], _: bool) -> anyhow::Result<Value> {
        finish(replace(args))
    }
    match name {
        "regex.match" => Some(vm_match),
        "regex.find_n" => Some(vm_find_n),
        "regex.replace" => Some(vm_replace),
        _ => None,
    }
}

/// Registers the overriding extensions in `engine` (the interpreter's path; compiled
/// programs reach [`call`] through host-await calls, see `compiled`).
pub fn register(engine: &mut Engine) -> Result<(), String> {
    for (name, arity) in BUILTINS {
        let Some(f) = implementation(name) else {
            return Err(format!("registering {name}: no implementation"));
        };
        engine
            .add_extension(
                name.to_string(),
                arity,
                Box::new(move |args: Vec<Value>| finish(f(&args))),
            )
            .map_err(|e| format!("registering {name}: {e}"))?;
    }
    Ok(())
}
