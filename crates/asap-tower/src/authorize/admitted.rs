//! The mark an authorizer leaves on a request it admitted, so that a layer made from it with
//! `narrow` (which shares its verifier) applies only its own narrower rule instead of verifying
//! the same token again.

use std::sync::Arc;

use http::Request;

/// Which verifier (`V`: an ASAP `Verifier`, a Connect `Authenticator`, …) admitted the request,
/// next to what it produced (`T`: the verified caller). Only this crate can insert it (the type
/// is private), and only after a successful verification; an outer layer's mark counts only for
/// a layer that shares that very verifier (`Arc::ptr_eq`), so a layer with other audiences,
/// keys or issuer rules always verifies again.
pub(crate) struct AdmittedBy<V, T> {
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

impl<V, T> AdmittedBy<V, T>
where
    V: Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    /// Marks `request` as admitted by `by` with `admitted`, and puts `admitted` into its
    /// extensions for the handlers.
    pub(crate) fn mark<B>(request: &mut Request<B>, by: &Arc<V>, admitted: T) {
        let extensions = request.extensions_mut();
        extensions.insert(AdmittedBy {
            by: by.clone(),
            admitted: admitted.clone(),
        });
        extensions.insert(admitted);
    }

    /// What `by` itself admitted `request` with, when an outer layer sharing `by` did.
    pub(crate) fn get<'r, B>(request: &'r Request<B>, by: &Arc<V>) -> Option<&'r T> {
        request
            .extensions()
            .get::<AdmittedBy<V, T>>()
            .filter(|mark| Arc::ptr_eq(&mark.by, by))
            .map(|mark| &mark.admitted)
    }
}
