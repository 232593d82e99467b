//! Variable interpolation in compose values, as Compose does it.
//!
//! `$VAR`, `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` (unset),
//! `${VAR:?error}` / `${VAR?error}` (fail), `${VAR:+alt}` / `${VAR+alt}` (replace when set),
//! `$$` for a literal `$`. Defaults may themselves hold `${...}`. An unset variable without a
//! default becomes `""` and is reported back so the caller can warn, as Compose does.

/// Why a value could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolationError {
    /// `${VAR:?msg}` / `${VAR?msg}` with the variable missing.
    Required {
        /// The variable.
        var: String,
        /// The message written in the file.
        message: String,
    },
    /// A `$` that starts nothing valid.
    Syntax(String),
}

/// Interpolates `input`; `lookup` gives a variable's value. Unset variables used without a
/// default are appended to `unset`.
pub fn interpolate(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<String, InterpolationError> {
    interpolate_depth(input, lookup, unset, 0)
}

fn interpolate_depth(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
    depth: usize,
) -> Result<String, InterpolationError> {
    if depth > 8 {
        return Err(InterpolationError::Syntax(format!(
            "{input:?}: defaults nested too deeply"
        )));
    }
    if !input.contains('$') {
        return Ok(input.to_string());
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body_start) = after.strip_prefix('{') {
            let end = closing_brace(body_start)
                .ok_or_else(|| InterpolationError::Syntax(format!("{input:?}: unclosed `${{`")))?;
            let body = &body_start[..end];
            out.push_str(&braced(body, input, lookup, unset, depth)?);
            rest = &body_start[end + 1..];
        } else {
            let len = name_len(after);
            if len == 0 {
                return Err(InterpolationError::Syntax(format!(
                    "{input:?}: `$` must start a variable (`$VAR`, `${{VAR}}`); write `$$` for a literal `$`"
                )));
            }
            let name = &after[..len];
            match lookup(name) {
                Some(v) => out.push_str(&v),
                None => unset.push(name.to_string()),
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn name_len(s: &str) -> usize {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, c)) if c == '_' || c.is_ascii_alphabetic() => {}
        _ => return 0,
    }
    chars
        .find(|(_, c)| !(*c == '_' || c.is_ascii_alphanumeric()))
        .map_or(s.len(), |(i, _)| i)
}

/// Index of the `}` closing a `${` whose body starts `s`, allowing nested `${...}`.
fn closing_brace(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn braced(
    body: &str,
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
    depth: usize,
) -> Result<String, InterpolationError> {
    let len = name_len(body);
    if len == 0 {
        return Err(InterpolationError::Syntax(format!(
            "{input:?}: `${{{body}}}` does not start with a variable name"
        )));
    }
    let (name, op) = body.split_at(len);
    let value = lookup(name);
    let sub = |s: &str, unset: &mut Vec<String>| interpolate_depth(s, lookup, unset, depth + 1);
    let (colon, op) = match op.strip_prefix(':') {
        Some(o) => (true, o),
        None => (false, op),
    };
    let present = match &value {
        Some(v) => !(colon && v.is_empty()),
        None => false,
    };
    if op.is_empty() {
        if colon {
            return Err(InterpolationError::Syntax(format!(
                "{input:?}: `${{{body}}}` is incomplete"
            )));
        }
        return Ok(value.unwrap_or_else(|| {
            unset.push(name.to_string());
            String::new()
        }));
    }
    let sym_len = op.chars().next().map_or(0, char::len_utf8);
    let (sym, arg) = op.split_at(sym_len);
    match sym {
        "-" => match value {
            Some(v) if present => Ok(v),
            _ => sub(arg, unset),
        },
        "?" => match value {
            Some(v) if present => Ok(v),
            _ => Err(InterpolationError::Required {
                var: name.to_string(),
                message: sub(arg, unset)?,
            }),
        },
        "+" => {
            if present {
                sub(arg, unset)
            } else {
                Ok(String::new())
            }
        }
        _ => Err(InterpolationError::Syntax(format!(
            "{input:?}: unsupported operator in `${{{body}}}` (use :-, -, :?, ?, :+ or +)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn run(s: &str) -> Result<String, InterpolationError> {
        let lookup = |k: &str| match k {
            "SET" => Some("v".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        interpolate(s, &lookup, &mut Vec::new())
    }

    #[test]
    fn every_form() {
        assert_eq!(run("a-$SET-${SET}").unwrap(), "a-v-v");
        assert_eq!(
            run("${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d}").unwrap(),
            "d d  d"
        );
        assert_eq!(
            run("${SET:+a} ${EMPTY:+a} ${EMPTY+a} ${UNSET+a}|").unwrap(),
            "a  a |"
        );
        assert_eq!(run("$$SET $${SET}").unwrap(), "$SET ${SET}");
        assert_eq!(run("${UNSET:-${SET}x}").unwrap(), "vx");
        assert_eq!(run("${SET?e}").unwrap(), "v");
        assert_eq!(run("${EMPTY?e}").unwrap(), "");
        assert!(
            matches!(run("${EMPTY:?need it}"), Err(InterpolationError::Required { message, .. }) if message == "need it")
        );
        assert!(matches!(
            run("${UNSET?}"),
            Err(InterpolationError::Required { .. })
        ));
        assert!(run("${").is_err());
        assert!(run("$1").is_err());
        assert!(run("${SET:}").is_err());
        assert!(run("${SET/x}").is_err());
        assert!(
            run("${SET€x}").is_err(),
            "a multi-byte operator is an error, not a panic"
        );
        let mut unset = Vec::new();
        assert_eq!(
            interpolate("$NOPE${NOPE2}", &|_| None, &mut unset).unwrap(),
            ""
        );
        assert_eq!(unset, ["NOPE", "NOPE2"]);
    }
}
