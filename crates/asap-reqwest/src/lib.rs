//! # asap-reqwest
//!
//! Outbound ASAP for reqwest: [`AsapMiddleware`] adds `Authorization: Bearer <token>` to every
//! request sent through a [`reqwest_middleware::ClientWithMiddleware`], signed by a shared
//! [`asap_core::Signer`]. Tokens are reused until 95% of their lifetime has passed (one
//! signature per minute per audience instead of one per call), unless
//! [`AsapMiddleware::fresh_tokens`] asks for a new token per request (needed when the server
//! enforces one use per `jti`).
//!
//! ```
//! use asap_core::{Audience, KeyId, KeyKind, KeySpec, PrivateKey, Signer, SigningKey};
//! use asap_reqwest::{AsapAudience, AsapMiddleware};
//! use reqwest_middleware::ClientBuilder;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256))?;
//! let signer = Signer::builder("billing").key(SigningKey::new(KeyId::parse("billing/k1")?, key, None)?).build()?;
//!
//! let client = ClientBuilder::new(reqwest::Client::new())
//!     .with(AsapMiddleware::new(&signer, Audience::new("ledger")?))
//!     .build();
//! // Every request is signed for "ledger"; this one for "audit" instead.
//! let request = client.get("https://audit.internal/events").with_extension(AsapAudience(Audience::new("audit")?));
//! # let _ = request;
//! # Ok(()) }
//! ```
//!
//! ## Request-bound tokens
//!
//! A request sent with the [`BindToRequest`] extension carries a token bound to it: its `qsh`
//! claim is the hash of the request's method and final URL in Atlassian Connect's canonical
//! form (relative to [`AsapMiddleware::bind_relative_to`], the whole path by default), which a
//! route with `asap_tower::AsapLayer::require_bound_token` checks. Such a token is signed for
//! this one request and never reused. The body is not covered; a redirect to another URL makes
//! the token useless there.
//!
//! ```
//! # use asap_core::{Audience, KeyId, KeyKind, KeySpec, PrivateKey, Signer, SigningKey};
//! # use asap_reqwest::{AsapMiddleware, BindToRequest};
//! # use reqwest_middleware::ClientBuilder;
//! # fn run(signer: &Signer) -> Result<(), Box<dyn std::error::Error>> {
//! let client = ClientBuilder::new(reqwest::Client::new())
//!     .with(AsapMiddleware::new(signer, Audience::new("ledger")?))
//!     .build();
//! let payment = client.post("https://ledger.internal/payments?to=acme").with_extension(BindToRequest);
//! # let _ = payment;
//! # Ok(()) }
//! ```
//!
//! Signing failures surface as [`reqwest_middleware::Error::Middleware`] wrapping an
//! [`AsapMiddlewareError`], which can be downcast to get the typed [`asap_core::SignError`].
//!
//! With feature `connect`, `ConnectMiddleware` signs requests of an Atlassian Connect app; with
//! feature `user-tokens`, `UserTokenMiddleware` signs each request with the user's own key in
//! asymmetric-jwt-auth's format (`Authorization: JWT <token>`).

#![deny(unsafe_code)]

#[cfg(feature = "connect")]
mod connect;
#[cfg(feature = "user-tokens")]
mod user;

#[cfg(feature = "connect")]
pub use connect::{
    AccessToken, ActAsUser, ConnectMiddleware, ConnectMiddlewareError, ConnectTenant, ConnectUserError,
    ConnectUserMiddleware, DEFAULT_MAX_CACHED_USER_TOKENS, DEFAULT_REFRESH_BEFORE, UserTokenCache,
    UserTokenConfigError, UserTokenError,
};
#[cfg(feature = "user-tokens")]
pub use user::{UserTokenMiddleware, UserTokenMiddlewareError};

use asap_core::{Audience, Qsh, SignError, Signer, TokenRequest};
use connect_qsh::QshError;
use http::Extensions;
use http::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};
use serde_json::{Map, Value};

/// Signs every outbound request with ASAP.
#[derive(Debug, Clone)]
pub struct AsapMiddleware {
    signer: Signer,
    audience: Audience,
    /// The base URL bound requests are canonicalised against; empty: the whole path.
    bind_base_url: String,
}

/// Binds this request's token to the request ([`AsapMiddleware`] signs a fresh token whose
/// `qsh` is the hash of its method and URL; see the crate docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct BindToRequest;

