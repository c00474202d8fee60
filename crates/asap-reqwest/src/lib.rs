//! # asap-reqwest
//!
//! Outbound ASAP for reqwest: [`AsapMiddleware`] adds `Authorization: Bearer <token>` to
//! requests sent through a [`reqwest_middleware::ClientWithMiddleware`], signed by a shared
//! [`asap_core::Signer`]. Tokens are reused until 95% of their lifetime has passed (one
//! signature per minute per audience instead of one per call), unless
//! [`AsapMiddleware::fresh_tokens`] asks for a new token per request (needed when the server
//! enforces one use per `jti`).
//!
//! Say where each audience lives ([`AsapMiddleware::allow_origins`],
//! [`AsapMiddleware::allow_origins_for`]): a token then goes only to its audience's origins,
//! and a request elsewhere is refused before it leaves. Without any list, every request is
//! signed, whatever its host (see [Where tokens go](#where-tokens-go)).
//!
//! ```
//! use asap_core::{Audience, KeyId, KeyKind, KeySpec, PrivateKey, Signer, SigningKey};
//! use asap_reqwest::{AsapAudience, AsapMiddleware, Origin};
//! use reqwest_middleware::ClientBuilder;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256))?;
//! let signer = Signer::builder("billing").key(SigningKey::new(KeyId::parse("billing/k1")?, key, None)?).build()?;
//!
//! let client = ClientBuilder::new(reqwest::Client::new())
//!     .with(
//!         AsapMiddleware::new(&signer, Audience::new("ledger")?)
//!             .allow_origins([Origin::parse("https://ledger.internal")?])
//!             .allow_origins_for(Audience::new("audit")?, [Origin::parse("https://audit.internal")?]),
//!     )
//!     .build();
//! // Signed for "ledger", sent to ledger.internal only; this one for "audit" instead.
//! let request = client.get("https://audit.internal/events").with_extension(AsapAudience(Audience::new("audit")?));
//! # let _ = request;
//! # Ok(()) }
//! ```
//!
//! ## Where tokens go
//!
//! A bearer token is good for its audience wherever it is presented: whoever receives it can
//! replay it there until it expires (reused tokens live about a minute). So once any origin
//! list is configured, a token for an audience goes only to that audience's [`Origin`]s
//! (scheme, host and port, compared with the request's parsed URL; a per-request
//! [`AsapAudience`] is checked against its own audience's list), and an audience without a
//! list goes nowhere. A request to any other origin fails with
//! [`AsapMiddlewareError::OriginNotAllowed`] and is not sent, or, with
//! [`OtherOrigins::SendUnsigned`] ([`AsapMiddleware::other_origins`]), is sent without a
//! token: for a client that also calls URLs it was given, such as webhooks.
//!
//! With no list configured at all (the behaviour before lists existed), every request is
//! signed, **whatever its host**: use such a client only for the audience's own hosts.
//!
//! A request that already carries an `Authorization` header is left alone. On a redirect to
//! another origin (another scheme, host or port: reqwest 0.13.4 and later, which this crate
//! requires) reqwest itself drops the `Authorization` header; the middleware only sees the
//! first request.
//!
//! The origin is checked on the URL as this middleware sees it, so give it the last `.with`,
//! after any middleware that rewrites the URL (a base URL, failover between hosts): a
//! middleware added after it runs after it, and would carry the signed token to wherever it
//! rewrites the request. And an `http://` origin
//! sends the token in clear text, through any proxy reqwest picks up from the environment
//! (`HTTPS_PROXY`, `HTTP_PROXY`): list one only for hosts on a network you trust.
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
mod origins;
#[cfg(feature = "user-tokens")]
mod user;

#[cfg(feature = "connect")]
pub use connect::{
    AccessToken, ActAsUser, ConnectMiddleware, ConnectMiddlewareError, ConnectTenant, ConnectUserError,
    ConnectUserMiddleware, DEFAULT_MAX_CACHED_USER_TOKENS, DEFAULT_REFRESH_BEFORE, UserTokenCache,
    UserTokenConfigError, UserTokenError,
};
pub use origins::{Origin, OriginError, OtherOrigins};
#[cfg(feature = "user-tokens")]
pub use user::{UserTokenMiddleware, UserTokenMiddlewareError};

use asap_core::{Audience, Qsh, SignError, Signer, TokenRequest};
use connect_qsh::QshError;
use http::Extensions;
use http::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};
use serde_json::{Map, Value};

use crate::origins::Destination;

/// Signs outbound requests with ASAP: every request, or, once origins are configured
/// ([`AsapMiddleware::allow_origins`]), those to its audience's origins (see the crate docs).
#[derive(Debug, Clone)]
pub struct AsapMiddleware {
    signer: Signer,
    audience: Audience,
    /// The base URL bound requests are canonicalised against; empty: the whole path.
    bind_base_url: String,
    /// Where tokens may go, per audience; `None`: no list configured, every origin.
    origins: Option<AudienceOrigins>,
    other_origins: OtherOrigins,
}

