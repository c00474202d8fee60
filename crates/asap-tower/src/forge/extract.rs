//! The axum extractor of the verified Forge invocation.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use forge_remote::{ForgeError, Invocation};
use http::request::Parts;

/// The verified invocation of a request that passed a [`ForgeLayer`](crate::ForgeLayer): the
/// typed claims (`app`, `context`, `principal`) and the app's OAuth tokens.
///
/// Extracting it where no layer verified the request answers 401.
#[derive(Debug, Clone)]
pub struct ForgeInvocation(pub Invocation);

impl std::ops::Deref for ForgeInvocation {
    type Target = Invocation;
    fn deref(&self) -> &Invocation {
        &self.0
    }
}

/// The rejection when no verified invocation is present: the same 401 the layer sends.
#[derive(Debug)]
pub struct NotForgeInvocation;

impl IntoResponse for NotForgeInvocation {
    fn into_response(self) -> Response {
        crate::forge_response(&ForgeError::MissingToken).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ForgeInvocation {
    type Rejection = NotForgeInvocation;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Invocation>()
            .cloned()
            .map(ForgeInvocation)
            .ok_or(NotForgeInvocation)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for ForgeInvocation {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Invocation>().cloned().map(ForgeInvocation))
    }
}