/// A per-request audience, overriding the middleware's (`RequestBuilder::with_extension`).
#[derive(Debug, Clone)]
pub struct AsapAudience(pub Audience);

/// A per-request subject (`sub`), overriding the signer's.
#[derive(Debug, Clone)]
pub struct AsapSubject(pub String);

/// Extra claims for one request, added to the signer's own.
#[derive(Debug, Clone, Default)]
pub struct AsapClaims(pub Map<String, Value>);

/// Why the middleware could not sign a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AsapMiddlewareError {
    /// The signer refused (bad claim, key problem).
    #[error("cannot sign the ASAP token: {0}")]
    Sign(#[source] SignError),
    /// A request to bind ([`BindToRequest`]) whose URL is not under the base URL bound
    /// tokens are relative to.
    #[error("cannot bind the ASAP token to the request: {0}")]
    Bind(#[source] QshError),
}

impl AsapMiddleware {
    /// Signs for `audience` with `signer`, reusing tokens (see the crate docs).
    pub fn new(signer: &Signer, audience: Audience) -> AsapMiddleware {
        AsapMiddleware {
            signer: signer.with_reuse(true),
            audience,
            bind_base_url: String::new(),
        }
    }

    /// The base URL ([`BindToRequest`]) requests are bound relative to, as the server's
    /// `require_bound_token(base_url)` computes them (default: none, the whole path is hashed).
    /// A bound request outside it fails with [`AsapMiddlewareError::Bind`] and is not sent.
    #[must_use]
    pub fn bind_relative_to(self, base_url: impl Into<String>) -> AsapMiddleware {
        AsapMiddleware {
            bind_base_url: base_url.into(),
            ..self
        }
    }

    /// A fresh token for every request, for servers that allow one use per `jti`.
    #[must_use]
    pub fn fresh_tokens(self) -> AsapMiddleware {
        AsapMiddleware {
            signer: self.signer.with_reuse(false),
            ..self
        }
    }

    /// A token for one outbound request: the middleware's audience, unless the request's
    /// extensions say otherwise (each extension read once).
    fn token(&self, req: &Request, extensions: &Extensions) -> Result<asap_core::Token, AsapMiddlewareError> {
        let audience = extensions.get::<AsapAudience>();
        let subject = extensions.get::<AsapSubject>();
        let claims = extensions.get::<AsapClaims>();
        let bind = extensions.get::<BindToRequest>().is_some();
        if audience.is_none() && subject.is_none() && claims.is_none() && !bind {
            // The common case: no per-request settings, a cached token without allocating.
            return self
                .signer
                .sign(&self.audience)
                .map_err(AsapMiddlewareError::Sign);
        }
        let audience = audience.map_or_else(|| self.audience.clone(), |a| a.0.clone());
        let mut request = TokenRequest::new(audience);
        if let Some(AsapSubject(subject)) = subject {
            request = request.subject(subject.clone());
        }
        for (name, value) in claims.iter().flat_map(|c| &c.0) {
            request = request.claim(name.clone(), value.clone());
        }
        if bind {
            // The URL as it goes on the wire (reqwest's `Url` is already serialised).
            let qsh = connect_qsh::qsh(req.method().as_str(), req.url().as_str(), &self.bind_base_url)
                .map_err(AsapMiddlewareError::Bind)?;
            let qsh = Qsh::new(&qsh).map_err(|e| {
                AsapMiddlewareError::Sign(SignError::Claim {
                    name: asap_core::QSH_CLAIM.into(),
                    reason: e.to_string(),
                })
            })?;
            request = request.bind(qsh);
        }
        self.signer
            .sign_request(&request)
            .map_err(AsapMiddlewareError::Sign)
    }
}

#[async_trait::async_trait]
impl Middleware for AsapMiddleware {
    async fn handle(
        &self,
        mut req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        // A request that already says who it is (set by the caller on purpose) is left alone.
        if !req.headers().contains_key(AUTHORIZATION) {
            let token = self
                .token(&req, extensions)
                .map_err(reqwest_middleware::Error::middleware)?;
            // Tokens are base64url and dots: always a valid header value.
            let mut value = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| {
                reqwest_middleware::Error::middleware(AsapMiddlewareError::Sign(SignError::Crypto))
            })?;
            value.set_sensitive(true);
            req.headers_mut().insert(AUTHORIZATION, value);
        }
        next.run(req, extensions).await
    }
}
