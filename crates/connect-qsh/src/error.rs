//! Errors. Each names the rule that failed in words a caller can act on; a verification error
//! maps to an HTTP outcome through exactly one method, [`AuthError::outcome`].

use asap_core::{BoxError, KeyError, KeyId, KeySourceError, KidError, Outcome, ReplayError, TokenError};

use crate::canonical::QshError;

impl QshError {
    /// The HTTP outcome when an inbound request cannot be canonicalised: 401.
    pub fn outcome(&self) -> Outcome {
        Outcome::Unauthorized
    }
}

/// A tenant or shared-secret store that could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be reached or failed.
    #[error("the tenant store is unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The store holds a record that cannot be read back.
    #[error("the tenant store holds an unreadable record: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// The HTTP outcome: 503, the request may succeed later.
    pub fn outcome(&self) -> Outcome {
        Outcome::Unavailable
    }
}

/// An install payload (the JSON body of a lifecycle callback) that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The body is not a JSON object (or repeats a key).
    #[error("the lifecycle payload is not a JSON object without duplicate keys")]
    NotAnObject,
    /// A required field is missing, empty or not a string.
    #[error("the lifecycle payload field {0:?} is missing, empty or not a string")]
    Field(&'static str),
    /// `baseUrl` is not an absolute http(s) URL.
    #[error("the lifecycle payload's baseUrl is not an absolute http(s) URL")]
    BaseUrl,
    /// `baseUrl` is plain `http`: outbound tokens would travel in clear. Allowed only to a
    /// loopback host, and only when asked for (tests, local development).
    #[error(
        "the lifecycle payload's baseUrl is not https (plain http is allowed only to a loopback host, with allow_insecure_loopback)"
    )]
    InsecureBaseUrl,
}

/// A shared secret that cannot be used as an HS256 key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SharedSecretError {
    /// The secret is empty: an HMAC key that everyone knows, so anyone could sign tokens
    /// as the tenant (a secret read from configuration with a default, a store's blank field).
    #[error("the shared secret is empty (anyone could sign the tenant's tokens with it)")]
    Empty,
}

