//! The layer byte stream between the blob and the tar parser: decompression chosen by
//! media type (or by magic bytes when the type says plain tar), and, on the applying
//! side of the pipe, two guards the tar crate lacks:
//!
//! - Layers that end without the end-of-archive blocks, or even without the padding of
//!   their last entry (umoci 0.4.7 `insert` writes those; ../shared/HOST.md), are what Go
//!   tools accept. At end of stream the tar crate would fail to skip that padding, so
//!   the stream hands out zeros up to the next 512-byte block and counts them; the
//!   unpacker refuses an entry whose data included any such zero (a truncated entry).
//! - The tar crate reads PAX headers, GNU long names and sparse maps into memory; a
//!   budget on the bytes read between two entries bounds that memory.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

/// How the layer is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    /// Plain tar as the media type says; gzip or zstd magic bytes still win.
    Sniff,
}

/// The compression a layer media type names, `None` for a type that is no tar layer.
/// An empty type (a `docker save` archive says none) is sniffed.
pub fn compression_for(media_type: &str) -> Option<Compression> {
    let t = media_type.trim();
    if t.is_empty() || t.ends_with(".tar") || t.ends_with("+tar") || t == "tar" {
        return Some(Compression::Sniff);
    }
    if t.ends_with("tar+gzip") || t.ends_with("tar.gzip") || t.ends_with("tar.gz") {
        return Some(Compression::Gzip);
    }
    if t.ends_with("tar+zstd") || t.ends_with("tar.zstd") {
        return Some(Compression::Zstd);
    }
    None
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// Wraps `reader` in the decompressor `compression` says; `Sniff` looks at the first
/// bytes. The step names what the stream does, for error messages.
pub fn decompress<'r>(
    mut reader: impl Read + 'r,
    compression: Compression,
) -> io::Result<(Box<dyn Read + 'r>, &'static str)> {
    let mut kind = compression;
    let mut head = [0u8; 4];
    let mut got = 0;
    if kind == Compression::Sniff {
        while got < head.len() {
            match reader.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if head[..got].starts_with(GZIP_MAGIC) {
            kind = Compression::Gzip;
        } else if head[..got].starts_with(ZSTD_MAGIC) {
            kind = Compression::Zstd;
        }
    }
    let reader = io::Cursor::new(head).take(got as u64).chain(reader);
    // The pipe reads 1 MiB at a time: no buffer is needed on this side.
    Ok(match kind {
        Compression::Gzip => (
            Box::new(flate2::read::MultiGzDecoder::new(reader)),
            "decompress gzip",
        ),
        Compression::Zstd => (
            Box::new(zstd::stream::read::Decoder::new(reader)?),
            "decompress zstd",
        ),
        Compression::Sniff => (Box::new(reader), "read the layer"),
    })
}

/// Bytes the tar parser may read between two entries (headers, PAX records, long names,
/// sparse maps). Go's archive/tar allows 1 MiB of PAX records; this leaves room for
/// large xattrs and sparse maps.
pub const HEADER_BUDGET: u64 = 16 << 20;

/// What the unpacker and the stream share while the tar parser owns the stream.
#[derive(Debug, Default)]
pub struct Shared {
    /// Zero bytes handed out after the real end of the stream.
    pub padded: Cell<u64>,
    /// The source (blob reader or decompressor) failed.
    pub source_failed: Cell<bool>,
    /// Bytes still allowed before the next entry, when headers are being read.
    pub budget: Cell<Option<u64>>,
}

/// The uncompressed layer as the tar parser reads it: counted, padded at its end,
/// budgeted.
pub struct Stream<R> {
    inner: R,
    /// Real bytes read from `inner`.
    real: u64,
    eof: bool,
    shared: Rc<Shared>,
}

impl<R: Read> Stream<R> {
    pub fn new(inner: R) -> (Self, Rc<Shared>) {
        let shared = Rc::new(Shared::default());
        let s = Stream {
            inner,
            real: 0,
            eof: false,
            shared: Rc::clone(&shared),
        };
        (s, shared)
    }

    /// Reads what is left: bytes after the end-of-archive blocks count towards the
    /// diff_id too, so the reading side must get to the end.
    pub fn finish(mut self) -> io::Result<()> {
        self.shared.budget.set(None);
        let mut buf = vec![0u8; 64 << 10];
        while !self.eof {
            match self.read(&mut buf) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Stream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut want = buf.len();
        if let Some(left) = self.shared.budget.get() {
            if left == 0 && want > 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("tar headers of one entry exceed {HEADER_BUDGET} bytes"),
                ));
            }
            want = want.min(usize::try_from(left).unwrap_or(usize::MAX));
        }
        let n = if self.eof {
            0
        } else {
            match self.inner.read(&mut buf[..want]) {
                Ok(n) => n,
                Err(e) => {
                    if e.kind() != io::ErrorKind::Interrupted {
                        self.shared.source_failed.set(true);
                    }
                    return Err(e);
                }
            }
        };
        let n = if n > 0 {
            self.real += n as u64;
            n
        } else {
            // The real end: complete the current 512-byte block with zeros.
            self.eof = want > 0 || self.eof;
            let pos = self.real + self.shared.padded.get();
            let rest = usize::try_from((512 - pos % 512) % 512).unwrap_or(0);
            let z = rest.min(want);
            buf[..z].fill(0);
            self.shared.padded.set(self.shared.padded.get() + z as u64);
            z
        };
        if let Some(left) = self.shared.budget.get() {
            self.shared.budget.set(Some(left - n as u64));
        }
        Ok(n)
    }
}

