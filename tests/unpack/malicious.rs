//! The malicious-layer suite (issue 4): traversal, absolute paths, symlink and hardlink
//! escapes, whiteouts of `..`, device nodes, huge sparse headers, duplicates and type
//! changes. Each layer aims at the sentinel beside the layers directory; each test proves
//! the sentinel untouched and, for a refused layer, that nothing of it is left. These
//! are the escapes of the unpacker CVEs of the last years (containerd CVE-2021-32760,
//! umoci CVE-2021-29136, Docker's CVE-2018-15664 family).

use std::os::unix::fs::FileTypeExt;

use hoist::image::unpack::{NameError, UnpackError};
use tar::EntryType;

use crate::need_root;
use crate::support::*;

fn assert_name_error(e: &UnpackError, want: NameError) {
    match e {
        UnpackError::Name { reason, .. } | UnpackError::LinkTarget { reason, .. } => {
            assert_eq!(*reason, want, "{e}")
        }
        other => panic!("want {want:?}, got {other}"),
    }
}

#[test]
fn dotdot_traversal() {
    need_root!();
    let s = Scratch::new();
    for name in [
        "../../sentinel/pwned",
        "a/../../../sentinel/pwned",
        "./../sentinel/pwned",
        "a/..",
    ] {
        let tar = Layer::new().file("ok", b"x").file(name, b"pwned").finish();
        let e = s.refuse(&tar);
        assert_name_error(&e, NameError::DotDot);
        assert!(e.to_string().contains(name), "{e}");
    }
    // Through a PAX path and a GNU long name as well.
    let mut l = Layer::new();
    l.pax(&[("path", b"../../sentinel/pwned")]);
    l.file("innocent", b"pwned");
    assert_name_error(&s.refuse(&l.finish()), NameError::DotDot);
    let long = format!("{}/../../../sentinel/pwned", "a".repeat(120));
    let mut h = header(EntryType::GNULongName, b"././@LongLink");
    let mut name = long.into_bytes();
    name.push(0);
    h.set_size(name.len() as u64);
    let mut l = Layer::new();
    l.raw(h, &name).file("short", b"pwned");
    assert_name_error(&s.refuse(&l.finish()), NameError::DotDot);
}

#[test]
fn absolute_paths_are_contained() {
    need_root!();
    let s = Scratch::new();
    let abs = s.sentinel().join("pwned");
    let abs = abs.to_str().unwrap();
    let tar = Layer::new()
        .file("/etc/hoist-unpack-test-x", b"inside")
        .file(abs, b"inside")
        .finish();
    let root = s.accept(&tar);
    assert_eq!(
        std::fs::read(root.join("etc/hoist-unpack-test-x")).unwrap(),
        b"inside"
    );
    assert!(!std::path::Path::new("/etc/hoist-unpack-test-x").exists());
    assert_eq!(
        std::fs::read(root.join(abs.trim_start_matches('/'))).unwrap(),
        b"inside"
    );
}

#[test]
fn symlink_then_write_through_it() {
    need_root!();
    let s = Scratch::new();
    let abs = s.sentinel();
    let abs = abs.to_str().unwrap();
    for target in [abs, "../../sentinel", "/../../sentinel/sub"] {
        for second in ["evil/pwned", "evil/sub/deep"] {
            let tar = Layer::new()
                .symlink("evil", target)
                .file(second, b"pwned")
                .finish();
            let e = s.refuse(&tar);
            assert!(e.to_string().contains("evil"), "{e}");
        }
    }
    // A symlink that climbs to the root only reaches the layer's root.
    let tar = Layer::new()
        .symlink("evil", "../../../../../../../..")
        .file("evil/pwned", b"inside")
        .finish();
    let root = s.accept(&tar);
    assert_eq!(std::fs::read(root.join("pwned")).unwrap(), b"inside");
    std::fs::remove_dir_all(&root).unwrap();
    // A directory entry and a whiteout through the symlink fail the same way.
    for second in ["evil/newdir/", "evil/.wh.keep", "evil/.wh..wh..opq"] {
        let mut l = Layer::new();
        l.symlink("evil", abs);
        if second.ends_with('/') {
            l.dir(second);
        } else {
            l.file(second, b"");
        }
        s.refuse(&l.finish());
    }
}

