//! Which compose projects one `dockgate check` invocation checks, and loading them.
//!
//! - `-f FILE...` (or nothing): one project, exactly as `docker compose` finds and merges it;
//! - `PATH...`: a directory is the project found in it (with its override file), a file is a
//!   project of that one file;
//! - `--recursive`: every directory under each `PATH` that holds a compose file
//!   (`compose.yaml`, `docker-compose.yml`, ...) is a project of its own — a monorepo's
//!   projects in one run. Hidden directories and `node_modules` are skipped; symbolic links to
//!   directories are not followed.
//!
//! Loading goes through a [`FileSystem`] that keeps every file the loader read, so the server
//! path sends the server exactly the bytes the embedded path would have read.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::compose::load::{DEFAULT_FILES, LoadOptions};
use crate::compose::{self, ComposeError, FileSystem, Project, RealFs};

/// Deepest directory level `--recursive` descends to.
pub const MAX_DEPTH: usize = 32;
/// Most projects one invocation checks.
pub const MAX_PROJECTS: usize = 10_000;

/// Why the projects to check could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum ProjectsError {
    /// A path given does not exist or cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `--recursive` found nothing.
    #[error(
        "no compose file (compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml) under {0}"
    )]
    NoneFound(String),
    /// Too many projects.
    #[error("more than {MAX_PROJECTS} compose projects under {0}: narrow the paths")]
    TooMany(String),
}

/// One project to load: its files (empty: discover them in `project_dir`, or in the current
/// directory and its parents when that is `None` too) and its directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `-f` files, or a single file given as a path.
    pub files: Vec<PathBuf>,
    /// The directory to discover the files in (a directory given as a path).
    pub project_dir: Option<PathBuf>,
}

/// The projects named by `files` (`-f`), `paths` and `recursive`, relative paths taken from
/// `cwd`. `-f` and paths are not mixed (the command line refuses it).
pub fn targets(
    files: &[PathBuf],
    paths: &[PathBuf],
    recursive: bool,
    cwd: &Path,
) -> Result<Vec<Target>, ProjectsError> {
    if paths.is_empty() {
        if recursive {
            return walk_all(&[cwd.to_path_buf()]);
        }
        return Ok(vec![Target {
            files: files.iter().map(|f| absolute(cwd, f)).collect(),
            project_dir: None,
        }]);
    }
    let paths: Vec<PathBuf> = paths.iter().map(|p| absolute(cwd, p)).collect();
    if recursive {
        return walk_all(&paths);
    }
    paths
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).map_err(|source| ProjectsError::Io {
                path: p.clone(),
                source,
            })?;
            Ok(if meta.is_dir() {
                Target {
                    files: Vec::new(),
                    project_dir: Some(p),
                }
            } else {
                Target {
                    files: vec![p],
                    project_dir: None,
                }
            })
        })
        .collect()
}

fn walk_all(roots: &[PathBuf]) -> Result<Vec<Target>, ProjectsError> {
    let mut out = Vec::new();
    for root in roots {
        let before = out.len();
        walk(root, 0, &mut out)?;
        if out.len() == before {
            return Err(ProjectsError::NoneFound(root.display().to_string()));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<Target>) -> Result<(), ProjectsError> {
    let io = |source| ProjectsError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<(String, bool)> = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io)? {
        let e = e.map_err(io)?;
        let is_dir = e.file_type().map_err(io)?.is_dir();
        entries.push((e.file_name().to_string_lossy().into_owned(), is_dir));
    }
    entries.sort();
    if entries
        .iter()
        .any(|(n, d)| !d && DEFAULT_FILES.contains(&n.as_str()))
    {
        if out.len() >= MAX_PROJECTS {
            return Err(ProjectsError::TooMany(dir.display().to_string()));
        }
        out.push(Target {
            files: Vec::new(),
            project_dir: Some(dir.to_path_buf()),
        });
    }
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    for (name, is_dir) in entries {
        if is_dir && !name.starts_with('.') && name != "node_modules" {
            walk(&dir.join(name), depth + 1, out)?;
        }
    }
    Ok(())
}

/// `p` made absolute against `cwd`, `.` and `..` resolved lexically (as `docker compose`
/// does with paths on its command line).
pub fn absolute(cwd: &Path, p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The options every project shares.
#[derive(Debug, Clone, Default)]
pub struct Shared {
    /// `--project-name` (only with a single project).
    pub project_name: Option<String>,
    /// `--env-file`s (absolute).
    pub env_files: Vec<PathBuf>,
    /// Compose profiles.
    pub profiles: Vec<String>,
    /// The environment.
    pub env: BTreeMap<String, String>,
    /// The current directory.
    pub cwd: PathBuf,
}

/// A loaded project and every file the loader read for it, with the bytes it read.
#[derive(Debug)]
pub struct Loaded {
    /// The project.
    pub project: Project,
    /// The options it was loaded with.
    pub options: LoadOptions,
    /// Every file read, in order, with its content.
    pub read: Vec<(PathBuf, Vec<u8>)>,
}

/// A file system that keeps what it read.
struct Recording<'a> {
    inner: &'a dyn FileSystem,
    read: RefCell<Vec<(PathBuf, Vec<u8>)>>,
}

impl FileSystem for Recording<'_> {
    fn read(&self, path: &Path) -> Result<Vec<u8>, ComposeError> {
        let bytes = self.inner.read(path)?;
        self.read
            .borrow_mut()
            .push((path.to_path_buf(), bytes.clone()));
        Ok(bytes)
    }

    fn is_file(&self, path: &Path) -> bool {
        self.inner.is_file(path)
    }
}

/// Loads `target` from the real file system.
pub fn load(target: &Target, shared: &Shared) -> Result<Loaded, ComposeError> {
    let options = LoadOptions {
        files: target.files.clone(),
        project_dir: target.project_dir.clone(),
        project_name: shared.project_name.clone(),
        env_files: shared.env_files.clone(),
        profiles: shared.profiles.clone(),
        env: shared.env.clone(),
        working_dir: Some(
            target
                .project_dir
                .clone()
                .unwrap_or_else(|| shared.cwd.clone()),
        ),
    };
    let fs = Recording {
        inner: &RealFs,
        read: RefCell::new(Vec::new()),
    };
    let project = compose::load_with(&options, &fs)?;
    Ok(Loaded {
        project,
        options,
        read: fs.read.into_inner(),
    })
}
