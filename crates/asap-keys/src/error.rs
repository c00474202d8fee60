//! Errors of this crate. Each says what to fix; none shows key material or a passphrase.

use std::path::PathBuf;

use asap_core::{BoxError, KeyError, KidError, SignError};

/// Why a private key (or a signing key built from one) could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not a PEM document of a supported kind.
    #[error("not a usable private key: {0}")]
    Format(String),
    /// The key itself is not acceptable (malformed, weak RSA, unsupported curve, public key).
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The key text is longer than any private key this crate reads (an RSA 8192 PEM is
    /// about 6.5 KiB); refused before parsing.
    #[error("the private key text is longer than {max} bytes; not a key")]
    TooLarge {
        /// The limit, in bytes.
        max: usize,
    },
    /// An RSA component longer than accepted: a modulus over 8192 bits, or another component
    /// longer than the modulus. Refused before any arithmetic on the key.
    #[error("the RSA {component} is longer than {max_bits} bits")]
    RsaComponentTooLarge {
        /// Which component (`modulus`, `private exponent`, `prime`…).
        component: &'static str,
        /// Its limit: 8192 for the modulus, the modulus's length for the others.
        max_bits: usize,
    },
    /// The key is encrypted and no passphrase was given.
    #[error("the private key is encrypted: a passphrase is required")]
    PassphraseRequired,
    /// The passphrase does not decrypt the key.
    #[error("the passphrase does not decrypt the private key")]
    WrongPassphrase,
    /// The key is encrypted with a scheme this crate does not support.
    #[error("unsupported private key encryption: {0}")]
    UnsupportedEncryption(String),
    /// A data URI that is not `data:application/pkcs8;kid=<kid>;base64,<DER>`.
    #[error("invalid private key data URI: {0}")]
    DataUri(String),
    /// The kid is not valid.
    #[error("invalid kid: {0}")]
    Kid(#[from] KidError),
    /// The key cannot sign with the algorithm asked for, or the kid is not the issuer's.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// A key repository directory holds no usable key for the issuer.
    #[error("no usable private key in {dir}: {reason}")]
    NoKey {
        /// The issuer's directory.
        dir: PathBuf,
        /// Why: no `.pem` file, or the last one is invalid.
        reason: String,
    },
}

/// Why a public key text was refused (see [`parse_public_key`](crate::parse_public_key)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFormatError {
    /// Nothing that looks like a key.
    #[error("no key found: expected a PEM public key or one OpenSSH authorized_keys line")]
    Empty,
    /// More than one OpenSSH key line.
    #[error("found {0} keys; register one key at a time")]
    SeveralKeys(usize),
    /// The text is implausibly long for a public key.
    #[error("the key text is longer than {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// A private key was given.
    #[error("this is a private key; register the public key (the .pub file, or `PUBLIC KEY` PEM)")]
    PrivateKey,
    /// An OpenSSH key type that is not accepted (DSA, security keys, certificates…).
    #[error("{0}")]
    UnsupportedType(String),
    /// The OpenSSH line or key blob is malformed.
    #[error("malformed OpenSSH public key: {0}")]
    Malformed(String),
    /// The key itself is refused (an RSA key under 2048 bits, a point off the curve, bad PEM).
    #[error(transparent)]
    Key(KeyError),
}

/// An environment variable that is missing or wrong. The message names the variable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// A required variable is not set (or is empty).
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    /// A variable is set but its value cannot be used.
    #[error("environment variable {variable} is invalid: {source}")]
    Invalid {
        /// The variable.
        variable: &'static str,
        /// What is wrong with its value.
        #[source]
        source: BoxError,
    },
}

impl EnvError {
    /// The variable this error is about.
    pub fn variable(&self) -> &'static str {
        match self {
            EnvError::Missing(v) | EnvError::Invalid { variable: v, .. } => v,
        }
    }

    pub(crate) fn invalid(variable: &'static str, source: impl Into<BoxError>) -> EnvError {
        EnvError::Invalid {
            variable,
            source: source.into(),
        }
    }
}

