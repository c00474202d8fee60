//! Scopes per route: a request passes only if its verified token carries every required scope
//! (from the `scope` string or the `scopes` array; see [`asap_core::Claims::scopes`]).
//! Otherwise the answer is 403 with `WWW-Authenticate: Bearer error="insufficient_scope",
//! scope="…"` (RFC 6750 §3.1); without a verified caller at all, 401.
//!
//! Three ways to ask, for the same rule ([`asap_core::Claims::require_scopes`]):
//!
//! - [`RequireScopesLayer`] as a route layer inside an [`AsapLayer`], or
//!   [`AsapLayer::require_scopes`] for both in one;
//! - in an axum handler, [`Authenticated::require_scopes`](crate::Authenticated::require_scopes);
//! - as an axum extractor, [`Scoped<T>`](crate::Scoped) with a type naming the scopes.
//!
//! ```
//! use asap_core::{Audience, StaticKeySource, Verifier};
//! use asap_tower::{AsapLayer, Authenticated, RequireScopesLayer, RequiredScopes, Scoped};
//! use axum::{Router, routing::{get, post}};
//!
//! struct InvoicesWrite;
//! impl RequiredScopes for InvoicesWrite {
//!     const SCOPES: &'static [&'static str] = &["invoices:write"];
//! }
//!
//! # fn app() -> Result<Router, Box<dyn std::error::Error>> {
//! let verifier = Verifier::builder(StaticKeySource::new()).audience(Audience::new("ledger")?).build()?;
//! let app = Router::new()
//!     .route("/invoices", get(|| async { "list" }).route_layer(RequireScopesLayer::new(["invoices:read"])))
//!     .route("/invoices/new", post(|caller: Scoped<InvoicesWrite>| async move { caller.issuer().to_owned() }))
//!     .route("/refunds", post(|caller: Authenticated| async move {
//!         caller.require_scopes(&["refunds:write"])?;
//!         Ok::<_, asap_tower::ScopeRejection>("refunded")
//!     }))
//!     .layer(AsapLayer::new(verifier));
//! # Ok(app) }
//! ```

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use asap_core::{Verified, VerifyError};
use http::{HeaderValue, Request, Response};
use tower_layer::{Layer, Stack};
use tower_service::Service;

use crate::layer::{AsapLayer, ResponseFuture};
use crate::response::default_response;

/// The `WWW-Authenticate` value for a missing scope: `Bearer error="insufficient_scope"` plus
/// `scope="<required scopes>"` when they are plain RFC 6750 scope tokens.
pub(crate) fn insufficient_scope_challenge(error: &VerifyError) -> HeaderValue {
    const PLAIN: &str = "Bearer error=\"insufficient_scope\"";
    let VerifyError::InsufficientScope { required, .. } = error else {
        return HeaderValue::from_static(PLAIN);
    };
    // RFC 6750 §3: scope tokens are %x21 / %x23-5B / %x5D-7E, separated by spaces.
    let plain_tokens = required
        .bytes()
        .all(|b| b == b' ' || (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\');
    if !plain_tokens {
        return HeaderValue::from_static(PLAIN);
    }
    HeaderValue::from_str(&format!("{PLAIN}, scope=\"{required}\""))
        .unwrap_or_else(|_| HeaderValue::from_static(PLAIN))
}

/// A layer that lets a request through only if the [`Verified`] caller an outer [`AsapLayer`]
/// put in its extensions carries every one of the scopes (403 `insufficient_scope` otherwise,
/// 401 when there is no verified caller).
#[derive(Clone)]
#[must_use]
pub struct RequireScopesLayer {
    scopes: Arc<[String]>,
}

impl fmt::Debug for RequireScopesLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequireScopesLayer").field(&self.scopes).finish()
    }
}

impl RequireScopesLayer {
    /// Requires every one of `scopes` (exact names).
    pub fn new<I, S>(scopes: I) -> RequireScopesLayer
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RequireScopesLayer {
            scopes: scopes.into_iter().map(Into::into).collect(),
        }
    }

    /// The required scopes.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
}

impl<S> Layer<S> for RequireScopesLayer {
    type Service = RequireScopes<S>;

    fn layer(&self, inner: S) -> RequireScopes<S> {
        RequireScopes {
            inner,
            scopes: self.scopes.clone(),
        }
    }
}

