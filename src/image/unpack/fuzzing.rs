//! The body of the `unpack` fuzz target (fuzz/fuzz_targets/unpack.rs), public so that
//! cargo-fuzz calls it and `cargo test` runs it over a fixed set of mutated layers.
//!
//! Arbitrary bytes are unpacked as a layer (plain tar, gzip and zstd sniffed) into a
//! scratch directory that also holds a sentinel directory beside the layers directory;
//! a successful unpack is rendered too. Whatever the bytes: no panic, the sentinel is
//! untouched, nothing but the layers directory and the render appears in the scratch
//! directory, a failed unpack leaves the layers directory empty (no temp dir), and a
//! successful one leaves exactly the layer.

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};

use super::{stream, tree, unpack_layer};
use crate::sys;

const SENTINEL: &[u8] = b"hoist fuzz sentinel\n";

fn names(dir: &Path) -> Vec<OsString> {
    let mut v: Vec<OsString> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Where scratch directories go: a tmpfs when there is one, so that the `syncfs` of
/// every successful unpack costs nothing and the fuzzer runs at its own speed.
fn scratch_base() -> std::path::PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// Unpacks `data` as a layer into a fresh scratch directory and checks the invariants.
pub fn unpack(data: &[u8]) {
    static N: AtomicU64 = AtomicU64::new(0);
    let base = scratch_base();
    let scratch = base.join(format!(
        "hoist-fuzz-unpack-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let layers = scratch.join("layers");
    let sentinel = scratch.join("sentinel");
    if std::fs::create_dir_all(&layers).is_err()
        || std::fs::create_dir(&sentinel).is_err()
        || std::fs::write(sentinel.join("keep"), SENTINEL).is_err()
    {
        return;
    }
    let hex = stream::hex(&Sha256::digest(data));
    let diff_id = format!("sha256:{hex}");
    let result = unpack_layer(
        data,
        "application/vnd.oci.image.layer.v1.tar",
        &layers,
        &diff_id,
    );
    match &result {
        Ok(dir) => {
            assert_eq!(dir, &layers.join(&hex));
            assert_eq!(
                names(&layers),
                [OsString::from(&hex)],
                "layers dir after success"
            );
            let _ =
                crate::image::render::render(std::slice::from_ref(dir), &scratch.join("rendered"));
        }
        Err(_) => assert!(
            names(&layers).is_empty(),
            "a failed unpack left {:?}",
            names(&layers)
        ),
    }
    assert_eq!(
        names(&sentinel),
        [OsString::from("keep")],
        "sentinel dir changed"
    );
    assert_eq!(
        std::fs::read(sentinel.join("keep")).ok().as_deref(),
        Some(SENTINEL),
        "sentinel file changed"
    );
    let mut expect = vec![OsString::from("layers"), OsString::from("sentinel")];
    if result.is_ok() && scratch.join("rendered").exists() {
        expect.insert(1, OsString::from("rendered"));
    }
    assert_eq!(names(&scratch), expect, "scratch dir");
    if let Ok(top) = sys::openat(None, &base, libc::O_RDONLY | libc::O_DIRECTORY, 0) {
        if let Some(name) = scratch.file_name() {
            let _ = tree::remove_all(top.as_fd(), name);
        }
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use std::io::Write;

    fn header(path: &str, kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_path(path).unwrap();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        h
    }

    fn seed() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        b.append(&header("d/", tar::EntryType::Directory, 0), &[][..])
            .unwrap();
        b.append(&header("d/f", tar::EntryType::Regular, 5), &b"hello"[..])
            .unwrap();
        let mut l = header("d/l", tar::EntryType::Symlink, 0);
        l.set_link_name("/etc").unwrap();
        l.set_cksum();
        b.append(&l, &[][..]).unwrap();
        let mut h = header("d/h", tar::EntryType::Link, 0);
        h.set_link_name("d/f").unwrap();
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
        b.append(&header("d/.wh.x", tar::EntryType::Regular, 0), &[][..])
            .unwrap();
        b.append(
            &header("e/.wh..wh..opq", tar::EntryType::Regular, 0),
            &[][..],
        )
        .unwrap();
        b.append(&header("p", tar::EntryType::Fifo, 0), &[][..])
            .unwrap();
        b.into_inner().unwrap()
    }

    /// Mutations that keep most of the structure: byte flips in headers, truncation,
    /// names rewritten into escapes.
    fn mutations(seed: &[u8]) -> Vec<Vec<u8>> {
        let mut out = vec![seed.to_vec()];
        let mut x: u32 = 0x9e37_79b9;
        for _ in 0..200 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let mut m = seed.to_vec();
            let i = (x as usize) % m.len().max(1);
            match x % 5 {
                0 => m[i] = (x >> 8) as u8,
                1 => m.truncate(i),
                2 => {
                    let evil: &[u8] = match (x >> 4) % 4 {
                        0 => b"../../x",
                        1 => b"/etc/x",
                        2 => b"d/l/x",
                        _ => b".wh...",
                    };
                    let at = (i / 512) * 512;
                    m[at..at + evil.len()].copy_from_slice(evil);
                    m[at + evil.len()] = 0;
                }
                3 => {
                    // Fix the checksum of a flipped header so the parser goes further.
                    let at = (i / 512) * 512;
                    m[at + (x as usize >> 9) % 100] = b'A' + (x >> 3) as u8 % 26;
                    if let Some(h) = m.get_mut(at..at + 512) {
                        let mut hd = tar::Header::new_old();
                        hd.as_mut_bytes().copy_from_slice(h);
                        hd.set_cksum();
                        h.copy_from_slice(hd.as_bytes());
                    }
                }
                _ => m.extend_from_slice(&[0u8; 1024][..(x as usize >> 7) % 1024]),
            }
            out.push(m);
        }
        out
    }

    #[test]
    fn unpack_never_panics_or_escapes() {
        if crate::sys::geteuid() != 0 {
            eprintln!("skipped: unpack_never_panics_or_escapes needs root (devices, chown)");
            return;
        }
        let s = seed();
        for m in mutations(&s) {
            super::unpack(&m);
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&s).unwrap();
        super::unpack(&gz.finish().unwrap());
    }
}
