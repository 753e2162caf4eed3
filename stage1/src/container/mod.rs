//! A container as stage1 keeps it on disk: `<root>/<id>/` holding `state.json`, the
//! `exec.fifo` that `start` writes to, and the directory's own flock.

mod state;
mod status;

pub use state::{proc_start_time, State};
pub use status::Status;

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("container \"{0}\" does not exist")]
    NotExist(String),
    #[error("container \"{0}\" already exists")]
    Exists(String),
    #[error("invalid container id `{0}`: use letters, digits and _ + - . only")]
    InvalidId(String),
    #[error("{step} `{}`", path.display())]
    Io {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parse state `{}`", path.display())]
    State {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

fn io_err<'a>(
    step: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> ContainerError + 'a {
    move |source| ContainerError::Io {
        step,
        path: path.to_path_buf(),
        source,
    }
}

/// runc's rule for ids: `[\w+-.]+`, and never `.` or `..`.
pub fn validate_id(id: &str) -> Result<(), ContainerError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ContainerError::InvalidId(id.to_string()))
    }
}

/// Makes the state root (mode 0700: only root may look at the states, they hold the
/// configs) if it is missing.
pub fn ensure_root(root: &Path) -> Result<(), ContainerError> {
    if !root.is_dir() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(io_err("create state root", root))?;
    }
    Ok(())
}

/// Takes the flock of a state dir (held until the file is dropped).
pub fn lock_dir(dir: &Path) -> Result<File, ContainerError> {
    let f = File::open(dir).map_err(io_err("open state dir", dir))?;
    sys::flock_exclusive(f.as_fd()).map_err(io_err("lock state dir", dir))?;
    Ok(f)
}

/// The on-disk home of one container.
pub struct Container {
    pub id: String,
    pub dir: PathBuf,
    pub state: State,
    /// Held open for the flock; released on drop.
    _lock: Option<File>,
}

impl Container {
    pub fn dir_of(root: &Path, id: &str) -> PathBuf {
        root.join(id)
    }

    /// Makes `<root>/<id>` (the root too, mode 0700, if missing); fails if it exists.
    pub fn create_dir(root: &Path, id: &str) -> Result<PathBuf, ContainerError> {
        validate_id(id)?;
        ensure_root(root)?;
        let dir = Self::dir_of(root, id);
        match std::fs::create_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(ContainerError::Exists(id.to_string()))
            }
            Err(e) => Err(io_err("create state dir", &dir)(e)),
        }
    }

    /// A container `create` just recorded, with the lock create holds (so that `run`
    /// starts it without reading back what it just wrote).
    pub fn from_created(dir: PathBuf, state: State, lock: File) -> Container {
        Container {
            id: state.id.clone(),
            dir,
            state,
            _lock: Some(lock),
        }
    }

    /// Loads a container, taking its lock when `lock` is set (for commands that change it).
    pub fn load(root: &Path, id: &str, lock: bool) -> Result<Container, ContainerError> {
        if validate_id(id).is_err() {
            return Err(ContainerError::NotExist(id.to_string()));
        }
        let dir = Self::dir_of(root, id);
        let lock_file = if lock {
            if !dir.is_dir() {
                return Err(ContainerError::NotExist(id.to_string()));
            }
            Some(lock_dir(&dir)?)
        } else {
            None
        };
        let state = State::read(&dir).map_err(|e| match e {
            ContainerError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ContainerError::NotExist(id.to_string())
            }
            other => other,
        })?;
        Ok(Container {
            id: id.to_string(),
            dir,
            state,
            _lock: lock_file,
        })
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.dir.join("exec.fifo")
    }

    pub fn status(&self) -> Status {
        Status::of(&self.state, &self.fifo_path())
    }

    pub fn save(&self) -> Result<(), ContainerError> {
        self.state.write(&self.dir)
    }

    /// Removes the state directory (the last step of delete).
    pub fn remove_dir(&self) -> Result<(), ContainerError> {
        std::fs::remove_dir_all(&self.dir).map_err(io_err("remove state dir", &self.dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "abc-1", "a.b_c+d", "0123"] {
            validate_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "/", "a b", "ä"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn create_twice_is_exists() {
        let t = tempfile::tempdir().unwrap();
        Container::create_dir(t.path(), "x").unwrap();
        assert!(matches!(
            Container::create_dir(t.path(), "x"),
            Err(ContainerError::Exists(_))
        ));
    }

    #[test]
    fn missing_is_does_not_exist() {
        let t = tempfile::tempdir().unwrap();
        let e = Container::load(t.path(), "nope", true).err().unwrap();
        assert_eq!(e.to_string(), "container \"nope\" does not exist");
    }
}
