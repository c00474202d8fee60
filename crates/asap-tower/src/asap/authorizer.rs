//! The ASAP authorizer and the builder methods of [`AsapLayer`].

use std::fmt;
use std::sync::Arc;

use asap_core::{AccessPolicy, Claims, Verified, Verifier, VerifyError, bearer_token};
use http::header::OccupiedEntry;
use http::{HeaderValue, Request, Response};

use super::{AsapLayer, default_response};
use crate::authorize::{Authorize, AuthorizeLayer, SharedVerifier};
use crate::refusal::{hidden_authorization, hide_authorization};

type Responder = Arc<dyn Fn(&VerifyError) -> Response<String> + Send + Sync>;

/// What an [`AsapLayer`] applies to each request: verify the bearer token with its verifier,
/// then check its [`AccessPolicy`]. Built and configured through [`AsapLayer`].
#[derive(Clone)]
pub struct AsapAuthorizer {
    /// Shared by every layer made from one `AsapLayer::new` (clones, [`AsapLayer::narrow`]); its
    /// identity tells an inner layer that this very verifier already accepted the request
    /// ([`SharedVerifier`]).
    verifier: SharedVerifier<Verifier>,
    /// Who may call here, after every policy in `outer`.
    policy: AccessPolicy,
    /// The policies of the layers this one was narrowed from, outermost first: a narrowed
    /// layer keeps them, so that it is never wider than they are, even on a route the outer
    /// layer does not wrap (one added after the outer `.layer`).
    outer: Vec<AccessPolicy>,
    allow_anonymous: bool,
    /// The base URL request-bound tokens are relative to, when the route requires them
    /// ([`AsapLayer::require_bound_token`]).
    pub(super) bound_to_base_url: Option<Arc<str>>,
    responder: Responder,
}

impl fmt::Debug for AsapAuthorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsapAuthorizer")
            .field("verifier", &self.verifier)
            .field("policy", &self.policy)
            .field("outer", &self.outer)
            .field("allow_anonymous", &self.allow_anonymous)
            .field("bound_to_base_url", &self.bound_to_base_url)
            .finish_non_exhaustive()
    }
}

impl AsapLayer {
    /// A layer that verifies with `verifier` and allows every verified caller.
    pub fn new(verifier: Verifier) -> AsapLayer {
        AuthorizeLayer::with_authorizer(AsapAuthorizer {
            verifier: SharedVerifier::new(verifier),
            policy: AccessPolicy::new(),
            outer: Vec::new(),
            allow_anonymous: false,
            bound_to_base_url: None,
            responder: Arc::new(default_response),
        })
    }

    /// A layer for routes under this one: it shares this layer's verifier, so a request this
    /// layer admitted is not verified again — only the access policies are checked on the
    /// caller — while a request that reaches it any other way is verified in full. It starts
    /// with this layer's settings except that anonymous requests are refused (a route narrowed
    /// by a policy needs a caller); narrow it with the builder methods. It keeps this layer's
    /// policy (and those this layer was narrowed from) on top of its own, so it is never wider:
    /// `narrow().allowed_issuers(["ops", "intern"])` under a layer that allows `billing` and
    /// `ops` admits only `ops`.
    ///
    /// ```
    /// # use asap_core::{Audience, StaticKeySource, Verifier};
    /// # use asap_tower::AsapLayer;
    /// # use axum::{Router, routing::get};
    /// # fn app(verifier: Verifier) -> Router {
    /// let service = AsapLayer::new(verifier).allow_anonymous(true);
    /// Router::new()
    ///     .route("/status", get(|| async { "up" }))
    ///     .route("/admin", get(|| async { "admin" }).route_layer(service.narrow().allowed_issuers(["ops"])))
    ///     .layer(service)
    /// # }
    /// ```
    pub fn narrow(&self) -> AsapLayer {
        self.clone().map_authorizer(|a| {
            a.allow_anonymous = false;
            a.outer.push(a.policy.clone());
        })
    }

    /// Replaces this layer's own access policy (issuer and subject allow-lists; a refusal is a
    /// 403); a narrowed layer still applies the policies it was narrowed from.
    pub fn policy(self, policy: AccessPolicy) -> AsapLayer {
        self.map_authorizer(|a| a.policy = policy)
    }

