//! Routes that require request-bound tokens: [`AsapLayer::require_bound_token`] (see the
//! [module documentation](super#request-bound-tokens)).

use asap_core::{Claims, ConfigError, VerifyError};
use http::Request;

use super::AsapLayer;
use crate::authorize::received_uri;

impl AsapLayer {
    /// Requires every token on this route to be bound to the request it arrives with: its
    /// `qsh` claim must be the hash of this request's method, path and query, canonicalised by
    /// Connect's rule relative to `base_url` (the base URL the client binds to; `""` when the
    /// client hashes the whole path). The comparison is constant time and the path rules are
    /// Connect's inbound ones (`connect_qsh::qsh_matches_request`). An unbound token is refused
    /// with [`VerifyError::NotBoundToRequest`], one bound to another request with
    /// [`VerifyError::BoundToAnotherRequest`] (both 401). Layers without this option accept
    /// bound tokens like any other.
    ///
    /// `base_url` is an absolute URL or a path starting with `/` (only its path is used: the
    /// request target a server receives has no origin); anything else is a [`ConfigError`].
    ///
    /// ```
    /// # use asap_core::{Audience, StaticKeySource, Verifier};
    /// # use asap_tower::AsapLayer;
    /// # use axum::{Router, routing::{get, post}};
    /// # fn app(verifier: Verifier) -> Result<Router, asap_core::ConfigError> {
    /// let service = AsapLayer::new(verifier);
    /// Ok(Router::new()
    ///     .route("/balance", get(|| async { "42" }))
    ///     .route("/payments", post(|| async { "paid" }).route_layer(service.narrow().require_bound_token("")?))
    ///     .layer(service))
    /// # }
    /// ```
    pub fn require_bound_token(self, base_url: &str) -> Result<AsapLayer, ConfigError> {
        check_base_url(base_url)?;
        let base_url = base_url.into();
        Ok(self.map_authorizer(|a| a.bound_to_base_url = Some(base_url)))
    }
}

fn check_base_url(base_url: &str) -> Result<(), ConfigError> {
    let usable = if base_url.contains("://") {
        // Parses the origin with the canonicalisation's own parser.
        connect_qsh::canonical_request("GET", base_url, base_url).is_ok()
    } else {
        base_url.is_empty() || base_url.starts_with('/')
    };
    if usable {
        Ok(())
    } else {
        Err(ConfigError(format!(
            "the base URL of request-bound tokens, {base_url:?}, is neither an absolute URL nor a path starting with `/`"
        )))
    }
}

/// The binding rule of a route that requires it: the verified token's `qsh` is the hash of the
/// request received, by connect-qsh's inbound rule.
pub(crate) fn check_binding<B>(
    claims: &Claims,
    request: &Request<B>,
    base_url: &str,
) -> Result<(), VerifyError> {
    let claimed = claims.qsh().ok_or(VerifyError::NotBoundToRequest)?;
    let uri = received_uri(request);
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    match connect_qsh::qsh_matches_request(claimed, request.method().as_str(), target, base_url) {
        Ok(true) => Ok(()),
        // A request outside the base URL is not the request any token here was bound to.
        Ok(false) | Err(_) => Err(VerifyError::BoundToAnotherRequest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_url_is_an_absolute_url_or_a_path() {
        for good in [
            "",
            "/",
            "/api",
            "https://ledger.example/api",
            "http://127.0.0.1:8080",
        ] {
            assert!(check_base_url(good).is_ok(), "{good}");
        }
        for bad in ["api", "ledger.example/api", "https://[::1/x"] {
            assert!(check_base_url(bad).is_err(), "{bad}");
        }
    }
}
