//! A measurement, not a check (ignored by default): unpacking a ~100 MB layer (large
//! incompressible files, thousands of small ones, symlinks, hardlinks), plain and
//! gzipped, with `unpack_layer` against GNU `tar -x` (plus `sync -f`, since
//! `unpack_layer` writes the layer out before renaming it into place). Best of three.
//! Run it on a release build:
//! `cargo test --release -p hoist --test unpack -- --ignored --nocapture speed`.

// Test helpers: a failed step is a failed measurement, so they unwrap.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hoist::image::unpack::unpack_layer;

use crate::need_root;
use crate::support::*;

fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[3]
        })
        .collect()
}

/// Bytes from a ten-letter alphabet: they compress about as well as binaries and text
/// of a real layer do (a bit over 2:1 with gzip).
fn text(n: usize, seed: u64) -> Vec<u8> {
    noise(n, seed)
        .iter()
        .map(|b| b"abcdefgh \n"[usize::from(b % 10)])
        .collect()
}

fn big_layer() -> Vec<u8> {
    let mut l = Layer::new();
    for i in 0..16 {
        // A quarter of the big files are compressed already (archives, images).
        let data = if i % 4 == 0 {
            noise(4 << 20, i)
        } else {
            text(4 << 20, i)
        };
        l.file(&format!("usr/share/big/blob{i}"), &data);
    }
    for d in 0..100 {
        l.dir(&format!("usr/lib/d{d}/"));
        for f in 0..50 {
            let len = 1000 + (d * 50 + f) * 37 % 9000;
            l.file(
                &format!("usr/lib/d{d}/f{f}.so"),
                &text(len, (d * 50 + f) as u64),
            );
        }
        l.symlink(&format!("usr/lib/d{d}/link"), "f0.so");
        l.hardlink(
            &format!("usr/lib/d{d}/hard"),
            &format!("usr/lib/d{d}/f1.so"),
        );
    }
    l.finish()
}

/// Best of three, each run into a directory of its own (removing a tree just before
/// making one makes ext4's inode allocator slow, which would measure the removal).
fn best(mut f: impl FnMut(usize) -> Duration) -> Duration {
    (0..3).map(&mut f).min().unwrap_or_default()
}

fn tar_x(file: &Path, dest: &Path, z: bool) -> Duration {
    std::fs::create_dir_all(dest).unwrap();
    let t = Instant::now();
    let mut c = Command::new("tar");
    c.arg(if z { "-xzf" } else { "-xf" })
        .arg(file)
        .args(["-p", "--same-owner", "--xattrs", "-C"])
        .arg(dest);
    assert!(c.status().unwrap().success());
    assert!(Command::new("sync")
        .arg("-f")
        .arg(dest)
        .status()
        .unwrap()
        .success());
    t.elapsed()
}

#[test]
#[ignore = "a measurement: run it with --ignored --nocapture on a release build"]
fn speed() {
    need_root!();
    let s = Scratch::new();
    // HOIST_SPEED_DIR=/dev/shm measures without the disk.
    let work = match std::env::var_os("HOIST_SPEED_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir_in(s.dir.path()).unwrap(),
    };
    let tar = big_layer();
    let gz = gzip(&tar);
    let id = diff_id(&tar);
    let tar_file = work.path().join("layer.tar");
    let gz_file = work.path().join("layer.tar.gz");
    std::fs::write(&tar_file, &tar).unwrap();
    std::fs::write(&gz_file, &gz).unwrap();
    let ours = |file: &Path, media: &str, tag: &str| {
        best(|i| {
            let layers = work.path().join(format!("layers-{tag}-{i}"));
            let f = std::fs::File::open(file).unwrap();
            let t = Instant::now();
            unpack_layer(f, media, &layers, &id).unwrap();
            t.elapsed()
        })
    };
    let theirs = |file: &Path, z: bool, tag: &str| {
        best(|i| tar_x(file, &work.path().join(format!("tar-{tag}-{i}")), z))
    };
    let hoist_tar = ours(&tar_file, TAR, "tar");
    let gnu_tar = theirs(&tar_file, false, "tar");
    let hoist_gz = ours(&gz_file, TAR_GZIP, "gz");
    let gnu_gz = theirs(&gz_file, true, "gz");
    let mb = tar.len() as f64 / 1e6;
    eprintln!(
        "layer: {mb:.0} MB uncompressed, {:.0} MB gzipped, 5216 entries, in {}",
        gz.len() as f64 / 1e6,
        work.path().display()
    );
    eprintln!("unpack_layer tar : {hoist_tar:?}   tar -x  + sync: {gnu_tar:?}");
    eprintln!("unpack_layer gzip: {hoist_gz:?}   tar -xz + sync: {gnu_gz:?}");
}
