//! OPA bundles: reading and writing the format, with no evaluation.
//!
//! Written from OPA's bundle documentation: a bundle is a gzipped tarball (or a directory with
//! the same layout) holding an optional `.manifest` (JSON: `revision`, `roots`, `wasm` — a list
//! of `{entrypoint, module}` — `rego_version`, `metadata`), data files (`data.json`,
//! `data.yaml`/`data.yml`) whose directory is their path under `data`, Rego sources, and
//! wasm modules (`policy.wasm`). A bare `.wasm` file is accepted too: its entrypoints come
//! from the module itself. Paths may be written with a leading `/` or `./`.
//!
//! Reading is bounded: at most [`MAX_BUNDLE_BYTES`] uncompressed and [`MAX_FILES`] entries,
//! no path may leave the bundle, and every error names the file.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Uncompressed size limit of a bundle.
pub const MAX_BUNDLE_BYTES: u64 = 256 * 1024 * 1024;
/// Entry count limit of a bundle.
pub const MAX_FILES: usize = 10_000;

/// Why a bundle could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// I/O on the bundle path.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A file inside the bundle is malformed.
    #[error("{bundle}: {file}: {message}")]
    Malformed {
        /// The bundle.
        bundle: String,
        /// The entry inside it.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The bundle breaks a limit.
    #[error("{bundle}: {message}")]
    Limit {
        /// The bundle.
        bundle: String,
        /// Which limit.
        message: String,
    },
    /// The bundle has no wasm module.
    #[error(
        "{0}: no policy.wasm in the bundle: build it with `dockgate build` or `opa build -t wasm -e ENTRYPOINT`"
    )]
    NoWasm(String),
    /// The bundle has several wasm modules.
    #[error(
        "{0}: bundles with several wasm modules are not supported: build one module with all entrypoints"
    )]
    SeveralWasm(String),
}

/// The `.manifest` file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The bundle revision.
    #[serde(default)]
    pub revision: String,
    /// Paths under `data` the bundle owns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roots: Option<Vec<String>>,
    /// Wasm entrypoints and their modules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wasm: Vec<WasmEntry>,
    /// Rego syntax version of the sources (1 for Rego v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rego_version: Option<i64>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// One `wasm` entry of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WasmEntry {
    /// The entrypoint, e.g. `dockgate/main/decision`.
    pub entrypoint: String,
    /// The module path inside the bundle, e.g. `/policy.wasm`.
    pub module: String,
}

/// A bundle in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    /// Where it was read from (for messages), or `<memory>`.
    pub origin: String,
    /// The manifest (defaulted when the bundle has none).
    pub manifest: Manifest,
    /// The wasm module.
    pub wasm: Vec<u8>,
    /// The module's path inside the bundle.
    pub wasm_path: String,
    /// The merged data document.
    pub data: Value,
    /// Rego sources carried in the bundle (path, text), for reference.
    pub rego: Vec<(String, String)>,
}

