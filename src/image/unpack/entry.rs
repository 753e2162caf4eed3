//! The unpack loop: the tar crate's entries one by one, each checked (name, type,
//! metadata) and applied under the layer root (`resolve` finds the parent, `node` makes
//! the object, `data` writes a file's bytes), directory times set last, once their
//! content is in.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use tar::EntryType;

use super::data::{self, DataError};
use super::meta::{self, Meta, Pax};
use super::path::{self, NameError, Whiteout};
use super::resolve::{self, Existing};
use super::sparse::{SparseError, HOLE_BUDGET};
use super::stream::{self, Compression, Shared, Stream, HEADER_BUDGET};
use super::{node, tree, Step, UnpackError};
use crate::sys::{self, Times};

/// Unpacks the stream into the directory `root` (open for reading) and returns the hex
/// sha256 of the uncompressed stream.
pub fn unpack_into(
    root: OwnedFd,
    reader: impl Read,
    compression: Compression,
    diff_id: &str,
) -> Result<String, UnpackError> {
    let stream_err = |step, after: &str, source| UnpackError::Stream {
        diff_id: diff_id.to_owned(),
        step,
        after: after.to_owned(),
        source,
    };
    let (decoded, read_step) =
        stream::decompress(reader, compression).map_err(|e| stream_err("start reading", "", e))?;
    let (stream, shared) = Stream::new(decoded);
    let mut archive = tar::Archive::new(stream);
    let mut u = Unpacker {
        root,
        diff_id,
        read_step,
        shared: Rc::clone(&shared),
        dir_times: HashMap::new(),
        root_meta: false,
        holes: 0,
        buf: vec![0; 1 << 20],
        cache: None,
    };
    let mut last = String::new();
    {
        let mut entries = archive
            .entries()
            .map_err(|e| stream_err("read the tar stream", "", e))?;
        loop {
            shared.budget.set(Some(HEADER_BUDGET));
            let next = entries.next();
            shared.budget.set(None);
            let mut entry = match next {
                None => break,
                Some(Ok(e)) => e,
                Some(Err(e)) => return Err(u.header_error(&last, e)),
            };
            if shared.padded.get() > 0 {
                return Err(UnpackError::Truncated {
                    diff_id: diff_id.to_owned(),
                    path: path::display(&entry.path_bytes()),
                });
            }
            last = u.entry(&mut entry)?;
        }
    }
    u.finish()?;
    archive
        .into_inner()
        .finish()
        .map_err(|e| stream_err(u.source_step(), &last, e))
}

/// What an entry makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Node(u32),
    /// PAX global headers: nothing to make.
    Skip,
}

fn kind(header: &tar::Header, raw: &[u8]) -> Result<Kind, u8> {
    Ok(match header.entry_type() {
        // V7 tars mark directories with a type of NUL and a trailing slash.
        EntryType::Regular if header.as_bytes()[156] == 0 && raw.ends_with(b"/") => Kind::Dir,
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => Kind::File,
        EntryType::Directory => Kind::Dir,
        EntryType::Symlink => Kind::Symlink,
        EntryType::Link => Kind::Hardlink,
        EntryType::Char => Kind::Node(libc::S_IFCHR),
        EntryType::Block => Kind::Node(libc::S_IFBLK),
        EntryType::Fifo => Kind::Node(libc::S_IFIFO),
        EntryType::XGlobalHeader => Kind::Skip,
        other => return Err(other.as_byte()),
    })
}

struct Unpacker<'a> {
    root: OwnedFd,
    diff_id: &'a str,
    read_step: &'static str,
    shared: Rc<Shared>,
    /// Directories whose times are set at the end (key "" is the root).
    dir_times: HashMap<PathBuf, Times>,
    /// The layer had an entry for its root.
    root_meta: bool,
    /// GNU sparse hole bytes so far.
    holes: u64,
    buf: Vec<u8>,
    /// The last parent directory used: tars list a directory's entries together. Dropped
    /// whenever an entry removes something, which could change what a path resolves to.
    cache: Option<(PathBuf, OwnedFd)>,
}

