//! Content digests (`sha256:<64 hex>`) and the stream wrappers that check them: every
//! blob is hashed and counted while it streams, and a blob that runs past the size its
//! descriptor gives, stops short of it, or hashes to something else is refused with an
//! error naming its digest (DESIGN.md rule 4).
//!
//! Only sha256 is accepted: it is what every registry and every tool writes, and the
//! store's layout has one directory, `blobs/sha256/`.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// The one algorithm the store knows.
pub const ALGORITHM: &str = "sha256";
const HEX_LEN: usize = 64;

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("malformed digest `{digest}`: want sha256:<64 lowercase hex digits>")]
    Malformed { digest: String },
    #[error("unsupported digest algorithm `{algorithm}` in `{digest}` (only sha256)")]
    Unsupported { digest: String, algorithm: String },
    #[error("blob {digest}: more bytes than the {size} its descriptor gives")]
    Oversized { digest: Digest, size: u64 },
    #[error("blob {digest}: truncated, {got} bytes of the {size} its descriptor gives")]
    Truncated { digest: Digest, size: u64, got: u64 },
    #[error("blob {digest}: content does not match its digest (it hashes to {actual})")]
    Mismatch { digest: Digest, actual: Digest },
}

impl DigestError {
    /// The `DigestError` a verifying stream put inside an `io::Error`, if it is one.
    pub fn from_io(e: &io::Error) -> Option<&DigestError> {
        e.get_ref().and_then(|i| i.downcast_ref::<DigestError>())
    }
}

/// A sha256 content digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Parses `sha256:<64 lowercase hex>`.
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let Some((algorithm, hex)) = s.split_once(':') else {
            return Err(DigestError::Malformed { digest: s.into() });
        };
        let algorithm_ok = !algorithm.is_empty()
            && algorithm
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b));
        if algorithm != ALGORITHM {
            if algorithm_ok && !hex.is_empty() {
                return Err(DigestError::Unsupported {
                    digest: s.into(),
                    algorithm: algorithm.into(),
                });
            }
            return Err(DigestError::Malformed { digest: s.into() });
        }
        Self::from_hex(hex).map_err(|_| DigestError::Malformed { digest: s.into() })
    }

    /// A digest from its 64 lowercase hex digits (a blob's file name, a layer dir).
    pub fn from_hex(hex: &str) -> Result<Digest, DigestError> {
        if hex.len() == HEX_LEN && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Digest { hex: hex.into() })
        } else {
            Err(DigestError::Malformed {
                digest: format!("{ALGORITHM}:{hex}"),
            })
        }
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Self::from_hasher(Sha256::new_with_prefix(bytes))
    }

    fn from_hasher(h: Sha256) -> Digest {
        let out = h.finalize();
        let mut hex = String::with_capacity(HEX_LEN);
        for b in out.iter() {
            hex.push(char::from(HEX[usize::from(b >> 4)]));
            hex.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        Digest { hex }
    }

    /// The 64 hex digits, without the algorithm (file and directory names).
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ALGORITHM}:{}", self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl TryFrom<&oci_spec::image::Digest> for Digest {
    type Error = DigestError;
    fn try_from(d: &oci_spec::image::Digest) -> Result<Self, Self::Error> {
        Digest::parse(d.as_ref())
    }
}

impl From<&Digest> for oci_spec::image::Digest {
    fn from(d: &Digest) -> Self {
        oci_spec::image::Sha256Digest::from_str(&d.hex)
            .map(Into::into)
            .expect("oci-spec accepts 64 lowercase hex digits, all a Digest ever holds")
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// What a descriptor promises about a blob: its digest and its size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub digest: Digest,
    pub size: u64,
}

impl Expected {
    /// Reads a descriptor's promise, refusing digests other than sha256.
    pub fn of(desc: &oci_spec::image::Descriptor) -> Result<Expected, DigestError> {
        Ok(Expected {
            digest: Digest::try_from(desc.digest())?,
            size: desc.size(),
        })
    }
}

/// Reads from `inner`, hashing and counting; fails with a [`DigestError`] (inside an
/// `io::Error` of kind `InvalidData`) as soon as more bytes come than the descriptor
/// gives, and at the end of the stream when the size or the digest is wrong. It never
/// asks `inner` for more than one byte past the expected size.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
    expected: Expected,
    verified: bool,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, expected: Expected) -> Self {
        VerifyingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
            expected,
            verified: false,
        }
    }

    /// Reads (and hashes) whatever the consumer left, then checks size and digest.
    pub fn verify_to_end(mut self) -> io::Result<R> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.inner)
    }

    fn check_end(&mut self) -> Result<(), DigestError> {
        let Expected { digest, size } = &self.expected;
        if self.count < *size {
            return Err(DigestError::Truncated {
                digest: digest.clone(),
                size: *size,
                got: self.count,
            });
        }
        let actual = Digest::from_hasher(std::mem::take(&mut self.hasher));
        if actual != *digest {
            return Err(DigestError::Mismatch {
                digest: digest.clone(),
                actual,
            });
        }
        Ok(())
    }
}

