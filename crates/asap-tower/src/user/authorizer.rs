//! The per-user token authorizer and the builder methods of [`UserLayer`].

use std::fmt;
use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{Request, Response};
use user_tokens::{UserTokenError, UserVerifier};

use super::{UserLayer, user_response};
use crate::authorize::{Authorize, AuthorizeLayer};
use crate::refusal::hide_authorization;

type Responder = Arc<dyn Fn(&UserTokenError) -> Response<String> + Send + Sync>;

/// What a [`UserLayer`] applies to each request: verify its `Authorization: JWT <token>` with a
/// [`UserVerifier`]. Built and configured through [`UserLayer`].
#[derive(Clone)]
pub struct UserAuthorizer {
    verifier: Arc<UserVerifier>,
    allow_anonymous: bool,
    responder: Responder,
}

impl fmt::Debug for UserAuthorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserAuthorizer")
            .field("verifier", &self.verifier)
            .field("allow_anonymous", &self.allow_anonymous)
            .finish_non_exhaustive()
    }
}

impl UserLayer {
    /// A layer that verifies with `verifier` and refuses requests without a token.
    pub fn new(verifier: UserVerifier) -> UserLayer {
        AuthorizeLayer::with_authorizer(UserAuthorizer {
            verifier: Arc::new(verifier),
            allow_anonymous: false,
            responder: Arc::new(user_response),
        })
    }

    /// Let requests that carry no `Authorization` header through, unauthenticated (handlers use
    /// `Option<UserAuthenticated>`), as the package's Django middleware does. A request with a
    /// bad token is still refused.
    pub fn allow_anonymous(self, allow: bool) -> UserLayer {
        self.map_authorizer(|a| a.allow_anonymous = allow)
    }

    /// Replaces the response built for a refused request (default [`user_response`]).
    pub fn on_rejection<F>(self, respond: F) -> UserLayer
    where
        F: Fn(&UserTokenError) -> Response<String> + Send + Sync + 'static,
    {
        self.map_authorizer(|a| a.responder = Arc::new(respond))
    }
}

impl Authorize for UserAuthorizer {
    type Error = UserTokenError;
    const KIND: &'static str = "per-user";

    async fn authorize<B: Send>(&self, request: &mut Request<B>) -> Result<(), UserTokenError> {
        hide_authorization(request.headers_mut());
        let mut values = request.headers().get_all(AUTHORIZATION).iter();
        let value = match (values.next(), values.next()) {
            (None, _) if self.allow_anonymous => return Ok(()),
            (None, _) => return Err(UserTokenError::MissingToken),
            (Some(_), Some(_)) => {
                return Err(UserTokenError::BadAuthorization(
                    "more than one Authorization header",
                ));
            }
            (Some(value), None) => value
                .to_str()
                .map_err(|_| UserTokenError::BadAuthorization("not ASCII"))?,
        };
        let user = self.verifier.verify_authorization(value).await?;
        tracing::debug!(username = user.username(), fingerprint = %user.fingerprint(), "per-user token accepted");
        request.extensions_mut().insert(user);
        Ok(())
    }

    fn refuse(&self, error: &UserTokenError) -> Response<String> {
        (self.responder)(error)
    }
}
