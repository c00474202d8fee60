//! The layer.

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use super::AuthorizeService;

/// Wraps a service in an [`AuthorizeService`] that applies `A` to every request (see the
/// [module documentation](crate::authorize)). Cheap to clone: every service it makes shares
/// one authorizer.
#[must_use]
pub struct AuthorizeLayer<A> {
    pub(crate) authorizer: Arc<A>,
}

impl<A> AuthorizeLayer<A> {
    /// A layer that authorizes with `authorizer`.
    pub fn with_authorizer(authorizer: A) -> AuthorizeLayer<A> {
        AuthorizeLayer {
            authorizer: Arc::new(authorizer),
        }
    }

    /// This layer with its authorizer changed by `change` (the builder methods of the
    /// configurations); services already made keep the old one.
    pub(crate) fn map_authorizer(self, change: impl FnOnce(&mut A)) -> AuthorizeLayer<A>
    where
        A: Clone,
    {
        let mut authorizer = Arc::unwrap_or_clone(self.authorizer);
        change(&mut authorizer);
        AuthorizeLayer::with_authorizer(authorizer)
    }
}

impl<A> Clone for AuthorizeLayer<A> {
    fn clone(&self) -> Self {
        AuthorizeLayer {
            authorizer: self.authorizer.clone(),
        }
    }
}

impl<A: fmt::Debug> fmt::Debug for AuthorizeLayer<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizeLayer")
            .field("authorizer", &self.authorizer)
            .finish()
    }
}

impl<S, A> Layer<S> for AuthorizeLayer<A> {
    type Service = AuthorizeService<S, A>;

    fn layer(&self, inner: S) -> AuthorizeService<S, A> {
        AuthorizeService::new(inner, self.authorizer.clone())
    }
}