fn invalid(e: DigestError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.verified || buf.is_empty() {
            return Ok(0);
        }
        // One byte past the size is enough to know the blob is oversized.
        let room = self
            .expected
            .size
            .saturating_sub(self.count)
            .saturating_add(1);
        let want = usize::try_from(room).map_or(buf.len(), |r| r.min(buf.len()));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            self.check_end().map_err(invalid)?;
            self.verified = true;
            return Ok(0);
        }
        self.count += n as u64;
        if self.count > self.expected.size {
            return Err(invalid(DigestError::Oversized {
                digest: self.expected.digest.clone(),
                size: self.expected.size,
            }));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Writes through to `inner`, hashing and counting what passes: how the digest and size
/// of content hoist makes itself (imported layers, converted archives) are learnt.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The inner writer, the digest and the size of everything written.
    pub fn finish(self) -> (W, Digest, u64) {
        (self.inner, Digest::from_hasher(self.hasher), self.count)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn expected(data: &[u8]) -> Expected {
        Expected {
            digest: Digest::of(data),
            size: data.len() as u64,
        }
    }

    fn read_all(data: &[u8], exp: Expected) -> Result<Vec<u8>, DigestError> {
        let mut out = Vec::new();
        VerifyingReader::new(data, exp)
            .read_to_end(&mut out)
            .map_err(|e| DigestError::from_io(&e).cloned().expect("a digest error"))?;
        Ok(out)
    }

    #[test]
    fn parses_sha256() {
        let d = Digest::parse(&format!("sha256:{EMPTY}")).unwrap();
        assert_eq!(d.hex(), EMPTY);
        assert_eq!(d.to_string(), format!("sha256:{EMPTY}"));
        assert_eq!(Digest::of(b""), d);
        assert_eq!(Digest::from_hex(EMPTY).unwrap(), d);
    }

    #[test]
    fn refuses_other_algorithms_and_bad_hex() {
        let e = Digest::parse("sha512:abcd").unwrap_err();
        assert!(
            matches!(e, DigestError::Unsupported { ref algorithm, .. } if algorithm == "sha512")
        );
        assert!(e.to_string().contains("only sha256"), "{e}");
        for bad in [
            "",
            "sha256",
            "sha256:",
            ":abc",
            &format!("sha256:{}", &EMPTY[1..]),
            &format!("sha256:{EMPTY}0"),
            &format!("sha256:{}", EMPTY.to_uppercase()),
            &format!("sha256:{}g", &EMPTY[1..]),
            &format!("SHA256:{EMPTY}"),
            "../etc:passwd",
        ] {
            let e = Digest::parse(bad).unwrap_err();
            assert!(
                matches!(e, DigestError::Malformed { .. }),
                "{bad:?} gave {e:?}"
            );
            assert!(e.to_string().contains("malformed digest"), "{e}");
        }
    }

    #[test]
    fn serde_round_trip() {
        let d = Digest::of(b"x");
        let j = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Digest>(&j).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"md5:00\"").is_err());
    }

    #[test]
    fn oci_spec_round_trip() {
        let d = Digest::of(b"x");
        let o = oci_spec::image::Digest::from(&d);
        assert_eq!(o.to_string(), d.to_string());
        assert_eq!(Digest::try_from(&o).unwrap(), d);
    }

    #[test]
    fn reader_passes_good_content() {
        let data = b"hello, blob".repeat(1000);
        assert_eq!(read_all(&data, expected(&data)).unwrap(), data);
        assert_eq!(read_all(b"", expected(b"")).unwrap(), b"");
    }

    #[test]
    fn reader_refuses_oversized_truncated_and_corrupt() {
        let data = b"0123456789".to_vec();
        let mut exp = expected(&data);
        exp.size = 9;
        let e = read_all(&data, exp).unwrap_err();
        assert!(matches!(e, DigestError::Oversized { size: 9, .. }), "{e:?}");
        assert!(e.to_string().contains(&Digest::of(&data).to_string()));

        let e = read_all(&data[..5], expected(&data)).unwrap_err();
        assert!(
            matches!(
                e,
                DigestError::Truncated {
                    size: 10,
                    got: 5,
                    ..
                }
            ),
            "{e:?}"
        );

        let mut bad = data.clone();
        bad[3] ^= 1;
        let e = read_all(&bad, expected(&data)).unwrap_err();
        assert!(matches!(e, DigestError::Mismatch { .. }), "{e:?}");
        assert!(e.to_string().contains(&Digest::of(&data).to_string()));
    }

    #[test]
    fn reader_stops_an_endless_stream() {
        let exp = Expected {
            digest: Digest::of(b"7777"),
            size: 4,
        };
        let mut r = VerifyingReader::new(io::repeat(b'7'), exp);
        let e = r.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(matches!(
            DigestError::from_io(&e),
            Some(DigestError::Oversized { size: 4, .. })
        ));
        assert_eq!(r.count, 5);
    }

    #[test]
    fn verify_to_end_drains() {
        let data = b"abc".to_vec();
        let mut r = VerifyingReader::new(&data[..], expected(&data));
        let mut one = [0u8; 1];
        r.read_exact(&mut one).unwrap();
        r.verify_to_end().unwrap();
    }

    #[test]
    fn hashing_writer_counts() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        w.write_all(b"def").unwrap();
        let (v, d, n) = w.finish();
        assert_eq!(v, b"abcdef");
        assert_eq!(n, 6);
        assert_eq!(d, Digest::of(b"abcdef"));
    }
}