/// The origins configured per audience.
#[derive(Debug, Clone, Default)]
struct AudienceOrigins {
    /// The middleware's own audience's.
    default: Vec<Origin>,
    /// Every other audience's (a few: a linear search is the cheapest lookup).
    others: Vec<(Audience, Vec<Origin>)>,
}

impl AudienceOrigins {
    /// The origins of `requested` (a per-request audience), or of the middleware's own
    /// audience `default`; none for an audience without a list.
    fn of(&self, default: &Audience, requested: Option<&Audience>) -> &[Origin] {
        match requested {
            Some(audience) if audience != default => self
                .others
                .iter()
                .find(|(a, _)| a == audience)
                .map_or(&[], |(_, origins)| origins),
            _ => &self.default,
        }
    }
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

/// Why the middleware did not send a request: it could not sign it, or its token may not go
/// to the request's origin.
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
    /// The request goes to an origin the token for its audience may not go to (not in that
    /// audience's list, or the audience has none while other audiences do); it was not sent.
    #[error(
        "refusing to send an ASAP token for audience \"{audience}\" to {origin}: not an origin allowed for that audience"
    )]
    OriginNotAllowed {
        /// The audience the token would have been for.
        audience: Audience,
        /// The request's origin (`scheme://host[:port]`, never its userinfo, path or query).
        origin: String,
    },
}

impl AsapMiddleware {
    /// Signs for `audience` with `signer`, reusing tokens (see the crate docs).
    pub fn new(signer: &Signer, audience: Audience) -> AsapMiddleware {
        AsapMiddleware {
            signer: signer.with_reuse(true),
            audience,
            bind_base_url: String::new(),
            origins: None,
            other_origins: OtherOrigins::Refuse,
        }
    }

    /// Sends tokens for the middleware's own audience only to `origins` (added to any given
    /// before). Once any audience has a list, a token goes only to its audience's origins, and
    /// an audience without a list nowhere; what happens to other requests is
    /// [`AsapMiddleware::other_origins`].
    #[must_use]
    pub fn allow_origins(self, origins: impl IntoIterator<Item = Origin>) -> AsapMiddleware {
        let audience = self.audience.clone();
        self.allow_origins_for(audience, origins)
    }

    /// Sends tokens for `audience` (a per-request [`AsapAudience`], or the middleware's own)
    /// only to `origins` (added to any given before); see [`AsapMiddleware::allow_origins`].
    #[must_use]
    pub fn allow_origins_for(
        mut self,
        audience: Audience,
        origins: impl IntoIterator<Item = Origin>,
    ) -> AsapMiddleware {
        let lists = self.origins.get_or_insert_with(AudienceOrigins::default);
        let list = if audience == self.audience {
            &mut lists.default
        } else {
            let i = match lists.others.iter().position(|(a, _)| *a == audience) {
                Some(i) => i,
                None => {
                    lists.others.push((audience, Vec::new()));
                    lists.others.len() - 1
                }
            };
            &mut lists.others[i].1
        };
        for origin in origins {
            if !list.contains(&origin) {
                list.push(origin);
            }
        }
        self
    }

    /// What happens to a request its token may not go to (default [`OtherOrigins::Refuse`]:
    /// an [`AsapMiddlewareError::OriginNotAllowed`], not sent). Without any origin list every
    /// request is signed, so this has no effect.
    #[must_use]
    pub fn other_origins(self, other_origins: OtherOrigins) -> AsapMiddleware {
        AsapMiddleware {
            other_origins,
            ..self
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

    /// A token for one outbound request: the middleware's audience, unless the request says
    /// otherwise (`audience`, its [`AsapAudience`]; each extension read once).
    fn token(
        &self,
        req: &Request,
        audience: Option<&Audience>,
        extensions: &Extensions,
    ) -> Result<asap_core::Token, AsapMiddlewareError> {
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
        let audience = audience.unwrap_or(&self.audience).clone();
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
            let audience = extensions.get::<AsapAudience>().map(|a| &a.0);
            let allowed = self
                .origins
                .as_ref()
                .map(|lists| lists.of(&self.audience, audience));
            match origins::destination(allowed, self.other_origins, req.url()) {
                Destination::Sign => {
                    let token = self
                        .token(&req, audience, extensions)
                        .map_err(reqwest_middleware::Error::middleware)?;
                    // Tokens are base64url and dots: always a valid header value.
                    let mut value = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| {
                        reqwest_middleware::Error::middleware(AsapMiddlewareError::Sign(SignError::Crypto))
                    })?;
                    value.set_sensitive(true);
                    req.headers_mut().insert(AUTHORIZATION, value);
                }
                Destination::SendUnsigned => {}
                Destination::Refuse => {
                    return Err(reqwest_middleware::Error::middleware(
                        AsapMiddlewareError::OriginNotAllowed {
                            audience: audience.unwrap_or(&self.audience).clone(),
                            origin: origins::shown(req.url()),
                        },
                    ));
                }
            }
        }
        next.run(req, extensions).await
    }
}
