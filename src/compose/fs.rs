//! The only place the compose adapter touches the file system.
//!
//! The loader asks a [`FileSystem`] for bytes; [`RealFs`] reads the disk, refusing files over
//! [`MAX_FILE_BYTES`] from their metadata before reading them (and again while reading, in
//! case the file grows), and [`MemFs`] serves tests and fuzzing from memory.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::ComposeError;

/// Largest compose or env file accepted: 10 MiB.
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// Where the loader reads files from.
pub trait FileSystem {
    /// The whole file, or an error naming it (over-large files refused).
    fn read(&self, path: &Path) -> Result<Vec<u8>, ComposeError>;
    /// Whether a regular file exists at `path`.
    fn is_file(&self, path: &Path) -> bool;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

impl FileSystem for RealFs {
    fn read(&self, path: &Path) -> Result<Vec<u8>, ComposeError> {
        let io = |source| ComposeError::Io {
            path: path.to_path_buf(),
            source,
        };
        let too_large = |size| ComposeError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit: MAX_FILE_BYTES,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if meta.len() > MAX_FILE_BYTES {
            return Err(too_large(meta.len()));
        }
        let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut buf)
            .map_err(io)?;
        if buf.len() as u64 > MAX_FILE_BYTES {
            return Err(too_large(buf.len() as u64));
        }
        Ok(buf)
    }

    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }
}

/// Files in memory, for tests and fuzzing.
#[derive(Debug, Default, Clone)]
pub struct MemFs {
    files: HashMap<PathBuf, Vec<u8>>,
}

impl MemFs {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file.
    pub fn add(&mut self, path: impl Into<PathBuf>, content: impl Into<Vec<u8>>) -> &mut Self {
        self.files.insert(path.into(), content.into());
        self
    }
}

impl FileSystem for MemFs {
    fn read(&self, path: &Path) -> Result<Vec<u8>, ComposeError> {
        let content = self.files.get(path).ok_or_else(|| ComposeError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })?;
        if content.len() as u64 > MAX_FILE_BYTES {
            return Err(ComposeError::TooLarge {
                path: path.to_path_buf(),
                size: content.len() as u64,
                limit: MAX_FILE_BYTES,
            });
        }
        Ok(content.clone())
    }

    fn is_file(&self, path: &Path) -> bool {
        self.files.contains_key(path)
    }
}
