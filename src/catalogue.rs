//! The control catalogue as reports and `dockgate explain` see it: each control's metadata
//! from the library's own `data.dockgate.catalogue.controls`
//! (`policies/dockgate/catalogue/catalogue.rego`, evaluated natively) and its documentation,
//! the control's section of `docs/controls.md`. Both are compiled into the binary; a test
//! (`tests/library_docs.rs`) keeps them equal, so nothing here is a second copy.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::build::BuildError;
use crate::library;

/// `docs/controls.md`, as compiled in.
pub const CONTROLS_MD: &str = include_str!("../docs/controls.md");

/// Where each control's documentation is published: `docs/controls.md` of the dockgate
/// repository, one anchor per control (`#dg-101`). Reports link it as the rule's help.
pub const DOCS_URL: &str = "https://dockgate.dev/docs/controls.md";

/// The catalogue rule.
const RULE: &str = "data.dockgate.catalogue.controls";

/// One control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    /// `DG-101`.
    pub id: String,
    /// Its title.
    pub title: String,
    /// `baseline` or `restricted`.
    pub profile: String,
    /// Default severity.
    pub severity: String,
    /// Which inputs can decide it (`compose`, `engine`, `exec`, `project`).
    pub where_: Vec<String>,
    /// References (`CIS 5.5`, ...).
    pub refs: Vec<String>,
    /// Its section of `docs/controls.md` (Markdown, from its `##` heading to the next
    /// heading); `""` if the docs have none.
    pub doc: String,
}

impl Control {
    /// The documentation without the heading and the metadata list: what the control is
    /// about and the compose snippets.
    pub fn body(&self) -> &str {
        let mut rest = self.doc.as_str();
        if let Some((_, after)) = rest.split_once('\n') {
            rest = after;
        }
        let trimmed = rest.trim_start();
        let mut out = trimmed;
        for line in trimmed.split_inclusive('\n') {
            if line.starts_with("- **") || line.trim().is_empty() {
                out = &out[line.len()..];
            } else {
                break;
            }
        }
        out.trim_end()
    }

    /// The link to its documentation.
    pub fn help_uri(&self) -> String {
        format!("{DOCS_URL}#{}", self.id.to_ascii_lowercase())
    }
}

/// Why the catalogue could not be read (a defect of the build, never of user input).
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// The embedded library does not build.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The catalogue rule failed or has the wrong shape.
    #[error("the library's control catalogue ({RULE}): {0}")]
    Invalid(String),
}

/// Every control of the built-in library, by ID.
pub fn controls() -> Result<BTreeMap<String, Control>, CatalogueError> {
    let sources = library::sources()?;
    let mut engine = regorus::Engine::new();
    for f in sources
        .rego
        .iter()
        .filter(|f| f.path.contains("/catalogue/") && !f.is_test())
    {
        engine
            .add_policy(f.path.clone(), f.text.clone())
            .map_err(|e| CatalogueError::Invalid(e.to_string()))?;
    }
    let value = engine
        .eval_rule(RULE.to_string())
        .map_err(|e| CatalogueError::Invalid(e.to_string()))?;
    let json = value
        .to_json_str()
        .map_err(|e| CatalogueError::Invalid(e.to_string()))?;
    let Value::Object(map) =
        serde_json::from_str(&json).map_err(|e| CatalogueError::Invalid(e.to_string()))?
    else {
        return Err(CatalogueError::Invalid("not an object".into()));
    };
    let docs = doc_sections(CONTROLS_MD);
    let mut out = BTreeMap::new();
    for (id, c) in map {
        let text = |k: &str| {
            c.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let list = |k: &str| -> Vec<String> {
            c.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let control = Control {
            title: text("title"),
            profile: text("profile"),
            severity: text("severity"),
            where_: list("where"),
            refs: list("refs"),
            doc: docs.get(&id).cloned().unwrap_or_default(),
            id: id.clone(),
        };
        out.insert(id, control);
    }
    Ok(out)
}

/// The `## DG-nnn — title` sections of a controls document, by ID (code blocks are skipped
/// when looking for headings: snippets hold `#` comments).
pub fn doc_sections(md: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    let mut in_code = false;
    for line in md.split_inclusive('\n') {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        if !in_code && line.starts_with('#') {
            if let Some((id, text)) = current.take() {
                out.insert(id, text.trim_end().to_string());
            }
            if let Some(rest) = line.strip_prefix("## ") {
                let id: String = rest.chars().take_while(|c| *c != ' ').collect();
                if id.starts_with("DG-") {
                    current = Some((id, String::new()));
                }
            }
        }
        if let Some((_, text)) = &mut current {
            text.push_str(line);
        }
    }
    if let Some((id, text)) = current {
        out.insert(id, text.trim_end().to_string());
    }
    out
}
