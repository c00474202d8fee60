//! The axum extractor of the user a per-user token authenticated.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use user_tokens::{UserTokenError, VerifiedUser};

/// The user of a request that passed a [`UserLayer`](crate::UserLayer). Use
/// `Option<UserAuthenticated>` where the layer allows anonymous requests; extracting it where
/// no user was authenticated answers 401.
#[derive(Debug, Clone)]
pub struct UserAuthenticated(pub VerifiedUser);

impl std::ops::Deref for UserAuthenticated {
    type Target = VerifiedUser;
    fn deref(&self) -> &VerifiedUser {
        &self.0
    }
}

/// The rejection when no authenticated user is present: the same 401 the layer sends.
#[derive(Debug)]
pub struct NotUserAuthenticated;

impl IntoResponse for NotUserAuthenticated {
    fn into_response(self) -> Response {
        crate::user_response(&UserTokenError::MissingToken).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for UserAuthenticated {
    type Rejection = NotUserAuthenticated;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<VerifiedUser>()
            .cloned()
            .map(UserAuthenticated)
            .ok_or(NotUserAuthenticated)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for UserAuthenticated {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<VerifiedUser>()
            .cloned()
            .map(UserAuthenticated))
    }
}
