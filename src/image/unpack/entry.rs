//! The unpack loop: the tar crate's entries one by one, each checked (name, type,
//! metadata) and applied under the layer root (`resolve` finds the parent, `node` makes
//! the object, `data` writes a file's bytes), directory times set last, once their
//! content is in.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::mpsc::sync_channel;

use tar::EntryType;

use super::data::{self, DataError};
use super::hash::Hasher;
use super::meta::{self, MetaError, Pax};
use super::path::{self, NameError, Whiteout};
use super::pipe::{self, Chunk, ChunkReader};
use super::resolve::{self, Existing};
use super::sparse::{SparseError, HOLE_BUDGET};
use super::stream::{self, Compression, Shared, Stream, HEADER_BUDGET};
use super::{node, tree, Step, UnpackError};
use crate::sys::{self, Times};

/// Unpacks the stream into the directory `root` (open for reading) and returns the hex
/// sha256 of the uncompressed stream. This thread reads and decompresses; the entries
/// are applied on a thread of their own (`pipe`).
pub fn unpack_into(
    root: OwnedFd,
    reader: impl Read,
    compression: Compression,
    diff_id: &str,
) -> Result<String, UnpackError> {
    let (decoded, read_step) = stream::decompress(reader, compression)
        .map_err(|e| At::new(diff_id, "").stream("start reading", e))?;
    let (tx, rx) = sync_channel::<Chunk>(pipe::DEPTH);
    let mut hasher = Hasher::new();
    std::thread::scope(|s| {
        let worker = std::thread::Builder::new()
            .name("hoist-unpack".into())
            .spawn_scoped(s, move || {
                apply(root, ChunkReader::new(rx), diff_id, read_step)
            })
            .map_err(|e| At::new(diff_id, "").stream("start the unpacking thread", e))?;
        // A stopped pump means the worker failed: its error is the one to report.
        let _ = pipe::pump(decoded, &tx, &mut hasher);
        drop(tx);
        match worker.join() {
            Ok(applied) => applied,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })?;
    hasher
        .finish()
        .map_err(|e| At::new(diff_id, "").stream("hash the layer", e))
}

/// The applying side: the tar stream parsed from `input` and applied under `root`, then
/// read to its end.
fn apply(
    root: OwnedFd,
    input: ChunkReader,
    diff_id: &str,
    read_step: &'static str,
) -> Result<(), UnpackError> {
    let (stream, shared) = Stream::new(input);
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
            .map_err(|e| At::new(diff_id, "").stream("read the tar stream", e))?;
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
                let shown = path::display(&entry.path_bytes());
                return Err(At::new(diff_id, &shown).truncated());
            }
            last = u.entry(&mut entry)?;
        }
    }
    u.finish()?;
    let step = u.source_step();
    archive
        .into_inner()
        .finish()
        .map_err(|e| At::new(diff_id, &last).stream(step, e))
}

/// The layer and entry an error is about.
#[derive(Clone, Copy)]
struct At<'a> {
    diff_id: &'a str,
    path: &'a str,
}

impl<'a> At<'a> {
    fn new(diff_id: &'a str, path: &'a str) -> Self {
        At { diff_id, path }
    }
    fn apply(self, (step, source): (Step, io::Error)) -> UnpackError {
        UnpackError::Apply {
            diff_id: self.diff_id.to_owned(),
            path: self.path.to_owned(),
            step,
            source,
        }
    }
    fn name(self, reason: NameError) -> UnpackError {
        UnpackError::Name {
            diff_id: self.diff_id.to_owned(),
            path: self.path.to_owned(),
            reason,
        }
    }
    fn meta(self, source: MetaError) -> UnpackError {
        UnpackError::Meta {
            diff_id: self.diff_id.to_owned(),
            path: self.path.to_owned(),
            source,
        }
    }
    fn sparse(self, reason: SparseError) -> UnpackError {
        UnpackError::Sparse {
            diff_id: self.diff_id.to_owned(),
            path: self.path.to_owned(),
            reason,
        }
    }
    fn truncated(self) -> UnpackError {
        UnpackError::Truncated {
            diff_id: self.diff_id.to_owned(),
            path: self.path.to_owned(),
        }
    }
    fn stream(self, step: &'static str, source: io::Error) -> UnpackError {
        UnpackError::Stream {
            diff_id: self.diff_id.to_owned(),
            step,
            after: self.path.to_owned(),
            source,
        }
    }
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

/// Where an entry goes: its resolved parent and its name there.
struct Slot<'p> {
    parent: OwnedFd,
    parent_rel: &'p Path,
    name: &'p OsStr,
    existing: Existing,
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
    /// The last parent directory used: tars list a directory's entries together. Kept
    /// only while no entry removed anything, which could change what a path resolves to.
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

    fn header_error(&self, last: &str, source: io::Error) -> UnpackError {
        let step = if self.shared.source_failed.get() {
            self.read_step
        } else if self.shared.padded.get() > 0 {
            "the stream ends inside a tar header"
        } else if last.is_empty() {
            "read the first tar header"
        } else {
            "read the next tar header"
        };
        At::new(self.diff_id, last).stream(step, source)
    }