impl AsapLayer {
    /// This layer followed by a [`RequireScopesLayer`]: verifies the token (or, inside another
    /// `AsapLayer`, only applies this layer's policy) and then requires `scopes`.
    ///
    /// ```
    /// # use asap_core::{Audience, StaticKeySource, Verifier};
    /// # use asap_tower::AsapLayer;
    /// # use axum::{Router, routing::post};
    /// # fn app(verifier: Verifier) -> Router {
    /// Router::new().route(
    ///     "/invoices",
    ///     post(|| async { "created" }).route_layer(AsapLayer::new(verifier).require_scopes(["invoices:write"])),
    /// )
    /// # }
    /// ```
    pub fn require_scopes<I, S>(self, scopes: I) -> Stack<RequireScopesLayer, AsapLayer>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Stack::new(RequireScopesLayer::new(scopes), self)
    }
}

/// The service made by [`RequireScopesLayer`].
#[derive(Clone)]
pub struct RequireScopes<S> {
    inner: S,
    scopes: Arc<[String]>,
}

impl<S: fmt::Debug> fmt::Debug for RequireScopes<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopes")
            .field("inner", &self.inner)
            .field("scopes", &self.scopes)
            .finish()
    }
}

fn check<S: AsRef<str>>(verified: Option<&Verified>, scopes: &[S]) -> Result<(), VerifyError> {
    match verified {
        Some(verified) => verified.claims().require_scopes(scopes),
        None => Err(VerifyError::MissingToken),
    }
}

fn refuse<B: From<String>>(error: &VerifyError) -> Response<B> {
    crate::gate::log_refusal("ASAP", error.outcome(), error);
    default_response(error).map(B::from)
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireScopes<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        match check(request.extensions().get::<Verified>(), &self.scopes) {
            Ok(()) => Box::pin(self.inner.call(request)),
            // The response is built when polled, so that the future holds only the error (Send).
            Err(error) => Box::pin(async move { Ok(refuse(&error)) }),
        }
    }
}

#[cfg(feature = "axum")]
pub use extract::{RequiredScopes, ScopeRejection, Scoped};

#[cfg(feature = "axum")]
mod extract {
    use std::marker::PhantomData;

    use asap_core::{Verified, VerifyError};
    use axum::extract::FromRequestParts;
    use axum::response::{IntoResponse, Response};
    use http::request::Parts;

    use crate::Authenticated;

    /// The refusal of a scope check in an axum handler: 403 `insufficient_scope` (or 401 without
    /// a verified caller), the same response the layers send.
    #[derive(Debug)]
    pub struct ScopeRejection(pub VerifyError);

    impl IntoResponse for ScopeRejection {
        fn into_response(self) -> Response {
            super::refuse::<axum::body::Body>(&self.0)
        }
    }

    impl Authenticated {
        /// Requires every one of `scopes` on this caller; use `?` in a handler returning
        /// `Result<_, ScopeRejection>`.
        pub fn require_scopes<S: AsRef<str>>(&self, scopes: &[S]) -> Result<(), ScopeRejection> {
            self.claims().require_scopes(scopes).map_err(ScopeRejection)
        }
    }

    /// The scopes a [`Scoped`] extractor requires, named by a type.
    pub trait RequiredScopes {
        /// Every one of these is required.
        const SCOPES: &'static [&'static str];
    }

    /// The verified caller, extracted only if its token carries every scope of `T`
    /// (otherwise the handler is not called and the answer is 403 `insufficient_scope`).
    pub struct Scoped<T> {
        /// The verified caller.
        pub caller: Verified,
        scopes: PhantomData<fn() -> T>,
    }

    impl<T> std::fmt::Debug for Scoped<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Scoped").field("caller", &self.caller).finish()
        }
    }

    impl<T> std::ops::Deref for Scoped<T> {
        type Target = Verified;
        fn deref(&self) -> &Verified {
            &self.caller
        }
    }

    impl<T: RequiredScopes, St: Send + Sync> FromRequestParts<St> for Scoped<T> {
        type Rejection = ScopeRejection;

        async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, Self::Rejection> {
            let verified = parts.extensions.get::<Verified>();
            super::check(verified, T::SCOPES).map_err(ScopeRejection)?;
            let caller = verified
                .cloned()
                .ok_or(ScopeRejection(VerifyError::MissingToken))?;
            Ok(Scoped {
                caller,
                scopes: PhantomData,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_names_the_required_scopes_when_they_are_plain_tokens() {
        let error = VerifyError::InsufficientScope {
            required: "invoices:read invoices:write".into(),
            missing: "invoices:write".into(),
        };
        assert_eq!(
            insufficient_scope_challenge(&error),
            "Bearer error=\"insufficient_scope\", scope=\"invoices:read invoices:write\""
        );
        let odd = VerifyError::InsufficientScope {
            required: "a\"b".into(),
            missing: "a\"b".into(),
        };
        assert_eq!(
            insufficient_scope_challenge(&odd),
            "Bearer error=\"insufficient_scope\""
        );
    }
}