/// Lowercase hex of a byte string.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        use Compression::*;
        let c = compression_for;
        assert_eq!(c("application/vnd.oci.image.layer.v1.tar"), Some(Sniff));
        assert_eq!(c("application/vnd.oci.image.layer.v1.tar+gzip"), Some(Gzip));
        assert_eq!(c("application/vnd.oci.image.layer.v1.tar+zstd"), Some(Zstd));
        assert_eq!(
            c("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"),
            Some(Gzip)
        );
        assert_eq!(
            c("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some(Gzip)
        );
        assert_eq!(
            c("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"),
            Some(Gzip)
        );
        assert_eq!(c(""), Some(Sniff));
        assert_eq!(c("application/vnd.oci.image.config.v1+json"), None);
        assert_eq!(c("application/vnd.oci.image.layer.v1.tar+bzip2"), None);
    }

    #[test]
    fn pads_to_a_block() {
        let (mut s, shared) = Stream::new(&b"abc"[..]);
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 512);
        assert_eq!(&out[..3], b"abc");
        assert_eq!(shared.padded.get(), 509);
        s.finish().unwrap();
    }

    #[test]
    fn a_whole_block_gets_no_padding() {
        let data = vec![7u8; 1024];
        let (mut s, shared) = Stream::new(&data[..]);
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 1024);
        assert_eq!(shared.padded.get(), 0);
    }

    #[test]
    fn budget_stops_runaway_headers() {
        let data = [1u8; 100];
        let (mut s, shared) = Stream::new(&data[..]);
        shared.budget.set(Some(10));
        let mut buf = [0u8; 64];
        assert_eq!(s.read(&mut buf).unwrap(), 10);
        assert!(s.read(&mut buf).is_err());
        shared.budget.set(None);
        assert_eq!(s.read(&mut buf).unwrap(), 64);
    }

    #[test]
    fn sniffs_gzip_and_zstd() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, b"hello").unwrap();
        let gz = gz.finish().unwrap();
        let (mut r, step) = decompress(&gz[..], Compression::Sniff).unwrap();
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        assert_eq!((out.as_str(), step), ("hello", "decompress gzip"));

        let zs = zstd::encode_all(&b"hello"[..], 1).unwrap();
        let (mut r, step) = decompress(&zs[..], Compression::Sniff).unwrap();
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        assert_eq!((out.as_str(), step), ("hello", "decompress zstd"));

        let (mut r, _) = decompress(&b"hi"[..], Compression::Sniff).unwrap();
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        assert_eq!(out, "hi");
    }
}
