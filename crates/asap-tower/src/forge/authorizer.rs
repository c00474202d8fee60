//! The Forge authorizer and the builder methods of [`ForgeLayer`].

use std::fmt;
use std::sync::Arc;

use asap_core::ReplayGuard;
use forge_remote::{ForgeError, Invocation, InvocationVerifier, SYSTEM_TOKEN_HEADER, USER_TOKEN_HEADER};
use http::{HeaderMap, Request, Response};

use super::{ForgeLayer, forge_response};
use crate::authorize::{Authorize, AuthorizeLayer, SharedVerifier};
use crate::refusal::hide_authorization;

type Responder = Arc<dyn Fn(&ForgeError) -> Response<String> + Send + Sync>;

/// What a [`ForgeLayer`] applies to each request: verify its invocation with its
/// [`InvocationVerifier`]. Built and configured through [`ForgeLayer`].
#[derive(Clone)]
pub struct ForgeAuthorizer {
    /// Shared by the clones of one layer (and by layers over one `from_shared` verifier): its
    /// identity tells an inner layer that this very verifier already admitted the request, which
    /// under a replay guard it must not verify again ([`SharedVerifier`]).
    verifier: SharedVerifier<InvocationVerifier>,
    responder: Responder,
}

impl fmt::Debug for ForgeAuthorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForgeAuthorizer")
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

impl ForgeLayer {
    /// A layer that verifies every request's invocation with `verifier`.
    pub fn new(verifier: InvocationVerifier) -> ForgeLayer {
        ForgeLayer::from_shared(Arc::new(verifier))
    }

    /// A layer over a verifier shared with other layers or code. A request one layer over it
    /// admitted is not verified again by another inside it (it holds the same
    /// [`Invocation`]); a layer over another verifier verifies in full.
    pub fn from_shared(verifier: Arc<InvocationVerifier>) -> ForgeLayer {
        AuthorizeLayer::with_authorizer(ForgeAuthorizer {
            verifier: SharedVerifier::from_arc(verifier),
            responder: Arc::new(forge_response),
        })
    }

    /// Makes every invocation token single-use while it lives: the layer's verifier, with
    /// `guard` as its replay guard ([`InvocationVerifierBuilder::replay_guard`], which says
    /// what it costs and why it is off by default). A replayed token is refused with 401
    /// (`invalid_token`), a guard that cannot answer with 503. A verifier shared through
    /// [`from_shared`](ForgeLayer::from_shared) is copied: the guard applies to this layer.
    ///
    /// [`InvocationVerifierBuilder::replay_guard`]: forge_remote::InvocationVerifierBuilder::replay_guard
    pub fn replay_guard(self, guard: Arc<dyn ReplayGuard>) -> ForgeLayer {
        self.map_authorizer(|a| {
            a.verifier = SharedVerifier::new(InvocationVerifier::clone(&a.verifier).with_replay_guard(guard));
        })
    }

    /// Replaces the response built for a refused request (the default is
    /// [`forge_response`](crate::forge_response)).
    pub fn on_rejection<F>(self, respond: F) -> ForgeLayer
    where
        F: Fn(&ForgeError) -> Response<String> + Send + Sync + 'static,
    {
        self.map_authorizer(|a| a.responder = Arc::new(respond))
    }
}

/// Marks the app's OAuth tokens sensitive, as `Authorization` is.
fn hide_oauth_tokens(headers: &mut HeaderMap) {
    for name in [SYSTEM_TOKEN_HEADER, USER_TOKEN_HEADER] {
        if let http::header::Entry::Occupied(mut values) = headers.entry(name) {
            for value in values.iter_mut() {
                value.set_sensitive(true);
            }
        }
    }
}

impl Authorize for ForgeAuthorizer {
    type Error = ForgeError;
    const KIND: &'static str = "Forge";

    /// Admits `request` with its [`forge_remote::Invocation`] in the extensions: at once when an
    /// outer layer sharing this verifier admitted it.
    async fn authorize<B: Send>(&self, request: &mut Request<B>) -> Result<(), ForgeError> {
        hide_authorization(request.headers_mut());
        hide_oauth_tokens(request.headers_mut());
        if self.verifier.admitted::<B, Invocation>(request).is_some() {
            return Ok(());
        }
        let invocation = self.verifier.verify_request(request.headers()).await?;
        tracing::debug!(
            installation = invocation.installation_id(),
            principal = invocation.principal(),
            "Forge invocation accepted"
        );
        self.verifier.mark(request, invocation);
        Ok(())
    }

    fn refuse(&self, error: &ForgeError) -> Response<String> {
        (self.responder)(error)
    }
}