impl Bundle {
    /// Reads a bundle from a `.tar.gz`, a directory, or a bare `.wasm` file.
    pub fn read(path: &Path) -> Result<Self, BundleError> {
        let origin = path.display().to_string();
        let io = |source| BundleError::Io {
            path: origin.clone(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.is_dir() {
            let mut files = Vec::new();
            collect_dir(path, path, &mut files, &mut 0)?;
            return Self::from_files(&origin, files);
        }
        let mut head = [0u8; 4];
        let mut f = std::fs::File::open(path).map_err(io)?;
        let n = f.read(&mut head).map_err(io)?;
        if n == 4 && head == *b"\0asm" {
            if meta.len() > MAX_BUNDLE_BYTES {
                return Err(BundleError::Limit {
                    bundle: origin,
                    message: format!("module larger than {MAX_BUNDLE_BYTES} bytes"),
                });
            }
            let wasm = std::fs::read(path).map_err(io)?;
            return Ok(Self::from_wasm(&origin, wasm));
        }
        let bytes = std::fs::read(path).map_err(io)?;
        Self::from_tar_gz(&origin, &bytes)
    }

    /// A bundle around a bare module: no manifest entries, empty data.
    pub fn from_wasm(origin: &str, wasm: Vec<u8>) -> Self {
        Self {
            origin: origin.to_string(),
            manifest: Manifest::default(),
            wasm,
            wasm_path: "/policy.wasm".to_string(),
            data: Value::Object(Map::new()),
            rego: Vec::new(),
        }
    }

    /// Reads a gzipped tarball.
    pub fn from_tar_gz(origin: &str, bytes: &[u8]) -> Result<Self, BundleError> {
        let limit = |message: String| BundleError::Limit {
            bundle: origin.to_string(),
            message,
        };
        let malformed = |file: &str, message: String| BundleError::Malformed {
            bundle: origin.to_string(),
            file: file.to_string(),
            message,
        };
        let gz = flate2::read::GzDecoder::new(bytes);
        let mut archive = tar::Archive::new(gz.take(MAX_BUNDLE_BYTES + 1));
        let entries = archive
            .entries()
            .map_err(|e| malformed("", format!("not a gzipped tarball: {e}")))?;
        let mut files = Vec::new();
        let mut total: u64 = 0;
        for entry in entries {
            let mut entry = entry.map_err(|e| malformed("", format!("corrupt tarball: {e}")))?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry
                .path()
                .map_err(|e| malformed("", format!("bad entry name: {e}")))?
                .to_string_lossy()
                .into_owned();
            let name = clean_path(&name)
                .ok_or_else(|| malformed(&name, "path leaves the bundle".to_string()))?;
            total = total.saturating_add(entry.size());
            if total > MAX_BUNDLE_BYTES {
                return Err(limit(format!(
                    "larger than {MAX_BUNDLE_BYTES} bytes uncompressed"
                )));
            }
            if files.len() >= MAX_FILES {
                return Err(limit(format!("more than {MAX_FILES} files")));
            }
            let mut buf = Vec::with_capacity(entry.size().min(1 << 24) as usize);
            entry
                .read_to_end(&mut buf)
                .map_err(|e| malformed(&name, format!("cannot read: {e}")))?;
            files.push((name, buf));
        }
        Self::from_files(origin, files)
    }

    /// Builds a bundle from (path, bytes) pairs laid out as in a bundle.
    pub fn from_files(origin: &str, files: Vec<(String, Vec<u8>)>) -> Result<Self, BundleError> {
        let malformed = |file: &str, message: String| BundleError::Malformed {
            bundle: origin.to_string(),
            file: file.to_string(),
            message,
        };
        let mut manifest = Manifest::default();
        let mut wasm: Vec<(String, Vec<u8>)> = Vec::new();
        let mut data = Value::Object(Map::new());
        let mut rego = Vec::new();
        let mut sorted = files;
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, bytes) in sorted {
            let file_name = path.rsplit('/').next().unwrap_or(&path);
            let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
            match file_name {
                ".manifest" if dir.is_empty() => {
                    manifest = serde_json::from_slice(&bytes)
                        .map_err(|e| malformed(&path, format!("invalid manifest: {e}")))?;
                }
                "data.json" => {
                    let v: Value = serde_json::from_slice(&bytes)
                        .map_err(|e| malformed(&path, format!("invalid JSON: {e}")))?;
                    merge_at(&mut data, dir, v).map_err(|m| malformed(&path, m))?;
                }
                "data.yaml" | "data.yml" => {
                    let v: Value = serde_yaml::from_slice(&bytes)
                        .map_err(|e| malformed(&path, format!("invalid YAML: {e}")))?;
                    merge_at(&mut data, dir, v).map_err(|m| malformed(&path, m))?;
                }
                _ if file_name.ends_with(".wasm") => wasm.push((format!("/{path}"), bytes)),
                _ if file_name.ends_with(".rego") => {
                    let text = String::from_utf8(bytes)
                        .map_err(|_| malformed(&path, "not UTF-8".to_string()))?;
                    rego.push((path, text));
                }
                _ => {}
            }
        }
        let mut modules: Vec<&str> = manifest.wasm.iter().map(|w| w.module.as_str()).collect();
        modules.sort();
        modules.dedup();
        if modules.len() > 1 || (modules.is_empty() && wasm.len() > 1) {
            return Err(BundleError::SeveralWasm(origin.to_string()));
        }
        let wanted = modules
            .first()
            .map(|m| format!("/{}", m.trim_start_matches('/')));
        let (wasm_path, wasm_bytes) = match wanted {
            Some(w) => wasm.into_iter().find(|(p, _)| *p == w).ok_or_else(|| {
                malformed(
                    ".manifest",
                    format!("module {w} named by the manifest is missing"),
                )
            })?,
            None => wasm
                .into_iter()
                .next()
                .ok_or_else(|| BundleError::NoWasm(origin.to_string()))?,
        };
        Ok(Self {
            origin: origin.to_string(),
            manifest,
            wasm: wasm_bytes,
            wasm_path,
            data,
            rego,
        })
    }

    /// Entrypoints named by the manifest (empty for a bare module).
    pub fn entrypoints(&self) -> Vec<String> {
        self.manifest
            .wasm
            .iter()
            .map(|w| w.entrypoint.clone())
            .collect()
    }

    /// Sets `value` at `path` (e.g. `["dockgate", "config", "profile"]`) in the data document,
    /// creating objects on the way.
    pub fn set_data(&mut self, path: &[&str], value: Value) {
        let mut cur = &mut self.data;
        for seg in path {
            if !cur.is_object() {
                *cur = Value::Object(Map::new());
            }
            let Value::Object(map) = cur else { return };
            cur = map
                .entry((*seg).to_string())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        *cur = value;
    }

    /// Writes the bundle as a gzipped tarball, deterministically (sorted, zero mtimes).
    pub fn to_tar_gz(&self) -> std::io::Result<Vec<u8>> {
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        files.push((
            "/.manifest".to_string(),
            serde_json::to_vec_pretty(&self.manifest)?,
        ));
        files.push(("/data.json".to_string(), serde_json::to_vec(&self.data)?));
        files.push((self.wasm_path.clone(), self.wasm.clone()));
        for (p, text) in &self.rego {
            files.push((
                format!("/{}", p.trim_start_matches('/')),
                text.clone().into_bytes(),
            ));
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        tar.mode(tar::HeaderMode::Deterministic);
        for (path, bytes) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_cksum();
            tar.append_data(&mut header, path.trim_start_matches('/'), bytes.as_slice())?;
        }
        tar.into_inner()?.finish()
    }
}

/// Normalises a bundle path: strips `/` and `./`, rejects `..`.
fn clean_path(p: &str) -> Option<String> {
    let mut parts = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => return None,
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

fn collect_dir(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, Vec<u8>)>,
    total: &mut u64,
) -> Result<(), BundleError> {
    let origin = root.display().to_string();
    let io = |p: &Path, source| BundleError::Io {
        path: p.display().to_string(),
        source,
    };
    for path in sorted_entries(dir).map_err(|e| io(dir, e))? {
        let ft = std::fs::symlink_metadata(&path).map_err(|e| io(&path, e))?;
        if ft.is_dir() {
            collect_dir(root, &path, out, total)?;
        } else if ft.is_file() {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let wanted = name == ".manifest"
                || name.ends_with(".rego")
                || name.ends_with(".wasm")
                || matches!(name, "data.json" | "data.yaml" | "data.yml");
            if !wanted {
                continue;
            }
            *total = total.saturating_add(ft.len());
            if *total > MAX_BUNDLE_BYTES || out.len() >= MAX_FILES {
                return Err(BundleError::Limit {
                    bundle: origin,
                    message: format!("more than {MAX_BUNDLE_BYTES} bytes or {MAX_FILES} files"),
                });
            }
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, std::fs::read(&path).map_err(|e| io(&path, e))?));
        }
    }
    Ok(())
}

