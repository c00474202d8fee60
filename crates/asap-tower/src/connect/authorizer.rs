//! The Connect authorizer and the builder methods of [`ConnectLayer`].

use std::fmt;
use std::sync::Arc;

use connect_qsh::{AuthError, Authenticator, QshPolicy, VerifiedRequest};
use http::{Request, Response};

use super::{ConnectLayer, connect_response};
use crate::authorize::{Authorize, AuthorizeLayer, SharedVerifier, received_uri};
use crate::refusal::hide_authorization;

type Responder = Arc<dyn Fn(&AuthError) -> Response<String> + Send + Sync>;

/// What a [`ConnectLayer`] applies to each request: authenticate it with its
/// [`Authenticator`] under its [`QshPolicy`]. Built and configured through [`ConnectLayer`].
#[derive(Clone)]
pub struct ConnectAuthorizer {
    /// Shared by every layer made from one `ConnectLayer::new` (clones,
    /// [`ConnectLayer::narrow`]); its identity tells an inner layer that this very authenticator
    /// already accepted the request ([`SharedVerifier`]).
    authenticator: SharedVerifier<Authenticator>,
    qsh_policy: QshPolicy,
    allow_anonymous: bool,
    responder: Responder,
}

impl fmt::Debug for ConnectAuthorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectAuthorizer")
            .field("authenticator", &self.authenticator)
            .field("qsh_policy", &self.qsh_policy)
            .field("allow_anonymous", &self.allow_anonymous)
            .finish_non_exhaustive()
    }
}

impl ConnectLayer {
    /// A layer that authenticates with `authenticator` and accepts only tokens bound to the
    /// request (no `context-qsh`).
    pub fn new(authenticator: Authenticator) -> ConnectLayer {
        AuthorizeLayer::with_authorizer(ConnectAuthorizer {
            authenticator: SharedVerifier::new(authenticator),
            qsh_policy: QshPolicy::RequestOnly,
            allow_anonymous: false,
            responder: Arc::new(connect_response),
        })
    }

    /// A layer for routes under this one: it shares this layer's authenticator, so a request
    /// this layer admitted is not authenticated again — only the new layer's own `context-qsh`
    /// rule is applied to the tenant context — while a request that reaches it any other way is
    /// authenticated in full. It starts with this layer's settings except that anonymous
    /// requests are refused; narrow it with the builder methods.
    ///
    /// ```
    /// # use asap_tower::ConnectLayer;
    /// # use axum::{Router, routing::get};
    /// # fn app(authenticator: connect_qsh::Authenticator) -> Router {
    /// let service = ConnectLayer::new(authenticator).allow_context_qsh(true);
    /// Router::new()
    ///     .route("/api/issues", get(|| async { "issues" }))
    ///     .route("/panel", get(|| async { "panel" }).route_layer(service.narrow().allow_context_qsh(false)))
    ///     .layer(service)
    /// # }
    /// ```
    pub fn narrow(&self) -> ConnectLayer {
        self.clone().map_authorizer(|a| {
            a.allow_anonymous = false;
        })
    }

    /// Whether this route also accepts `context-qsh` tokens (default: no, a 403).
    pub fn allow_context_qsh(self, allow: bool) -> ConnectLayer {
        self.map_authorizer(|a| a.qsh_policy = QshPolicy::new(allow, a.qsh_policy.allows_session()))
    }

    /// Whether this route also accepts the app's own session tokens (default: no, a 403), made
    /// by an authenticator with
    /// [`session_tokens`](connect_qsh::AuthenticatorBuilder::session_tokens) and sent to the
    /// page by [`SessionTokenHeaderLayer`](crate::SessionTokenHeaderLayer). Only for the app's
    /// own AJAX endpoints: a route that needs a token bound to the request keeps refusing them.
    pub fn allow_session_tokens(self, allow: bool) -> ConnectLayer {
        self.map_authorizer(|a| a.qsh_policy = QshPolicy::new(a.qsh_policy.allows_context(), allow))
    }

    /// Sets the route's [`QshPolicy`] ([`ConnectLayer::allow_context_qsh`] is the short form).
    pub fn qsh_policy(self, policy: QshPolicy) -> ConnectLayer {
        self.map_authorizer(|a| a.qsh_policy = policy)
    }

    /// Let requests that carry no token at all through, unauthenticated (handlers use
    /// `Option<ConnectAuthenticated>`). A request with a bad token is still refused.
    pub fn allow_anonymous(self, allow: bool) -> ConnectLayer {
        self.map_authorizer(|a| a.allow_anonymous = allow)
    }

    /// Replaces the response built for a refused request (the default is
    /// [`connect_response`](crate::connect_response)).
    pub fn on_rejection<F>(self, respond: F) -> ConnectLayer
    where
        F: Fn(&AuthError) -> Response<String> + Send + Sync + 'static,
    {
        self.map_authorizer(|a| a.responder = Arc::new(respond))
    }
}

impl Authorize for ConnectAuthorizer {
    type Error = AuthError;
    const KIND: &'static str = "Connect";

    /// Admits `request` with the tenant context in its extensions, or as an allowed anonymous
    /// request.
    async fn authorize<B: Send>(&self, request: &mut Request<B>) -> Result<(), AuthError> {
        hide_authorization(request.headers_mut());
        if let Some(authenticated) = self.authenticator.admitted::<_, VerifiedRequest>(request) {
            // An outer layer made from the same `ConnectLayer::new` authenticated this
            // request; this one only narrows where a context token may go (the rule the
            // authenticator applies to fresh tokens). A layer with another authenticator
            // authenticates again below.
            return self.qsh_policy.admits(authenticated.binding());
        }
        let uri = received_uri(request);
        let result = self
            .authenticator
            .authenticate_with(request.method(), uri, request.headers(), self.qsh_policy)
            .await;
        let authenticated = match result {
            Err(AuthError::MissingToken) if self.allow_anonymous => return Ok(()),
            other => other?,
        };
        tracing::debug!(
            client_key = authenticated.client_key(),
            subject = authenticated.subject(),
            binding = ?authenticated.binding(),
            "Connect request accepted"
        );
        self.authenticator.mark(request, authenticated);
        Ok(())
    }

    fn refuse(&self, error: &AuthError) -> Response<String> {
        (self.responder)(error)
    }
}

#[cfg(test)]
mod tests {
    use connect_qsh::InMemorySharedSecretStore;

    use super::*;

    fn policy(layer: &ConnectLayer) -> QshPolicy {
        layer.authorizer.qsh_policy
    }

    #[test]
    fn context_and_session_opt_ins_compose() {
        let authenticator = Authenticator::builder(InMemorySharedSecretStore::new())
            .build()
            .expect("valid");
        let layer = ConnectLayer::new(authenticator);
        assert_eq!(policy(&layer), QshPolicy::RequestOnly);
        let both = layer.clone().allow_context_qsh(true).allow_session_tokens(true);
        assert_eq!(policy(&both), QshPolicy::AllowContextOrSession);
        assert_eq!(
            policy(&both.clone().allow_context_qsh(false)),
            QshPolicy::AllowSession
        );
        assert_eq!(policy(&both.allow_session_tokens(false)), QshPolicy::AllowContext);
        // A narrowed layer starts from its parent's policy.
        let sessions = layer.allow_session_tokens(true);
        assert_eq!(policy(&sessions.narrow()), QshPolicy::AllowSession);
        assert_eq!(
            policy(&sessions.narrow().allow_session_tokens(false)),
            QshPolicy::RequestOnly
        );
    }
}
