//! Outbound Atlassian Connect (feature `connect`): a middleware that signs each request from
//! the app to the product with the tenant's shared secret ([`ConnectMiddleware`]), and one
//! that calls the product as a user with an OAuth 2.0 access token from the JWT-bearer grant
//! ([`ConnectUserMiddleware`]).

mod user;

pub use user::{
    AccessToken, ActAsUser, ConnectUserError, ConnectUserMiddleware, DEFAULT_MAX_CACHED_USER_TOKENS,
    DEFAULT_REFRESH_BEFORE, UserTokenCache, UserTokenConfigError, UserTokenError,
};

use connect_qsh::{ConnectSigner, SignError, Tenant};
use http::Extensions;
use http::header::AUTHORIZATION;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};

/// Signs each outbound request to an Atlassian product (Jira, Confluence, …) as a Connect app:
/// `Authorization: JWT <token>`, an HS256 token made by a [`ConnectSigner`] with the tenant's
/// shared secret, whose `qsh` is the hash of the request's method and URL relative to the
/// tenant's base URL.
///
/// The tenant is chosen per client ([`ConnectMiddleware::for_tenant`]) or per request with a
/// [`ConnectTenant`] extension, which wins. A request to a URL that is not under the tenant's
/// base URL (another host, or outside its base path) is refused before it leaves, so a
/// tenant's token never goes to another host; so is one to a plain-`http` URL, so that it
/// never travels in clear. The only exception is `http` to a loopback host (a product
/// simulator), which a tenant can only have when it was read with
/// [`Tenant::from_install_payload_allowing_loopback`] (or installed by a `Lifecycle` with
/// `allow_insecure_loopback`).
///
/// The `qsh` covers the final method and URL, so put this middleware **last** in the chain,
/// after any middleware that rewrites the request. A request that already carries an
/// `Authorization` header is left alone.
///
/// ```
/// use asap_reqwest::{ConnectMiddleware, ConnectTenant};
/// use connect_qsh::{ConnectSigner, Tenant};
/// use reqwest_middleware::ClientBuilder;
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// // As saved from the tenant's `installed` callback.
/// let tenant = Tenant::from_install_payload(
///     r#"{"clientKey":"c-1","sharedSecret":"s3cr3t","baseUrl":"https://acme.atlassian.net/wiki","eventType":"installed"}"#,
/// )?;
///
/// // One client for every tenant: each request names its tenant.
/// let client = ClientBuilder::new(reqwest::Client::new())
///     .with(ConnectMiddleware::new(ConnectSigner::new("my-app-key")))
///     .build();
/// let request = client
///     .get(format!("{}/rest/api/space?limit=10", tenant.base_url()))
///     .with_extension(ConnectTenant(tenant.clone()));
/// # let _ = request;
///
/// // Or one client per tenant.
/// let for_acme = ClientBuilder::new(reqwest::Client::new())
///     .with(ConnectMiddleware::for_tenant(ConnectSigner::new("my-app-key"), tenant))
///     .build();
/// # let _ = for_acme;
/// # Ok(()) }
/// ```
///
/// Failures surface as [`reqwest_middleware::Error::Middleware`] wrapping a
/// [`ConnectMiddlewareError`].
#[derive(Debug, Clone)]
pub struct ConnectMiddleware {
    signer: ConnectSigner,
    tenant: Option<Tenant>,
}

/// The tenant one request goes to, overriding the middleware's
/// (`RequestBuilder::with_extension`).
#[derive(Debug, Clone)]
pub struct ConnectTenant(pub Tenant);

/// Why the Connect middleware could not sign a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectMiddlewareError {
    /// Neither the request (a [`ConnectTenant`] extension) nor the middleware names a tenant.
    #[error(
        "no Connect tenant for this request: add a ConnectTenant extension or use ConnectMiddleware::for_tenant"
    )]
    NoTenant,
    /// The token could not be made: typically the URL is not under the tenant's base URL.
    #[error("cannot sign the Connect request: {0}")]
    Sign(#[source] SignError),
    /// The request goes to a plain-`http` URL that is not on a loopback host: the token would
    /// travel in clear. The origin is given.
    #[error("refusing to send a Connect token in clear to {0} (https is required)")]
    InsecureUrl(String),
}

impl ConnectMiddleware {
    /// Signs with `signer` (its issuer is the app key) for the tenant each request names with
    /// a [`ConnectTenant`] extension.
    pub fn new(signer: ConnectSigner) -> ConnectMiddleware {
        ConnectMiddleware { signer, tenant: None }
    }

    /// Signs with `signer` for `tenant`, unless a request names another one.
    pub fn for_tenant(signer: ConnectSigner, tenant: Tenant) -> ConnectMiddleware {
        ConnectMiddleware {
            signer,
            tenant: Some(tenant),
        }
    }

    fn sign(
        &self,
        req: &Request,
        extensions: &Extensions,
    ) -> Result<http::HeaderValue, ConnectMiddlewareError> {
        let tenant = extensions
            .get::<ConnectTenant>()
            .map(|t| &t.0)
            .or(self.tenant.as_ref())
            .ok_or(ConnectMiddlewareError::NoTenant)?;
        check_transport(req.url())?;
        self.signer
            .authorization(
                tenant.shared_secret(),
                req.method().as_str(),
                req.url().as_str(),
                tenant.base_url(),
            )
            .map_err(ConnectMiddlewareError::Sign)
    }
}

/// The transport rule: a token only goes over `https`, or plain `http` to a loopback host
/// (reachable only with a loopback tenant, because the signer binds the URL to the tenant's
/// origin).
pub(crate) fn check_transport(url: &reqwest::Url) -> Result<(), ConnectMiddlewareError> {
    let loopback = url.host_str().is_some_and(asap_core::is_loopback_host);
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(ConnectMiddlewareError::InsecureUrl(
            url.origin().ascii_serialization(),
        )),
    }
}

#[async_trait::async_trait]
impl Middleware for ConnectMiddleware {
    async fn handle(
        &self,
        mut req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        // A request that already says who it is (set by the caller on purpose) is left alone.
        if !req.headers().contains_key(AUTHORIZATION) {
            let value = self
                .sign(&req, extensions)
                .map_err(reqwest_middleware::Error::middleware)?;
            req.headers_mut().insert(AUTHORIZATION, value);
        }
        next.run(req, extensions).await
    }
}
