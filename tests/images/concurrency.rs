//! Several hoist processes on one store: fetches of the same image and gcs at once,
//! round after round, leave one tag, exactly the image's blobs, one layer and no temp
//! file.

use std::process::Stdio;

use crate::support::*;

#[test]
fn concurrent_fetches_and_gcs_keep_the_store_consistent() {
    let h = Hoist::new("img-concurrent");
    let src = format!("oci:{}:latest", s(&busybox_layout()));
    h.ok(&["image", "list"]);
    for round in 0..3 {
        let mut children = Vec::new();
        for i in 0..6 {
            let mut c = h.command();
            if i % 3 == 2 {
                c.args(["image", "gc"]);
            } else {
                c.args(["fetch", "--name", "busybox", &src]);
            }
            c.stdout(Stdio::piped()).stderr(Stdio::piped());
            children.push((i, c.spawn().expect("spawn hoist")));
        }
        for (i, child) in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}, process {i}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            if i % 3 != 2 {
                assert_eq!(
                    last_line(&String::from_utf8_lossy(&out.stdout)),
                    busybox_digest()
                );
            }
        }
        assert_eq!(h.names(), ["localhost/busybox:latest"], "round {round}");
        assert_eq!(h.index()["manifests"].as_array().unwrap().len(), 1);
        h.ok(&["image", "gc"]);
        assert_eq!(h.blobs().len(), 3, "round {round}: {:?}", h.blobs());
        assert_eq!(h.layers().len(), 1, "round {round}: {:?}", h.layers());
        for dir in ["images", "images/blobs/sha256", "layers"] {
            let stray: Vec<String> = names_in(&h.store().join(dir))
                .into_iter()
                .filter(|n| n.starts_with('.'))
                .collect();
            assert!(
                stray.is_empty(),
                "round {round}: temp files in {dir}: {stray:?}"
            );
        }
        let out = h.path(&format!("rendered-{round}"));
        h.ok(&["image", "render", "busybox", s(&out)]);
        assert_eq!(listing(&out), listing(&busybox_rootfs()));
        h.ok(&["image", "rm", "busybox"]);
    }
}