    fn data_err(&self, at: At<'_>, e: DataError) -> UnpackError {
        match e {
            DataError::Short => at.truncated(),
            DataError::Read(source) => at.stream(self.source_step(), source),
            DataError::Write(source) => at.apply((Step::WriteData, source)),
            DataError::Sparse(reason) => at.sparse(reason),
        }
    }

    /// Applies one entry; returns its name for messages.
    fn entry<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<String, UnpackError> {
        let header_name = e.path_bytes().into_owned();
        let kind = kind(e.header(), &header_name).map_err(|k| UnpackError::EntryType {
            diff_id: self.diff_id.to_owned(),
            path: path::display(&header_name),
            kind: char::from(k),
        })?;
        if kind == Kind::Skip {
            // A PAX global header's records are the entry itself: nothing to apply.
            let shown = path::display(&header_name);
            self.drain(e, At::new(self.diff_id, &shown))?;
            return Ok(shown);
        }
        let pax = meta::pax(e)
            .map_err(|err| At::new(self.diff_id, &path::display(&header_name)).meta(err))?;
        let raw = pax.sparse.name.clone().unwrap_or(header_name);
        let shown = path::display(&raw);
        let at = At::new(self.diff_id, &shown);
        match path::normalize(&raw).map_err(|r| at.name(r))? {
            None if kind == Kind::Dir => self.root_entry(e.header(), &pax, at)?,
            None => return Err(at.name(NameError::RootNotDir)),
            Some(rel) => self.named(e, kind, &rel, &pax, at)?,
        }
        self.drain(e, at)?;
        Ok(shown)
    }

    fn root_entry(&mut self, h: &tar::Header, pax: &Pax, at: At<'_>) -> Result<(), UnpackError> {
        let m = meta::meta(h, pax).map_err(|e| at.meta(e))?;
        node::set_fd_meta(self.root.as_fd(), &m).map_err(|f| at.apply(f))?;
        self.dir_times.insert(PathBuf::new(), m.times);
        self.root_meta = true;
        Ok(())
    }

    /// The parent directory `rel`, made if missing.
    fn parent(&mut self, rel: &Path, at: At<'_>) -> Result<OwnedFd, UnpackError> {
        if let Some((p, fd)) = self.cache.take() {
            if p == rel {
                return Ok(fd);
            }
        }
        resolve::make_dir(self.root.as_fd(), rel)
            .map_err(|e| at.apply((Step::Parent(e.at), e.source)))
    }

    /// Keeps the parent of an entry for the next one, unless the entry removed something.
    fn keep(&mut self, slot: Slot<'_>, removed: bool) {
        if !removed {
            self.cache = Some((slot.parent_rel.to_path_buf(), slot.parent));
        }
    }

    fn named<R: Read>(
        &mut self,
        e: &mut tar::Entry<'_, R>,
        kind: Kind,
        rel: &Path,
        pax: &Pax,
        at: At<'_>,
    ) -> Result<(), UnpackError> {
        let (parent_rel, name) = path::split(rel);
        let wh = path::whiteout(name).map_err(|r| at.name(r))?;
        if wh == Whiteout::Aufs {
            return Ok(());
        }
        let parent = self.parent(parent_rel, at)?;
        let existing_of = |n: &OsStr| {
            resolve::existing(parent.as_fd(), n)
                .map_err(|source| at.apply((Step::Parent(parent_rel.to_path_buf()), source)))
        };
        let target = match wh {
            Whiteout::Remove(target) => target,
            _ => name,
        };
        let slot = Slot {
            existing: existing_of(target)?,
            parent,
            parent_rel,
            name: target,
        };
        let p = slot.parent.as_fd();
        let removed = match (wh, kind) {
            (Whiteout::Opaque, _) => node::opaque(p).map(|()| false),
            (Whiteout::Remove(_), _) => node::whiteout(p, target, slot.existing).map(|()| false),
            (_, Kind::File) => return self.file(e, slot, rel, pax, at),
            (_, Kind::Hardlink) => return self.hardlink(e, slot, rel, at),
            (_, kind) => {
                let m = meta::meta(e.header(), pax).map_err(|err| at.meta(err))?;
                if kind == Kind::Dir {
                    self.dir_times.insert(rel.to_path_buf(), m.times);
                } else {
                    self.dir_times.remove(rel);
                }
                match kind {
                    Kind::Dir => node::dir(p, name, slot.existing, &m),
                    Kind::Symlink => {
                        let target = e.link_name_bytes().unwrap_or_default();
                        node::symlink(p, name, slot.existing, OsStr::from_bytes(&target), &m)
                    }
                    Kind::Node(t) => {
                        let dev = match t {
                            libc::S_IFIFO => 0,
                            _ => device(e.header()).map_err(|err| at.meta(err))?,
                        };
                        node::special(p, name, slot.existing, t, dev, &m)
                    }
                    Kind::File | Kind::Hardlink | Kind::Skip => Ok(false),
                }
            }
        };
        let removed = removed.map_err(|f| at.apply(f))?;
        self.keep(slot, removed);
        Ok(())
    }

