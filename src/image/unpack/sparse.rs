//! Sparse files, in both forms GNU tar writes:
//!
//! - GNU `S` entries: the tar crate reads their map and hands out the holes as zeros.
//!   The unpacker writes zero runs as holes (seeks past them), so holes stay holes on
//!   disk, and bounds the hole bytes one layer may claim (`HOLE_BUDGET`), since even
//!   zeros that are never written cost time to hand out.
//! - PAX sparse formats 0.0, 0.1 (map in PAX records) and 1.0 (map at the start of the
//!   data; `tar --sparse --format=posix`), which Go's archive/tar reads and the tar crate
//!   does not: the map is read here and each chunk written at its offset, so holes cost
//!   nothing.

use std::io::{self, Read};

/// Hole bytes of GNU sparse entries one layer may claim. Handing out and skipping
/// zeros runs at memory speed (8 GiB of holes take 0.24 s here), so this bounds the
/// time a layer can make us spend on them to about 2 s.
pub const HOLE_BUDGET: u64 = 64 << 30;

/// Chunks a sparse map may list (each costs 16 bytes of memory).
const MAX_CHUNKS: usize = 1 << 20;

/// Why a sparse entry is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SparseError {
    #[error("sparse holes add up to more than {} GiB in this layer", HOLE_BUDGET >> 30)]
    HoleBudget,
    #[error("PAX sparse map is malformed ({0})")]
    BadMap(&'static str),
    #[error("PAX sparse format {major}.{minor} is unknown")]
    Version { major: String, minor: String },
}

/// The `GNU.sparse.*` PAX records of one entry, as they came.
#[derive(Debug, Default, Clone)]
pub struct PaxSparse {
    major: Option<String>,
    minor: Option<String>,
    pub name: Option<Vec<u8>>,
    size: Option<String>,
    map: Option<String>,
    /// 0.0: `offset` and `numbytes` records in order.
    pairs: Vec<String>,
    seen: bool,
}

/// Where the map of a PAX sparse entry is.
#[derive(Debug, PartialEq, Eq)]
pub enum Layout {
    /// Map from the PAX records (0.0, 0.1): the data is the chunks, back to back.
    Records(Vec<(u64, u64)>),
    /// Map at the start of the data (1.0), padded to 512 bytes, then the chunks.
    InData,
}

/// A PAX sparse entry: its real size and where its map is.
#[derive(Debug, PartialEq, Eq)]
pub struct Sparse {
    pub size: u64,
    pub layout: Layout,
}

impl PaxSparse {
    /// Takes one `GNU.sparse.*` record.
    pub fn record(&mut self, key: &[u8], value: &[u8]) {
        let v = || String::from_utf8_lossy(value).into_owned();
        self.seen = true;
        match key {
            b"GNU.sparse.major" => self.major = Some(v()),
            b"GNU.sparse.minor" => self.minor = Some(v()),
            b"GNU.sparse.name" => self.name = Some(value.to_vec()),
            b"GNU.sparse.realsize" | b"GNU.sparse.size" => self.size = Some(v()),
            b"GNU.sparse.map" => self.map = Some(v()),
            b"GNU.sparse.offset" | b"GNU.sparse.numbytes" if self.pairs.len() < MAX_CHUNKS * 2 => {
                self.pairs.push(v());
            }
            _ => {}
        }
    }

    /// The entry's sparse form, `None` when it is an ordinary file.
    pub fn parse(&self) -> Result<Option<Sparse>, SparseError> {
        if !self.seen {
            return Ok(None);
        }
        let size = || -> Result<u64, SparseError> {
            let s = self
                .size
                .as_deref()
                .ok_or(SparseError::BadMap("no real size"))?;
            s.parse().map_err(|_| SparseError::BadMap("real size"))
        };
        let layout = match (self.major.as_deref(), self.minor.as_deref()) {
            (Some("1"), Some("0")) => Layout::InData,
            (Some(major), minor) if major != "0" => {
                return Err(SparseError::Version {
                    major: major.to_owned(),
                    minor: minor.unwrap_or("").to_owned(),
                })
            }
            _ => {
                if let Some(m) = &self.map {
                    Layout::Records(pairs(m.split(',').filter(|s| !s.is_empty()))?)
                } else if !self.pairs.is_empty() {
                    Layout::Records(pairs(self.pairs.iter().map(String::as_str))?)
                } else {
                    return Ok(None);
                }
            }
        };
        Ok(Some(Sparse {
            size: size()?,
            layout,
        }))
    }
}

fn pairs<'a>(nums: impl Iterator<Item = &'a str>) -> Result<Vec<(u64, u64)>, SparseError> {
    let nums: Vec<u64> = nums
        .map(|s| s.trim().parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| SparseError::BadMap("a number"))?;
    if !nums.len().is_multiple_of(2) || nums.len() / 2 > MAX_CHUNKS {
        return Err(SparseError::BadMap("odd or too many numbers"));
    }
    Ok(nums.chunks_exact(2).map(|c| (c[0], c[1])).collect())
}

/// Data chunks of a sparse file: (offset, length).
pub type Map = Vec<(u64, u64)>;

