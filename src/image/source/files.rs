//! The files of a local source, read alike whether they sit in a directory (`oci:`) or
//! in a tar archive (`oci-archive:`, `docker-archive:`).
//!
//! An archive is indexed once (names, offsets, sizes; data is skipped with seeks) and
//! each file is then read straight out of the tar: nothing is extracted, so nothing is
//! left behind, and a file can be opened as many times (and from as many threads) as
//! needed. Names are archive paths, never host paths.
//!
//! A directory's files are opened without following symlinks in any component (a
//! blob that is a symlink to a host file must not be copied into the store; DESIGN.md
//! rule 1). The components are checked with `lstat` and the last one opened with
//! `O_NOFOLLOW`; a source directory is the user's own input, which bounds what a race
//! between the two could do.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// How many symlinks deep an archive path may be followed.
const MAX_LINKS: usize = 16;

/// Read access to the files of a layout or archive, by relative `/`-separated path.
pub trait FileTree: Send + Sync {
    /// Opens `path` for reading, with its size.
    fn open(&self, path: &str) -> io::Result<(Box<dyn Read + Send>, u64)>;
}

/// A directory.
pub struct DirTree {
    root: PathBuf,
}

impl DirTree {
    pub fn new(root: &Path) -> DirTree {
        DirTree { root: root.into() }
    }
}

fn not_found(path: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no `{path}`"))
}

