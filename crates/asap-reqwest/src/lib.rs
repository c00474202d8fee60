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
pub use connect::{ConnectMiddleware, ConnectMiddlewareError, ConnectTenant};
#[cfg(feature = "user-tokens")]
pub use user::{UserTokenMiddleware, UserTokenMiddlewareError};

use asap_core::{Audience, SignError, Signer, TokenRequest};
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
}

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
}

impl AsapMiddleware {
    /// Signs for `audience` with `signer`, reusing tokens (see the crate docs).
    pub fn new(signer: &Signer, audience: Audience) -> AsapMiddleware {
        AsapMiddleware {
            signer: signer.with_reuse(true),
            audience,
        }
    }

    /// A fresh token for every request, for servers that allow one use per `jti`.
    #[must_use]
    pub fn fresh_tokens(self) -> AsapMiddleware {
        AsapMiddleware {
            signer: self.signer.with_reuse(false),
            audience: self.audience,
        }
    }

    /// A token for one outbound request: the middleware's audience, unless the request's
    /// extensions say otherwise (each extension read once).
    fn token(&self, extensions: &Extensions) -> Result<asap_core::Token, SignError> {
        let audience = extensions.get::<AsapAudience>();
        let subject = extensions.get::<AsapSubject>();
        let claims = extensions.get::<AsapClaims>();
        if audience.is_none() && subject.is_none() && claims.is_none() {
            // The common case: no per-request settings, a cached token without allocating.
            return self.signer.sign(&self.audience);
        }
        let audience = audience.map_or_else(|| self.audience.clone(), |a| a.0.clone());
        let mut request = TokenRequest::new(audience);
        if let Some(AsapSubject(subject)) = subject {
            request = request.subject(subject.clone());
        }
        for (name, value) in claims.iter().flat_map(|c| &c.0) {
            request = request.claim(name.clone(), value.clone());
        }
        self.signer.sign_request(&request)
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
                .token(extensions)
                .map_err(|e| reqwest_middleware::Error::middleware(AsapMiddlewareError::Sign(e)))?;
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
