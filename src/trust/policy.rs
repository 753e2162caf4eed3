//! policy.json in the containers-policy.json(5) format: a global `default`, and per
//! transport a map from scope to requirements. Parsing is strict, as in containers/image:
//! an unknown field, an unknown requirement type or a malformed value fails the whole
//! file; nothing is silently accepted.
//!
//! Requirements hoist evaluates: `insecureAcceptAnything`, `reject`, `signedBy`
//! (keyType `GPGKeys`; `keyPath`, `keyPaths` or `keyData`) and `sigstoreSigned` (one
//! ECDSA P-256 public key in PEM: `keyPath`, `keyPaths` or `keyData`, `keyDatas`).
//! Fulcio and Rekor options of `sigstoreSigned` are refused as unsupported.
//!
//! Scopes of transports hoist knows are checked when the file is read (a `docker`
//! scope is a reference or a namespace of one; an `oci`/`oci-archive` scope an absolute
//! path). Other transports' entries (e.g. `docker-daemon`) are parsed and kept, never
//! used.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::identity::SignedIdentity;
use super::TrustError;

/// One requirement. A scope's list holds when all of its requirements hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    InsecureAcceptAnything,
    Reject,
    SignedBy {
        keys: KeySource,
        identity: SignedIdentity,
    },
    SigstoreSigned {
        keys: KeySource,
        identity: SignedIdentity,
    },
}

/// Where a requirement's keys are: files (relative paths are relative to the policy
/// file's directory, as containers/image reads them) or inline data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    Paths(Vec<PathBuf>),
    Data(Vec<Vec<u8>>),
}

impl Requirement {
    /// The requirement's `type`, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Requirement::InsecureAcceptAnything => "insecureAcceptAnything",
            Requirement::Reject => "reject",
            Requirement::SignedBy { .. } => "signedBy",
            Requirement::SigstoreSigned { .. } => "sigstoreSigned",
        }
    }

    /// The JSON form (for `hoist trust` writing the file back).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), self.type_name().into());
        let (keys, identity) = match self {
            Requirement::InsecureAcceptAnything | Requirement::Reject => return Value::Object(m),
            Requirement::SignedBy { keys, identity } => {
                m.insert("keyType".into(), "GPGKeys".into());
                (keys, identity)
            }
            Requirement::SigstoreSigned { keys, identity } => (keys, identity),
        };
        match keys {
            KeySource::Paths(p) if p.len() == 1 => {
                m.insert("keyPath".into(), p[0].display().to_string().into());
            }
            KeySource::Paths(p) => {
                let v: Vec<Value> = p.iter().map(|p| p.display().to_string().into()).collect();
                m.insert("keyPaths".into(), v.into());
            }
            KeySource::Data(d) => {
                let enc =
                    |b: &Vec<u8>| Value::from(base64::engine::general_purpose::STANDARD.encode(b));
                if d.len() == 1 {
                    m.insert("keyData".into(), enc(&d[0]));
                } else {
                    m.insert("keyDatas".into(), d.iter().map(enc).collect());
                }
            }
        }
        if *identity != SignedIdentity::MatchRepoDigestOrExact {
            m.insert("signedIdentity".into(), identity.to_json());
        }
        Value::Object(m)
    }
}

/// A parsed policy file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub default: Vec<Requirement>,
    /// transport → scope → requirements.
    pub transports: BTreeMap<String, BTreeMap<String, Vec<Requirement>>>,
    /// The file's directory: relative key paths are taken from here.
    pub base: PathBuf,
}

/// The raw file, before requirements are read.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    default: Vec<Value>,
    #[serde(default)]
    transports: BTreeMap<String, BTreeMap<String, Vec<Value>>>,
}

