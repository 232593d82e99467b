//! Wire types of Docker's authorization plugin protocol.
//!
//! The daemon posts JSON to `/AuthZPlugin.AuthZReq` (before the Engine handles a call) and
//! `/AuthZPlugin.AuthZRes` (after). The field names the daemon really sends are `RequestUri`,
//! `RequestHeaders` and `ResponseHeaders` (its documentation says `RequestURI`...): both
//! spellings are accepted. `RequestBody` is base64; it is absent for bodiless calls and for
//! bodies over 1 MiB, which the daemon silently drops.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// What the daemon sends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AuthzRequest {
    /// The authenticated user (TLS client certificate), or empty.
    #[serde(rename = "User", default)]
    pub user: String,
    /// How the user was authenticated (e.g. `TLS`), or empty.
    #[serde(rename = "UserAuthNMethod", default)]
    pub user_authn_method: String,
    /// HTTP method.
    #[serde(rename = "RequestMethod", default)]
    pub method: String,
    /// The request URI, e.g. `/v1.41/containers/create?name=web`.
    #[serde(rename = "RequestUri", alias = "RequestURI", default)]
    pub uri: String,
    /// The request body, base64, if the daemon passed one.
    #[serde(rename = "RequestBody", default)]
    pub body: Option<String>,
    /// Request headers.
    #[serde(rename = "RequestHeaders", alias = "RequestHeader", default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// Response status (AuthZRes only).
    #[serde(rename = "ResponseStatusCode", default)]
    pub response_status: Option<i64>,
    /// The daemon's response body, base64 (AuthZRes only, JSON responses only).
    #[serde(rename = "ResponseBody", default)]
    pub response_body: Option<String>,
}

/// Why a body could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// No body where the call needs one.
    #[error(
        "the request has no body: dockerd passes no body to authorization plugins for requests over 1 MiB, so this request cannot be checked and is denied"
    )]
    Missing,
    /// Not base64.
    #[error("the request body is not valid base64")]
    NotBase64,
    /// Not JSON.
    #[error("the request body is not JSON: {0}")]
    NotJson(String),
}

impl AuthzRequest {
    /// The decoded body as JSON. Missing, empty, undecodable or non-JSON bodies are errors:
    /// a call that needs its body is never judged without it.
    pub fn json_body(&self) -> Result<serde_json::Value, BodyError> {
        let b64 = self.body.as_deref().unwrap_or("");
        if b64.is_empty() {
            return Err(BodyError::Missing);
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| BodyError::NotBase64)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(BodyError::Missing);
        }
        serde_json::from_slice(&bytes).map_err(|e| BodyError::NotJson(e.to_string()))
    }
}

impl AuthzRequest {
    /// The raw request body bytes (empty when absent or not base64).
    pub fn body_bytes(&self) -> Vec<u8> {
        self.body
            .as_deref()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .unwrap_or_default()
    }

    /// The decoded response body as JSON, if there is one.
    pub fn json_response_body(&self) -> Option<serde_json::Value> {
        let b = self.response_body.as_deref().filter(|b| !b.is_empty())?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// What the plugin answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthzResponse {
    /// Allow the call.
    #[serde(rename = "Allow")]
    pub allow: bool,
    /// Shown to the client when denied.
    #[serde(rename = "Msg")]
    pub msg: String,
    /// A plugin failure (the daemon denies and shows it).
    #[serde(rename = "Err")]
    pub err: String,
}

impl AuthzResponse {
    /// Allow.
    pub fn allow() -> Self {
        Self {
            allow: true,
            msg: String::new(),
            err: String::new(),
        }
    }

    /// Deny with a message for the CLI user.
    pub fn deny(msg: impl Into<String>) -> Self {
        Self {
            allow: false,
            msg: msg.into(),
            err: String::new(),
        }
    }
}

/// `POST /Plugin.Activate`'s answer.
pub const ACTIVATE_RESPONSE: &str = r#"{"Implements":["authz"]}"#;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn daemon_spelling_and_documented_spelling_both_parse() {
        let a: AuthzRequest = serde_json::from_str(
            r#"{"User":"","UserAuthNMethod":"","RequestMethod":"POST","RequestUri":"/v1.41/containers/create","RequestBody":"eyJJbWFnZSI6ImEifQ==","RequestHeaders":{"Content-Type":"application/json"}}"#,
        )
        .unwrap();
        let b: AuthzRequest = serde_json::from_str(
            r#"{"RequestMethod":"POST","RequestURI":"/v1.41/containers/create","RequestBody":"eyJJbWFnZSI6ImEifQ=="}"#,
        )
        .unwrap();
        assert_eq!(a.uri, b.uri);
        assert_eq!(a.json_body().unwrap()["Image"], "a");
        assert_eq!(b.json_body().unwrap()["Image"], "a");
    }

    #[test]
    fn bodies_that_cannot_be_judged_are_errors() {
        let mut r = AuthzRequest::default();
        assert_eq!(r.json_body(), Err(BodyError::Missing));
        r.body = Some(String::new());
        assert_eq!(r.json_body(), Err(BodyError::Missing));
        r.body = Some("!!!".into());
        assert_eq!(r.json_body(), Err(BodyError::NotBase64));
        r.body = Some(base64::engine::general_purpose::STANDARD.encode("not json"));
        assert!(matches!(r.json_body(), Err(BodyError::NotJson(_))));
        r.body = Some(base64::engine::general_purpose::STANDARD.encode("  \n"));
        assert_eq!(r.json_body(), Err(BodyError::Missing));
    }

    #[test]
    fn responses_use_the_daemon_field_names() {
        let v = serde_json::to_value(AuthzResponse::deny("no")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"Allow": false, "Msg": "no", "Err": ""})
        );
    }
}
