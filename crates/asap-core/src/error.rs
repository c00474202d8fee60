//! Errors. Each names the rule that failed, in words a caller can act on, and a verification
//! error maps to an HTTP outcome through exactly one method, [`VerifyError::outcome`]. The rules
//! every token profile shares fail with a [`TokenError`], which each profile's error nests (as
//! rustls nests `InvalidMessage` in `Error::InvalidMessage`), so that each message exists once.

use std::error::Error as StdError;

use crate::algorithm::{Algorithm, KeyKind};
use crate::kid::KeyId;

/// A boxed error from a pluggable component (key source, replay store).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What the server should answer for a failed verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// 401 with `WWW-Authenticate: Bearer`: a missing, malformed, forged, expired or otherwise
    /// invalid token, or a key nobody publishes.
    Unauthorized,
    /// 403: a valid token whose issuer, subject or scope this service does not allow.
    Forbidden,
    /// 503: the key repository or the replay store could not answer, and nothing cached could.
    Unavailable,
}

impl Outcome {
    /// The HTTP status code for this outcome.
    pub const fn status(self) -> u16 {
        match self {
            Outcome::Unauthorized => 401,
            Outcome::Forbidden => 403,
            Outcome::Unavailable => 503,
        }
    }
}

/// An `alg` header value that is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AlgorithmError {
    /// `none` or an HMAC algorithm: never accepted for ASAP.
    #[error("algorithm {0:?} is forbidden (no `none`, no HMAC)")]
    Forbidden(String),
    /// Not an algorithm this library knows.
    #[error("unknown algorithm {0:?}")]
    Unknown(String),
    /// A known algorithm, but not the one this kind of token is signed with (a Connect tenant
    /// token is HS256 only, a signed install callback RS256).
    #[error("algorithm {found:?} is not accepted here (expected {expected})")]
    NotAccepted {
        /// The `alg` header (truncated).
        found: String,
        /// What this kind of token accepts.
        expected: &'static str,
    },
}

impl AlgorithmError {
    /// The rule that failed, as a stable `snake_case` name (see [`TokenError::rule`]).
    pub fn rule(&self) -> &'static str {
        match self {
            AlgorithmError::Forbidden(_) => "algorithm_forbidden",
            AlgorithmError::Unknown(_) => "algorithm_unknown",
            AlgorithmError::NotAccepted { .. } => "algorithm_not_accepted",
        }
    }
}

/// A `kid` that breaks the syntax or ownership rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KidError {
    /// The kid is empty.
    #[error("kid is empty")]
    Empty,
    /// The kid is longer than 512 bytes.
    #[error("kid is {len} bytes long; at most 512 are allowed")]
    TooLong {
        /// The length seen.
        len: usize,
    },
    /// An empty, `.` or `..` segment (a leading, trailing or doubled `/` included).
    #[error("kid {0:?} has an empty, `.` or `..` segment")]
    BadSegment(String),
    /// A character outside `[A-Za-z0-9_.+-/]`.
    #[error("kid has the character {0:?}; only ASCII letters, digits, `_ . + -` and `/` are allowed")]
    BadCharacter(char),
    /// The kid is not `<iss>/<key name>` with a key name of one segment (see
    /// [`KidOwnership`](crate::KidOwnership) for the switches that relax this).
    #[error(
        "kid {kid:?} does not belong to issuer {issuer:?} (it must be \"<issuer>/<key name>\", the key name without `/`)"
    )]
    NotOwnedByIssuer {
        /// The kid.
        kid: String,
        /// The issuer claimed by the token.
        issuer: String,
    },
    /// A key name with a `/`: it would make the kid's owner ambiguous.
    #[error("key name {0:?} must not contain `/` (the owner of a kid is the kid without its last segment)")]
    NestedKeyName(String),
}

impl KidError {
    /// The rule that failed, as a stable `snake_case` name (see [`TokenError::rule`]).
    pub fn rule(&self) -> &'static str {
        match self {
            KidError::Empty
            | KidError::TooLong { .. }
            | KidError::BadSegment(_)
            | KidError::BadCharacter(_) => "kid_syntax",
            KidError::NotOwnedByIssuer { .. } | KidError::NestedKeyName(_) => "kid_not_owned_by_issuer",
        }
    }
}