#[test]
fn symlink_inside_the_layer_is_followed_inside() {
    need_root!();
    let s = Scratch::new();
    // Resolved as inside the container: `/inside` of the layer, and `..` stops at its root.
    let tar = Layer::new()
        .dir("inside/")
        .symlink("abs", "/inside")
        .symlink("up", "../../../../inside")
        .file("abs/a", b"a")
        .file("up/b", b"b")
        .finish();
    let root = s.accept(&tar);
    assert_eq!(std::fs::read(root.join("inside/a")).unwrap(), b"a");
    assert_eq!(std::fs::read(root.join("inside/b")).unwrap(), b"b");
}

#[test]
fn symlink_chain_and_loop() {
    need_root!();
    let s = Scratch::new();
    let abs = s.sentinel();
    let tar = Layer::new()
        .symlink("a", "b")
        .symlink("b", "/c")
        .symlink("c", abs.to_str().unwrap())
        .file("a/pwned", b"pwned")
        .finish();
    s.refuse(&tar);
    let tar = Layer::new()
        .symlink("a", "b")
        .symlink("b", "a")
        .file("a/x", b"x")
        .finish();
    let e = s.refuse(&tar);
    assert!(matches!(e, UnpackError::Apply { .. }), "{e}");
    // A chain that climbs out ends at the layer root.
    let tar = Layer::new()
        .symlink("a", "b/../..")
        .dir("b/")
        .file("a/sentinel/keep", b"inside")
        .finish();
    let root = s.accept(&tar);
    assert_eq!(
        std::fs::read(root.join("sentinel/keep")).unwrap(),
        b"inside"
    );
}

