//! `signedIdentity`: how the reference a signature names must relate to the image's
//! own (containers-policy.json(5)). The default is `matchRepoDigestOrExact`: an image
//! named by tag needs a signature for that exact `repo:tag`, an image named by digest
//! one for its repository (the digest itself is checked separately).

use serde::Deserialize;
use serde_json::{json, Value};

use crate::image::reference::DockerRef;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignedIdentity {
    MatchExact,
    MatchRepoDigestOrExact,
    MatchRepository,
    ExactReference(DockerRef),
    ExactRepository(DockerRef),
    RemapIdentity {
        prefix: String,
        signed_prefix: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Raw {
    #[serde(rename = "type")]
    kind: String,
    docker_reference: Option<String>,
    docker_repository: Option<String>,
    prefix: Option<String>,
    signed_prefix: Option<String>,
}

impl SignedIdentity {
    /// Reads a `signedIdentity` object; absent means the default.
    pub fn parse(v: Option<&Value>) -> Result<SignedIdentity, String> {
        let Some(v) = v else {
            return Ok(SignedIdentity::MatchRepoDigestOrExact);
        };
        let r: Raw = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        let none_of = |fields: &[(&str, bool)]| match fields.iter().find(|(_, set)| *set) {
            Some((f, _)) => Err(format!("{} takes no `{f}`", r.kind)),
            None => Ok(()),
        };
        let reference = ("dockerReference", r.docker_reference.is_some());
        let repository = ("dockerRepository", r.docker_repository.is_some());
        let prefixes = [
            ("prefix", r.prefix.is_some()),
            ("signedPrefix", r.signed_prefix.is_some()),
        ];
        let strict = |s: &str, want_tag: bool| -> Result<DockerRef, String> {
            let d = DockerRef::parse(s).map_err(|e| e.to_string())?;
            let ok = if want_tag {
                d.to_string() == s
            } else {
                d.repository() == s
            };
            if !ok || !d.has_explicit_domain() {
                return Err(format!(
                    "`{s}` is not a fully qualified, normalised reference"
                ));
            }
            Ok(d)
        };
        match r.kind.as_str() {
            "matchExact" | "matchRepoDigestOrExact" | "matchRepository" => {
                none_of(&[reference, repository, prefixes[0], prefixes[1]])?;
                Ok(match r.kind.as_str() {
                    "matchExact" => SignedIdentity::MatchExact,
                    "matchRepository" => SignedIdentity::MatchRepository,
                    _ => SignedIdentity::MatchRepoDigestOrExact,
                })
            }
            "exactReference" => {
                none_of(&[repository, prefixes[0], prefixes[1]])?;
                let s = r
                    .docker_reference
                    .as_deref()
                    .ok_or("exactReference needs dockerReference")?;
                strict(s, true).map(SignedIdentity::ExactReference)
            }
            "exactRepository" => {
                none_of(&[reference, prefixes[0], prefixes[1]])?;
                let s = r
                    .docker_repository
                    .as_deref()
                    .ok_or("exactRepository needs dockerRepository")?;
                strict(s, false).map(SignedIdentity::ExactRepository)
            }
            "remapIdentity" => {
                none_of(&[reference, repository])?;
                match (r.prefix, r.signed_prefix) {
                    (Some(prefix), Some(signed_prefix)) => Ok(SignedIdentity::RemapIdentity {
                        prefix,
                        signed_prefix,
                    }),
                    _ => Err("remapIdentity needs prefix and signedPrefix".into()),
                }
            }
            other => Err(format!("unknown signedIdentity type `{other}`")),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            SignedIdentity::MatchExact => json!({"type": "matchExact"}),
            SignedIdentity::MatchRepoDigestOrExact => json!({"type": "matchRepoDigestOrExact"}),
            SignedIdentity::MatchRepository => json!({"type": "matchRepository"}),
            SignedIdentity::ExactReference(r) => {
                json!({"type": "exactReference", "dockerReference": r.to_string()})
            }
            SignedIdentity::ExactRepository(r) => {
                json!({"type": "exactRepository", "dockerRepository": r.repository()})
            }
            SignedIdentity::RemapIdentity {
                prefix,
                signed_prefix,
            } => {
                json!({"type": "remapIdentity", "prefix": prefix, "signedPrefix": signed_prefix})
            }
        }
    }

    /// Whether a signature naming `signed` vouches for the image known as `image`.
    pub fn matches(&self, image: Option<&DockerRef>, signed: &DockerRef) -> bool {
        match self {
            SignedIdentity::ExactReference(r) => r == signed,
            SignedIdentity::ExactRepository(r) => r.repository() == signed.repository(),
            SignedIdentity::MatchExact => {
                // A digest reference never matches a tag signature here.
                image.is_some_and(|i| i == signed)
            }
            SignedIdentity::MatchRepoDigestOrExact => {
                image.is_some_and(|i| repo_digest_or_exact(i, signed))
            }
            SignedIdentity::MatchRepository => {
                image.is_some_and(|i| i.repository() == signed.repository())
            }
            SignedIdentity::RemapIdentity {
                prefix,
                signed_prefix,
            } => {
                let Some(i) = image else { return false };
                let full = i.to_string();
                let remapped = match full.strip_prefix(prefix.as_str()) {
                    // The prefix must end at a path boundary.
                    Some(rest)
                        if prefix.ends_with('/')
                            || rest.is_empty()
                            || rest.starts_with(['/', ':', '@']) =>
                    {
                        match DockerRef::parse(&format!("{signed_prefix}{rest}")) {
                            Ok(r) => r,
                            Err(_) => return false,
                        }
                    }
                    _ => i.clone(),
                };
                repo_digest_or_exact(&remapped, signed)
            }
        }
    }
}

fn repo_digest_or_exact(image: &DockerRef, signed: &DockerRef) -> bool {
    if image.digest().is_some() {
        image.repository() == signed.repository()
    } else {
        image == signed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> DockerRef {
        DockerRef::parse(s).unwrap()
    }

    const D: &str = "@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn matching() {
        let tag = r("example.com/a/b:1");
        let by_digest = r(&format!("example.com/a/b{D}"));
        let other_tag = r("example.com/a/b:2");
        let other_repo = r("example.com/a/c:1");
        let m = SignedIdentity::MatchRepoDigestOrExact;
        assert!(m.matches(Some(&tag), &tag));
        assert!(!m.matches(Some(&tag), &other_tag));
        assert!(m.matches(Some(&by_digest), &other_tag));
        assert!(!m.matches(Some(&by_digest), &other_repo));
        assert!(!m.matches(None, &tag));
        assert!(!SignedIdentity::MatchExact.matches(Some(&by_digest), &tag));
        assert!(SignedIdentity::MatchRepository.matches(Some(&tag), &other_tag));
        assert!(!SignedIdentity::MatchRepository.matches(Some(&tag), &other_repo));
        let exact = SignedIdentity::ExactReference(other_repo.clone());
        assert!(exact.matches(None, &other_repo));
        assert!(!exact.matches(Some(&other_repo), &tag));
        let repo = SignedIdentity::ExactRepository(r("example.com/a/c"));
        assert!(repo.matches(Some(&tag), &r("example.com/a/c:9")));
        let remap = SignedIdentity::RemapIdentity {
            prefix: "mirror.local/a".into(),
            signed_prefix: "example.com/a".into(),
        };
        assert!(remap.matches(Some(&r("mirror.local/a/b:1")), &tag));
        assert!(!remap.matches(Some(&r("mirror.local/ab:1")), &r("example.com/ab:1")));
    }

    #[test]
    fn parsing() {
        let p = |v: Value| SignedIdentity::parse(Some(&v));
        assert_eq!(
            SignedIdentity::parse(None),
            Ok(SignedIdentity::MatchRepoDigestOrExact)
        );
        assert_eq!(
            p(json!({"type": "matchExact"})),
            Ok(SignedIdentity::MatchExact)
        );
        assert!(p(json!({"type": "matchExact", "dockerReference": "x"})).is_err());
        assert!(p(json!({"type": "exactReference"})).is_err());
        assert!(p(json!({"type": "exactReference", "dockerReference": "busybox"})).is_err());
        let e = SignedIdentity::ExactReference(r("docker.io/library/busybox:1"));
        assert_eq!(p(e.to_json()), Ok(e));
        let e = SignedIdentity::ExactRepository(r("docker.io/library/busybox"));
        assert_eq!(p(e.to_json()), Ok(e));
        assert!(p(json!({"type": "whatever"}))
            .unwrap_err()
            .contains("whatever"));
    }
}