impl Policy {
    /// Parses policy.json text; `base` is the directory relative key paths start in,
    /// `path` names the file in errors.
    pub fn parse(bytes: &[u8], path: &Path, base: &Path) -> Result<Policy, TrustError> {
        let bad = |reason: String| TrustError::Policy {
            path: path.into(),
            reason,
        };
        let raw: RawPolicy = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let default = requirements(&raw.default, "default").map_err(&bad)?;
        let mut transports = BTreeMap::new();
        for (transport, scopes) in raw.transports {
            let mut out = BTreeMap::new();
            for (scope, reqs) in scopes {
                let at = format!("transports.{transport}.\"{scope}\"");
                check_scope(&transport, &scope).map_err(|r| bad(format!("{at}: {r}")))?;
                out.insert(scope, requirements(&reqs, &at).map_err(&bad)?);
            }
            transports.insert(transport, out);
        }
        Ok(Policy {
            default,
            transports,
            base: base.into(),
        })
    }

    /// The file's JSON form.
    pub fn to_json(&self) -> Value {
        let list =
            |r: &[Requirement]| Value::from(r.iter().map(Requirement::to_json).collect::<Vec<_>>());
        let mut transports = Map::new();
        for (t, scopes) in &self.transports {
            let s: Map<String, Value> = scopes.iter().map(|(k, v)| (k.clone(), list(v))).collect();
            transports.insert(t.clone(), Value::Object(s));
        }
        let mut m = Map::new();
        m.insert("default".into(), list(&self.default));
        if !transports.is_empty() {
            m.insert("transports".into(), Value::Object(transports));
        }
        Value::Object(m)
    }

    /// The requirements for an image of `transport` whose scopes, most specific first,
    /// are `scopes`: the first scope the transport names, else its `""` entry, else the
    /// global default. Returns the scope that matched (`""` for a transport default,
    /// `None` for the global one).
    pub fn requirements_for<'a>(
        &'a self,
        transport: &str,
        scopes: &[String],
    ) -> (Option<&'a str>, &'a [Requirement]) {
        if let Some(t) = self.transports.get(transport) {
            for s in scopes.iter().map(String::as_str).chain([""]) {
                if let Some((k, reqs)) = t.get_key_value(s) {
                    return (Some(k.as_str()), reqs);
                }
            }
        }
        (None, &self.default)
    }
}

