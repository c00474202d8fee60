//! The central-issuer authorizer and the builder methods of [`IssuerLayer`].

use std::fmt;
use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{Request, Response};
use issuer_tokens::{IssuerClaims, IssuerPolicy, IssuerTokenError, IssuerVerifier};

use super::{IssuerLayer, issuer_response};
use crate::authorize::{Authorize, AuthorizeLayer, SharedVerifier};
use crate::refusal::hide_authorization;

type Responder = Arc<dyn Fn(&IssuerTokenError) -> Response<String> + Send + Sync>;

/// What an [`IssuerLayer`] applies to each request: verify the bearer token with its
/// [`IssuerVerifier`], then check its [`IssuerPolicy`]. Built through [`IssuerLayer`].
#[derive(Clone)]
pub struct IssuerAuthorizer {
    /// Shared by the layers made from one `IssuerLayer::new`; its identity tells an inner layer
    /// that this very verifier already accepted the request ([`SharedVerifier`]).
    verifier: SharedVerifier<IssuerVerifier>,
    /// What a valid token must satisfy here, after every policy in `outer`.
    policy: IssuerPolicy,
    /// The policies of the layers this one was narrowed from, outermost first: a narrowed layer
    /// keeps them, so that a request reaching it without passing them (a route added after the
    /// outer `.layer`) is not held to less.
    outer: Vec<IssuerPolicy>,
    responder: Responder,
}

impl fmt::Debug for IssuerAuthorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerAuthorizer")
            .field("verifier", &self.verifier)
            .field("policy", &self.policy)
            .field("outer", &self.outer)
            .finish_non_exhaustive()
    }
}

impl IssuerLayer {
    /// A layer that verifies with `verifier` and requires nothing more of a valid token.
    pub fn new(verifier: IssuerVerifier) -> IssuerLayer {
        AuthorizeLayer::with_authorizer(IssuerAuthorizer {
            verifier: SharedVerifier::new(verifier),
            policy: IssuerPolicy::new(),
            outer: Vec::new(),
            responder: Arc::new(issuer_response),
        })
    }

    /// Replaces what a valid token must satisfy here (a refusal is a 403).
    pub fn policy(self, policy: IssuerPolicy) -> IssuerLayer {
        self.map_authorizer(|a| a.policy = policy)
    }

    /// A layer for routes under this one that requires `policy` on top of this layer's own
    /// policy (and of those this layer was narrowed from). It shares this layer's verifier, so a
    /// request this layer admitted is not verified again, only checked against the policies;
    /// a request that reaches it any other way is verified in full first.
    pub fn narrow(&self, policy: IssuerPolicy) -> IssuerLayer {
        self.clone().map_authorizer(|a| {
            let own = std::mem::replace(&mut a.policy, policy);
            a.outer.push(own);
        })
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
        self.decide(request)
    }

    /// Always decided at once: the verifier holds its keys, nothing is fetched.
    fn authorize_now<B: Send>(&self, request: &mut Request<B>) -> Option<Result<(), IssuerTokenError>> {
        Some(self.decide(request))
    }

    fn refuse(&self, error: &IssuerTokenError) -> Response<String> {
        (self.responder)(error)
    }
}

impl IssuerAuthorizer {
    /// Admits `request` with its verified claims in its extensions, or says why not.
    fn decide<B>(&self, request: &mut Request<B>) -> Result<(), IssuerTokenError> {
        hide_authorization(request.headers_mut());
        if let Some(claims) = self.verifier.admitted::<_, IssuerClaims>(request) {
            return self.check_policies(claims);
        }
        let values = request
            .headers()
            .get_all(AUTHORIZATION)
            .iter()
            .map(|v| v.as_bytes());
        let claims = self.verifier.verify_authorization(values)?;
        self.check_policies(&claims)?;
        tracing::debug!(
            issuer = claims.issuer(),
            subject = claims.subject(),
            "central-issuer token accepted"
        );
        self.verifier.mark(request, claims);
        Ok(())
    }

    /// Every policy this layer holds a valid token to, outermost first.
    fn check_policies(&self, claims: &IssuerClaims) -> Result<(), IssuerTokenError> {
        self.outer
            .iter()
            .chain(std::iter::once(&self.policy))
            .try_for_each(|policy| policy.check(claims))
    }
}