/// Reads the 1.0 map from the start of the entry's data: decimal numbers one per line
/// (count, then offset and length pairs), padded to 512 bytes. Returns the map and the
/// bytes it took.
pub fn read_map(r: &mut impl Read) -> io::Result<Result<(Map, u64), SparseError>> {
    let mut block = [0u8; 512];
    let mut used = 0u64;
    let mut nums: Vec<u64> = Vec::new();
    let mut cur: Option<u64> = None;
    let mut want: Option<usize> = None;
    loop {
        r.read_exact(&mut block)?;
        used += 512;
        for &b in &block {
            match b {
                b'0'..=b'9' => {
                    let d = u64::from(b - b'0');
                    cur = match cur
                        .unwrap_or(0)
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(d))
                    {
                        Some(v) => Some(v),
                        None => return Ok(Err(SparseError::BadMap("number overflow"))),
                    };
                }
                b'\n' => {
                    let Some(v) = cur.take() else {
                        return Ok(Err(SparseError::BadMap("empty line")));
                    };
                    if want.is_none() {
                        let n = usize::try_from(v).unwrap_or(usize::MAX);
                        if n > MAX_CHUNKS {
                            return Ok(Err(SparseError::BadMap("too many chunks")));
                        }
                        want = Some(n * 2);
                    } else {
                        nums.push(v);
                    }
                    if want == Some(nums.len()) {
                        let map = nums.chunks_exact(2).map(|c| (c[0], c[1])).collect();
                        return Ok(Ok((map, used)));
                    }
                }
                _ => return Ok(Err(SparseError::BadMap("not a number"))),
            }
        }
    }
}

/// Checks a map against the real size and the data bytes the entry holds for chunks:
/// chunks in order, not overlapping, inside the file, and adding up to the data.
pub fn check(map: &[(u64, u64)], size: u64, data: u64) -> Result<(), SparseError> {
    let mut end = 0u64;
    let mut total = 0u64;
    for &(off, len) in map {
        if off < end {
            return Err(SparseError::BadMap("chunks out of order or overlapping"));
        }
        end = off
            .checked_add(len)
            .filter(|e| *e <= size)
            .ok_or(SparseError::BadMap("chunk past the end of the file"))?;
        total = total
            .checked_add(len)
            .ok_or(SparseError::BadMap("chunk lengths overflow"))?;
    }
    if total != data {
        return Err(SparseError::BadMap(
            "chunks do not add up to the entry's data",
        ));
    }
    Ok(())
}

/// Whether a buffer is all zeros (in 64-byte steps the compiler vectorises).
pub fn is_zero(b: &[u8]) -> bool {
    let mut chunks = b.chunks_exact(64);
    for c in &mut chunks {
        if c.iter().fold(0u8, |a, x| a | x) != 0 {
            return false;
        }
    }
    chunks.remainder().iter().all(|x| *x == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(pairs: &[(&str, &str)]) -> PaxSparse {
        let mut s = PaxSparse::default();
        for (k, v) in pairs {
            s.record(k.as_bytes(), v.as_bytes());
        }
        s
    }

    #[test]
    fn not_sparse() {
        assert_eq!(PaxSparse::default().parse().unwrap(), None);
    }

    #[test]
    fn format_0_1_and_0_0() {
        let s = rec(&[("GNU.sparse.size", "100"), ("GNU.sparse.map", "0,10,90,10")]);
        assert_eq!(
            s.parse().unwrap(),
            Some(Sparse {
                size: 100,
                layout: Layout::Records(vec![(0, 10), (90, 10)])
            })
        );
        let s = rec(&[
            ("GNU.sparse.size", "100"),
            ("GNU.sparse.numblocks", "1"),
            ("GNU.sparse.offset", "50"),
            ("GNU.sparse.numbytes", "5"),
        ]);
        assert_eq!(
            s.parse().unwrap().unwrap().layout,
            Layout::Records(vec![(50, 5)])
        );
    }

    #[test]
    fn format_1_0() {
        let s = rec(&[
            ("GNU.sparse.major", "1"),
            ("GNU.sparse.minor", "0"),
            ("GNU.sparse.name", "real"),
            ("GNU.sparse.realsize", "4096"),
        ]);
        assert_eq!(s.name.as_deref(), Some(&b"real"[..]));
        assert_eq!(
            s.parse().unwrap(),
            Some(Sparse {
                size: 4096,
                layout: Layout::InData
            })
        );
        assert!(
            rec(&[("GNU.sparse.major", "2"), ("GNU.sparse.realsize", "1")])
                .parse()
                .is_err()
        );
        assert!(rec(&[("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0")])
            .parse()
            .is_err());
    }

    #[test]
    fn map_in_data() {
        let mut data = b"2\n0\n10\n4000\n96\n".to_vec();
        data.resize(512, 0);
        let (map, used) = read_map(&mut &data[..]).unwrap().unwrap();
        assert_eq!(map, vec![(0, 10), (4000, 96)]);
        assert_eq!(used, 512);
        let mut bad = b"2\n0\nx\n".to_vec();
        bad.resize(512, 0);
        assert!(read_map(&mut &bad[..]).unwrap().is_err());
        // Runs out of data before the map ends.
        assert!(read_map(&mut &b"2\n0\n"[..]).is_err());
    }

    #[test]
    fn map_checks() {
        assert!(check(&[(0, 10), (90, 10)], 100, 20).is_ok());
        assert!(check(&[(0, 10), (5, 10)], 100, 20).is_err());
        assert!(check(&[(95, 10)], 100, 10).is_err());
        assert!(check(&[(0, 10)], 100, 11).is_err());
        assert!(check(&[(u64::MAX, 10)], u64::MAX, 10).is_err());
    }

    #[test]
    fn zeros() {
        assert!(is_zero(&[0u8; 1000]));
        let mut b = [0u8; 1000];
        b[999] = 1;
        assert!(!is_zero(&b));
        b[999] = 0;
        b[3] = 1;
        assert!(!is_zero(&b));
        assert!(is_zero(&[]));
    }
}
