//! `render`: layers unpacked, then flattened with overlay semantics into a directory.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

use hoist::image::render::{render, RenderError};
use tar::EntryType;

use crate::need_root;
use crate::support::*;

fn lower() -> Vec<u8> {
    let mut l = Layer::new();
    let mut etc = header(EntryType::Directory, b"etc/");
    etc.set_mode(0o751);
    etc.set_mtime(1_111_111_111);
    l.raw(etc, &[]);
    l.file("etc/gone", b"lower")
        .file("etc/kept", b"lower")
        .dir("opaque/")
        .file("opaque/hidden", b"lower")
        .dir("opaque/sub/")
        .file("c", b"a file below")
        .dir("tree/")
        .file("tree/f", b"x")
        .file("bin/busybox", b"ELF");
    let mut suid = header(EntryType::Regular, b"bin/su");
    suid.set_mode(0o4750);
    suid.set_uid(0);
    suid.set_gid(42);
    l.raw(suid, b"su");
    l.hardlink("bin/sh", "bin/busybox")
        .hardlink("bin/ls", "bin/busybox")
        .symlink("lib", "/usr/lib")
        .symlink("escape", "/")
        .node(EntryType::Char, "dev/null", 1, 3)
        .node(EntryType::Fifo, "run/fifo", 0, 0);
    l.pax(&[("SCHILY.xattr.user.k", b"v")]);
    l.file("xattr", b"x");
    let real = 32 << 20;
    let h = gnu_sparse_header("sparse", real, &[(0, 512), (real - 512, 512)]);
    l.verbatim(&h, &[7u8; 1024]);
    l.finish()
}

fn upper() -> Vec<u8> {
    let mut l = Layer::new();
    l.file("etc/.wh.gone", b"")
        .file("etc/new", b"upper")
        .file("opaque/.wh..wh..opq", b"")
        .file("opaque/visible", b"upper")
        .dir("c/")
        .file("c/inner", b"now a dir")
        .file(".wh.tree", b"")
        .dir("lib/")
        .file("lib/libc.so", b"upper lib")
        .file("escape", b"replaced");
    let mut h = header(EntryType::Regular, b"bin/su");
    h.set_mode(0o755);
    h.set_uid(1);
    l.raw(h, b"new su");
    l.finish()
}

fn layers(s: &Scratch) -> Vec<PathBuf> {
    [lower(), upper()]
        .iter()
        .map(|t| {
            hoist::image::unpack::unpack_layer(&t[..], TAR, &s.layers(), &diff_id(t))
                .expect("unpack a test layer")
        })
        .collect()
}

#[test]
fn two_layers_with_whiteouts() {
    need_root!();
    let s = Scratch::new();
    let dirs = layers(&s);
    let out = s.dir.path().join("out");
    render(&dirs, &out).unwrap();
    s.assert_untouched();

    let read = |p: &str| std::fs::read(out.join(p)).unwrap();
    let m = |p: &str| out.join(p).symlink_metadata().unwrap();
    assert!(!out.join("etc/gone").exists(), "whited out");
    assert_eq!(read("etc/kept"), b"lower");
    assert_eq!(read("etc/new"), b"upper");
    // The upper layer's etc is an implicit parent: 0755 now.
    assert!(m("etc").is_dir());
    assert!(
        !out.join("opaque/hidden").exists(),
        "opaque dir hides the lower content"
    );
    assert!(!out.join("opaque/sub").exists());
    assert_eq!(read("opaque/visible"), b"upper");
    assert_eq!(
        xattr(&out, "opaque", "trusted.overlay.opaque"),
        None,
        "a plain dir"
    );
    assert!(m("c").is_dir());
    assert_eq!(read("c/inner"), b"now a dir");
    assert!(
        out.join("tree").symlink_metadata().is_err(),
        "whiteout of a dir"
    );
    // The lower symlink was replaced by the upper dir, never written through.
    assert!(m("lib").is_dir());
    assert_eq!(read("lib/libc.so"), b"upper lib");
    assert!(!out.join("usr").exists());
    assert!(m("escape").is_file());
    assert_eq!((m("bin/su").mode() & 0o7777, m("bin/su").uid()), (0o755, 1));
    assert_eq!(read("bin/su"), b"new su");
    // Hardlinks of a layer stay linked.
    assert_eq!(m("bin/sh").ino(), m("bin/busybox").ino());
    assert_eq!(m("bin/ls").ino(), m("bin/busybox").ino());
    assert_eq!(m("bin/busybox").nlink(), 3);
    assert!(m("dev/null").file_type().is_char_device());
    assert_eq!(m("dev/null").rdev(), libc::makedev(1, 3));
    assert!(m("run/fifo").file_type().is_fifo());
    assert_eq!(xattr(&out, "xattr", "user.k").as_deref(), Some(&b"v"[..]));
    let sp = m("sparse");
    assert_eq!(sp.len(), 32 << 20);
    assert!(sp.blocks() * 512 < 1 << 20, "sparse file lost its holes");
    let c = read("sparse");
    assert!(c[..512].iter().all(|b| *b == 7) && c[c.len() - 512..].iter().all(|b| *b == 7));
    assert_eq!(out.metadata().unwrap().mode() & 0o7777, 0o755);
}

#[test]
fn lower_only_keeps_modes_owners_and_times() {
    need_root!();
    let s = Scratch::new();
    let dirs = layers(&s);
    let out = s.dir.path().join("out");
    render(&dirs[..1], &out).unwrap();
    let m = |p: &str| out.join(p).symlink_metadata().unwrap();
    assert_eq!(
        (m("etc").mode() & 0o7777, m("etc").mtime()),
        (0o751, 1_111_111_111)
    );
    assert_eq!(
        (m("bin/su").mode() & 0o7777, m("bin/su").gid()),
        (0o4750, 42)
    );
    assert_eq!(
        std::fs::read_link(out.join("lib")).unwrap().to_str(),
        Some("/usr/lib")
    );
    assert_eq!(m("etc/kept").mtime(), 1_600_000_000);
}

#[test]
fn refuses_a_dest_that_is_not_empty() {
    need_root!();
    let s = Scratch::new();
    let out = s.dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("precious"), b"keep").unwrap();
    let e = render(&[], &out).unwrap_err();
    assert!(matches!(e, RenderError::NotEmpty { .. }), "{e}");
    assert_eq!(std::fs::read(out.join("precious")).unwrap(), b"keep");
}

#[test]
fn a_missing_layer_fails_and_empties_dest() {
    need_root!();
    let s = Scratch::new();
    let out = s.dir.path().join("out");
    let tar = Layer::new().file("a", b"x").finish();
    let good = s.accept(&tar);
    let e = render(&[good, s.dir.path().join("nope")], &out).unwrap_err();
    assert!(matches!(e, RenderError::OpenLayer { .. }), "{e}");
    assert!(!out.exists(), "render left its output behind");
}