    /// Only these issuers (403 for others).
    pub fn allowed_issuers<I, S>(self, issuers: I) -> AsapLayer
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.map_authorizer(|a| a.policy = std::mem::take(&mut a.policy).allowed_issuers(issuers))
    }

    /// Only these effective subjects (403 for others).
    pub fn allowed_subjects<I, S>(self, subjects: I) -> AsapLayer
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.map_authorizer(|a| a.policy = std::mem::take(&mut a.policy).allowed_subjects(subjects))
    }

    /// Let requests without an `Authorization` header through, unauthenticated (handlers use
    /// `Option<Authenticated>`). A request that sends a bad token is still refused.
    pub fn allow_anonymous(self, allow: bool) -> AsapLayer {
        self.map_authorizer(|a| a.allow_anonymous = allow)
    }

    /// Replaces the response built for a refused request (the default is
    /// [`default_response`](crate::default_response)).
    pub fn on_rejection<F>(self, respond: F) -> AsapLayer
    where
        F: Fn(&VerifyError) -> Response<String> + Send + Sync + 'static,
    {
        self.map_authorizer(|a| a.responder = Arc::new(respond))
    }
}

impl Authorize for AsapAuthorizer {
    type Error = VerifyError;
    const KIND: &'static str = "ASAP";

    /// Admits `request` with the caller in its extensions, or as an allowed anonymous request.
    async fn authorize<B: Send>(&self, request: &mut Request<B>) -> Result<(), VerifyError> {
        if let Some(decided) = self.authorize_now(request) {
            return decided;
        }
        // A well-formed token the verifier has not cached: verified by its key.
        let verified = {
            let authorization = hidden_authorization(request.headers_mut());
            let Some(token) = self.token(authorization.as_ref())? else {
                return Ok(());
            };
            // The verifier counts its own refusals.
            self.verifier.verify(token).await?
        };
        self.admit(request, verified)
    }

    /// Everything but a token that needs its key: an outer layer's admission, a missing or
    /// malformed header, a token in the verifier's cache.
    fn authorize_now<B: Send>(&self, request: &mut Request<B>) -> Option<Result<(), VerifyError>> {
        if let Some(verified) = self.verifier.admitted::<_, Verified>(request).cloned() {
            // An outer layer made from the same `AsapLayer::new` verified this token; this one
            // only narrows who may call. A layer with another verifier verifies again, so its
            // own audiences, keys and issuer rules are never skipped.
            hide_authorization(request.headers_mut());
            return Some(
                self.check_policy_and_binding(verified.claims(), request)
                    .inspect_err(counted),
            );
        }
        let verified = {
            // One lookup of the header both hides its values and reads the token from them.
            let authorization = hidden_authorization(request.headers_mut());
            let token = match self.token(authorization.as_ref()) {
                Ok(Some(token)) => token,
                Ok(None) => return Some(Ok(())),
                Err(error) => return Some(Err(error)),
            };
            self.verifier.verify_from_cache(token)?
        };
        Some(self.admit(request, verified))
    }

    fn refuse(&self, error: &VerifyError) -> Response<String> {
        (self.responder)(error)
    }
}

impl AsapAuthorizer {
    /// The bearer token of the `Authorization` values, or `None` for an anonymous request
    /// this layer allows; a refusal is counted.
    fn token<'a>(
        &self,
        authorization: Option<&'a OccupiedEntry<'_, HeaderValue>>,
    ) -> Result<Option<&'a str>, VerifyError> {
        let token = match authorization {
            Some(values) => bearer_token(values.iter().map(HeaderValue::as_bytes)),
            None => bearer_token([]),
        };
        match token {
            Ok(token) => Ok(Some(token)),
            Err(VerifyError::MissingToken) if self.allow_anonymous => Ok(None),
            Err(error) => Err(error).inspect_err(counted),
        }
    }

    /// Admits a verified caller: the access policies and the binding rule, then the caller
    /// into the request's extensions.
    fn admit<B>(&self, request: &mut Request<B>, verified: Verified) -> Result<(), VerifyError> {
        self.check_policy_and_binding(verified.claims(), request)
            .inspect_err(counted)?;
        tracing::debug!(
            issuer = verified.issuer(),
            subject = verified.subject(),
            kid = verified.kid().as_str(),
            "ASAP caller accepted"
        );
        self.verifier.mark(request, verified);
        Ok(())
    }

    /// The access policies, outermost first, then the route's binding rule when it has one.
    fn check_policy_and_binding<B>(&self, claims: &Claims, request: &Request<B>) -> Result<(), VerifyError> {
        for policy in self.outer.iter().chain(std::iter::once(&self.policy)) {
            policy.check(claims)?;
        }
        match &self.bound_to_base_url {
            Some(base_url) => super::bound::check_binding(claims, request, base_url),
            None => Ok(()),
        }
    }
}

/// Counts a refusal the verifier did not decide (`asap_tokens_refused_total`).
fn counted(error: &VerifyError) {
    asap_core::metrics::refused_outside_verifier(error);
}
