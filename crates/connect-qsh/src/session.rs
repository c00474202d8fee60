//! App session tokens: what the app hands its own front end after an authenticated page load,
//! so the page can call the app back without a token from the product (as
//! atlassian-connect-express does with its `X-acpt` header).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use asap_core::TimeRule;
use serde_json::{Map, Value};

use crate::authenticator::connect_time_rule;
use crate::claims::ConnectClaims;
use crate::error::ConfigError;
use crate::secret::SharedSecret;
use crate::signer::encode_hs256_value;

/// The response header that carries a freshly minted session token (atlassian-connect-express
/// names it `X-acpt`; HTTP header names are case-insensitive).
pub const SESSION_TOKEN_HEADER: &str = "x-acpt";

/// The default lifetime of an app session token: 15 minutes, atlassian-connect-express's
/// default `maxTokenAge`.
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The longest lifetime of an app session token.
pub const MAX_SESSION_LIFETIME: Duration = Duration::from_secs(3600);

/// How the app mints and recognises its session tokens: HS256 with the tenant's shared secret,
/// `iss` = the app key, `aud` = `[clientKey]`, `sub` = the user of the page load, no `qsh`.
#[derive(Clone)]
pub(crate) struct SessionTokens {
    app_key: Arc<str>,
    lifetime_secs: i64,
    /// Leeway as for every Connect token; the lifetime cap is the session lifetime.
    pub(crate) time: TimeRule,
}

impl SessionTokens {
    pub(crate) fn new(
        app_key: String,
        lifetime: Duration,
        leeway: Duration,
    ) -> Result<SessionTokens, ConfigError> {
        if app_key.is_empty() {
            return Err(ConfigError("the app key of session tokens is empty".into()));
        }
        if lifetime < Duration::from_secs(1) || lifetime > MAX_SESSION_LIFETIME {
            return Err(ConfigError(format!(
                "session lifetime {lifetime:?} is outside 1 s..={MAX_SESSION_LIFETIME:?}"
            )));
        }
        Ok(SessionTokens {
            app_key: Arc::from(app_key),
            // Bounded by MAX_SESSION_LIFETIME above.
            lifetime_secs: i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX),
            time: connect_time_rule(leeway, lifetime)?,
        })
    }

    /// Whether a token's `iss` says it is one of ours.
    pub(crate) fn is_ours(&self, issuer: Option<&str>) -> bool {
        issuer == Some(&*self.app_key)
    }

    /// A session token for the tenant and user of a page load the product signed.
    pub(crate) fn mint(
        &self,
        secret: &SharedSecret,
        client_key: &str,
        page: &ConnectClaims,
        now: i64,
    ) -> String {
        let mut claims = Map::new();
        claims.insert("iss".into(), Value::String(self.app_key.to_string()));
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), now.saturating_add(self.lifetime_secs).into());
        claims.insert(
            "aud".into(),
            Value::Array(vec![Value::String(client_key.to_owned())]),
        );
        if let Some(sub) = page.subject() {
            claims.insert("sub".into(), Value::String(sub.to_owned()));
        }
        if let Some(context) = page.context() {
            claims.insert("context".into(), context.clone());
        }
        encode_hs256_value(&Value::Object(claims), secret)
    }
}

impl fmt::Debug for SessionTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionTokens")
            .field("app_key", &self.app_key)
            .field("lifetime_secs", &self.lifetime_secs)
            .finish_non_exhaustive()
    }
}
