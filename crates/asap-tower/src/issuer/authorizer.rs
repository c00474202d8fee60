//! The central-issuer authorizer and the builder methods of [`IssuerLayer`].

use std::fmt;
use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{Request, Response};
use issuer_tokens::{IssuerClaims, IssuerPolicy, IssuerTokenError, IssuerVerifier};

use super::{IssuerLayer, issuer_response};
use crate::authorize::{AdmittedBy, Authorize, AuthorizeLayer};
use crate::refusal::hide_authorization;

type Responder = Arc<dyn Fn(&IssuerTokenError) -> Response<String> + Send + Sync>;

/// What an [`IssuerLayer`] applies to each request: verify the bearer token with its
/// [`IssuerVerifier`], then check its [`IssuerPolicy`]. Built through [`IssuerLayer`].
#[derive(Clone)]
pub struct IssuerAuthorizer {
    /// Shared by the layers made from one `IssuerLayer::new`; its identity tells an inner layer
    /// that this very verifier already accepted the request ([`AdmittedBy`]).
    verifier: Arc<IssuerVerifier>,
    policy: IssuerPolicy,
    responder: Responder,
}

impl fmt::Debug for IssuerAuthorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerAuthorizer")
            .field("verifier", &self.verifier)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl IssuerLayer {
    /// A layer that verifies with `verifier` and requires nothing more of a valid token.
    pub fn new(verifier: IssuerVerifier) -> IssuerLayer {
        AuthorizeLayer::with_authorizer(IssuerAuthorizer {
            verifier: Arc::new(verifier),
            policy: IssuerPolicy::new(),
            responder: Arc::new(issuer_response),
        })
    }

    /// Replaces what a valid token must satisfy here (a refusal is a 403).
    pub fn policy(self, policy: IssuerPolicy) -> IssuerLayer {
        self.map_authorizer(|a| a.policy = policy)
    }

    /// A layer for routes under this one, with `policy` as its own: it shares this layer's
    /// verifier, so a request this layer admitted is only checked against `policy`, while a
    /// request that reaches it any other way is verified in full first.
    pub fn narrow(&self, policy: IssuerPolicy) -> IssuerLayer {
        self.clone().policy(policy)
    }

    /// Replaces the response built for a refused request (default [`issuer_response`]).
    pub fn on_rejection<F>(self, respond: F) -> IssuerLayer
    where
        F: Fn(&IssuerTokenError) -> Response<String> + Send + Sync + 'static,
    {
        self.map_authorizer(|a| a.responder = Arc::new(respond))
    }
}

impl Authorize for IssuerAuthorizer {
    type Error = IssuerTokenError;
    const KIND: &'static str = "central-issuer";

    async fn authorize<B: Send>(&self, request: &mut Request<B>) -> Result<(), IssuerTokenError> {
        hide_authorization(request.headers_mut());
        if let Some(claims) = AdmittedBy::<IssuerVerifier, IssuerClaims>::get(request, &self.verifier) {
            return self.policy.check(claims);
        }
        let values = request
            .headers()
            .get_all(AUTHORIZATION)
            .iter()
            .map(|v| v.as_bytes());
        let claims = self.verifier.verify_authorization(values)?;
        self.policy.check(&claims)?;
        tracing::debug!(
            issuer = claims.issuer(),
            subject = claims.subject(),
            "central-issuer token accepted"
        );
        AdmittedBy::mark(request, &self.verifier, claims);
        Ok(())
    }

    fn refuse(&self, error: &IssuerTokenError) -> Response<String> {
        (self.responder)(error)
    }
}
