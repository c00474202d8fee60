//! The axum extractor of the claims of a central-issuer token.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use issuer_tokens::{IssuerClaims, IssuerTokenError};

/// The verified claims of a request that passed an [`IssuerLayer`](crate::IssuerLayer).
/// Extracting it where no token was verified answers 401; `Option<IssuerAuthenticated>` never
/// refuses.
#[derive(Debug, Clone)]
pub struct IssuerAuthenticated(pub IssuerClaims);

impl std::ops::Deref for IssuerAuthenticated {
    type Target = IssuerClaims;
    fn deref(&self) -> &IssuerClaims {
        &self.0
    }
}

/// The rejection when no verified token is present: the same 401 the layer sends.
#[derive(Debug)]
pub struct NotIssuerAuthenticated;

impl IntoResponse for NotIssuerAuthenticated {
    fn into_response(self) -> Response {
        crate::issuer_response(&IssuerTokenError::MissingToken).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IssuerAuthenticated {
    type Rejection = NotIssuerAuthenticated;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<IssuerClaims>()
            .cloned()
            .map(IssuerAuthenticated)
            .ok_or(NotIssuerAuthenticated)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for IssuerAuthenticated {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<IssuerClaims>()
            .cloned()
            .map(IssuerAuthenticated))
    }
}
