//! # connect-qsh
//!
//! Atlassian Connect authentication, both directions, bit-exact with the product (the host):
//!
//! - **Canonical request and `qsh`** — [`canonical_request`] and [`qsh`]: plain functions, no
//!   async runtime, no HTTP client; they are all there is without the `auth` feature.
//! - **Outbound** — [`ConnectSigner`] makes the HS256 token for a request from the app to the
//!   product, bound to its final method and URL relative to the tenant's base URL.
//! - **Inbound** — [`Authenticator`] checks a request from the product: token from
//!   `Authorization: JWT …` or `?jwt=`, shared secret by `iss` from a [`SharedSecretStore`],
//!   HS256 (or RS256 by `kid` with [`AuthenticatorBuilder::public_keys`]), signature, time
//!   claims, then `qsh` in constant time. With [`AuthenticatorBuilder::session_tokens`] it also
//!   mints and accepts the app's own session tokens, on routes whose [`QshPolicy`] allows them.
//! - **Install lifecycle** — [`Lifecycle`] verifies the `installed`, `uninstalled`, `enabled`
//!   and `disabled` callbacks (RS256 with the product's install key, fetched by `kid` through an
//!   [`asap_core::PublicKeySource`], or HS256 with an installed tenant's current secret), each
//!   token once, and keeps a [`TenantStore`] in step.
//! - **Acting as a user** — [`UserAssertion`] makes the assertion of the OAuth 2.0 JWT-bearer
//!   grant (the token exchange and its cache are `asap_reqwest::UserTokenCache`).
//!
//! ## Features
//!
//! - **`auth`** (default) — everything but the canonical request and `qsh`: the
//!   [`Authenticator`], the [`ConnectSigner`], the [`Lifecycle`] and the tenant stores, composed on
//!   asap-core (HS256 and RS256 through aws-lc-rs, `http` types, boxed `Send` futures).
//!
//! With `default-features = false` the crate is the standalone `qsh` computation for tools and
//! add-ons that only need the hash, and for request-bound ASAP tokens: pure Rust on `sha2`,
//! `hex`, `url` and `subtle`, no aws-lc, no async runtime, no asap-core (a repository check
//! asserts that dependency tree).
//!
//! ```toml
//! connect-qsh = { version = "0.1", default-features = false }
//! ```
//!
//! ## The canonical request
//!
//! `UPPER(method) & path & query`, where the path is relative to the base URL (its base path
//! stripped by whole segments), `/` when empty, one trailing `/` removed, `&` written `%26`, and
//! otherwise raw; the query is form-decoded, `jwt` dropped, keys and values re-encoded as
//! RFC 3986 unreserved, pairs sorted by encoded key, repeated values sorted and joined with `,`.
//! The `qsh` is the lowercase hex SHA-256 of it.
//!
//! ```
//! use connect_qsh::{canonical_request, qsh};
//! let url = "https://acme.atlassian.net/wiki/rest/api/search?cql=type%3Dpage&limit=10&expand=a&expand=B";
//! let base = "https://acme.atlassian.net/wiki";
//! assert_eq!(
//!     canonical_request("GET", url, base)?,
//!     "GET&/rest/api/search&cql=type%3Dpage&expand=B,a&limit=10",
//! );
//! assert_eq!(qsh("GET", url, base)?.len(), 64);
//! # Ok::<(), connect_qsh::QshError>(())
//! ```
//!
//! Outbound tokens hash the raw path, as it goes on the wire; because the product signs the
//! requests it sends over the percent-decoded path, the `Authenticator` accepts a `qsh` over
//! either form, where the decoded form decodes only escapes that cannot change the resource
//! (never `%2F`, `%5C`, `%25`, `%2E` or `%3B`), there is no decoded form when the path holds a
//! `%` that starts no escape, and the request method must already be upper-case.
//!
//! ## Calling the product
//!
//! ```
//! # #[cfg(feature = "auth")] fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use connect_qsh::{ConnectSigner, SharedSecret, Tenant};
//! # let tenant = Tenant::from_install_payload(r#"{"clientKey":"c","sharedSecret":"s","baseUrl":"https://acme.atlassian.net/wiki","eventType":"installed"}"#)?;
//! let signer = ConnectSigner::new("my-app-key");
//! let url = "https://acme.atlassian.net/wiki/rest/api/space?limit=10";
//! let authorization = signer.authorization(tenant.shared_secret(), "GET", url, tenant.base_url())?;
//! // …send the request with `Authorization: {authorization}`.
//! # Ok(()) }
//! # #[cfg(not(feature = "auth"))] fn main() {}
//! ```
//!
//! ## Authenticating the product's requests
//!
//! ```
//! # #[cfg(feature = "auth")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use connect_qsh::*;
//! use http::{HeaderMap, HeaderValue, Method, Uri};
//!
//! let tenants = Arc::new(InMemoryTenantStore::new());
//! # let tenant = Tenant::from_install_payload(r#"{"clientKey":"c-1","sharedSecret":"s","baseUrl":"https://acme.atlassian.net","eventType":"installed"}"#)?;
//! # tenants.save(&tenant).await?;
//! let authenticator = Authenticator::builder(tenants.clone())
//!     .base_url("https://app.example.com")
//!     .build()?;
//!
//! # let token = ConnectSigner::new("c-1").sign(tenant.shared_secret(), "GET", "/panel?x=1", "")?;
//! let mut headers = HeaderMap::new();
//! headers.insert("authorization", HeaderValue::from_str(&format!("JWT {token}"))?);
//! let uri: Uri = "/panel?x=1".parse()?;
//! let request = authenticator.authenticate(&Method::GET, &uri, &headers).await?;
//! assert_eq!(request.client_key(), "c-1");
//!
//! // Errors say which rule failed, and map to 401, 403 or 503 in one place.
//! let err = authenticator
//!     .authenticate(&Method::POST, &uri, &headers)
//!     .await
//!     .expect_err("must be refused");
//! assert!(matches!(err, AuthError::QshMismatch));
//! assert_eq!(err.outcome().status(), 401);
//! # Ok(()) }
//! ```
//!
//! `context-qsh` tokens (from `AP.context.getToken()`) are refused unless the route opts in with
//! [`QshPolicy::AllowContext`] in [`Authenticator::authenticate_with`].
//!
//! ## Install lifecycle
//!
//! [`Lifecycle::installed`] and [`Lifecycle::uninstalled`] accept a callback signed with RS256 by
//! the product's install key (`aud` = the app's base URL); with
//! [`LifecycleBuilder::shared_secret_installs`], also one signed with HS256 by an installed
//! tenant's **current** shared secret, which then cannot move the tenant to another `baseUrl`
//! and is applied only over the record whose secret signed it. `enabled` and `disabled` accept
//! either. An unauthenticated re-install never replaces a tenant. See [`Lifecycle`].