/// A key that cannot be loaded or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not PEM, or holds no block of a supported type.
    #[error("not a usable PEM key: {0}")]
    Pem(String),
    /// The DER does not encode a supported key.
    #[error("key is malformed or of an unsupported type: {0}")]
    Malformed(String),
    /// An RSA key shorter than 2048 bits.
    #[error("RSA key has {bits} bits; at least 2048 are required")]
    RsaTooSmall {
        /// The modulus length in bits.
        bits: usize,
    },
    /// The key cannot be used with the algorithm.
    #[error("a {key} key cannot be used with {alg}")]
    AlgorithmMismatch {
        /// The algorithm asked for.
        alg: Algorithm,
        /// The kind of key given.
        key: KeyKind,
    },
    /// An Ed25519 public key that is one of the eight points of small order (any encoding,
    /// non-canonical ones included): with such a key, a signature made without any private
    /// key verifies (the identity point accepts `R` = identity, `s` = 0 for every message).
    #[error("the Ed25519 public key is a point of small order, which would verify forged signatures")]
    SmallOrder,
    /// A private key was given where a public key was expected, or the other way round.
    #[error("expected a {expected} key")]
    WrongKeyClass {
        /// `"public"` or `"private"`.
        expected: &'static str,
    },
}

/// Why a key source could not give a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeySourceError {
    /// No repository publishes this kid (HTTP 404/403, no such file).
    #[error("no public key is published for kid {0}")]
    NotFound(KeyId),
    /// The repository answered with something that is not an acceptable public key.
    #[error("the key published for kid {kid} is not acceptable: {source}")]
    InvalidKey {
        /// The kid looked up.
        kid: KeyId,
        /// What is wrong with it.
        #[source]
        source: KeyError,
    },
    /// No repository could be reached and nothing cached could answer.
    #[error("the public key repository is unavailable: {0}")]
    Unavailable(#[source] BoxError),
}

/// Why a replay guard could not record a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The store could not be reached or failed.
    #[error("the replay store is unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// A bounded in-memory store is full of unexpired entries.
    #[error("the replay store is full ({0} unexpired entries)")]
    Full(usize),
    /// One issuer holds its whole quota of a bounded in-memory store (other issuers are still
    /// accepted).
    #[error("issuer {issuer:?} holds {entries} unexpired entries, its whole quota of the replay store")]
    IssuerFull {
        /// The issuer.
        issuer: String,
        /// The entries it holds.
        entries: usize,
    },
    /// A guard was asked to keep an entry further ahead than any is kept
    /// ([`MAX_REPLAY_HORIZON`](crate::MAX_REPLAY_HORIZON)); no verifier of this workspace asks
    /// that, since each refuses such a token first.
    #[error("the replay entry would be kept until {expires_at}, past the latest the store keeps ({latest})")]
    ExpiresTooLate {
        /// When the entry could have been forgotten.
        expires_at: i64,
        /// The latest expiry the store accepts at the use's `now`.
        latest: i64,
    },
}

