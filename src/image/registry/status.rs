//! What a registry's refusals mean: an HTTP status and the distribution error codes of
//! its body turned into errors that name the registry and what was asked of it. A
//! MANIFEST_UNKNOWN is told apart from an unknown repository through the tag list
//! (registries answer MANIFEST_UNKNOWN for both), which also names the tags there are.

use std::io::Read;

use ureq::http::Response;
use ureq::Body;

use super::client::{Client, What};
use super::wire::error_codes;
use super::RegistryError;

/// The most of an error body (or a tag list) hoist reads.
const MAX_SMALL_BODY: u64 = 1 << 20;

impl Client {
    /// The tags of repository `path` (the first 20), or `None` when the registry does
    /// not know the repository.
    fn tags(&self, path: &str) -> Result<Option<Vec<String>>, RegistryError> {
        let url = format!("{}/v2/{path}/tags/list?n=20", self.base);
        let scope = Self::scope(path);
        let resp = self.send(&url, None, self.authorization(&scope)?)?;
        match resp.status().as_u16() {
            200..=299 => {}
            404 => return Ok(None),
            s => {
                return Err(RegistryError::Status {
                    url,
                    status: s,
                    detail: String::new(),
                })
            }
        }
        #[derive(serde::Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut body = Vec::new();
        resp.into_body()
            .into_reader()
            .take(MAX_SMALL_BODY)
            .read_to_end(&mut body)
            .map_err(|source| RegistryError::Body {
                url: url.clone(),
                source,
            })?;
        let t: Tags = serde_json::from_slice(&body).map_err(|e| RegistryError::Status {
            url,
            status: 200,
            detail: format!(": bad JSON: {e}"),
        })?;
        let mut tags = t.tags.unwrap_or_default();
        tags.truncate(20);
        Ok(Some(tags))
    }

    /// The error for an unexpected status, named by the registry's error codes.
    pub(super) fn status_error(
        &self,
        url: &str,
        resp: Response<Body>,
        what: &What<'_>,
    ) -> RegistryError {
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        let _ = resp
            .into_body()
            .into_reader()
            .take(MAX_SMALL_BODY)
            .read_to_end(&mut body);
        let codes = error_codes(&body);
        let has = |c: &str| codes.iter().any(|(code, _)| code == c);
        let host = self.host.clone();
        match what {
            What::Manifest {
                repository,
                reference,
            } => {
                if has("NAME_UNKNOWN") {
                    return RegistryError::NameUnknown {
                        host,
                        repository: (*repository).to_owned(),
                    };
                }
                if status == 404 || has("MANIFEST_UNKNOWN") {
                    // Registries answer MANIFEST_UNKNOWN for unknown repositories too;
                    // the tag list tells the two apart.
                    let known = match self.tags(repository) {
                        Ok(None) => {
                            return RegistryError::NameUnknown {
                                host,
                                repository: (*repository).to_owned(),
                            }
                        }
                        Ok(Some(t)) if t.is_empty() => "it has no tags".to_owned(),
                        Ok(Some(t)) => format!("tags: {}", t.join(", ")),
                        Err(_) => "unknown tag or digest".to_owned(),
                    };
                    return RegistryError::ManifestUnknown {
                        host,
                        repository: (*repository).to_owned(),
                        reference: (*reference).to_owned(),
                        known,
                    };
                }
            }
            What::Blob { repository, digest } => {
                if status == 404 || has("BLOB_UNKNOWN") {
                    return RegistryError::BlobUnknown {
                        host,
                        repository: (*repository).to_owned(),
                        digest: digest.to_string(),
                    };
                }
            }
            What::Ping => {}
        }
        if status == 403 || has("DENIED") {
            if let What::Manifest { repository, .. } | What::Blob { repository, .. } = what {
                return RegistryError::Denied {
                    host,
                    repository: (*repository).to_owned(),
                };
            }
        }
        let detail = codes
            .iter()
            .map(|(c, m)| {
                if m.is_empty() {
                    c.clone()
                } else {
                    format!("{c} ({m})")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        RegistryError::Status {
            url: url.to_owned(),
            status,
            detail: if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            },
        }
    }
}
