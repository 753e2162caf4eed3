//! Platforms (`os/arch[/variant]`) and how an index entry is matched against the one
//! asked for: Go's GOOS/GOARCH names, as image indexes and Docker manifest lists use.

use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid platform `{input}`: want os/arch[/variant], e.g. linux/amd64 or linux/arm/v7")]
pub struct PlatformError {
    pub input: String,
}

/// The platform an image is picked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    /// None: any variant of `arch`.
    pub variant: Option<String>,
}

impl Platform {
    /// The host's platform: what hoist would run.
    pub fn host() -> Platform {
        let (arch, variant) = go_arch(std::env::consts::ARCH);
        Platform {
            os: "linux".into(),
            arch: arch.into(),
            variant: variant.map(Into::into),
        }
    }

    /// Parses `os/arch[/variant]`; architecture aliases (`x86_64`, `aarch64`) are
    /// normalised to Go's names.
    pub fn parse(input: &str) -> Result<Platform, PlatformError> {
        let bad = || PlatformError {
            input: input.into(),
        };
        let parts: Vec<&str> = input.split('/').collect();
        let ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: (*os).into(),
                arch: normalize_arch(arch).into(),
                variant: None,
            }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Platform {
                os: (*os).into(),
                arch: normalize_arch(arch).into(),
                variant: Some((*variant).into()),
            }),
            _ => Err(bad()),
        }
    }

    /// Whether an index entry's platform is this one. An entry without a variant
    /// matches the architecture's default variant (`arm64` is `v8`, `arm` is `v7`).
    pub fn matches(&self, p: &oci_spec::image::Platform) -> bool {
        if p.os().to_string() != self.os {
            return false;
        }
        let arch = p.architecture().to_string();
        if normalize_arch(&arch) != self.arch {
            return false;
        }
        match &self.variant {
            None => true,
            Some(want) => {
                let have = p
                    .variant()
                    .clone()
                    .or_else(|| default_variant(&self.arch).map(Into::into));
                have.as_deref() == Some(want.as_str())
            }
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// How an index entry's platform reads in messages.
pub fn describe(p: &oci_spec::image::Platform) -> String {
    let mut s = format!("{}/{}", p.os(), p.architecture());
    if let Some(v) = p.variant() {
        s.push('/');
        s.push_str(v);
    }
    s
}

fn normalize_arch(a: &str) -> &str {
    match a {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i386" | "i686" | "x86" => "386",
        "armhf" | "armel" => "arm",
        other => other,
    }
}

fn default_variant(arch: &str) -> Option<&'static str> {
    match arch {
        "arm64" => Some("v8"),
        "arm" => Some("v7"),
        _ => None,
    }
}

/// Rust's `std::env::consts::ARCH` in Go's words.
fn go_arch(rust: &str) -> (&str, Option<&'static str>) {
    match rust {
        "x86_64" => ("amd64", None),
        "aarch64" => ("arm64", None),
        "x86" => ("386", None),
        "arm" => ("arm", Some("v7")),
        "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
        "riscv64" => ("riscv64", None),
        "s390x" => ("s390x", None),
        "loongarch64" => ("loong64", None),
        other => (other, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::{Arch, Os, PlatformBuilder};

    fn p(os: &str, arch: &str, variant: Option<&str>) -> oci_spec::image::Platform {
        let b = PlatformBuilder::default()
            .os(Os::from(os))
            .architecture(Arch::from(arch));
        match variant {
            Some(v) => b.variant(v).build().unwrap(),
            None => b.build().unwrap(),
        }
    }

    #[test]
    fn parses() {
        assert_eq!(
            Platform::parse("linux/amd64").unwrap(),
            Platform {
                os: "linux".into(),
                arch: "amd64".into(),
                variant: None
            }
        );
        assert_eq!(Platform::parse("linux/x86_64").unwrap().arch, "amd64");
        assert_eq!(
            Platform::parse("linux/arm/v6").unwrap().to_string(),
            "linux/arm/v6"
        );
        for bad in [
            "",
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v1/x",
            "Linux/amd64",
            "linux/a b",
        ] {
            let e = Platform::parse(bad).unwrap_err();
            assert!(e.to_string().contains("os/arch"), "{e}");
        }
    }

    #[test]
    fn host_is_linux() {
        let h = Platform::host();
        assert_eq!(h.os, "linux");
        if cfg!(target_arch = "x86_64") {
            assert_eq!(h.to_string(), "linux/amd64");
        }
    }

    #[test]
    fn matching() {
        let amd64 = Platform::parse("linux/amd64").unwrap();
        assert!(amd64.matches(&p("linux", "amd64", None)));
        assert!(!amd64.matches(&p("linux", "arm64", None)));
        assert!(!amd64.matches(&p("windows", "amd64", None)));
        let arm64 = Platform::parse("linux/arm64/v8").unwrap();
        assert!(arm64.matches(&p("linux", "arm64", None)));
        assert!(arm64.matches(&p("linux", "arm64", Some("v8"))));
        let arm6 = Platform::parse("linux/arm/v6").unwrap();
        assert!(!arm6.matches(&p("linux", "arm", Some("v7"))));
        assert!(arm6.matches(&p("linux", "arm", Some("v6"))));
        assert!(!arm6.matches(&p("linux", "arm", None)));
        assert!(Platform::parse("linux/arm")
            .unwrap()
            .matches(&p("linux", "arm", Some("v5"))));
    }
}
