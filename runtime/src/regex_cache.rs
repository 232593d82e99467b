//! Compiled regular expressions kept across evaluations.
//!
//! regorus compiles the pattern of every `regex.*` call anew (its own cache is a global that
//! this runtime must keep off: it would keep blocks that the host's next heap rewind hands
//! back). Compiling is most of what a regex call costs — a policy's patterns come from the
//! policy or its data and repeat on every evaluation — so this module overrides the regex
//! builtins that policies call per evaluation (`regex.match`, `regex.find_n`,
//! `regex.replace`) with extensions (and, on the VM, builtin pointers: see `compiled`) that
//! compile a pattern once, in the heap's arena (see `heap`). `regex.match` and `regex.find_n`
//! search with the kept regex itself, inside the arena, so that its search cache (the lazy
//! DFA's states: building them is most of a short search) stays warm across evaluations; when
//! that cache outgrows the arena, the regex is replaced by a clone with an empty cache and
//! searched with per-call clones from then on (a clone's cache is allocated during the
//! evaluation and rewound with it). `regex.replace` always uses a clone.
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
/// A kept pattern: the pattern, its regex, and whether searches may grow the regex's own
/// search cache in the arena (`false` once that cache outgrew it: searches then use clones).
type Entry = (String, Regex, bool);

struct Table(UnsafeCell<[Option<Entry>; MAX_PATTERNS]>);

// SAFETY: the runtime is single-threaded (wasm32 without atomics).
unsafe impl Sync for Table {}

static TABLE: Table = Table(UnsafeCell::new([const { None }; MAX_PATTERNS]));

fn table() -> &'static mut [Option<Entry>; MAX_PATTERNS] {
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

/// Runs `search` with the regex of `pattern`: the kept one, whose search cache (lazy DFA
/// states) then grows in the arena and stays warm for later evaluations; a clone of it (a cold
/// cache, dropped with the evaluation) once that cache has outgrown the arena; or one compiled
/// for this call when the pattern cannot be kept. Keeps the pattern first when there is room.
fn with_regex<R>(pattern: &str, search: impl Fn(&Regex) -> R) -> Result<Option<R>, Fail> {
    let slots = table();
    let mut free = None;
    for slot in slots.iter_mut() {
        match slot {
            Some((p, re, warm)) if p == pattern => {
                if !*warm {
                    return Ok(Some(search(&re.clone())));
                }
                let (r, fitted) = heap::in_arena(|| search(re));
                if !fitted {
                    // Part of the cache came from the ordinary heap, which the next rewind
                    // hands back: replace the regex by a clone (same program, empty cache),
                    // searched with clones from now on. Dropped now, while all of it is valid.
                    let (fresh, fresh_fitted) = heap::in_arena(|| re.clone());
                    if fresh_fitted {
                        *re = fresh;
                        *warm = false;
                    } else {
                        *slot = None;
                    }
                }
                return Ok(Some(r));
            }
            Some(_) => {}
            None => {
                if free.is_none() {
                    free = Some(slot);
                }
            }
        }
    }
    let keep = free.filter(|_| heap::has_arena());
    let Some(free) = keep else {
        return match compile(pattern) {
            Compiled::Ok(re) => Ok(Some(search(&re))),
            Compiled::Invalid => Ok(None),
            Compiled::TooBig => Err(Fail::TooBig),
        };
    };
    let (compiled, fitted) = heap::in_arena(|| match compile(pattern) {
        Compiled::Ok(re) => Ok((pattern.to_string(), re)),
        other => Err(other),
    });
    match compiled {
        Ok((key, re)) if fitted => {
            *free = Some((key, re, true));
            // Searched through the table, like every later call.
            with_regex(pattern, search)
        }
        // Part of it lives on the ordinary heap: this call's only (dropped with it).
        Ok((_, re)) => Ok(Some(search(&re))),
        Err(Compiled::Invalid) => Ok(None),
        Err(Compiled::TooBig) => Err(Fail::TooBig),
        Err(Compiled::Ok(re)) => Ok(Some(search(&re))),
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

/// A regex for `pattern` owned by the caller (a clone: its search cache is its own);
/// `None` when the pattern is invalid.
fn compiled(pattern: &str) -> Result<Option<Regex>, Fail> {
    with_regex(pattern, Regex::clone)
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
    let matched = with_regex(pattern, |re| re.is_match(value))?.ok_or_else(invalid)?;
    Ok(Value::Bool(matched))
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
    let limit = n.is_integer().then(|| match n.as_i64() {
        Some(n) if n < 0 => usize::MAX,
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None => usize::MAX,
    });
    // The match ranges (what the search allocates may be the arena's: the strings are made
    // outside it). An invalid pattern is reported before a non-integer `n`, as regorus does.
    let ranges = with_regex(pattern, |re| {
        limit.map(|n| {
            re.find_iter(value)
                .take(n)
                .map(|m| m.range())
                .collect::<Vec<_>>()
        })
    })?
    .ok_or_else(invalid)?
    .ok_or_else(|| Fail::Error("n must be an integer".into()))?;
    let found: Vec<Value> = ranges
        .into_iter()
        .filter_map(|r| value.get(r).map(Value::from))
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
