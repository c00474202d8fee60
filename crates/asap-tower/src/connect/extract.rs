//! The axum extractor of the authenticated Connect request.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use connect_qsh::{AuthError, VerifiedRequest};
use http::request::Parts;

/// The authenticated tenant context of a request that passed a
/// [`ConnectLayer`](crate::ConnectLayer): the tenant's client key, the user (`sub`), every
/// claim, and whether the token was bound to the request or to the page context.
///
/// Use `Option<ConnectAuthenticated>` on routes where the layer allows anonymous requests.
/// Extracting `ConnectAuthenticated` where no tenant was authenticated (no layer, or an
/// anonymous request) answers 401.
#[derive(Debug, Clone)]
pub struct ConnectAuthenticated(pub VerifiedRequest);

impl std::ops::Deref for ConnectAuthenticated {
    type Target = VerifiedRequest;
    fn deref(&self) -> &VerifiedRequest {
        &self.0
    }
}

/// The rejection when no authenticated tenant is present: the same 401 the layer sends.
#[derive(Debug)]
pub struct NotConnectAuthenticated;

impl IntoResponse for NotConnectAuthenticated {
    fn into_response(self) -> Response {
        crate::connect_response(&AuthError::MissingToken).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ConnectAuthenticated {
    type Rejection = NotConnectAuthenticated;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<VerifiedRequest>()
            .cloned()
            .map(ConnectAuthenticated)
            .ok_or(NotConnectAuthenticated)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for ConnectAuthenticated {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<VerifiedRequest>()
            .cloned()
            .map(ConnectAuthenticated))
    }
}