#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// The guide above names the `auth` items; without the feature they are not there to link to.
#![cfg_attr(not(feature = "auth"), allow(rustdoc::broken_intra_doc_links))]

mod canonical;

pub use canonical::{QshError, canonical_request, qsh, qsh_matches_request, qsh_of_canonical};

#[cfg(feature = "auth")]
mod authenticator;
#[cfg(feature = "auth")]
mod claims;
#[cfg(feature = "auth")]
mod error;
#[cfg(feature = "auth")]
mod install_key;
#[cfg(feature = "auth")]
mod lifecycle;
#[cfg(feature = "auth")]
mod payload;
#[cfg(feature = "auth")]
mod secret;
#[cfg(feature = "auth")]
mod session;
#[cfg(feature = "auth")]
mod signer;
#[cfg(feature = "auth")]
mod store;
#[cfg(feature = "auth")]
mod user;

#[cfg(feature = "auth")]
#[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
pub use {
    authenticator::{
        Authenticator, AuthenticatorBuilder, DEFAULT_CONNECT_LEEWAY, DEFAULT_CONNECT_MAX_LIFETIME,
        QshBinding, QshPolicy, VerifiedRequest,
    },
    claims::{CONTEXT_QSH, ConnectClaims},
    error::{AuthError, ConfigError, PayloadError, SharedSecretError, SignError, StoreError},
    lifecycle::{
        CallbackSignature, DEFAULT_MAX_LIFECYCLE_REPLAY_ENTRIES,
        DEFAULT_MAX_LIFECYCLE_REPLAY_ENTRIES_PER_TENANT, Lifecycle, LifecycleBuilder, LifecycleEvent,
        VerifiedCallback,
    },
    payload::InstallPayload,
    secret::SharedSecret,
    session::{DEFAULT_SESSION_LIFETIME, MAX_SESSION_LIFETIME, SESSION_TOKEN_HEADER},
    signer::{ConnectSigner, DEFAULT_CONNECT_LIFETIME, MAX_CONNECT_LIFETIME},
    store::{
        InMemorySharedSecretStore, InMemoryTenantStore, InstallationLinks, SharedSecretStore, StoreFuture,
        Tenant, TenantSecrets, TenantStore,
    },
    user::{ATLASSIAN_AUTHORIZATION_SERVER, JWT_BEARER_GRANT_TYPE, USER_ASSERTION_LIFETIME, UserAssertion},
};

#[cfg(all(test, feature = "auth"))]
mod send_bounds {
    //! The futures of the public API are `Send`, so they run in axum handlers and `tokio::spawn`.
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn public_futures_are_send() {
        let authenticator = Authenticator::builder(InMemorySharedSecretStore::new())
            .build()
            .expect("valid");
        let (method, uri, headers) = (
            http::Method::GET,
            http::Uri::from_static("/"),
            http::HeaderMap::new(),
        );
        assert_send(&authenticator.authenticate(&method, &uri, &headers));
        let keys: std::sync::Arc<dyn asap_core::PublicKeySource> =
            std::sync::Arc::new(asap_core::StaticKeySource::new());
        let lifecycle = Lifecycle::builder(
            "https://app.example",
            keys,
            std::sync::Arc::new(InMemoryTenantStore::new()),
        )
        .build()
        .expect("valid");
        assert_send(&lifecycle.installed(&method, &uri, &headers, b""));
        assert_send(&lifecycle.uninstalled(&method, &uri, &headers, b""));
        assert_send(&lifecycle.enabled(&method, &uri, &headers, b""));
        assert_send(&lifecycle.disabled(&method, &uri, &headers, b""));
    }
}
