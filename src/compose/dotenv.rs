//! `.env` and `env_file` files: `KEY=value` lines, as Compose reads them.
//!
//! Blank lines and `#` comments are skipped; `export ` is allowed before a key; a value may be
//! single-quoted (literal), double-quoted (escapes `\n`, `\t`, `\"`, `\\`, may span lines) or
//! bare (an inline ` #` comment ends it, surrounding blanks are trimmed). Bare and
//! double-quoted values are interpolated (`${VAR}`) from earlier keys of the same file, then
//! from `lookup`. A key without `=` has no value (null).

use super::interpolate::{InterpolationError, interpolate};

/// One parse error: 1-based line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotenvError {
    /// The line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses an env file into ordered `(key, value)` pairs.
pub fn parse(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Option<String>)>, DotenvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let line = lines[i].trim_start();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let err = |message: String| DotenvError {
            line: line_no,
            message,
        };
        let Some((key, raw)) = line.split_once('=') else {
            let key = line.trim();
            if !valid_key(key) {
                return Err(err(format!("{key:?} is not a `KEY=value` line")));
            }
            out.push((key.to_string(), None));
            continue;
        };
        let key = key.trim();
        if !valid_key(key) {
            return Err(err(format!("{key:?} is not a valid variable name")));
        }
        let raw = raw.trim_start();
        let value = if let Some(body) = raw.strip_prefix('\'') {
            let mut acc = body.to_string();
            while !acc.contains('\'') {
                let Some(next) = lines.get(i) else {
                    return Err(err(format!("the value of {key} has no closing `'`")));
                };
                acc.push('\n');
                acc.push_str(next);
                i += 1;
            }
            let end = acc.find('\'').unwrap_or(acc.len());
            acc[..end].to_string()
        } else if let Some(body) = raw.strip_prefix('"') {
            let mut acc = body.to_string();
            let end = loop {
                if let Some(end) = closing_quote(&acc) {
                    break end;
                }
                let Some(next) = lines.get(i) else {
                    return Err(err(format!("the value of {key} has no closing `\"`")));
                };
                acc.push('\n');
                acc.push_str(next);
                i += 1;
            };
            let unescaped = unescape(&acc[..end]);
            expand(&unescaped, &out, lookup).map_err(err)?
        } else {
            let bare = match raw.find(" #") {
                Some(c) => &raw[..c],
                None => raw,
            };
            expand(bare.trim_end(), &out, lookup).map_err(err)?
        };
        out.retain(|(k, _)| k != key);
        out.push((key.to_string(), Some(value)));
    }
    Ok(out)
}

fn valid_key(key: &str) -> bool {
    !key.is_empty() && !key.contains(char::is_whitespace)
}

fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

fn expand(
    value: &str,
    earlier: &[(String, Option<String>)],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    if !value.contains('$') {
        return Ok(value.to_string());
    }
    let local = |k: &str| {
        earlier
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.clone())
            .or_else(|| lookup(k))
    };
    // A `$` that starts no variable stays literal in env files (passwords often hold one).
    interpolate(value, &local, &mut Vec::new()).or_else(|e| match e {
        InterpolationError::Required { var, message } => Err(format!(
            "required variable {var} is missing a value: {message}"
        )),
        InterpolationError::Syntax(_) => Ok(value.to_string()),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn dotenv_lines() {
        let text = "# c\n\nA=1\nexport B = two words # note\nC='lit $A'\nD=\"x\\ny $A\"\nE\nF=${A}-${ZZ:-z}\nG=\"multi\nline\"\nA=again\n";
        let env = parse(text, &|k| (k == "ZZ").then(|| "outer".into())).unwrap();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("A"), Some(Some("again".into())));
        assert_eq!(get("B"), Some(Some("two words".into())));
        assert_eq!(get("C"), Some(Some("lit $A".into())));
        assert_eq!(get("D"), Some(Some("x\ny 1".into())));
        assert_eq!(get("E"), Some(None));
        assert_eq!(get("F"), Some(Some("1-outer".into())));
        assert_eq!(get("G"), Some(Some("multi\nline".into())));
        assert_eq!(parse("=x\n", &|_| None).unwrap_err().line, 1);
        assert!(parse("A=\"open\n", &|_| None).is_err());
    }
}