/// Why an outbound token was not made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The URL cannot be canonicalised against the tenant's base URL.
    #[error(transparent)]
    Url(#[from] QshError),
    /// The issuer cannot be written in an HTTP header (control characters).
    #[error("the token cannot be written as an Authorization header value")]
    HeaderValue,
    /// The tenant's install payload has no `oauthClientId`: the app cannot act as its users.
    #[error("the tenant has no oauthClientId (the app's descriptor lacks the ACT_AS_USER scope)")]
    NoOAuthClientId,
    /// The account id of the user to act as is empty.
    #[error("the account id of the user to act as is empty")]
    EmptyAccountId,
    /// The private key cannot make an RS256 signature (not an RSA key, or the crypto failed).
    #[error("cannot sign with the private key: {0}")]
    Key(#[source] asap_core::SignError),
}

/// A builder setting that is out of range or a base URL that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Connect configuration: {0}")]
pub struct ConfigError(pub(crate) String);

impl From<asap_core::ConfigError> for ConfigError {
    /// A setting asap-core checks (the leeway cap, the lifetime), in Connect's words.
    fn from(e: asap_core::ConfigError) -> Self {
        ConfigError(e.0)
    }
}

/// Why an inbound Connect request or a lifecycle callback was refused. Each variant names the
/// rule that failed; [`AuthError::outcome`] maps it to 401, 403 or 503.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Neither `Authorization: JWT …` nor `?jwt=` carries a token.
    #[error("no Connect token: expected `Authorization: JWT <token>` or a `jwt` query parameter")]
    MissingToken,
    /// The request carries more than one token candidate that disagree (header and query with
    /// different tokens, several `jwt` parameters, several `Authorization` headers).
    #[error("ambiguous Connect token: {0}")]
    AmbiguousToken(&'static str),
    /// A rule every token profile shares (asap-core): framing, header, `alg`, claim types,
    /// signature, time, audience.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// No shared secret is known for the `iss` (client key): the tenant is not installed.
    #[error("unknown issuer {0:?} (no installed tenant has this client key)")]
    UnknownIssuer(String),
    /// The `qsh` claim is not the hash of this request (method, path or query differ).
    #[error("qsh does not match this request (the token was made for another method, path or query)")]
    QshMismatch,
    /// A `context-qsh` token on a route that does not accept one.
    #[error("a context-qsh token is not accepted on this route")]
    ContextQshNotAllowed,
    /// An app session token on a route that requires a token bound to the request (or does not
    /// otherwise accept session tokens).
    #[error("an app session token is not accepted on this route (it needs a token bound to the request)")]
    SessionTokenNotAllowed,
    /// The request URL is not under the configured base URL.
    #[error(transparent)]
    Url(#[from] QshError),
    /// The shared-secret or tenant store could not answer.
    #[error("cannot look up the tenant: {0}")]
    StoreUnavailable(#[source] StoreError),
    /// The lifecycle token's `kid` is missing or invalid.
    #[error("invalid kid: {0}")]
    Kid(#[from] KidError),
    /// No install key is published for the kid.
    #[error("no install key is published for kid {0}")]
    KeyNotFound(KeyId),
    /// The published install key is not acceptable.
    #[error("the install key for kid {kid} is not acceptable: {source}")]
    InvalidKey {
        /// The kid.
        kid: KeyId,
        /// What is wrong.
        #[source]
        source: KeyError,
    },
    /// The install-keys repository could not answer.
    #[error("cannot get the install key: {0}")]
    KeyUnavailable(#[source] BoxError),
    /// The callback body cannot be used.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The callback body's `clientKey` is not the token's `iss`.
    #[error("the payload's clientKey is not the token's issuer")]
    ClientKeyMismatch,
    /// The callback body's `key` is not the app key the lifecycle was configured with
    /// ([`LifecycleBuilder::app_key`](crate::LifecycleBuilder::app_key)).
    #[error("the payload's key is not this app's key")]
    AppKeyMismatch,
    /// The callback body's `eventType` is not the event of this endpoint.
    #[error("the payload's eventType is {found:?}, expected {expected:?}")]
    EventMismatch {
        /// The event this endpoint handles.
        expected: &'static str,
        /// The `eventType` in the body (truncated).
        found: String,
    },
    /// The lifecycle callback's token was already used: a replay, perhaps with another body.
    #[error("this lifecycle callback token was already used (a replay)")]
    Replayed,
    /// A re-install signed with the tenant's shared secret names another `baseUrl`: only the
    /// install key can move a tenant.
    #[error("a re-install signed with the tenant's shared secret cannot change its baseUrl")]
    BaseUrlChanged,
    /// The tenant's record changed (a rotation, a re-install) while a re-install signed with
    /// its previous secret was being checked; that re-install is not applied.
    #[error("the tenant changed while this re-install was checked (its secret is no longer current)")]
    TenantChanged,
    /// The replay guard of the lifecycle could not answer (unreachable, or full).
    #[error("cannot check the lifecycle callback for a replay: {0}")]
    ReplayUnavailable(#[source] ReplayError),
}

impl AuthError {
    /// The HTTP outcome of this error: the one place where rule failures become statuses.
    pub fn outcome(&self) -> Outcome {
        match self {
            // A genuine token used where it is not allowed: authenticated, not authorised.
            AuthError::ContextQshNotAllowed | AuthError::SessionTokenNotAllowed => Outcome::Forbidden,
            AuthError::StoreUnavailable(_)
            | AuthError::KeyUnavailable(_)
            | AuthError::ReplayUnavailable(_) => Outcome::Unavailable,
            AuthError::Token(e) => e.outcome(),
            _ => Outcome::Unauthorized,
        }
    }
}

impl From<KeySourceError> for AuthError {
    fn from(e: KeySourceError) -> Self {
        match e {
            KeySourceError::NotFound(kid) => AuthError::KeyNotFound(kid),
            KeySourceError::InvalidKey { kid, source } => AuthError::InvalidKey { kid, source },
            KeySourceError::Unavailable(e) => AuthError::KeyUnavailable(e),
            other => AuthError::KeyUnavailable(Box::new(other)),
        }
    }
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        AuthError::StoreUnavailable(e)
    }
}

pub(crate) use asap_core::truncate;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_map_to_statuses() {
        assert_eq!(AuthError::from(TokenError::BadSignature).outcome().status(), 401);
        assert_eq!(AuthError::UnknownIssuer("x".into()).outcome().status(), 401);
        assert_eq!(AuthError::QshMismatch.outcome().status(), 401);
        assert_eq!(AuthError::ContextQshNotAllowed.outcome().status(), 403);
        assert_eq!(AuthError::SessionTokenNotAllowed.outcome().status(), 403);
        let down = StoreError::Unavailable("down".into());
        assert_eq!(AuthError::from(down).outcome().status(), 503);
        assert_eq!(AuthError::KeyUnavailable("down".into()).outcome().status(), 503);
        let kid = KeyId::parse("k").expect("valid");
        assert_eq!(
            AuthError::from(KeySourceError::NotFound(kid)).outcome().status(),
            401
        );
        assert_eq!(QshError::NotUnderBaseUrl.outcome().status(), 401);
        assert_eq!(AuthError::Replayed.outcome().status(), 401);
        assert_eq!(AuthError::BaseUrlChanged.outcome().status(), 401);
        assert_eq!(AuthError::TenantChanged.outcome().status(), 401);
        assert_eq!(AuthError::AppKeyMismatch.outcome().status(), 401);
        assert_eq!(
            AuthError::ReplayUnavailable(ReplayError::Full(1))
                .outcome()
                .status(),
            503
        );
    }

    #[test]
    fn truncate_keeps_char_boundaries() {
        assert!(truncate(&"é".repeat(100)).len() <= 64 + '…'.len_utf8());
        assert_eq!(truncate("short"), "short");
    }
}