impl Unpacker<'_> {
    fn source_step(&self) -> &'static str {
        if self.shared.source_failed.get() {
            self.read_step
        } else {
            "read the tar stream"
        }
    }

    fn header_error(&self, last: &str, source: std::io::Error) -> UnpackError {
        let step = if self.shared.source_failed.get() {
            self.read_step
        } else if self.shared.padded.get() > 0 {
            "the stream ends inside the next tar header"
        } else {
            "read the next tar header"
        };
        UnpackError::Stream {
            diff_id: self.diff_id.to_owned(),
            step,
            after: last.to_owned(),
            source,
        }
    }

    fn apply_err(&self, shown: &str) -> impl Fn((Step, std::io::Error)) -> UnpackError + '_ {
        let shown = shown.to_owned();
        move |(step, source)| UnpackError::Apply {
            diff_id: self.diff_id.to_owned(),
            path: shown.clone(),
            step,
            source,
        }
    }

    fn data_err(&self, shown: &str, e: DataError) -> UnpackError {
        let diff_id = self.diff_id.to_owned();
        let path = shown.to_owned();
        match e {
            DataError::Short => UnpackError::Truncated { diff_id, path },
            DataError::Read(source) => UnpackError::Stream {
                diff_id,
                step: self.source_step(),
                after: path,
                source,
            },
            DataError::Write(source) => UnpackError::Apply {
                diff_id,
                path,
                step: Step::WriteData,
                source,
            },
            DataError::Sparse(reason) => UnpackError::Sparse {
                diff_id,
                path,
                reason,
            },
        }
    }

    /// Applies one entry; returns its name for messages.
    fn entry<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<String, UnpackError> {
        let pax = meta::pax(e).map_err(|source| UnpackError::Meta {
            diff_id: self.diff_id.to_owned(),
            path: path::display(&e.path_bytes()),
            source,
        })?;
        let raw = match &pax.sparse.name {
            Some(n) => n.clone(),
            None => e.path_bytes().into_owned(),
        };
        let shown = path::display(&raw);
        let name_err = |reason| UnpackError::Name {
            diff_id: self.diff_id.to_owned(),
            path: shown.clone(),
            reason,
        };
        let kind = kind(e.header(), &raw).map_err(|k| UnpackError::EntryType {
            diff_id: self.diff_id.to_owned(),
            path: shown.clone(),
            kind: char::from(k),
        })?;
        if kind != Kind::Skip {
            match path::normalize(&raw).map_err(name_err)? {
                None if kind == Kind::Dir => self.root_entry(e.header(), &pax, &shown)?,
                None => return Err(name_err(NameError::RootNotDir)),
                Some(rel) => self.named(e, kind, &rel, &pax, &shown)?,
            }
        }
        self.drain(e, &shown)?;
        Ok(shown)
    }

    fn meta(&self, header: &tar::Header, pax: &Pax, shown: &str) -> Result<Meta, UnpackError> {
        meta::meta(header, pax).map_err(|source| UnpackError::Meta {
            diff_id: self.diff_id.to_owned(),
            path: shown.to_owned(),
            source,
        })
    }

    fn root_entry(&mut self, h: &tar::Header, pax: &Pax, shown: &str) -> Result<(), UnpackError> {
        let m = self.meta(h, pax, shown)?;
        node::set_fd_meta(self.root.as_fd(), &m).map_err(self.apply_err(shown))?;
        self.dir_times.insert(PathBuf::new(), m.times);
        self.root_meta = true;
        Ok(())
    }

    /// The parent directory `rel`, made if missing.
    fn parent(&mut self, rel: &Path, shown: &str) -> Result<OwnedFd, UnpackError> {
        if let Some((p, fd)) = self.cache.take() {
            if p == rel {
                return Ok(fd);
            }
        }
        resolve::make_dir(self.root.as_fd(), rel).map_err(|e| UnpackError::Apply {
            diff_id: self.diff_id.to_owned(),
            path: shown.to_owned(),
            step: Step::Parent(e.at),
            source: e.source,
        })
    }

    fn named<R: Read>(
        &mut self,
        e: &mut tar::Entry<'_, R>,
        kind: Kind,
        rel: &Path,
        pax: &Pax,
        shown: &str,
    ) -> Result<(), UnpackError> {
        let (parent_rel, name) = path::split(rel);
        let wh = path::whiteout(name).map_err(|reason| UnpackError::Name {
            diff_id: self.diff_id.to_owned(),
            path: shown.to_owned(),
            reason,
        })?;
        if wh == Whiteout::Aufs {
            return Ok(());
        }
        let parent = self.parent(parent_rel, shown)?;
        let p = parent.as_fd();
        let existing_of = |n: &OsStr| {
            resolve::existing(p, n).map_err(|source| UnpackError::Apply {
                diff_id: self.diff_id.to_owned(),
                path: shown.to_owned(),
                step: Step::Parent(parent_rel.to_path_buf()),
                source,
            })
        };
        let removed = match wh {
            Whiteout::Opaque => node::opaque(p).map(|()| false),
            Whiteout::Remove(target) => {
                let existing = existing_of(target)?;
                node::whiteout(p, target, existing).map(|()| false)
            }
            _ => {
                let existing = existing_of(name)?;
                let m = self.meta(e.header(), pax, shown)?;
                if kind != Kind::Dir {
                    self.dir_times.remove(rel);
                }
                match kind {
                    Kind::Dir => {
                        self.dir_times.insert(rel.to_path_buf(), m.times);
                        node::dir(p, name, existing, &m)
                    }
                    Kind::File => {
                        let at = (parent_rel, name);
                        return self.file(e, parent, at, existing, &m, pax, shown);
                    }
                    Kind::Symlink => {
                        let target = e.link_name_bytes().unwrap_or_default();
                        node::symlink(p, name, existing, OsStr::from_bytes(&target), &m)
                    }
                    Kind::Hardlink => return self.hardlink(e, parent, name, existing, rel, shown),
                    Kind::Node(t) => {
                        let dev = match t {
                            libc::S_IFIFO => Ok(0),
                            _ => device(e.header()),
                        };
                        let dev = dev.map_err(|source| UnpackError::Meta {
                            diff_id: self.diff_id.to_owned(),
                            path: shown.to_owned(),
                            source,
                        })?;
                        node::special(p, name, existing, t, dev, &m)
                    }
                    Kind::Skip => Ok(false),
                }
            }
        };
        let removed = removed.map_err(self.apply_err(shown))?;
        self.keep_parent(parent_rel, parent, removed);
        Ok(())
    }

    fn keep_parent(&mut self, rel: &Path, fd: OwnedFd, removed: bool) {
        if !removed {
            self.cache = Some((rel.to_path_buf(), fd));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn file<R: Read>(
        &mut self,
        e: &mut tar::Entry<'_, R>,
        parent: OwnedFd,
        (parent_rel, name): (&Path, &OsStr),
        existing: Existing,
        m: &Meta,
        pax: &Pax,
        shown: &str,
    ) -> Result<(), UnpackError> {
        let sparse = pax
            .sparse
            .parse()
            .map_err(|reason| self.sparse_err(shown, reason))?;
        let gnu = e.header().entry_type().is_gnu_sparse();
        if gnu {
            let stored = e.header().entry_size().unwrap_or(0);
            self.holes = self.holes.saturating_add(e.size().saturating_sub(stored));
            if self.holes > HOLE_BUDGET {
                return Err(self.sparse_err(shown, SparseError::HoleBudget));
            }
        }
        let (file, removed) =
            node::create_file(parent.as_fd(), name, existing).map_err(self.apply_err(shown))?;
        let size = e.size();
        let mut buf = std::mem::take(&mut self.buf);
        let r = match sparse {
            Some(s) => data::pax_sparse(e, &file, size, s, &mut buf),
            None if gnu => data::gnu_sparse(e, &file, size, &mut buf),
            None => data::plain(e, &file, size, &mut buf),
        };
        self.buf = buf;
        r.map_err(|err| self.data_err(shown, err))?;
        if self.shared.padded.get() > 0 {
            return Err(self.data_err(shown, DataError::Short));
        }
        node::finish_file(&file, m).map_err(self.apply_err(shown))?;
        self.keep_parent(parent_rel, parent, removed);
        Ok(())
    }

    fn sparse_err(&self, shown: &str, reason: SparseError) -> UnpackError {
        UnpackError::Sparse {
            diff_id: self.diff_id.to_owned(),
            path: shown.to_owned(),
            reason,
        }
    }

    fn hardlink<R: Read>(
        &mut self,
        e: &mut tar::Entry<'_, R>,
        parent: OwnedFd,
        name: &OsStr,
        existing: Existing,
        rel: &Path,
        shown: &str,
    ) -> Result<(), UnpackError> {
        let raw = e.link_name_bytes().unwrap_or_default().into_owned();
        let target_shown = path::display(&raw);
        let target_err = |reason| UnpackError::LinkTarget {
            diff_id: self.diff_id.to_owned(),
            path: shown.to_owned(),
            target: target_shown.clone(),
            reason,
        };
        let target = path::normalize(&raw)
            .map_err(target_err)?
            .ok_or_else(|| target_err(NameError::Root))?;
        if target == rel {
            return Ok(());
        }
        let (tp, tn) = path::split(&target);
        let tdir =
            resolve::open_dir(self.root.as_fd(), tp).map_err(|source| UnpackError::Apply {
                diff_id: self.diff_id.to_owned(),
                path: shown.to_owned(),
                step: Step::CreateHardlink(target_shown.clone()),
                source,
            })?;
        let removed = node::hardlink(parent.as_fd(), name, existing, &tdir, tn, &target_shown)
            .map_err(self.apply_err(shown))?;
        self.keep_parent(path::split(rel).0, parent, removed);
        Ok(())
    }

    /// Reads what is left of an entry's data (whiteouts, links and global headers may
    /// carry some) and checks that the stream did not end inside it.
    fn drain<R: Read>(
        &mut self,
        e: &mut tar::Entry<'_, R>,
        shown: &str,
    ) -> Result<(), UnpackError> {
        loop {
            match e.read(&mut self.buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(self.data_err(shown, DataError::Read(err))),
            }
        }
        if self.shared.padded.get() > 0 {
            return Err(self.data_err(shown, DataError::Short));
        }
        Ok(())
    }

    /// Sets the directory times recorded on the way (their content is in now) and gives
    /// the root 0755 when the layer did not say.
    fn finish(&mut self) -> Result<(), UnpackError> {
        self.cache = None;
        let root = self.root.as_fd();
        let err = |rel: &Path, step, source| UnpackError::Apply {
            diff_id: self.diff_id.to_owned(),
            path: rel.display().to_string(),
            step,
            source,
        };
        if !self.root_meta {
            sys::fchmod(root, 0o755).map_err(|e| err(Path::new("/"), Step::SetMode, e))?;
        }
        for (rel, times) in &self.dir_times {
            if rel.as_os_str().is_empty() {
                sys::futimens(root, times).map_err(|e| err(Path::new("/"), Step::SetTimes, e))?;
                continue;
            }
            let (p, n) = path::split(rel);
            // A directory a later entry removed or replaced has no times to set.
            let Ok(dir) = resolve::open_dir(root, p) else {
                continue;
            };
            match sys::stat_at(dir.as_fd(), n) {
                Ok(st) if tree::is_dir(&st) => {}
                _ => continue,
            }
            sys::utimens_at(dir.as_fd(), n, times).map_err(|e| err(rel, Step::SetTimes, e))?;
        }
        Ok(())
    }
}

/// The device number of a character or block device entry. GNU tar leaves the fields
/// empty for fifos (and some writers for devices 0:0): empty reads as 0.
fn device(h: &tar::Header) -> Result<u64, meta::MetaError> {
    let num = |field, r: std::io::Result<Option<u32>>, raw: &[u8]| match r {
        Ok(v) => Ok(v.unwrap_or(0)),
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        Err(source) => Err(meta::MetaError::Field { field, source }),
    };
    let b = h.as_bytes();
    let major = num("device major", h.device_major(), &b[329..337])?;
    let minor = num("device minor", h.device_minor(), &b[337..345])?;
    Ok(libc::makedev(major, minor))
}