/// Reads a list of requirements; an empty list is refused (it would accept anything
/// without saying so).
fn requirements(values: &[Value], at: &str) -> Result<Vec<Requirement>, String> {
    if values.is_empty() {
        return Err(format!(
            "{at}: an empty list of requirements (use insecureAcceptAnything)"
        ));
    }
    values
        .iter()
        .enumerate()
        .map(|(i, v)| requirement(v).map_err(|r| format!("{at}[{i}]: {r}")))
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSignedBy {
    key_type: String,
    key_path: Option<String>,
    key_paths: Option<Vec<String>>,
    key_data: Option<String>,
    signed_identity: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSigstore {
    key_path: Option<String>,
    key_paths: Option<Vec<String>>,
    key_data: Option<String>,
    key_datas: Option<Vec<String>>,
    fulcio: Option<Value>,
    rekor_public_key_path: Option<Value>,
    rekor_public_key_paths: Option<Value>,
    rekor_public_key_data: Option<Value>,
    rekor_public_key_datas: Option<Value>,
    pki: Option<Value>,
    signed_identity: Option<Value>,
}

fn requirement(v: &Value) -> Result<Requirement, String> {
    let Value::Object(obj) = v else {
        return Err("a requirement must be an object".into());
    };
    let mut rest = obj.clone();
    let kind = match rest.remove("type") {
        Some(Value::String(s)) => s,
        Some(_) => return Err("`type` must be a string".into()),
        None => return Err("a requirement needs a `type`".into()),
    };
    let rest = Value::Object(rest);
    let no_fields = |name: &str| match &rest {
        Value::Object(m) if m.is_empty() => Ok(()),
        _ => Err(format!("{name} takes no other fields")),
    };
    match kind.as_str() {
        "insecureAcceptAnything" => no_fields(&kind).map(|()| Requirement::InsecureAcceptAnything),
        "reject" => no_fields(&kind).map(|()| Requirement::Reject),
        "signedBy" => {
            let r: RawSignedBy =
                serde_json::from_value(rest).map_err(|e| format!("signedBy: {e}"))?;
            if r.key_type != "GPGKeys" {
                return Err(format!(
                    "signedBy: keyType `{}` is not supported (hoist verifies GPGKeys)",
                    r.key_type
                ));
            }
            let keys = key_source(r.key_path, r.key_paths, r.key_data.map(|d| vec![d]), None)
                .map_err(|e| format!("signedBy: {e}"))?;
            let identity = SignedIdentity::parse(r.signed_identity.as_ref())
                .map_err(|e| format!("signedBy: signedIdentity: {e}"))?;
            Ok(Requirement::SignedBy { keys, identity })
        }
        "sigstoreSigned" => {
            let r: RawSigstore =
                serde_json::from_value(rest).map_err(|e| format!("sigstoreSigned: {e}"))?;
            let unsupported = [
                ("fulcio", r.fulcio.is_some()),
                ("pki", r.pki.is_some()),
                (
                    "rekorPublicKey*",
                    r.rekor_public_key_path.is_some()
                        || r.rekor_public_key_paths.is_some()
                        || r.rekor_public_key_data.is_some()
                        || r.rekor_public_key_datas.is_some(),
                ),
            ];
            if let Some((name, _)) = unsupported.iter().find(|(_, set)| *set) {
                return Err(format!(
                    "sigstoreSigned: `{name}` is not supported (hoist verifies public keys only)"
                ));
            }
            let keys = key_source(
                r.key_path,
                r.key_paths,
                r.key_data.map(|d| vec![d]),
                r.key_datas,
            )
            .map_err(|e| format!("sigstoreSigned: {e}"))?;
            let identity = SignedIdentity::parse(r.signed_identity.as_ref())
                .map_err(|e| format!("sigstoreSigned: signedIdentity: {e}"))?;
            Ok(Requirement::SigstoreSigned { keys, identity })
        }
        other => Err(format!("unknown requirement type `{other}`")),
    }
}

/// Exactly one way of giving keys.
fn key_source(
    path: Option<String>,
    paths: Option<Vec<String>>,
    data: Option<Vec<String>>,
    datas: Option<Vec<String>>,
) -> Result<KeySource, String> {
    let given = [
        path.is_some(),
        paths.is_some(),
        data.is_some(),
        datas.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err("give exactly one of keyPath, keyPaths, keyData (or keyDatas)".into());
    }
    if let Some(p) = path {
        return Ok(KeySource::Paths(vec![p.into()]));
    }
    if let Some(p) = paths {
        if p.is_empty() {
            return Err("keyPaths is empty".into());
        }
        return Ok(KeySource::Paths(p.into_iter().map(PathBuf::from).collect()));
    }
    let data = data.or(datas).unwrap_or_default();
    if data.is_empty() {
        return Err("keyDatas is empty".into());
    }
    data.iter()
        .map(|d| {
            base64::engine::general_purpose::STANDARD
                .decode(d)
                .map_err(|e| format!("keyData is not base64: {e}"))
        })
        .collect::<Result<_, _>>()
        .map(KeySource::Data)
}

/// Checks a scope's spelling for the transports hoist reads.
fn check_scope(transport: &str, scope: &str) -> Result<(), String> {
    if scope.is_empty() {
        return Ok(());
    }
    match transport {
        "docker" => super::scope::check_docker_scope(scope),
        "oci" | "oci-archive" => {
            if scope.starts_with('/') {
                Ok(())
            } else {
                Err("an oci scope is an absolute path".into())
            }
        }
        "docker-archive" => Err("docker-archive takes only the \"\" scope".into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Policy, TrustError> {
        Policy::parse(s.as_bytes(), Path::new("/p/policy.json"), Path::new("/p"))
    }

    #[test]
    fn parses_the_usual_files() {
        let p = parse(
            r#"{"default": [{"type": "reject"}],
                "transports": {
                  "docker": {
                    "docker.io/library/busybox": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "k.gpg"}],
                    "quay.io": [{"type": "sigstoreSigned", "keyData": "aGk=",
                                 "signedIdentity": {"type": "matchRepository"}}],
                    "": [{"type": "insecureAcceptAnything"}]
                  },
                  "docker-daemon": {"": [{"type": "insecureAcceptAnything"}]}
                }}"#,
        )
        .unwrap();
        assert_eq!(p.default, vec![Requirement::Reject]);
        let d = &p.transports["docker"];
        assert_eq!(
            d["docker.io/library/busybox"],
            vec![Requirement::SignedBy {
                keys: KeySource::Paths(vec!["k.gpg".into()]),
                identity: SignedIdentity::MatchRepoDigestOrExact
            }]
        );
        assert_eq!(
            d["quay.io"],
            vec![Requirement::SigstoreSigned {
                keys: KeySource::Data(vec![b"hi".to_vec()]),
                identity: SignedIdentity::MatchRepository
            }]
        );
        // Round trip through the JSON form.
        let again = parse(&p.to_json().to_string()).unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        let cases = [
            ("{}", "missing field `default`"),
            (r#"{"default": []}"#, "empty list"),
            (
                r#"{"default": [{"type": "acceptAll"}]}"#,
                "unknown requirement type `acceptAll`",
            ),
            (
                r#"{"default": [{"type": "reject", "x": 1}]}"#,
                "takes no other fields",
            ),
            (r#"{"default": [{}]}"#, "needs a `type`"),
            (r#"{"default": [], "extra": 1}"#, "unknown field `extra`"),
            (
                r#"{"default": [{"type": "signedBy", "keyType": "X509Certificates", "keyPath": "/k"}]}"#,
                "keyType `X509Certificates`",
            ),
            (
                r#"{"default": [{"type": "signedBy", "keyType": "GPGKeys"}]}"#,
                "exactly one of",
            ),
            (
                r#"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/a", "keyData": "aGk="}]}"#,
                "exactly one of",
            ),
            (
                r#"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/a", "keyPaht": 1}]}"#,
                "unknown field `keyPaht`",
            ),
            (
                r#"{"default": [{"type": "sigstoreSigned", "fulcio": {}}]}"#,
                "`fulcio` is not supported",
            ),
            (
                r#"{"default": [{"type": "sigstoreSigned", "keyData": "!!"}]}"#,
                "not base64",
            ),
            (
                r#"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/a", "signedIdentity": {"type": "matchSomething"}}]}"#,
                "matchSomething",
            ),
            (
                r#"{"default": [{"type": "reject"}], "transports": {"docker": {"Not A Ref": [{"type": "reject"}]}}}"#,
                "Not A Ref",
            ),
            (
                r#"{"default": [{"type": "reject"}], "transports": {"oci": {"relative/dir": [{"type": "reject"}]}}}"#,
                "absolute path",
            ),
            ("[1,2", "expected"),
            ("{\"default\": [{\"type\": \"reject\"}]", "EOF"),
        ];
        for (text, want) in cases {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
            assert!(e.starts_with("signature policy `/p/policy.json`"), "{e}");
        }
    }

    #[test]
    fn picks_the_most_specific_scope() {
        let p = parse(
            r#"{"default": [{"type": "reject"}],
                "transports": {"docker": {
                    "example.com/a/b:1": [{"type": "insecureAcceptAnything"}],
                    "example.com/a": [{"type": "reject"}],
                    "": [{"type": "insecureAcceptAnything"}]},
                  "oci": {"/x": [{"type": "reject"}]}}}"#,
        )
        .unwrap();
        let scopes = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (s, _) = p.requirements_for(
            "docker",
            &scopes(&[
                "example.com/a/b:1",
                "example.com/a/b",
                "example.com/a",
                "example.com",
            ]),
        );
        assert_eq!(s, Some("example.com/a/b:1"));
        let (s, r) = p.requirements_for(
            "docker",
            &scopes(&[
                "example.com/a/b:2",
                "example.com/a/b",
                "example.com/a",
                "example.com",
            ]),
        );
        assert_eq!((s, r), (Some("example.com/a"), &[Requirement::Reject][..]));
        let (s, _) = p.requirements_for("docker", &scopes(&["other.org/x:1"]));
        assert_eq!(s, Some(""));
        let (s, r) = p.requirements_for("docker-archive", &[]);
        assert_eq!((s, r), (None, &[Requirement::Reject][..]));
        let (s, _) = p.requirements_for("oci", &scopes(&["/x/y", "/x"]));
        assert_eq!(s, Some("/x"));
    }
}