/// Why a token was not signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The key cannot be used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The kid is invalid or not owned by the issuer.
    #[error(transparent)]
    Kid(#[from] KidError),
    /// A configuration value is out of range.
    #[error("invalid signer configuration: {0}")]
    Config(String),
    /// An extra claim cannot be used (a registered claim name, or not serializable).
    #[error("invalid claim {name:?}: {reason}")]
    Claim {
        /// The claim name.
        name: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// An extra claim carries a value the signer's [`ClaimsPolicy`](crate::ClaimsPolicy) does
    /// not allow (a scope outside the role's set, an undeclared claim…).
    #[error("claim {claim:?} may not carry {value}: {reason}")]
    ClaimNotAllowed {
        /// The claim name.
        claim: String,
        /// The refused value, as JSON (one scope, or one element of an array).
        value: String,
        /// What the policy allows instead.
        reason: String,
    },
    /// The crypto library failed to sign (should not happen with a loaded key).
    #[error("signing failed")]
    Crypto,
}

/// Why a token was refused by a rule every token profile shares: the framing, the header, the
/// claim types, the signature, the time rule and the audience. [`VerifyError`] (ASAP) and
/// connect-qsh's `AuthError` nest it, so that each of these messages exists once. Always a 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is larger than the size limit (checked before any parsing).
    #[error("token is {len} bytes; at most {max} are accepted")]
    TooLarge {
        /// The length seen.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The token is not three base64url segments of JSON objects.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// A JSON object in the token repeats a key.
    #[error("duplicate JSON key {0:?} in the token")]
    DuplicateKey(String),
    /// A header parameter that would let the token choose its own key, demand extensions, or
    /// change what the signature covers ([`FORBIDDEN_HEADERS`](crate::FORBIDDEN_HEADERS)).
    #[error("header parameter {0:?} is not allowed")]
    ForbiddenHeader(&'static str),
    /// A required header parameter is missing or not a string.
    #[error("header parameter {0:?} is missing or not a string")]
    MissingHeader(&'static str),
    /// The `alg` header names a forbidden, unknown or here unaccepted algorithm.
    #[error(transparent)]
    Algorithm(#[from] AlgorithmError),
    /// A required claim is missing.
    #[error("claim {0:?} is missing")]
    MissingClaim(&'static str),
    /// A claim has the wrong type or an empty value.
    #[error("claim {claim:?} is invalid: {reason}")]
    InvalidClaim {
        /// The claim name.
        claim: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The key's type does not fit the token's `alg` (e.g. a P-384 key for ES256), or the key
    /// is published for another algorithm only (a JWK whose `alg` is RS256, for a PS256 token).
    #[error("a {key} key cannot verify {alg}")]
    KeyAlgorithmMismatch {
        /// The token's algorithm.
        alg: Algorithm,
        /// The key's kind.
        key: KeyKind,
    },
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// `iat` is later than now plus the leeway.
    #[error("token was issued in the future (iat {iat}, now {now})")]
    IssuedInFuture {
        /// The `iat` claim.
        iat: i64,
        /// The verifier's clock.
        now: i64,
    },
    /// `nbf` is later than now plus the leeway.
    #[error("token is not valid yet (nbf {nbf}, now {now})")]
    NotYetValid {
        /// The `nbf` claim.
        nbf: i64,
        /// The verifier's clock.
        now: i64,
    },
    /// Now is later than `exp` plus the leeway.
    #[error("token expired (exp {exp}, now {now})")]
    Expired {
        /// The `exp` claim.
        exp: i64,
        /// The verifier's clock.
        now: i64,
    },
    /// `exp` is before `iat`, or `exp - iat` is longer than the maximum lifetime.
    #[error("token lifetime {lifetime} s is outside 0..={max} s")]
    BadLifetime {
        /// `exp - iat`.
        lifetime: i64,
        /// The maximum lifetime.
        max: i64,
    },
    /// No audience of the token is one of this service's audiences.
    #[error("token is not meant for this service (audience mismatch)")]
    AudienceMismatch,
}

impl TokenError {
    /// The HTTP outcome: always 401, the token itself is bad.
    pub fn outcome(&self) -> Outcome {
        Outcome::Unauthorized
    }

    /// The rule that failed, as a stable `snake_case` name without any value from the token:
    /// fit for a metric label or a log field (bounded cardinality).
    pub fn rule(&self) -> &'static str {
        match self {
            TokenError::TooLarge { .. } => "token_too_large",
            TokenError::Malformed(_) => "malformed",
            TokenError::DuplicateKey(_) => "duplicate_json_key",
            TokenError::ForbiddenHeader(_) => "forbidden_header",
            TokenError::MissingHeader(_) => "missing_header",
            TokenError::Algorithm(e) => e.rule(),
            TokenError::MissingClaim(_) => "missing_claim",
            TokenError::InvalidClaim { .. } => "invalid_claim",
            TokenError::KeyAlgorithmMismatch { .. } => "key_algorithm_mismatch",
            TokenError::BadSignature => "bad_signature",
            TokenError::IssuedInFuture { .. } => "issued_in_future",
            TokenError::NotYetValid { .. } => "not_yet_valid",
            TokenError::Expired { .. } => "expired",
            TokenError::BadLifetime { .. } => "bad_lifetime",
            TokenError::AudienceMismatch => "audience_mismatch",
        }
    }
}

/// Why an ASAP token was refused. Each variant names the rule that failed;
/// [`VerifyError::outcome`] maps it to 401, 403 or 503.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The request carries no `Authorization` header.
    #[error("no Authorization header")]
    MissingToken,
    /// The `Authorization` header is not exactly `Bearer <token>`, or there is more than one.
    #[error("bad Authorization header: {0}")]
    BadAuthorization(&'static str),
    /// A rule every token profile shares: framing, header, claim types, signature, time,
    /// audience.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The algorithm is known but not enabled on this verifier (EdDSA).
    #[error("algorithm {0} is not enabled on this verifier")]
    AlgorithmNotEnabled(Algorithm),
    /// The kid breaks the syntax or ownership rule.
    #[error(transparent)]
    Kid(#[from] KidError),
    /// The issuer is not in the allow-list.
    #[error("issuer {0:?} is not allowed")]
    IssuerNotAllowed(String),
    /// No key is published for the kid.
    #[error("no public key for kid {0}")]
    KeyNotFound(KeyId),
    /// The published key is not acceptable.
    #[error("the public key for kid {kid} is not acceptable: {source}")]
    InvalidKey {
        /// The kid.
        kid: KeyId,
        /// What is wrong.
        #[source]
        source: KeyError,
    },
    /// The key repository could not answer.
    #[error("cannot get the public key: {0}")]
    KeyUnavailable(#[source] BoxError),
    /// `sub` differs from `iss` and no subject allow-list permits it.
    #[error("subject {subject:?} differs from issuer {issuer:?}")]
    SubjectMismatch {
        /// The `sub` claim.
        subject: String,
        /// The `iss` claim.
        issuer: String,
    },
    /// The effective subject is not in the allow-list.
    #[error("subject {0:?} is not allowed")]
    SubjectNotAllowed(String),
    /// The `(iss, jti)` pair was seen before.
    #[error("token was already used (jti replay)")]
    Replayed,
    /// The replay store could not answer.
    #[error("cannot check for replay: {0}")]
    ReplayUnavailable(#[source] ReplayError),
    /// A valid token without a scope this resource requires ([`Claims::require_scopes`](crate::Claims::require_scopes)).
    #[error("token lacks the scope(s) {missing}")]
    InsufficientScope {
        /// Every scope the resource requires, space-separated.
        required: String,
        /// The required scopes the token does not carry, space-separated.
        missing: String,
    },
    /// The route requires a request-bound token and this one carries no `qsh` string: a bearer
    /// token that would be accepted on any route of the service.
    #[error("this route requires a token bound to the request (a `qsh` claim); the token is not bound")]
    NotBoundToRequest,
    /// The token is bound to another request: its `qsh` is not the hash of this method, path
    /// and query (or the request is not under the base URL the binding is relative to).
    #[error("the token is bound to another request (qsh mismatch)")]
    BoundToAnotherRequest,
}

impl VerifyError {
    /// The HTTP outcome of this error: the one place where rule failures become statuses.
    pub fn outcome(&self) -> Outcome {
        match self {
            VerifyError::IssuerNotAllowed(_)
            | VerifyError::SubjectMismatch { .. }
            | VerifyError::SubjectNotAllowed(_)
            | VerifyError::InsufficientScope { .. } => Outcome::Forbidden,
            VerifyError::KeyUnavailable(_) | VerifyError::ReplayUnavailable(_) => Outcome::Unavailable,
            VerifyError::Token(e) => e.outcome(),
            _ => Outcome::Unauthorized,
        }
    }

    /// The rule that failed, as a stable `snake_case` name without any value from the token
    /// (no kid, issuer or claim text): fit for a metric label or a log field. The names are
    /// listed in `docs/metrics.md`.
    pub fn rule(&self) -> &'static str {
        match self {
            VerifyError::MissingToken => "missing_token",
            VerifyError::BadAuthorization(_) => "bad_authorization",
            VerifyError::Token(e) => e.rule(),
            VerifyError::AlgorithmNotEnabled(_) => "algorithm_not_enabled",
            VerifyError::Kid(e) => e.rule(),
            VerifyError::IssuerNotAllowed(_) => "issuer_not_allowed",
            VerifyError::KeyNotFound(_) => "key_not_found",
            VerifyError::InvalidKey { .. } => "invalid_key",
            VerifyError::KeyUnavailable(_) => "key_unavailable",
            VerifyError::SubjectMismatch { .. } => "subject_mismatch",
            VerifyError::SubjectNotAllowed(_) => "subject_not_allowed",
            VerifyError::Replayed => "replayed",
            VerifyError::ReplayUnavailable(_) => "replay_unavailable",
            VerifyError::InsufficientScope { .. } => "insufficient_scope",
            VerifyError::NotBoundToRequest => "not_bound_to_request",
            VerifyError::BoundToAnotherRequest => "bound_to_another_request",
        }
    }
}

impl From<AlgorithmError> for VerifyError {
    fn from(e: AlgorithmError) -> Self {
        VerifyError::Token(TokenError::Algorithm(e))
    }
}

/// A configuration that cannot work: a verifier without an audience, a leeway or lifetime out
/// of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid verifier configuration: {0}")]
pub struct ConfigError(pub String);

impl From<KeySourceError> for VerifyError {
    fn from(e: KeySourceError) -> Self {
        match e {
            KeySourceError::NotFound(kid) => VerifyError::KeyNotFound(kid),
            KeySourceError::InvalidKey { kid, source } => VerifyError::InvalidKey { kid, source },
            KeySourceError::Unavailable(e) => VerifyError::KeyUnavailable(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_map_to_statuses() {
        assert_eq!(
            VerifyError::from(TokenError::BadSignature).outcome().status(),
            401
        );
        assert_eq!(TokenError::AudienceMismatch.outcome().status(), 401);
        assert_eq!(VerifyError::IssuerNotAllowed("x".into()).outcome().status(), 403);
        assert_eq!(VerifyError::SubjectNotAllowed("x".into()).outcome().status(), 403);
        assert_eq!(VerifyError::KeyUnavailable("down".into()).outcome().status(), 503);
        assert_eq!(
            VerifyError::ReplayUnavailable(ReplayError::Full(1))
                .outcome()
                .status(),
            503
        );
        let kid = KeyId::parse("a/b").expect("valid");
        assert_eq!(VerifyError::KeyNotFound(kid).outcome().status(), 401);
        assert_eq!(VerifyError::Replayed.outcome().status(), 401);
        assert_eq!(VerifyError::NotBoundToRequest.outcome().status(), 401);
        assert_eq!(VerifyError::BoundToAnotherRequest.outcome().status(), 401);
    }

    #[test]
    fn rule_names_carry_no_value_from_the_token() {
        let secret = "secret-issuer/k1";
        let kid = KeyId::parse(secret).expect("valid");
        let errors = [
            VerifyError::IssuerNotAllowed(secret.into()),
            VerifyError::KeyNotFound(kid),
            VerifyError::Kid(KidError::NotOwnedByIssuer {
                kid: secret.into(),
                issuer: secret.into(),
            }),
            VerifyError::from(AlgorithmError::Unknown(secret.into())),
            VerifyError::from(TokenError::DuplicateKey(secret.into())),
            VerifyError::SubjectNotAllowed(secret.into()),
        ];
        for error in &errors {
            let rule = error.rule();
            assert!(!rule.contains("secret"), "{rule}");
            assert!(
                rule.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{rule}"
            );
        }
        assert_eq!(errors[0].rule(), "issuer_not_allowed");
        assert_eq!(errors[2].rule(), "kid_not_owned_by_issuer");
        assert_eq!(
            VerifyError::from(TokenError::BadSignature).rule(),
            "bad_signature"
        );
    }
}
