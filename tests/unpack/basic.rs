//! Layers that real tools write: every file type with its metadata, whiteouts, the
//! compressions, long names, sparse files, tars without end-of-archive blocks; and the
//! stream's own failures (truncation, a wrong diff_id).

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use hoist::image::unpack::{unpack_layer, UnpackError};
use tar::EntryType;

use crate::need_root;
use crate::support::*;

/// One entry of every type, with owners, modes, times and xattrs to check.
fn every_type_layer(big: &[u8]) -> Vec<u8> {
    let mut l = Layer::new();
    let mut d = header(EntryType::Directory, b"etc/");
    d.set_mode(0o750);
    d.set_uid(1000);
    d.set_gid(1001);
    d.set_mtime(1_500_000_000);
    l.raw(d, &[]);
    l.file("etc/hostname", b"box\n");
    let mut suid = header(EntryType::Regular, b"bin/su");
    suid.set_mode(0o4755);
    suid.set_uid(0);
    suid.set_gid(0);
    l.raw(suid, b"#!/bin/sh\n");
    let mut owned = header(EntryType::Regular, b"home/user/big");
    owned.set_mode(0o600);
    owned.set_uid(1000);
    owned.set_gid(1000);
    owned.set_mtime(1_400_000_000);
    l.raw(owned, big);
    l.pax(&[
        ("SCHILY.xattr.user.note", b"hello"),
        ("SCHILY.xattr.trusted.mark", b"t"),
        (
            "SCHILY.xattr.security.capability",
            &[1, 0, 0, 2, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
        (
            "SCHILY.xattr.security.selinux",
            b"system_u:object_r:bin_t:s0",
        ),
        ("SCHILY.xattr.trusted.overlay.redirect", b"/elsewhere"),
        ("mtime", b"1600000000.123456789"),
    ]);
    l.file("bin/ping", b"ELF");
    let mut sl = header(EntryType::Symlink, b"bin/sh");
    sl.set_link_name_literal(b"/bin/busybox")
        .expect("a short link name");
    sl.set_uid(7);
    sl.set_gid(8);
    sl.set_mtime(1_300_000_000);
    l.raw(sl, &[]);
    l.hardlink("bin/su2", "bin/su");
    l.node(EntryType::Char, "dev/null", 1, 3);
    l.node(EntryType::Block, "dev/loop0", 7, 0);
    l.node(EntryType::Fifo, "run/fifo", 0, 0);
    l.file("empty", b"");
    l.finish()
}

#[test]
fn every_file_type_with_its_metadata() {
    need_root!();
    let s = Scratch::new();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let root = s.accept(&every_type_layer(&big));

    let m = |p: &str| root.join(p).symlink_metadata().unwrap();
    assert_eq!(m("").mode() & 0o7777, 0o755, "default root mode");
    assert_eq!(
        (m("etc").mode() & 0o7777, m("etc").uid(), m("etc").gid()),
        (0o750, 1000, 1001)
    );
    // The directory's time is set after its content went in.
    assert_eq!(m("etc").mtime(), 1_500_000_000);
    assert_eq!(std::fs::read(root.join("etc/hostname")).unwrap(), b"box\n");
    assert_eq!(
        m("bin/su").mode() & 0o7777,
        0o4755,
        "setuid is kept as data"
    );
    assert_eq!(std::fs::read(root.join("home/user/big")).unwrap(), big);
    assert_eq!(
        (m("home/user/big").uid(), m("home/user/big").mode() & 0o777),
        (1000, 0o600)
    );
    assert_eq!(m("home/user/big").mtime(), 1_400_000_000);
    // Implicit parents.
    assert_eq!(m("home/user").mode() & 0o7777, 0o755);

    let bin = root.join("bin");
    assert_eq!(
        xattr(&bin, "ping", "user.note").as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(
        xattr(&bin, "ping", "trusted.mark").as_deref(),
        Some(&b"t"[..])
    );
    assert!(xattr(&bin, "ping", "security.capability").is_some());
    assert_eq!(
        xattr(&bin, "ping", "security.selinux"),
        None,
        "host labels are not an image's"
    );
    assert_eq!(
        xattr(&bin, "ping", "trusted.overlay.redirect"),
        None,
        "overlay xattrs are ours"
    );
    assert_eq!(
        (m("bin/ping").mtime(), m("bin/ping").mtime_nsec()),
        (1_600_000_000, 123_456_789)
    );

    assert_eq!(
        std::fs::read_link(root.join("bin/sh")).unwrap().to_str(),
        Some("/bin/busybox")
    );
    assert_eq!(
        (m("bin/sh").uid(), m("bin/sh").gid(), m("bin/sh").mtime()),
        (7, 8, 1_300_000_000)
    );
    assert_eq!(m("bin/su2").ino(), m("bin/su").ino());
    assert!(m("dev/null").file_type().is_char_device());
    assert_eq!(m("dev/null").rdev(), libc::makedev(1, 3));
    assert!(m("dev/loop0").file_type().is_block_device());
    assert_eq!(m("dev/loop0").rdev(), libc::makedev(7, 0));
    assert!(m("run/fifo").file_type().is_fifo());
    assert_eq!(m("empty").len(), 0);

    // Layers are kept private: setuid files and devices are data, not for host users.
    let layers = s.layers().metadata().unwrap();
    assert_eq!(layers.permissions().mode() & 0o077, 0);
}

#[test]
fn root_entry_sets_the_root() {
    need_root!();
    let s = Scratch::new();
    let mut h = header(EntryType::Directory, b"./");
    h.set_mode(0o700);
    h.set_mtime(1_234_567_890);
    let tar = Layer::new().raw(h, &[]).file("./a", b"x").finish();
    let root = s.accept(&tar);
    let m = root.metadata().unwrap();
    assert_eq!((m.mode() & 0o7777, m.mtime()), (0o700, 1_234_567_890));
}

#[test]
fn whiteouts_and_opaque_dirs() {
    need_root!();
    let s = Scratch::new();
    let tar = Layer::new()
        .file(".wh.gone", b"")
        .dir("opq/")
        .file("opq/.wh..wh..opq", b"")
        .file("opq/new", b"n")
        .file(".wh..wh.plnk", b"")
        // A whiteout after an entry of the same layer hides only lower layers.
        .file("kept", b"k")
        .file(".wh.kept", b"")
        // A directory of this layer that is whited out too becomes opaque.
        .dir("both/")
        .file(".wh.both", b"")
        // A directory after its whiteout starts empty: opaque.
        .file(".wh.fresh", b"")
        .dir("fresh/")
        .file("deep/er/.wh.x", b"")
        .finish();
    let root = s.accept(&tar);
    assert!(is_whiteout(&root.join("gone")));
    assert_eq!(
        xattr(&root, "opq", "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(std::fs::read(root.join("opq/new")).unwrap(), b"n");
    assert!(!root.join("opq/.wh..wh..opq").exists());
    assert!(root.join(".wh..wh.plnk").symlink_metadata().is_err());
    assert_eq!(std::fs::read(root.join("kept")).unwrap(), b"k");
    assert_eq!(
        xattr(&root, "both", "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(root.join("fresh").is_dir());
    assert_eq!(
        xattr(&root, "fresh", "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(is_whiteout(&root.join("deep/er/x")));
}

#[test]
fn gzip_zstd_and_sniffing() {
    need_root!();
    let tar = Layer::new().file("a", b"compressed").finish();
    let id = diff_id(&tar);
    for (media, blob) in [
        (TAR_GZIP, gzip(&tar)),
        (DOCKER_GZIP, gzip(&tar)),
        (TAR_ZSTD, zstd(&tar)),
        // Plain tar by its media type, compressed in fact.
        (TAR, gzip(&tar)),
        (TAR, zstd(&tar)),
        (TAR, tar.clone()),
    ] {
        let s = Scratch::new();
        let dir = unpack_layer(&blob[..], media, &s.layers(), &id)
            .unwrap_or_else(|e| panic!("{media}: {e}"));
        assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"compressed");
        s.assert_untouched();
    }
    let s = Scratch::new();
    let e = unpack_layer(
        &tar[..],
        "application/vnd.oci.image.config.v1+json",
        &s.layers(),
        &id,
    )
    .unwrap_err();
    assert!(matches!(e, UnpackError::MediaType { .. }), "{e}");
    let e = unpack_layer(&gzip(&tar)[..], TAR_ZSTD, &s.layers(), &id).unwrap_err();
    assert!(matches!(e, UnpackError::Stream { .. }), "{e}");
    assert!(e.to_string().contains("zstd"), "{e}");
    s.assert_no_layer();
}

#[test]
fn long_names_pax_and_gnu() {
    need_root!();
    let s = Scratch::new();
    let long_gnu = format!("{}/file", "g".repeat(150));
    let long_pax = format!("{}/file", "p".repeat(200));
    let mut l = Layer::new();
    l.long_file(&long_gnu, b"gnu");
    l.pax(&[("path", long_pax.as_bytes())]);
    l.file("short-name-replaced", b"pax");
    let long_target = format!("/{}/target", "t".repeat(180));
    l.long_symlink("gnu-link", &long_target);
    l.pax(&[("linkpath", long_target.as_bytes())]);
    l.symlink("pax-link", "short");
    let root = s.accept(&l.finish());
    for link in ["gnu-link", "pax-link"] {
        let t = std::fs::read_link(root.join(link)).unwrap();
        assert_eq!(t.to_str(), Some(long_target.as_str()), "{link}");
    }
    assert_eq!(std::fs::read(root.join(&long_gnu)).unwrap(), b"gnu");
    assert_eq!(std::fs::read(root.join(&long_pax)).unwrap(), b"pax");
    assert!(!root.join("short-name-replaced").exists());
}

#[test]
fn missing_end_of_archive_blocks() {
    need_root!();
    let s = Scratch::new();
    let mut tar = Layer::new().file("a", b"one").file("b", b"two").finish();
    // umoci 0.4.7 `insert`: no end-of-archive blocks.
    assert!(tar[tar.len() - 1024..].iter().all(|b| *b == 0));
    tar.truncate(tar.len() - 1024);
    let root = s.accept(&tar);
    assert_eq!(std::fs::read(root.join("b")).unwrap(), b"two");

    // Not even the padding of the last entry.
    let s = Scratch::new();
    tar.truncate(tar.len() - (512 - 3));
    let root = s.accept(&tar);
    assert_eq!(std::fs::read(root.join("b")).unwrap(), b"two");

    // Extra zero blocks after the end count towards the diff_id, and are fine.
    let s = Scratch::new();
    let mut padded = Layer::new().file("a", b"one").finish();
    padded.extend_from_slice(&[0u8; 8192]);
    s.accept(&padded);
}

#[test]
fn truncated_entry_fails_and_leaves_nothing() {
    need_root!();
    let data = vec![b'x'; 3000];
    let tar = Layer::new().file("first", b"1").file("big", &data).finish();
    // Inside the last entry's data, at and off a block boundary, and inside a header.
    for cut in [
        512 * 2 + 512 + 1000,
        512 * 2 + 512 + 1024,
        512 * 2 + 512 + 2999,
        512 * 2 + 100,
    ] {
        let s = Scratch::new();
        let e = s.refuse(&tar[..cut]);
        let msg = e.to_string();
        assert!(
            matches!(
                e,
                UnpackError::Truncated { .. } | UnpackError::Stream { .. }
            ),
            "cut {cut}: {msg}"
        );
        assert!(
            msg.contains("big") || msg.contains("first"),
            "cut {cut}: {msg}"
        );
    }
    // A gzip stream cut short.
    let s = Scratch::new();
    let gz = gzip(&tar);
    let e = unpack_layer(&gz[..gz.len() / 2], TAR_GZIP, &s.layers(), &diff_id(&tar)).unwrap_err();
    assert!(
        e.to_string().contains("gzip") || matches!(e, UnpackError::Truncated { .. }),
        "{e}"
    );
    s.assert_no_layer();
}

#[test]
fn diff_id_mismatch_fails_and_leaves_nothing() {
    need_root!();
    let s = Scratch::new();
    let tar = Layer::new().file("a", b"x").finish();
    let other = diff_id(b"something else");
    let e = unpack_layer(&tar[..], TAR, &s.layers(), &other).unwrap_err();
    assert!(matches!(e, UnpackError::Mismatch { .. }), "{e}");
    assert!(e.to_string().contains(&other), "{e}");
    s.assert_no_layer();
    let e = unpack_layer(&tar[..], TAR, &s.layers(), "sha256:nothex").unwrap_err();
    assert!(matches!(e, UnpackError::DiffId { .. }), "{e}");
}

#[test]
fn an_unpacked_layer_is_not_read_again() {
    need_root!();
    struct Refuse;
    impl std::io::Read for Refuse {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            panic!("the stream was read");
        }
    }
    let s = Scratch::new();
    let tar = Layer::new().file("a", b"x").finish();
    let first = s.accept(&tar);
    let again = unpack_layer(Refuse, TAR, &s.layers(), &diff_id(&tar)).unwrap();
    assert_eq!(first, again);
}

#[test]
fn empty_layer() {
    need_root!();
    let s = Scratch::new();
    let root = s.accept(b"");
    assert_eq!(std::fs::read_dir(root).unwrap().count(), 0);
}

#[test]
fn concurrent_unpacks_of_one_layer() {
    need_root!();
    let s = Scratch::new();
    let tar = Layer::new().dir("d/").file("d/f", &[1u8; 100_000]).finish();
    let id = diff_id(&tar);
    let dirs: Vec<_> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..4)
            .map(|_| sc.spawn(|| unpack_layer(&tar[..], TAR, &s.layers(), &id).unwrap()))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(dirs.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(std::fs::read_dir(s.layers()).unwrap().count(), 1);
}

#[test]
fn gnu_sparse_keeps_holes() {
    need_root!();
    let s = Scratch::new();
    let real = 64 << 20;
    let h = gnu_sparse_header("sparse", real, &[(0, 512), (real - 512, 512)]);
    let mut data = vec![b'a'; 512];
    data.extend_from_slice(&[b'z'; 512]);
    let tar = Layer::new().verbatim(&h, &data).finish();
    let root = s.accept(&tar);
    let m = root.join("sparse").metadata().unwrap();
    assert_eq!(m.len(), real);
    assert!(
        m.blocks() * 512 < 1 << 20,
        "holes were written: {} blocks",
        m.blocks()
    );
    let content = std::fs::read(root.join("sparse")).unwrap();
    assert!(content[..512].iter().all(|b| *b == b'a'));
    assert!(content[512..content.len() - 512].iter().all(|b| *b == 0));
    assert!(content[content.len() - 512..].iter().all(|b| *b == b'z'));
}

#[test]
fn pax_sparse_1_0_of_a_terabyte() {
    need_root!();
    let s = Scratch::new();
    let real: u64 = 1 << 40;
    let map = format!("2\n0\n5\n{}\n5\n", real - 5);
    let mut data = map.into_bytes();
    data.resize(512, 0);
    data.extend_from_slice(b"helloworld");
    let mut l = Layer::new();
    l.pax(&[
        ("GNU.sparse.major", b"1"),
        ("GNU.sparse.minor", b"0"),
        ("GNU.sparse.name", b"var/log/lastlog"),
        ("GNU.sparse.realsize", real.to_string().as_bytes()),
    ]);
    l.file("GNUSparseFile.0/lastlog", &data);
    let root = s.accept(&l.finish());
    let f = root.join("var/log/lastlog");
    let m = f.metadata().unwrap();
    assert_eq!(m.len(), real);
    assert!(m.blocks() < 1024, "holes were written");
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(&f).unwrap();
    let mut b = [0u8; 5];
    file.read_exact_at(&mut b, 0).unwrap();
    assert_eq!(&b, b"hello");
    file.read_exact_at(&mut b, real - 5).unwrap();
    assert_eq!(&b, b"world");
    assert!(!root.join("GNUSparseFile.0").exists());
}

#[test]
fn pax_sparse_0_1() {
    need_root!();
    let s = Scratch::new();
    let mut l = Layer::new();
    l.pax(&[
        ("GNU.sparse.size", b"10000"),
        ("GNU.sparse.map", b"0,3,9997,3"),
        ("GNU.sparse.name", b"sp"),
    ]);
    l.file("GNUSparseFile.1/sp", b"abcxyz");
    let root = s.accept(&l.finish());
    let c = std::fs::read(root.join("sp")).unwrap();
    assert_eq!(c.len(), 10000);
    assert_eq!((&c[..3], &c[9997..]), (&b"abc"[..], &b"xyz"[..]));
}

#[test]
fn odd_but_valid_entries() {
    need_root!();
    let s = Scratch::new();
    let mut l = Layer::new();
    // A PAX global header: nothing to make.
    l.raw(
        header(EntryType::XGlobalHeader, b"pax_global_header"),
        b"52 comment=a global header that is not a file path\n",
    );
    // A V7 directory: type NUL and a trailing slash.
    let mut v7 = header(EntryType::Regular, b"v7dir/");
    v7.as_mut_bytes()[156] = 0;
    l.raw(v7, &[]);
    // Numeric fields left empty, as some writers do.
    let mut empty = header(EntryType::Regular, b"v7dir/f");
    let gnu = empty.as_gnu_mut().unwrap();
    gnu.uid = [0; 8];
    gnu.gid = [b' '; 8];
    l.raw(empty, b"f");
    // A hardlink entry that carries data (the data is not the link's to use).
    let mut h = header(EntryType::Link, b"hard");
    h.set_link_name_literal(b"v7dir/f").unwrap();
    l.raw(h, b"ignored");
    let root = s.accept(&l.finish());
    assert!(root.join("v7dir").is_dir());
    assert!(!root.join("pax_global_header").exists());
    assert_eq!(std::fs::read(root.join("hard")).unwrap(), b"f");
    let m = root.join("v7dir/f").metadata().unwrap();
    assert_eq!((m.uid(), m.gid()), (0, 0));
}
