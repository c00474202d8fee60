//! Acting as a user: the assertion of the OAuth 2.0 JWT-bearer grant (RFC 7523) that trades
//! the tenant's shared secret for an access token of one user, as atlassian-connect-express
//! builds it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use asap_core::{Clock, SystemClock};
use serde_json::{Map, Value};

use crate::error::SignError;
use crate::signer::encode_hs256_value;
use crate::store::Tenant;

/// The `grant_type` of the token request.
pub const JWT_BEARER_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Atlassian's production authorization server (staging and FedRAMP hosts use others: the
/// server is configuration, see [`UserAssertion::new`]).
pub const ATLASSIAN_AUTHORIZATION_SERVER: &str =
    "https://oauth-2-authorization-server.services.atlassian.com";

/// How long an assertion is valid: 60 s, as atlassian-connect-express makes them. It is used
/// once, immediately.
pub const USER_ASSERTION_LIFETIME: Duration = Duration::from_secs(60);

/// Makes the assertion of a JWT-bearer token request for one user of one tenant: HS256 with
/// the tenant's shared secret, claims
/// `iss` = `urn:atlassian:connect:clientid:<oauthClientId>`,
/// `sub` = `urn:atlassian:connect:useraccountid:<accountId>`, `tnt` = the tenant's base URL,
/// `aud` = the authorization server, `iat`, and `exp` = `iat` + 60 s.
///
/// ```
/// use connect_qsh::{Tenant, UserAssertion, ATLASSIAN_AUTHORIZATION_SERVER};
/// let tenant = Tenant::from_install_payload(
///     r#"{"clientKey":"c-1","sharedSecret":"s","baseUrl":"https://acme.atlassian.net","oauthClientId":"oc-1"}"#,
/// )?;
/// let assertion = UserAssertion::new(ATLASSIAN_AUTHORIZATION_SERVER).assertion(&tenant, "5b10ac8d82e05b22cc7d4ef5")?;
/// assert_eq!(assertion.split('.').count(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct UserAssertion {
    authorization_server: Arc<str>,
    clock: Arc<dyn Clock>,
}

impl UserAssertion {
    /// Assertions for `authorization_server` (its base URL, the `aud`; the token endpoint is
    /// `<authorization_server>/oauth2/token`).
    pub fn new(authorization_server: impl Into<String>) -> UserAssertion {
        let server: String = authorization_server.into();
        UserAssertion {
            authorization_server: Arc::from(server.strip_suffix('/').unwrap_or(&server)),
            clock: Arc::new(SystemClock),
        }
    }

    /// Uses another clock (tests).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> UserAssertion {
        self.clock = clock;
        self
    }

    /// The authorization server's base URL, without a trailing `/`.
    pub fn authorization_server(&self) -> &str {
        &self.authorization_server
    }

    /// The token endpoint: `<authorization server>/oauth2/token`.
    pub fn token_endpoint(&self) -> String {
        format!("{}/oauth2/token", self.authorization_server)
    }

    /// The assertion for the user `account_id` (an Atlassian account id) of `tenant`. Refused
    /// when the tenant has no `oauthClientId` (the app's descriptor does not ask for the
    /// `ACT_AS_USER` scope) or the account id is empty.
    pub fn assertion(&self, tenant: &Tenant, account_id: &str) -> Result<String, SignError> {
        let client_id = tenant.oauth_client_id().ok_or(SignError::NoOAuthClientId)?;
        if account_id.is_empty() {
            return Err(SignError::EmptyAccountId);
        }
        let now = self.clock.now();
        let lifetime = i64::try_from(USER_ASSERTION_LIFETIME.as_secs()).unwrap_or(i64::MAX);
        let mut claims = Map::new();
        claims.insert(
            "iss".into(),
            Value::String(format!("urn:atlassian:connect:clientid:{client_id}")),
        );
        claims.insert(
            "sub".into(),
            Value::String(format!("urn:atlassian:connect:useraccountid:{account_id}")),
        );
        claims.insert("tnt".into(), Value::String(tenant.base_url().to_owned()));
        claims.insert("aud".into(), Value::String(self.authorization_server.to_string()));
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), now.saturating_add(lifetime).into());
        Ok(encode_hs256_value(&Value::Object(claims), tenant.shared_secret()))
    }
}

impl fmt::Debug for UserAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserAssertion")
            .field("authorization_server", &self.authorization_server)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use asap_core::{HmacAlgorithm, HmacKey, Jws, ManualClock, RegisteredClaims};

    use super::*;

    #[test]
    fn assertion_carries_the_claims_ace_sends() {
        let tenant = Tenant::from_install_payload(
            r#"{"clientKey":"c","sharedSecret":"s","baseUrl":"https://acme.atlassian.net","oauthClientId":"oc"}"#,
        )
        .expect("valid");
        let token = UserAssertion::new("https://auth.example/")
            .clock(Arc::new(ManualClock::new(1_000)))
            .assertion(&tenant, "acc-1")
            .expect("made");
        let jws = Jws::parse(&token, 8192).expect("parses");
        jws.signature()
            .expect("signature")
            .verify(&HmacKey::new(b"s"), HmacAlgorithm::HS256)
            .expect("HS256 with the shared secret");
        let mut claims = RegisteredClaims::decode(&jws.payload().expect("payload")).expect("typed");
        assert_eq!(claims.iss.as_deref(), Some("urn:atlassian:connect:clientid:oc"));
        assert_eq!(
            claims.sub.as_deref(),
            Some("urn:atlassian:connect:useraccountid:acc-1")
        );
        assert_eq!(claims.aud, ["https://auth.example"]);
        assert_eq!((claims.iat, claims.exp), (Some(1_000), Some(1_060)));
        assert_eq!(
            claims.take_string("tnt").expect("typed").as_deref(),
            Some("https://acme.atlassian.net")
        );
    }

    #[test]
    fn refused_without_client_id_or_account() {
        let assertion = UserAssertion::new(ATLASSIAN_AUTHORIZATION_SERVER);
        let no_client = Tenant::from_install_payload(
            r#"{"clientKey":"c","sharedSecret":"s","baseUrl":"https://a.example"}"#,
        )
        .expect("valid");
        assert!(matches!(
            assertion.assertion(&no_client, "acc"),
            Err(SignError::NoOAuthClientId)
        ));
        let tenant = Tenant::from_install_payload(
            r#"{"clientKey":"c","sharedSecret":"s","baseUrl":"https://a.example","oauthClientId":"oc"}"#,
        )
        .expect("valid");
        assert!(matches!(
            assertion.assertion(&tenant, ""),
            Err(SignError::EmptyAccountId)
        ));
    }
}
