//! The Docker token protocol (distribution's token auth, which the OCI distribution
//! spec leaves to registries): a 401 names a realm, a service and a scope; a GET to
//! the realm with those (and Basic credentials, if hoist has some) returns a token
//! (`token`, or the OAuth2 spelling `access_token`) that the next requests carry as
//! `Authorization: Bearer`. Also how a challenge picks the scheme.

use std::io::Read;

use ureq::http::Response;
use ureq::Body;

use super::auth::Credentials;
use super::challenge::{self, Challenge};
use super::client::Client;
use super::wire::encode;
use super::RegistryError;

/// The most of a token response hoist reads.
const MAX_TOKEN_BODY: u64 = 1 << 20;

/// How the registry wants requests authorised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scheme {
    Anonymous,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// The scheme a 401's `WWW-Authenticate` asks for (Bearer preferred); `Err` with the
/// header's text when it names none hoist can answer.
pub fn scheme_of(resp: &Response<Body>) -> Result<Scheme, String> {
    let headers: Vec<String> = resp
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let all: Vec<Challenge> = headers.iter().flat_map(|h| challenge::parse(h)).collect();
    if let Some(c) = all.iter().find(|c| c.scheme == "bearer") {
        if let Some(realm) = c.param("realm") {
            return Ok(Scheme::Bearer {
                realm: realm.to_owned(),
                service: c.param("service").map(str::to_owned),
            });
        }
    }
    if all.iter().any(|c| c.scheme == "basic") {
        return Ok(Scheme::Basic);
    }
    Err(headers.join(", "))
}

impl Client {
    /// A token from the realm (the Docker token protocol: GET with `service` and
    /// `scope`, Basic credentials when hoist has some).
    pub(super) fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
    ) -> Result<String, RegistryError> {
        let mut query = Vec::new();
        if let Some(s) = service {
            query.push(format!("service={}", encode(s)));
        }
        if let Some(s) = scope {
            query.push(format!("scope={}", encode(s)));
        }
        let url = if query.is_empty() {
            realm.to_owned()
        } else {
            let sep = if realm.contains('?') { '&' } else { '?' };
            format!("{realm}{sep}{}", query.join("&"))
        };
        let token_err = |reason: String| RegistryError::Token {
            realm: realm.to_owned(),
            reason,
        };
        let resp = self.send(
            &url,
            None,
            self.creds.as_ref().map(Credentials::basic_header),
        )?;
        match resp.status().as_u16() {
            200..=299 => {}
            401 | 403 => return Err(self.unauthorized()),
            s => return Err(token_err(format!("HTTP {s}"))),
        }
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            #[serde(default)]
            token: String,
            #[serde(default)]
            access_token: String,
        }
        let mut body = Vec::new();
        resp.into_body()
            .into_reader()
            .take(MAX_TOKEN_BODY)
            .read_to_end(&mut body)
            .map_err(|e| token_err(e.to_string()))?;
        let t: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| token_err(format!("bad JSON: {e}")))?;
        let token = if t.token.is_empty() {
            t.access_token
        } else {
            t.token
        };
        if token.is_empty() {
            return Err(token_err("no token in the response".into()));
        }
        Ok(token)
    }
}
