//! Writing a regular file's data from its entry: plainly, with GNU sparse holes kept as
//! holes, or chunk by chunk from a PAX sparse map.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;

use super::sparse::{self, Layout, Sparse, SparseError};

/// Why the data could not be written.
#[derive(Debug)]
pub enum DataError {
    Read(io::Error),
    Write(io::Error),
    /// The entry's data ended before its size.
    Short,
    Sparse(SparseError),
}

fn read(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, DataError> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other.map_err(DataError::Read),
        }
    }
}

/// Copies exactly `size` bytes.
pub fn plain(
    r: &mut impl Read,
    mut file: &File,
    size: u64,
    buf: &mut [u8],
) -> Result<(), DataError> {
    let mut done = 0u64;
    while done < size {
        let want = usize::try_from(size - done)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = read(r, &mut buf[..want])?;
        if n == 0 {
            return Err(DataError::Short);
        }
        file.write_all(&buf[..n]).map_err(DataError::Write)?;
        done += n as u64;
    }
    Ok(())
}

/// Copies a GNU sparse entry of real size `size`, whose holes the tar crate hands out
/// as zeros: zero runs are skipped, so they stay holes.
pub fn gnu_sparse(
    r: &mut impl Read,
    file: &File,
    size: u64,
    buf: &mut [u8],
) -> Result<(), DataError> {
    let mut off = 0u64;
    while off < size {
        let want = usize::try_from(size - off)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = read(r, &mut buf[..want])?;
        if n == 0 {
            return Err(DataError::Short);
        }
        if !sparse::is_zero(&buf[..n]) {
            file.write_all_at(&buf[..n], off)
                .map_err(DataError::Write)?;
        }
        off += n as u64;
    }
    file.set_len(size).map_err(DataError::Write)
}

/// Copies a PAX sparse entry whose stored data is `stored` bytes: each chunk at its
/// offset, then the file extended to its real size.
pub fn pax_sparse(
    r: &mut impl Read,
    file: &File,
    stored: u64,
    s: Sparse,
    buf: &mut [u8],
) -> Result<(), DataError> {
    let (map, used) = match s.layout {
        Layout::Records(map) => (map, 0),
        Layout::InData => match sparse::read_map(r) {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => return Err(DataError::Sparse(e)),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(DataError::Short),
            Err(e) => return Err(DataError::Read(e)),
        },
    };
    let data = stored
        .checked_sub(used)
        .ok_or(DataError::Sparse(SparseError::BadMap(
            "map larger than the entry",
        )))?;
    sparse::check(&map, s.size, data).map_err(DataError::Sparse)?;
    for (off, len) in map {
        let mut done = 0u64;
        while done < len {
            let want = usize::try_from(len - done)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            let n = read(r, &mut buf[..want])?;
            if n == 0 {
                return Err(DataError::Short);
            }
            file.write_all_at(&buf[..n], off + done)
                .map_err(DataError::Write)?;
            done += n as u64;
        }
    }
    file.set_len(s.size).map_err(DataError::Write)
}
