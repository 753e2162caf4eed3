//! Records the git commit for `--version` (runc prints one too; "unknown" outside git),
//! and builds the exec shim (shim/shim.rs): a freestanding static executable that
//! hoist-runtime embeds and runs from a sealed memfd (see src/selfclone.rs). It is
//! compiled with the same rustc for the same target; where that is not possible (an
//! architecture the shim has no entry code for, a linker that refuses), the build goes
//! on without it and the runtime re-executes itself from a protected copy instead.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    record_commit();
    build_shim();
}

fn record_commit() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=HOIST_COMMIT={commit}");
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/refs/heads");
}

fn build_shim() {
    println!("cargo:rerun-if-changed=shim/shim.rs");
    println!("cargo:rustc-check-cfg=cfg(hoist_shim)");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os != "linux" || !matches!(arch.as_str(), "x86_64" | "aarch64") {
        return;
    }
    let (Some(out), Some(target)) = (env::var_os("OUT_DIR"), env::var_os("TARGET")) else {
        return;
    };
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let exe = PathBuf::from(out).join("shim");
    let mut cmd = Command::new(rustc);
    cmd.args([
        "--edition",
        "2021",
        "--crate-type",
        "bin",
        "--crate-name",
        "hoist_shim",
    ])
    .arg("--target")
    .arg(&target)
    .args([
        "-C",
        "panic=abort",
        "-C",
        "opt-level=s",
        "-C",
        "relocation-model=static",
        "-C",
        "strip=symbols",
        "-C",
        "link-arg=-nostartfiles",
        "-C",
        "link-arg=-nostdlib",
        "-C",
        "link-arg=-static",
    ]);
    if let Ok(linker) = env::var(format!(
        "CARGO_TARGET_{}_LINKER",
        target.to_string_lossy().to_uppercase().replace('-', "_")
    )) {
        cmd.arg("-C").arg(format!("linker={linker}"));
    }
    // rustc run by a build script must not pick up the flags meant for the crate
    // (sanitizers, coverage: they need a runtime the shim does not have).
    cmd.env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS");
    cmd.arg("shim/shim.rs").arg("-o").arg(&exe);
    match cmd.output() {
        Ok(o) if o.status.success() && exe.is_file() => {
            println!("cargo:rustc-cfg=hoist_shim");
        }
        Ok(o) => {
            println!(
            "cargo:warning=exec shim not built (the runtime will re-execute itself instead): {}",
            String::from_utf8_lossy(&o.stderr).lines().next().unwrap_or("rustc failed")
        )
        }
        Err(e) => println!("cargo:warning=exec shim not built: cannot run rustc: {e}"),
    }
}