/// A key repository that cannot be configured as asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A repository URL that cannot be used (not absolute, has a query, fragment or credentials).
    #[error("invalid key repository URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as [`redact_url`](crate::redact_url) shows it: without userinfo or query.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A plain `http` URL: only `https` is allowed, or `http` to a loopback address when
    /// explicitly enabled.
    #[error(
        "key repository URL {0:?} is not https (plain http is allowed only to a loopback address, \
         with allow_insecure_loopback)"
    )]
    InsecureUrl(
        /// The URL as [`redact_url`](crate::redact_url) shows it.
        String,
    ),
    /// No repository URL was given.
    #[error("no key repository URL given")]
    NoRepository,
    /// A setting is out of range.
    #[error("invalid key repository setting: {0}")]
    Setting(String),
    /// The HTTP client could not be built (e.g. an unreadable root certificate).
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] BoxError),
}

/// A transport error shared by every lookup that waited for the same fetch.
pub type SharedError = std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Why one fetch from an HTTP(S) key repository failed. Found as the source of
/// [`asap_core::KeySourceError::Unavailable`]: downcast it to `FetchError` to look inside.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The connection could not be made (refused, DNS, TLS handshake).
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL fetched.
        url: String,
        /// The underlying error.
        #[source]
        source: SharedError,
    },
    /// The connect or total timeout passed.
    #[error("timed out fetching {url}")]
    Timeout {
        /// The URL fetched.
        url: String,
    },
    /// The repository answered with a status that is neither success nor not-found.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL fetched.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The repository answered with a redirect, which is never followed: a key must come from
    /// the configured host.
    #[error("{url} redirected to {location:?}; redirects are not followed")]
    Redirect {
        /// The URL fetched.
        url: String,
        /// The `Location` header, if any.
        location: Option<String>,
    },
    /// The response is not of the media type asked for (a PEM file, a JWKS document).
    #[error("{url} answered with Content-Type {content_type:?}, not {expected}")]
    ContentType {
        /// The URL fetched.
        url: String,
        /// The Content-Type seen (empty when absent).
        content_type: String,
        /// The media type asked for.
        expected: &'static str,
    },
    /// The body is larger than the limit.
    #[error("{url} sent a body larger than {limit} bytes")]
    TooLarge {
        /// The URL fetched.
        url: String,
        /// The limit.
        limit: usize,
    },
    /// Any other transport failure while reading the response.
    #[error("error fetching {url}: {source}")]
    Transport {
        /// The URL fetched.
        url: String,
        /// The underlying error.
        #[source]
        source: SharedError,
    },
    /// The kid's issuer (or, with [`BudgetScope::Repository`](crate::BudgetScope), the
    /// repository) has spent its budget of fetches for kids with no cached key
    /// ([`FetchBudget`](crate::FetchBudget)); nothing was sent.
    #[error("too many lookups of unknown keys of issuer {issuer:?}; try again later")]
    IssuerBudgetExhausted {
        /// The issuer: the kid without its last segment (empty for the repository's budget).
        issuer: String,
    },
    /// As many fetches as the [`FetchBudget`](crate::FetchBudget) allows are in flight
    /// already; nothing was sent.
    #[error("{limit} key fetches are in flight already; try again later")]
    TooManyInFlight {
        /// The limit.
        limit: usize,
    },
    /// The JWKS document is not a key set this library accepts (a private key member, an
    /// unknown key type, duplicate kids, a weak RSA key…).
    #[error("{url} served an unacceptable key set: {source}")]
    InvalidKeySet {
        /// The URL fetched.
        url: String,
        /// What is wrong with it.
        #[source]
        source: crate::JwkError,
    },
    /// Every repository failed; the errors in repository order.
    #[error("every key repository failed: {}", join(.0))]
    AllFailed(Vec<FetchError>),
}

fn join(errors: &[FetchError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
