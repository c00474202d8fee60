//! The mark an authorizer leaves on a request it admitted, so that a layer made from it with
//! `narrow` (which shares its verifier) applies only its own narrower rule instead of verifying
//! the same token again.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use http::Request;

/// The verifier (`V`: an ASAP `Verifier`, a Connect `Authenticator`, …) shared by the layers
/// made from one `new` (its clones, and those made with `narrow`). It marks each request it
/// admits, and an inner layer takes the mark only from this very verifier, so a layer with
/// other audiences, keys or issuer rules always verifies again.
///
/// Every admitted request is marked: any layer sharing the verifier may sit inside this one (a
/// clone as much as a narrowed layer, and axum clones layers itself), and one that found no
/// mark would verify the token a second time, which a replay guard refuses as a replay.
pub(crate) struct SharedVerifier<V> {
    verifier: Arc<V>,
}

/// The mark: which verifier admitted the request, next to what it produced (`T`: the verified
/// caller). Only this crate can insert it (the type is private), and only after a successful
/// verification.
struct AdmittedBy<V, T> {
    by: Arc<V>,
    admitted: T,
}

impl<V, T: Clone> Clone for AdmittedBy<V, T> {
    fn clone(&self) -> Self {
        AdmittedBy {
            by: self.by.clone(),
            admitted: self.admitted.clone(),
        }
    }
}

impl<V> SharedVerifier<V> {
    pub(crate) fn new(verifier: V) -> Self {
        SharedVerifier::from_arc(Arc::new(verifier))
    }

    /// Over a verifier the caller also holds: layers made over the same `Arc` share its mark.
    pub(crate) fn from_arc(verifier: Arc<V>) -> Self {
        SharedVerifier { verifier }
    }
}

impl<V: Send + Sync + 'static> SharedVerifier<V> {
    /// Puts `admitted` into `request`'s extensions for the handlers, and marks the request as
    /// admitted by this verifier.
    pub(crate) fn mark<B, T: Clone + Send + Sync + 'static>(&self, request: &mut Request<B>, admitted: T) {
        let extensions = request.extensions_mut();
        extensions.insert(AdmittedBy {
            by: self.verifier.clone(),
            admitted: admitted.clone(),
        });
        extensions.insert(admitted);
    }

    /// What this very verifier admitted `request` with, when an outer layer sharing it did.
    pub(crate) fn admitted<'r, B, T: Clone + Send + Sync + 'static>(
        &self,
        request: &'r Request<B>,
    ) -> Option<&'r T> {
        request
            .extensions()
            .get::<AdmittedBy<V, T>>()
            .filter(|mark| Arc::ptr_eq(&mark.by, &self.verifier))
            .map(|mark| &mark.admitted)
    }
}

impl<V> Clone for SharedVerifier<V> {
    fn clone(&self) -> Self {
        SharedVerifier {
            verifier: self.verifier.clone(),
        }
    }
}

impl<V> Deref for SharedVerifier<V> {
    type Target = V;

    fn deref(&self) -> &V {
        &self.verifier
    }
}

impl<V: fmt::Debug> fmt::Debug for SharedVerifier<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.verifier.fmt(f)
    }
}
