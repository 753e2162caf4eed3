//! Entry names as a layer writes them, turned into paths relative to the layer root:
//! a leading `/` and `.` components are dropped (contained), `..` is refused (no tool
//! writes it, and an attacker is the only one who would), and OCI whiteout names are
//! recognised. Pure functions: the file-system side is in `resolve`.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Why an entry name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty name")]
    Empty,
    #[error("name contains a NUL byte")]
    Nul,
    #[error("name has a `..` component")]
    DotDot,
    #[error("whiteout names no entry (`.wh.`, `.wh..` or `.wh...`)")]
    BadWhiteout,
    #[error("names the layer root but is not a directory")]
    RootNotDir,
    #[error("names the layer root")]
    Root,
}

/// `raw` as a relative path under the layer root: `None` names the root itself.
pub fn normalize(raw: &[u8]) -> Result<Option<PathBuf>, NameError> {
    if raw.is_empty() {
        return Err(NameError::Empty);
    }
    if raw.contains(&0) {
        return Err(NameError::Nul);
    }
    let mut out = PathBuf::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(NameError::DotDot),
            c => out.push(OsStr::from_bytes(c)),
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// A relative path (from `normalize`) split into its parent (empty for the root) and its
/// last component.
pub fn split(path: &Path) -> (&Path, &OsStr) {
    let name = path.file_name().unwrap_or(path.as_os_str());
    let parent = path.parent().unwrap_or(Path::new(""));
    (parent, name)
}

/// What an entry's last component says about whiteouts.
#[derive(Debug, PartialEq, Eq)]
pub enum Whiteout<'a> {
    /// An ordinary entry.
    No,
    /// `.wh..wh..opq`: the parent directory hides what lower layers have in it.
    Opaque,
    /// `.wh.NAME`: NAME of lower layers is removed.
    Remove(&'a OsStr),
    /// `.wh..wh.*` other than `.opq`: AUFS bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`),
    /// skipped as Docker and containerd skip it.
    Aufs,
}

const PREFIX: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
const AUFS_META: &[u8] = b".wh..wh.";

/// Classifies a last component.
pub fn whiteout(name: &OsStr) -> Result<Whiteout<'_>, NameError> {
    let b = name.as_bytes();
    if b == OPAQUE {
        return Ok(Whiteout::Opaque);
    }
    if b.starts_with(AUFS_META) {
        return Ok(Whiteout::Aufs);
    }
    match b.strip_prefix(PREFIX) {
        None => Ok(Whiteout::No),
        Some(b"" | b"." | b"..") => Err(NameError::BadWhiteout),
        Some(rest) => Ok(Whiteout::Remove(OsStr::from_bytes(rest))),
    }
}

/// An entry name for messages: lossy UTF-8, as the layer wrote it.
pub fn display(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Result<Option<PathBuf>, NameError> {
        normalize(s.as_bytes())
    }

    #[test]
    fn plain_and_dotted_names() {
        assert_eq!(n("a/b/c").unwrap(), Some(PathBuf::from("a/b/c")));
        assert_eq!(n("./a/./b/").unwrap(), Some(PathBuf::from("a/b")));
        assert_eq!(n("a//b").unwrap(), Some(PathBuf::from("a/b")));
        assert_eq!(n("dir/").unwrap(), Some(PathBuf::from("dir")));
    }

    #[test]
    fn the_root() {
        assert_eq!(n("./").unwrap(), None);
        assert_eq!(n(".").unwrap(), None);
        assert_eq!(n("/").unwrap(), None);
        assert_eq!(n("//.//").unwrap(), None);
    }

    #[test]
    fn absolute_paths_are_contained() {
        assert_eq!(n("/etc/passwd").unwrap(), Some(PathBuf::from("etc/passwd")));
        assert_eq!(n("///etc/x").unwrap(), Some(PathBuf::from("etc/x")));
    }

    #[test]
    fn dotdot_is_refused_anywhere() {
        assert_eq!(n("../../etc/passwd"), Err(NameError::DotDot));
        assert_eq!(n("a/../../b"), Err(NameError::DotDot));
        assert_eq!(n("a/.."), Err(NameError::DotDot));
        assert_eq!(n("/.."), Err(NameError::DotDot));
        // Names that only start with dots are ordinary names.
        assert_eq!(n("...").unwrap(), Some(PathBuf::from("...")));
        assert_eq!(n("..a/b..").unwrap(), Some(PathBuf::from("..a/b..")));
    }

    #[test]
    fn empty_and_nul() {
        assert_eq!(n(""), Err(NameError::Empty));
        assert_eq!(normalize(b"a\0b"), Err(NameError::Nul));
    }

    #[test]
    fn split_parent_and_name() {
        assert_eq!(
            split(Path::new("a/b/c")),
            (Path::new("a/b"), OsStr::new("c"))
        );
        assert_eq!(split(Path::new("c")), (Path::new(""), OsStr::new("c")));
    }

    #[test]
    fn whiteouts() {
        fn w(s: &str) -> Result<Whiteout<'_>, NameError> {
            whiteout(OsStr::new(s))
        }
        assert_eq!(w("file").unwrap(), Whiteout::No);
        assert_eq!(w(".whatever").unwrap(), Whiteout::No);
        assert_eq!(w(".wh..wh..opq").unwrap(), Whiteout::Opaque);
        assert_eq!(w(".wh..wh.plnk").unwrap(), Whiteout::Aufs);
        assert_eq!(w(".wh.foo").unwrap(), Whiteout::Remove(OsStr::new("foo")));
        assert_eq!(w(".wh..foo").unwrap(), Whiteout::Remove(OsStr::new(".foo")));
        assert_eq!(w(".wh.").unwrap_err(), NameError::BadWhiteout);
        assert_eq!(w(".wh..").unwrap_err(), NameError::BadWhiteout);
        assert_eq!(w(".wh...").unwrap_err(), NameError::BadWhiteout);
    }
}
