//! Validation against the official Compose JSON Schema (`compose-spec.json`, Apache-2.0,
//! copied unchanged from compose-spec/compose-spec; its source is in `compose-spec.SOURCE.txt`).
//!
//! Each file is validated on its own, after interpolation and before merging, so a violation
//! is reported in the file and at the line that holds it. Every violation is collected. Keys
//! the specification does not know are warnings, not errors (Compose implementations differ
//! in what they accept, and an unknown key cannot weaken a policy's view of known ones).

use std::sync::LazyLock;

use super::error::Diagnostic;
use super::node::Node;

/// The bundled official Compose JSON Schema.
pub const SPEC: &str = include_str!("compose-spec.json");

static VALIDATOR: LazyLock<Result<jsonschema::Validator, String>> = LazyLock::new(|| {
    let schema: serde_json::Value = serde_json::from_str(SPEC).map_err(|e| e.to_string())?;
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .build(&schema)
        .map_err(|e| e.to_string())
});

/// What validation found: errors, and warnings (unknown keys).
#[derive(Debug, Default)]
pub struct Findings {
    /// Violations.
    pub errors: Vec<Diagnostic>,
    /// Unknown keys.
    pub warnings: Vec<Diagnostic>,
}

/// Validates one file's tree.
pub fn validate(root: &Node) -> Findings {
    let mut out = Findings::default();
    let validator = match VALIDATOR.as_ref() {
        Ok(v) => v,
        Err(e) => {
            out.errors.push(Diagnostic {
                pos: root.pos.clone(),
                path: String::new(),
                message: format!("the bundled Compose schema does not compile: {e}"),
            });
            return out;
        }
    };
    let json = root.to_json();
    for err in validator.iter_errors(&json) {
        let pointer = err.instance_path().to_string();
        let segments: Vec<String> = pointer
            .split('/')
            .skip(1)
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
        if let jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } =
            err.kind()
        {
            for key in unexpected {
                let mut path = segments.clone();
                path.push(key.clone());
                out.warnings.push(diagnostic(
                    root,
                    &path,
                    format!("unknown key {key:?} is ignored (not in the Compose specification)"),
                ));
            }
            continue;
        }
        let mut message = err.to_string();
        if message.len() > 300 {
            let mut cut = 300;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        out.errors.push(diagnostic(root, &segments, message));
    }
    out
}

fn diagnostic(root: &Node, segments: &[String], message: String) -> Diagnostic {
    let refs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let mut n = refs.len();
    let pos = loop {
        if let Some(p) = root.position_at(&refs[..n]) {
            break p.clone();
        }
        if n == 0 {
            break root.pos.clone();
        }
        n -= 1;
    };
    Diagnostic {
        pos,
        path: dotted(segments),
        message,
    }
}

/// `services.web.ports[0]` from path segments.
pub fn dotted(segments: &[String]) -> String {
    let mut out = String::new();
    for s in segments {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{s}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(s);
        }
    }
    out
}