/// The entries of `dir`, sorted, so bundles and builds read files in a stable order. An entry
/// that cannot be read is an error, never skipped.
pub(crate) fn sorted_entries(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut entries = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()?;
    entries.sort();
    Ok(entries)
}

/// Merges `value` into `data` at the directory path `dir` (`a/b` → `data.a.b`).
pub fn merge_at(data: &mut Value, dir: &str, value: Value) -> Result<(), String> {
    let mut cur = data;
    let mut at = String::from("data");
    for seg in dir.split('/').filter(|s| !s.is_empty()) {
        at.push('.');
        at.push_str(seg);
        let Value::Object(map) = cur else {
            return Err(format!(
                "{at} is both a value and a directory of data files"
            ));
        };
        cur = map
            .entry(seg.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    deep_merge(cur, value, &at)
}

fn deep_merge(into: &mut Value, from: Value, at: &str) -> Result<(), String> {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                let path = format!("{at}.{k}");
                match a.get_mut(&k) {
                    Some(existing) => deep_merge(existing, v, &path)?,
                    None => {
                        a.insert(k, v);
                    }
                }
            }
            Ok(())
        }
        (_, _) => Err(format!("{at} is defined by more than one data file")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn data_files_merge_under_their_directory() {
        let files = vec![
            ("data.json".to_string(), br#"{"top": 1}"#.to_vec()),
            ("a/b/data.json".to_string(), br#"{"x": true}"#.to_vec()),
            ("a/data.yaml".to_string(), b"y: [1, 2]\n".to_vec()),
            ("policy.wasm".to_string(), b"\0asm".to_vec()),
        ];
        let b = Bundle::from_files("t", files).unwrap();
        assert_eq!(
            b.data,
            json!({"top": 1, "a": {"b": {"x": true}, "y": [1, 2]}})
        );
        assert_eq!(b.wasm_path, "/policy.wasm");
    }

    #[test]
    fn conflicting_data_is_an_error_naming_the_file() {
        let files = vec![
            ("data.json".to_string(), br#"{"a": 1}"#.to_vec()),
            ("a/data.json".to_string(), br#"{"x": 1}"#.to_vec()),
            ("policy.wasm".to_string(), b"\0asm".to_vec()),
        ];
        let e = Bundle::from_files("t", files).unwrap_err().to_string();
        assert!(
            e.contains("data.json: data.a is defined by more than one data file"),
            "{e}"
        );
    }

    #[test]
    fn tarball_round_trip_and_path_escape_rejected() {
        let mut b = Bundle::from_wasm("t", b"\0asm\x01\0\0\0".to_vec());
        b.manifest.revision = "r1".into();
        b.manifest.wasm.push(WasmEntry {
            entrypoint: "x/allow".into(),
            module: "/policy.wasm".into(),
        });
        b.set_data(&["dockgate", "config", "profile"], json!("restricted"));
        let bytes = b.to_tar_gz().unwrap();
        let back = Bundle::from_tar_gz("t", &bytes).unwrap();
        assert_eq!(back.manifest, b.manifest);
        assert_eq!(back.data, b.data);
        assert_eq!(back.wasm, b.wasm);
        assert_eq!(clean_path("/./a/../b"), None);
        assert_eq!(clean_path("/a/./b").as_deref(), Some("a/b"));
    }

    #[test]
    fn several_modules_and_none_are_errors() {
        let none = Bundle::from_files("t", vec![("data.json".into(), b"{}".to_vec())]);
        assert!(matches!(none, Err(BundleError::NoWasm(_))));
        let two = Bundle::from_files(
            "t",
            vec![
                ("a/policy.wasm".into(), b"\0asm".to_vec()),
                ("b/policy.wasm".into(), b"\0asm".to_vec()),
            ],
        );
        assert!(matches!(two, Err(BundleError::SeveralWasm(_))));
    }
}
