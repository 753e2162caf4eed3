//! Which image a decision is about ([`Subject`]): its transport, its policy scopes
//! (most specific first, as containers/image orders them) and the Docker reference it
//! is known by.
//!
//! - `docker`: `host/repo:tag` (or `@digest`), then `host/repo`, then each namespace
//!   up to `host`, then the wildcards `*.parent.domain` of the host.
//! - `oci`, `oci-archive`: the layout's (or the archive's) absolute path with symlinks
//!   resolved, then each parent directory (`/` itself is left to the `""` scope).
//! - `docker-archive`: only the `""` scope, as in containers/image.
//!
//! The identity ([`Subject::identity`]) is what signatures must name and where their
//! lookaside and attachments are found: for `docker://` the reference itself; for a
//! local source, the name the image gets in the store (hoist's rule: a signature binds
//! a digest to a name, and the name is what the store will vouch for).

use std::path::{Component, Path, PathBuf};

use crate::image::digest::Digest;
use crate::image::reference::{DockerRef, ImageRef};

/// The transports, as policy.json names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Docker,
    Oci,
    OciArchive,
    DockerArchive,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Docker => "docker",
            Transport::Oci => "oci",
            Transport::OciArchive => "oci-archive",
            Transport::DockerArchive => "docker-archive",
        }
    }
}

/// The image a policy decision is about.
#[derive(Clone, Debug)]
pub struct Subject {
    pub transport: Transport,
    /// The policy scopes, most specific first (without `""`).
    pub scopes: Vec<String>,
    /// The Docker reference the image is known by, if any.
    pub identity: Option<DockerRef>,
    /// The digest of the image manifest as the source holds it (what signatures sign).
    pub digest: Digest,
    /// The indexes it was picked through (`SourceImage::parents`): a signature over
    /// one of them is as good.
    pub parents: Vec<Digest>,
    /// How messages name the image.
    pub shown: String,
}

impl Subject {
    /// The subject for an image read from `r`, to be known as `identity`.
    pub fn new(r: &ImageRef, identity: Option<DockerRef>, digest: Digest) -> Subject {
        let (transport, scopes) = match r {
            ImageRef::Docker(d) => (Transport::Docker, docker_scopes(d)),
            ImageRef::Oci { dir, .. } => (Transport::Oci, path_scopes(dir)),
            ImageRef::OciArchive { file, .. } => (Transport::OciArchive, path_scopes(file)),
            ImageRef::DockerArchive { .. } => (Transport::DockerArchive, Vec::new()),
        };
        let shown = match &identity {
            Some(i) => format!("image `{i}`"),
            None => format!("image `{r}`"),
        };
        Subject {
            transport,
            scopes,
            identity,
            digest,
            parents: Vec::new(),
            shown,
        }
    }

    /// The same subject, picked through the indexes `parents` (outermost first).
    pub fn with_parents(mut self, parents: Vec<Digest>) -> Subject {
        self.parents = parents;
        self
    }

    /// The digests a signature may be for: the manifest, then its indexes from the
    /// innermost out.
    pub fn digests(&self) -> impl Iterator<Item = &Digest> {
        std::iter::once(&self.digest).chain(self.parents.iter().rev())
    }
}

/// A Docker reference's scopes, most specific first.
pub fn docker_scopes(r: &DockerRef) -> Vec<String> {
    let mut out = vec![r.to_string()];
    let repo = r.repository();
    let mut at = repo.as_str();
    out.push(at.to_owned());
    while let Some((parent, _)) = at.rsplit_once('/') {
        out.push(parent.to_owned());
        at = parent;
    }
    // Wildcards for the host's parent domains (not for HOST:PORT or IP addresses).
    let host = r.domain();
    if !host.contains(':') && !host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let mut rest = host;
        while let Some((_, parent)) = rest.split_once('.') {
            out.push(format!("*.{parent}"));
            rest = parent;
        }
    }
    out.dedup();
    out
}

/// A local path's scopes: itself made absolute (symlinks resolved when it exists), then
/// its parents, `/` excluded.
fn path_scopes(p: &Path) -> Vec<String> {
    let abs = std::fs::canonicalize(p)
        .or_else(|_| std::path::absolute(p))
        .unwrap_or_else(|_| p.to_path_buf());
    let mut clean = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            c => clean.push(c),
        }
    }
    clean
        .ancestors()
        .filter(|a| a.parent().is_some())
        .map(|a| a.display().to_string())
        .collect()
}

/// Checks a `docker` scope: a reference (with tag or digest), a repository, a
/// namespace, a host, or a `*.domain` wildcard.
pub fn check_docker_scope(scope: &str) -> Result<(), String> {
    if let Some(domain) = scope.strip_prefix("*.") {
        let ok = !domain.is_empty()
            && domain.split('.').all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        return if ok {
            Ok(())
        } else {
            Err(format!("`{scope}` is not a valid wildcard domain"))
        };
    }
    // A full reference, a repository or a namespace parses as it is; a host alone
    // once a repository is added. Either way the scope must already be normalised
    // (what containers/image requires: `docker.io/library/busybox`, not `busybox`).
    if let Ok(r) = DockerRef::parse(scope) {
        if r.has_explicit_domain() && (r.to_string() == scope || r.repository() == scope) {
            return Ok(());
        }
    }
    match DockerRef::parse(&format!("{scope}/x")) {
        Ok(r)
            if r.has_explicit_domain()
                && (r.domain() == scope || r.repository() == format!("{scope}/x")) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "`{scope}` is not a fully qualified reference, repository, namespace or host"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_scopes_most_specific_first() {
        let r = DockerRef::parse("registry.example.com/a/b/c:1").unwrap();
        assert_eq!(
            docker_scopes(&r),
            [
                "registry.example.com/a/b/c:1",
                "registry.example.com/a/b/c",
                "registry.example.com/a/b",
                "registry.example.com/a",
                "registry.example.com",
                "*.example.com",
                "*.com",
            ]
        );
        let r = DockerRef::parse("127.0.0.1:5000/x").unwrap();
        assert_eq!(
            docker_scopes(&r),
            [
                "127.0.0.1:5000/x:latest",
                "127.0.0.1:5000/x",
                "127.0.0.1:5000"
            ]
        );
    }

    #[test]
    fn path_scopes_climb_to_the_root() {
        assert_eq!(
            path_scopes(Path::new("/nonexistent-hoist/a/../b")),
            ["/nonexistent-hoist/b", "/nonexistent-hoist"]
        );
    }

    #[test]
    fn docker_scope_spelling() {
        for ok in [
            "docker.io",
            "docker.io/library",
            "docker.io/library/busybox",
            "docker.io/library/busybox:1.36",
            "localhost:5000/a",
            "*.example.com",
        ] {
            assert_eq!(check_docker_scope(ok), Ok(()), "{ok}");
        }
        for bad in ["busybox", "Docker.io/X", "*.", "*.a..b", "a b"] {
            assert!(check_docker_scope(bad).is_err(), "{bad}");
        }
    }
}