impl FileTree for DirTree {
    fn open(&self, path: &str) -> io::Result<(Box<dyn Read + Send>, u64)> {
        let parts: Vec<&str> = path.split('/').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            return Err(not_found(path));
        }
        let mut at = self.root.clone();
        for dir in &parts[..parts.len() - 1] {
            at.push(dir);
            let m = std::fs::symlink_metadata(&at)?;
            if !m.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "`{}` is not a directory (symlinks are not followed)",
                        at.display()
                    ),
                ));
            }
        }
        at.push(parts[parts.len() - 1]);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&at)?;
        let m = file.metadata()?;
        if !m.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{}` is not a regular file", at.display()),
            ));
        }
        Ok((Box::new(file), m.len()))
    }
}

#[derive(Clone, Debug)]
enum Entry {
    File {
        offset: u64,
        size: u64,
    },
    /// A symlink or hard link, as the archive path it points at.
    Link(String),
}

/// A tar archive, indexed.
pub struct TarTree {
    path: PathBuf,
    entries: HashMap<String, Entry>,
}

impl TarTree {
    /// Reads the archive's headers. Later entries of the same name win, as in `tar x`.
    pub fn index(path: &Path) -> io::Result<TarTree> {
        let file = File::open(path)?;
        let mut archive = tar::Archive::new(file);
        let mut entries = HashMap::new();
        for e in archive.entries_with_seek()? {
            let e = e?;
            let Some(name) = clean(&String::from_utf8_lossy(&e.path_bytes())) else {
                continue;
            };
            let kind = e.header().entry_type();
            let entry = if kind.is_file() || kind == tar::EntryType::Continuous {
                Entry::File {
                    offset: e.raw_file_position(),
                    size: e.size(),
                }
            } else if kind.is_symlink() || kind.is_hard_link() {
                let Some(target) = e.link_name_bytes() else {
                    continue;
                };
                let target = String::from_utf8_lossy(&target).into_owned();
                // A symlink is relative to its directory; a hard link names an
                // archive path.
                let joined = match (kind.is_symlink(), name.rsplit_once('/')) {
                    (true, Some((dir, _))) if !target.starts_with('/') => {
                        format!("{dir}/{target}")
                    }
                    _ => target,
                };
                match clean(&joined) {
                    Some(t) => Entry::Link(t),
                    None => continue,
                }
            } else {
                continue;
            };
            entries.insert(name, entry);
        }
        Ok(TarTree {
            path: path.into(),
            entries,
        })
    }

    /// The regular files' names (for messages listing what an archive holds).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    fn find(&self, path: &str) -> io::Result<(u64, u64)> {
        let mut at = clean(path).ok_or_else(|| not_found(path))?;
        for _ in 0..MAX_LINKS {
            match self.entries.get(&at) {
                Some(Entry::File { offset, size }) => return Ok((*offset, *size)),
                Some(Entry::Link(to)) => at = to.clone(),
                None => return Err(not_found(path)),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("`{path}`: too many levels of links in the archive"),
        ))
    }
}

impl FileTree for TarTree {
    fn open(&self, path: &str) -> io::Result<(Box<dyn Read + Send>, u64)> {
        let (offset, size) = self.find(path)?;
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(offset))?;
        Ok((Box::new(f.take(size)), size))
    }
}

/// An archive path made plain: no leading `/` or `./`, no `.` or empty components,
/// `..` taken back; None for the root itself or a path that climbs out of it.
fn clean(path: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    if out.is_empty() {
        None
    } else {
        Some(out.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_paths() {
        assert_eq!(clean("./a/b").as_deref(), Some("a/b"));
        assert_eq!(clean("/a//b/").as_deref(), Some("a/b"));
        assert_eq!(clean("a/../b").as_deref(), Some("b"));
        assert_eq!(clean("../a"), None);
        assert_eq!(clean("."), None);
        assert_eq!(clean(""), None);
    }

    type Spec<'a> = (&'a str, Option<&'a [u8]>, Option<&'a str>);

    fn tar_with(entries: &[Spec<'_>]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut b = tar::Builder::new(f.reopen().unwrap());
        for (name, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            match (data, link) {
                (Some(d), _) => {
                    h.set_size(d.len() as u64);
                    h.set_entry_type(tar::EntryType::Regular);
                    b.append_data(&mut h, name, *d).unwrap();
                }
                (None, Some(l)) => {
                    h.set_size(0);
                    h.set_entry_type(tar::EntryType::Symlink);
                    b.append_link(&mut h, name, l).unwrap();
                }
                (None, None) => unreachable!(),
            }
        }
        b.finish().unwrap();
        f
    }

    fn read(t: &dyn FileTree, p: &str) -> io::Result<String> {
        let (mut r, n) = t.open(p)?;
        let mut s = String::new();
        r.read_to_string(&mut s)?;
        assert_eq!(s.len() as u64, n);
        Ok(s)
    }

    #[test]
    fn tar_tree_reads_files_and_links() {
        let long = format!("dir/{}", "x".repeat(150));
        let f = tar_with(&[
            ("./index.json", Some(b"{}"), None),
            ("blobs/sha256/aa", Some(b"first"), None),
            ("blobs/sha256/aa", Some(b"second"), None),
            ("blobs/sha256/bb", None, Some("aa")),
            ("top", None, Some("blobs/sha256/bb")),
            ("loop", None, Some("loop")),
            ("evil", None, Some("../../etc/passwd")),
            (&long, Some(b"long"), None),
        ]);
        let t = TarTree::index(f.path()).unwrap();
        assert_eq!(read(&t, "index.json").unwrap(), "{}");
        assert_eq!(read(&t, "blobs/sha256/aa").unwrap(), "second");
        assert_eq!(read(&t, "blobs/sha256/bb").unwrap(), "second");
        assert_eq!(read(&t, "top").unwrap(), "second");
        assert_eq!(read(&t, &long).unwrap(), "long");
        assert!(read(&t, "loop").is_err());
        assert_eq!(
            read(&t, "evil").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            read(&t, "nope").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn dir_tree_refuses_symlinks() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("blobs/sha256")).unwrap();
        std::fs::write(d.path().join("blobs/sha256/aa"), "blob").unwrap();
        std::fs::write(d.path().join("secret"), "host").unwrap();
        std::os::unix::fs::symlink("../../secret", d.path().join("blobs/sha256/bb")).unwrap();
        std::os::unix::fs::symlink("blobs", d.path().join("alias")).unwrap();
        let t = DirTree::new(d.path());
        assert_eq!(read(&t, "blobs/sha256/aa").unwrap(), "blob");
        assert!(read(&t, "blobs/sha256/bb").is_err());
        assert!(read(&t, "alias/sha256/aa").is_err());
        assert!(read(&t, "../x").is_err());
        assert!(read(&t, "blobs").is_err());
    }
}