    fn file<R: Read>(
        &mut self,
        e: &mut tar::Entry<'_, R>,
        slot: Slot<'_>,
        rel: &Path,
        pax: &Pax,
        at: At<'_>,
    ) -> Result<(), UnpackError> {
        let m = meta::meta(e.header(), pax).map_err(|err| at.meta(err))?;
        let sparse = pax.sparse.parse().map_err(|r| at.sparse(r))?;
        let gnu = e.header().entry_type().is_gnu_sparse();
        if gnu {
            let stored = e.header().entry_size().unwrap_or(0);
            self.holes = self.holes.saturating_add(e.size().saturating_sub(stored));
            if self.holes > HOLE_BUDGET {
                return Err(at.sparse(SparseError::HoleBudget));
            }
        }
        self.dir_times.remove(rel);
        let (file, removed) = node::create_file(slot.parent.as_fd(), slot.name, slot.existing)
            .map_err(|f| at.apply(f))?;
        let size = e.size();
        let mut buf = std::mem::take(&mut self.buf);
        let r = match sparse {
            Some(s) => data::pax_sparse(e, &file, size, s, &mut buf),
            None if gnu => data::gnu_sparse(e, &file, size, &mut buf),
            None => data::plain(e, &file, size, &mut buf),
        };
        self.buf = buf;
        r.map_err(|err| self.data_err(at, err))?;
        if self.shared.padded.get() > 0 {
            return Err(at.truncated());
        }
        node::finish_file(&file, &m).map_err(|f| at.apply(f))?;
        self.keep(slot, removed);
        Ok(())
    }

    fn hardlink<R: Read>(
        &mut self,
        e: &mut tar::Entry<'_, R>,
        slot: Slot<'_>,
        rel: &Path,
        at: At<'_>,
    ) -> Result<(), UnpackError> {
        let raw = e.link_name_bytes().unwrap_or_default().into_owned();
        let shown = path::display(&raw);
        let target_err = |reason| UnpackError::LinkTarget {
            diff_id: self.diff_id.to_owned(),
            path: at.path.to_owned(),
            target: shown.clone(),
            reason,
        };
        let target = path::normalize(&raw)
            .map_err(target_err)?
            .ok_or_else(|| target_err(NameError::Root))?;
        if target == rel {
            return Ok(());
        }
        self.dir_times.remove(rel);
        let (tp, tn) = path::split(&target);
        let tdir = resolve::open_dir(self.root.as_fd(), tp)
            .map_err(|source| at.apply((Step::CreateHardlink(shown.clone()), source)))?;
        let p = slot.parent.as_fd();
        let removed = node::hardlink(p, slot.name, slot.existing, &tdir, tn, &shown)
            .map_err(|f| at.apply(f))?;
        self.keep(slot, removed);
        Ok(())
    }

    /// Reads what is left of an entry's data (whiteouts, links and global headers may
    /// carry some) and checks that the stream did not end inside it.
    fn drain<R: Read>(&mut self, e: &mut tar::Entry<'_, R>, at: At<'_>) -> Result<(), UnpackError> {
        loop {
            match e.read(&mut self.buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(self.data_err(at, DataError::Read(err))),
            }
        }
        if self.shared.padded.get() > 0 {
            return Err(at.truncated());
        }
        Ok(())
    }

    /// Sets the directory times recorded on the way (their content is in now) and gives
    /// the root 0755 when the layer did not say.
    fn finish(&mut self) -> Result<(), UnpackError> {
        self.cache = None;
        let root = self.root.as_fd();
        let at_root = At::new(self.diff_id, "/");
        if !self.root_meta {
            sys::fchmod(root, 0o755).map_err(|e| at_root.apply((Step::SetMode, e)))?;
        }
        for (rel, times) in &self.dir_times {
            if rel.as_os_str().is_empty() {
                sys::futimens(root, times).map_err(|e| at_root.apply((Step::SetTimes, e)))?;
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
            let shown = rel.display().to_string();
            sys::utimens_at(dir.as_fd(), n, times)
                .map_err(|e| At::new(self.diff_id, &shown).apply((Step::SetTimes, e)))?;
        }
        Ok(())
    }
}

/// The device number of a character or block device entry. GNU tar leaves the fields
/// empty for fifos (and some writers for devices 0:0): empty reads as 0.
fn device(h: &tar::Header) -> Result<u64, MetaError> {
    let num = |field, r: io::Result<Option<u32>>, raw: &[u8]| match r {
        Ok(v) => Ok(v.unwrap_or(0)),
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        Err(source) => Err(MetaError::Field { field, source }),
    };
    let b = h.as_bytes();
    let major = num("device major", h.device_major(), &b[329..337])?;
    let minor = num("device minor", h.device_minor(), &b[337..345])?;
    Ok(libc::makedev(major, minor))
}
