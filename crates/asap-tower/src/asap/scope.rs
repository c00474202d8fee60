//! The scope rule per route: the authorizer of [`RequireScopesLayer`], the challenge, and the
//! axum extractors (see the [module documentation](super#scopes)).

use std::fmt;
use std::sync::Arc;

use asap_core::{Verified, VerifyError};
use http::{HeaderValue, Request, Response};
use tower_layer::Stack;

use super::{AsapLayer, RequireScopesLayer, default_response};
use crate::authorize::{Authorize, AuthorizeLayer};

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

/// What a [`RequireScopesLayer`] applies to each request: the [`Verified`] caller an outer
/// [`AsapLayer`] put into its extensions must carry every one of the scopes. Built through
/// [`RequireScopesLayer::new`].
#[derive(Clone)]
pub struct ScopeAuthorizer {
    scopes: Arc<[String]>,
}

impl fmt::Debug for ScopeAuthorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ScopeAuthorizer").field(&self.scopes).finish()
    }
}

impl RequireScopesLayer {
    /// Requires every one of `scopes` (exact names).
    pub fn new<I, S>(scopes: I) -> RequireScopesLayer
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        AuthorizeLayer::with_authorizer(ScopeAuthorizer {
            scopes: scopes.into_iter().map(Into::into).collect(),
        })
    }

    /// The required scopes.
    pub fn scopes(&self) -> &[String] {
        &self.authorizer.scopes
    }
}

impl AsapLayer {
    /// This layer followed by a [`RequireScopesLayer`]: verifies the token (or, inside the layer
    /// it was [narrowed](AsapLayer::narrow) from, only applies this layer's policy) and then
    /// requires `scopes`.
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

fn check<S: AsRef<str>>(verified: Option<&Verified>, scopes: &[S]) -> Result<(), VerifyError> {
    match verified {
        Some(verified) => verified.claims().require_scopes(scopes),
        None => Err(VerifyError::MissingToken),
    }
}

impl Authorize for ScopeAuthorizer {
    type Error = VerifyError;
    const KIND: &'static str = "ASAP";

    async fn authorize<B: Send>(&self, request: &mut Request<B>) -> Result<(), VerifyError> {
        // Counted as the outer layer's own refusals are (`asap_tokens_refused_total`): the
        // verifier passed this token, so only this layer can count the refusal.
        check(request.extensions().get::<Verified>(), &self.scopes)
            .inspect_err(asap_core::metrics::refused_outside_verifier)
    }

    fn refuse(&self, error: &VerifyError) -> Response<String> {
        default_response(error)
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
            // Counted when answered, as the layer's refusals are.
            asap_core::metrics::refused_outside_verifier(&self.0);
            let response = crate::default_response(&self.0);
            crate::authorize::log_refusal("ASAP", response.status(), &self.0);
            response.into_response()
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
