//! Outbound per-user tokens (feature `user-tokens`): each request signed by the user's own key
//! in asymmetric-jwt-auth's format.

use http::Extensions;
use http::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};
use user_tokens::{UserSignError, UserSigner};

use crate::origins::{self, Destination, Origin, OtherOrigins};

/// Sends `Authorization: JWT <token>` with a fresh per-user token on every request: the user's
/// `{username, time, nonce}` signed with their key by a [`UserSigner`]. Each token is good
/// once, so none is reused, and a retried request gets a new one.
///
/// A token goes only over `https`, or plain `http` to a loopback host: a token captured in
/// transit is usable by whoever gets it to the server first. A per-user token names no
/// audience, so every server that knows the user's key takes it: say which origins it is for
/// ([`UserTokenMiddleware::allow_origins`]), and a request elsewhere is refused
/// ([`UserTokenMiddlewareError::OriginNotAllowed`], not sent) or, with
/// [`OtherOrigins::SendUnsigned`], sent without a token. Without a list a token goes to every
/// host. A request that already carries an `Authorization` header is left alone.
///
/// ```
/// use asap_core::{KeyKind, KeySpec, PrivateKey};
/// use asap_reqwest::{Origin, UserTokenMiddleware};
/// use reqwest_middleware::ClientBuilder;
/// use user_tokens::UserSigner;
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// // Typically asap_keys::read_private_key("~/.ssh/id_ed25519", None).
/// let key = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519))?;
/// let client = ClientBuilder::new(reqwest::Client::new())
///     .with(
///         UserTokenMiddleware::new(UserSigner::new("ann", key)?)
///             .allow_origins([Origin::parse("https://api.internal")?]),
///     )
///     .build();
/// # let _ = client; Ok(()) }
/// ```
///
/// Failures surface as [`reqwest_middleware::Error::Middleware`] wrapping a
/// [`UserTokenMiddlewareError`].
#[derive(Debug, Clone)]
pub struct UserTokenMiddleware {
    signer: UserSigner,
    /// Where tokens may go; `None`: no list configured, every origin.
    origins: Option<Vec<Origin>>,
    other_origins: OtherOrigins,
}

/// Why the per-user token middleware could not sign a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserTokenMiddlewareError {
    /// The token could not be made.
    #[error("cannot sign the per-user token: {0}")]
    Sign(#[source] UserSignError),
    /// The request goes to a plain-`http` URL that is not on a loopback host. The origin is
    /// given.
    #[error("refusing to send a per-user token in clear to {0} (https is required)")]
    InsecureUrl(String),
    /// The request goes to an origin not in [`UserTokenMiddleware::allow_origins`]; it was
    /// not sent.
    #[error("refusing to send a per-user token to {origin}: not an allowed origin")]
    OriginNotAllowed {
        /// The request's origin (`scheme://host[:port]`, never its userinfo, path or query).
        origin: String,
    },
}

impl UserTokenMiddleware {
    /// A middleware that signs with `signer`.
    pub fn new(signer: UserSigner) -> UserTokenMiddleware {
        UserTokenMiddleware {
            signer,
            origins: None,
            other_origins: OtherOrigins::Refuse,
        }
    }

    /// Sends tokens only to `origins` (added to any given before; see the type's docs).
    #[must_use]
    pub fn allow_origins(mut self, origins: impl IntoIterator<Item = Origin>) -> UserTokenMiddleware {
        let list = self.origins.get_or_insert_with(Vec::new);
        for origin in origins {
            if !list.contains(&origin) {
                list.push(origin);
            }
        }
        self
    }

    /// What happens to a request to an origin not in [`UserTokenMiddleware::allow_origins`]
    /// (default [`OtherOrigins::Refuse`]: an error, not sent). Without a list every request is
    /// signed, so this has no effect.
    #[must_use]
    pub fn other_origins(self, other_origins: OtherOrigins) -> UserTokenMiddleware {
        UserTokenMiddleware {
            other_origins,
            ..self
        }
    }

    fn authorization(&self, url: &reqwest::Url) -> Result<HeaderValue, UserTokenMiddlewareError> {
        let loopback = url.host_str().is_some_and(asap_core::is_loopback_host);
        if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
            return Err(UserTokenMiddlewareError::InsecureUrl(
                url.origin().ascii_serialization(),
            ));
        }
        let value = self
            .signer
            .authorization()
            .map_err(UserTokenMiddlewareError::Sign)?;
        let mut value = HeaderValue::try_from(value)
            .map_err(|_| UserTokenMiddlewareError::Sign(UserSignError::Sign(asap_core::SignError::Crypto)))?;
        value.set_sensitive(true);
        Ok(value)
    }
}

#[async_trait::async_trait]
impl Middleware for UserTokenMiddleware {
    async fn handle(
        &self,
        mut req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        if !req.headers().contains_key(AUTHORIZATION) {
            match origins::destination(self.origins.as_deref(), self.other_origins, req.url()) {
                Destination::Sign => {
                    let value = self
                        .authorization(req.url())
                        .map_err(reqwest_middleware::Error::middleware)?;
                    req.headers_mut().insert(AUTHORIZATION, value);
                }
                Destination::SendUnsigned => {}
                Destination::Refuse => {
                    return Err(reqwest_middleware::Error::middleware(
                        UserTokenMiddlewareError::OriginNotAllowed {
                            origin: origins::shown(req.url()),
                        },
                    ));
                }
            }
        }
        next.run(req, extensions).await
    }
}