#[test]
fn a_file_replaces_a_symlink_never_writes_through_it() {
    need_root!();
    let s = Scratch::new();
    let keep = s.sentinel().join("keep");
    let tar = Layer::new()
        .symlink("evil", keep.to_str().unwrap())
        .file("evil", b"overwritten?")
        .symlink("evil2", "../../sentinel/keep")
        .hardlink("h", "evil2")
        .file("evil2", b"no")
        .finish();
    let root = s.accept(&tar);
    let m = root.join("evil").symlink_metadata().unwrap();
    assert!(m.is_file());
    assert_eq!(std::fs::read(root.join("evil")).unwrap(), b"overwritten?");
    // The hardlink took the symlink itself, not what it points at.
    assert!(root
        .join("h")
        .symlink_metadata()
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn hardlinks_out_of_the_layer() {
    need_root!();
    let s = Scratch::new();
    let keep = s.sentinel().join("keep");
    let tar = Layer::new().hardlink("x", "/etc/passwd").finish();
    let e = s.refuse(&tar);
    assert!(e.to_string().contains("/etc/passwd"), "{e}");
    let tar = Layer::new().hardlink("x", keep.to_str().unwrap()).finish();
    s.refuse(&tar);
    let tar = Layer::new().hardlink("x", "../../sentinel/keep").finish();
    assert_name_error(&s.refuse(&tar), NameError::DotDot);
    let tar = Layer::new().hardlink("x", "./").finish();
    assert_name_error(&s.refuse(&tar), NameError::Root);
    let tar = Layer::new().dir("d/").hardlink("x", "d").finish();
    s.refuse(&tar);
}

#[test]
fn hardlink_through_a_symlinked_parent() {
    need_root!();
    let s = Scratch::new();
    let tar = Layer::new()
        .symlink("s", s.sentinel().to_str().unwrap())
        .hardlink("h", "s/keep")
        .finish();
    s.refuse(&tar);
    let tar = Layer::new()
        .symlink("s", "../../sentinel")
        .hardlink("h", "s/keep")
        .finish();
    s.refuse(&tar);
    // The link's own parent through a symlink out: refused too.
    let tar = Layer::new()
        .file("f", b"x")
        .symlink("s", s.sentinel().to_str().unwrap())
        .hardlink("s/pwned", "f")
        .finish();
    s.refuse(&tar);
}

#[test]
fn whiteouts_of_dot_and_dotdot() {
    need_root!();
    let s = Scratch::new();
    for name in [".wh...", "d/.wh...", ".wh..", ".wh.", "d/.wh."] {
        let tar = Layer::new().file(name, b"").finish();
        assert_name_error(&s.refuse(&tar), NameError::BadWhiteout);
    }
    // Only a last component is a whiteout: as a directory name it is just a name.
    let tar = Layer::new().file(".wh.../sentinel", b"").finish();
    let root = s.accept(&tar);
    assert!(root.join(".wh.../sentinel").is_file());
}

#[test]
fn device_nodes_land_inside() {
    need_root!();
    let s = Scratch::new();
    let abs = s.sentinel().join("dev-null");
    let tar = Layer::new()
        .node(EntryType::Char, "dev/null", 1, 3)
        .node(EntryType::Block, "dev/sda", 8, 0)
        .node(EntryType::Char, abs.to_str().unwrap(), 1, 3)
        .node(EntryType::Fifo, "../../sentinel/fifo", 0, 0)
        .finish();
    assert_name_error(&s.refuse(&tar), NameError::DotDot);
    let tar = Layer::new()
        .node(EntryType::Char, "dev/null", 1, 3)
        .node(EntryType::Block, "dev/sda", 8, 0)
        .node(EntryType::Char, abs.to_str().unwrap(), 1, 3)
        .finish();
    let root = s.accept(&tar);
    let m = root.join("dev/sda").symlink_metadata().unwrap();
    assert!(m.file_type().is_block_device());
    assert!(root
        .join(abs.to_str().unwrap().trim_start_matches('/'))
        .symlink_metadata()
        .unwrap()
        .file_type()
        .is_char_device());
}

#[test]
fn huge_sparse_header_is_refused_fast() {
    need_root!();
    let s = Scratch::new();
    let real: u64 = 4 << 40;
    let h = gnu_sparse_header("huge", real, &[(real - 512, 512)]);
    let tar = Layer::new().verbatim(&h, &[b'x'; 512]).finish();
    let t = std::time::Instant::now();
    let e = s.refuse(&tar);
    assert!(matches!(e, UnpackError::Sparse { .. }), "{e}");
    assert!(t.elapsed().as_secs() < 5, "took {:?}", t.elapsed());
    // A PAX sparse map that runs past its real size, or lies about its data.
    let mut l = Layer::new();
    l.pax(&[
        ("GNU.sparse.size", b"10"),
        ("GNU.sparse.map", b"0,5,8,5"),
        ("GNU.sparse.name", b"x"),
    ]);
    l.file("GNUSparseFile.0/x", b"0123456789");
    assert!(matches!(s.refuse(&l.finish()), UnpackError::Sparse { .. }));
    let mut l = Layer::new();
    l.pax(&[
        ("GNU.sparse.size", b"1000000000000"),
        ("GNU.sparse.map", b"0,5"),
    ]);
    l.file("f", b"0123456789");
    assert!(matches!(s.refuse(&l.finish()), UnpackError::Sparse { .. }));
}

#[test]
fn a_size_larger_than_the_stream() {
    need_root!();
    let s = Scratch::new();
    let mut h = header(EntryType::Regular, b"huge");
    h.set_size(1 << 40);
    h.set_cksum();
    let tar = Layer::new().verbatim(&h, b"short").finish();
    assert!(matches!(s.refuse(&tar), UnpackError::Truncated { .. }));
}

#[test]
fn duplicate_entries_later_wins() {
    need_root!();
    let s = Scratch::new();
    let tar = Layer::new()
        .file("f", b"one")
        .hardlink("h", "f")
        .file("f", b"two")
        .dir("d/")
        .file("d/x", b"x")
        .dir("d/")
        .symlink("l", "/a")
        .symlink("l", "/b")
        .finish();
    let root = s.accept(&tar);
    assert_eq!(std::fs::read(root.join("f")).unwrap(), b"two");
    // The earlier file was replaced, not rewritten: its other link keeps its content.
    assert_eq!(std::fs::read(root.join("h")).unwrap(), b"one");
    assert_eq!(std::fs::read(root.join("d/x")).unwrap(), b"x");
    assert_eq!(
        std::fs::read_link(root.join("l")).unwrap().to_str(),
        Some("/b")
    );
}

#[test]
fn a_file_replaces_a_dir_and_back() {
    need_root!();
    let s = Scratch::new();
    let tar = Layer::new()
        .dir("d/")
        .dir("d/sub/")
        .file("d/sub/x", b"x")
        .file("d", b"now a file")
        .file("f", b"a file")
        .dir("f/")
        .file("f/y", b"y")
        .symlink("s", "/sentinel")
        .dir("s/")
        .finish();
    let root = s.accept(&tar);
    assert_eq!(std::fs::read(root.join("d")).unwrap(), b"now a file");
    assert_eq!(std::fs::read(root.join("f/y")).unwrap(), b"y");
    assert!(root.join("s").symlink_metadata().unwrap().is_dir());
}

#[test]
fn the_root_must_be_a_directory() {
    need_root!();
    let s = Scratch::new();
    let tar = Layer::new().file("./", b"x").finish();
    s.refuse(&tar);
    let tar = Layer::new().symlink(".", "/").finish();
    assert_name_error(&s.refuse(&tar), NameError::RootNotDir);
}

#[test]
fn unknown_entry_types_and_bad_ids() {
    need_root!();
    let s = Scratch::new();
    let tar = Layer::new()
        .raw(header(EntryType::new(b'V'), b"volume"), &[])
        .finish();
    assert!(matches!(s.refuse(&tar), UnpackError::EntryType { .. }));
    let mut h = header(EntryType::Regular, b"f");
    h.set_uid(u64::from(u32::MAX));
    let tar = Layer::new().raw(h, b"").finish();
    assert!(matches!(s.refuse(&tar), UnpackError::Meta { .. }));
}

#[test]
fn a_bad_layer_after_a_good_one_leaves_the_good_one() {
    need_root!();
    let s = Scratch::new();
    let good = Layer::new().file("a", b"x").finish();
    let dir = s.accept(&good);
    let bad = Layer::new().file("b", b"y").file("../x", b"z").finish();
    assert!(s.unpack(&bad).is_err());
    let names: Vec<_> = std::fs::read_dir(s.layers())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(names, [dir]);
    s.assert_untouched();
    assert_eq!(std::fs::read(names[0].join("a")).unwrap(), b"x");
    assert!(!names[0].join("b").exists());
}

#[test]
#[ignore = "prints the error messages, for reading"]
fn print_messages() {
    need_root!();
    let s = Scratch::new();
    let abs = s.sentinel();
    let cases = [
        Layer::new().file("../../etc/passwd", b"x").finish(),
        Layer::new()
            .symlink("evil", abs.to_str().unwrap())
            .file("evil/file", b"x")
            .finish(),
        Layer::new().hardlink("x", "/etc/passwd").finish(),
        Layer::new().file(".wh...", b"").finish(),
        Layer::new().file("a", b"x").finish()[..300].to_vec(),
        Layer::new().file("a", &[1u8; 2000]).finish()[..1200].to_vec(),
        Layer::new()
            .file("f", b"x")
            .dir("f/")
            .file("f/x", b"")
            .file("f/x/y", b"")
            .finish(),
    ];
    for c in cases {
        eprintln!("{}", s.refuse(&c));
    }
    let huge = gnu_sparse_header("huge", 4 << 40, &[(0, 512)]);
    eprintln!(
        "{}",
        s.refuse(&Layer::new().verbatim(&huge, &[1u8; 512]).finish())
    );
    let tar = Layer::new().file("a", b"x").finish();
    let e =
        hoist::image::unpack::unpack_layer(&tar[..], TAR, &s.layers(), &diff_id(b"")).unwrap_err();
    eprintln!("{e}");
    let e = hoist::image::unpack::unpack_layer(
        &gzip(&tar)[..20],
        TAR_GZIP,
        &s.layers(),
        &diff_id(&tar),
    )
    .unwrap_err();
    eprintln!(
        "{e}: {:?}",
        std::error::Error::source(&e).map(|s| s.to_string())
    );
}
