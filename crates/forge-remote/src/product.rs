//! Calling the product back: a request to `app.apiBaseUrl` with the app's OAuth token.

use http::HeaderValue;
use http::header::AUTHORIZATION;

use crate::secret::ForgeOAuthToken;
use crate::verifier::Invocation;

/// Why a request to the product was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProductError {
    /// The invocation carries no app system token: set `endpoint.auth.appSystemToken` in the
    /// manifest.
    #[error("the invocation carries no app system token (manifest: endpoint.auth.appSystemToken)")]
    NoSystemToken,
    /// The invocation carries no app user token: set `endpoint.auth.appUserToken`.
    #[error("the invocation carries no app user token (manifest: endpoint.auth.appUserToken)")]
    NoUserToken,
    /// The path is not an absolute path (`/rest/api/3/myself`), or could leave the API base.
    #[error("the path must start with a single '/' and hold no '..' segment, query aside")]
    Path,
    /// `app.apiBaseUrl` is not an `https` URL (plain `http` only to loopback, when allowed).
    #[error("app.apiBaseUrl is not an https URL")]
    ApiBaseUrl,
}

/// Makes requests to the product an invocation came from: `app.apiBaseUrl` followed by the
/// path, with `Authorization: Bearer <app token>` (marked sensitive, so it is never logged by
/// `Debug`). The token goes only to the API base URL of the token Forge signed.
///
/// ```no_run
/// use forge_remote::{Invocation, ProductClient};
///
/// # async fn run(invocation: &Invocation) -> Result<(), Box<dyn std::error::Error>> {
/// let product = ProductClient::new(reqwest::Client::new());
/// let me = product
///     .as_app(invocation, reqwest::Method::GET, "/rest/api/3/serverInfo")?
///     .send()
///     .await?;
/// # let _ = me; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ProductClient {
    client: reqwest::Client,
    allow_insecure_loopback: bool,
}

impl ProductClient {
    /// Requests go through `client`.
    pub fn new(client: reqwest::Client) -> ProductClient {
        ProductClient {
            client,
            allow_insecure_loopback: false,
        }
    }

    /// Allows an `http` API base URL on a loopback host (tests). Off by default.
    #[must_use]
    pub fn allow_insecure_loopback(mut self, allow: bool) -> ProductClient {
        self.allow_insecure_loopback = allow;
        self
    }

    /// A request as the app (the app system token).
    pub fn as_app(
        &self,
        invocation: &Invocation,
        method: reqwest::Method,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, ProductError> {
        let token = invocation.system_token().ok_or(ProductError::NoSystemToken)?;
        self.request(invocation, token, method, path)
    }

    /// A request as the user of the invocation (the app user token).
    pub fn as_user(
        &self,
        invocation: &Invocation,
        method: reqwest::Method,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, ProductError> {
        let token = invocation.user_token().ok_or(ProductError::NoUserToken)?;
        self.request(invocation, token, method, path)
    }

    fn request(
        &self,
        invocation: &Invocation,
        token: &ForgeOAuthToken,
        method: reqwest::Method,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, ProductError> {
        let url = product_url(&invocation.app().api_base_url, path, self.allow_insecure_loopback)?;
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| ProductError::NoSystemToken)?;
        authorization.set_sensitive(true);
        Ok(self
            .client
            .request(method, url)
            .header(AUTHORIZATION, authorization))
    }
}

/// `base` (its trailing `/` dropped) followed by `path`, joined as strings: the path starts
/// with one `/` and has no `..` segment, so the result stays on the base's host and under its
/// path. "No `..` segment" is read as the servers behind the base may read it, not only as the
/// URL parser does: a segment is dot-like before any `;` path parameter (`/..;/` is `..` to
/// Tomcat and Spring), and an encoded `/` or `\` (`%2F`, `%5C`), which servers that decode
/// before they normalise split on, is refused.
fn product_url(base: &str, path: &str, allow_insecure_loopback: bool) -> Result<url::Url, ProductError> {
    let parsed = url::Url::parse(base).map_err(|_| ProductError::ApiBaseUrl)?;
    let secure = match parsed.scheme() {
        "https" => true,
        "http" => allow_insecure_loopback && parsed.host_str().is_some_and(asap_core::is_loopback_host),
        _ => false,
    };
    if !secure || parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty() {
        return Err(ProductError::ApiBaseUrl);
    }
    let route = path.split(['?', '#']).next().unwrap_or("");
    // A segment the URL parser would treat as `.` or `..` (any mix of `.` and `%2e`), or a
    // server would once it drops the segment's path parameters (`..;x`, `..%3bx`).
    let dot_segment = |segment: &str| {
        let lower = segment.to_ascii_lowercase().replace("%3b", ";");
        let dots = lower.split(';').next().unwrap_or("").replace("%2e", ".");
        dots == "." || dots == ".."
    };
    let lower_route = route.to_ascii_lowercase();
    if !path.starts_with('/')
        || path.starts_with("//")
        || path.contains('#')
        // The URL parser drops tabs and line breaks anywhere: `/.\t./` would be `/../`.
        || path.bytes().any(|b| b.is_ascii_control())
        || route.split('/').any(dot_segment)
        || route.contains('\\')
        || lower_route.contains("%2f")
        || lower_route.contains("%5c")
    {
        return Err(ProductError::Path);
    }
    let base_path = parsed.path().trim_end_matches('/');
    let joined = format!("{}{path}", parsed.as_str().trim_end_matches('/'));
    let url = url::Url::parse(&joined).map_err(|_| ProductError::Path)?;
    // Whatever the parser made of the path, the request stays on the base's host and under its
    // path.
    let under_base = url.path() == base_path || url.path().starts_with(&format!("{base_path}/"));
    if url.host() != parsed.host()
        || url.port_or_known_default() != parsed.port_or_known_default()
        || !under_base
    {
        return Err(ProductError::Path);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://api.atlassian.com/ex/jira/5f3c";

    #[test]
    fn paths_are_appended_to_the_api_base() {
        let url = product_url(BASE, "/rest/api/3/myself?expand=groups", false).expect("url");
        assert_eq!(
            url.as_str(),
            "https://api.atlassian.com/ex/jira/5f3c/rest/api/3/myself?expand=groups"
        );
        // A `;` or an encoded separator is refused only where it could make a `..` or a split.
        let url = product_url(BASE, "/rest/a;b/..x/%2e%2e.?q=%2F;..", false).expect("url");
        assert_eq!(url.path(), "/ex/jira/5f3c/rest/a;b/..x/%2e%2e.");
        let url = product_url(&format!("{BASE}/"), "/x", false).expect("trailing slash");
        assert_eq!(url.as_str(), "https://api.atlassian.com/ex/jira/5f3c/x");
    }

    #[test]
    fn paths_that_could_leave_the_base_are_refused() {
        for bad in [
            "rest",
            "//evil.example/x",
            "/../../other",
            "/a/%2e%2e/b",
            "/a#f",
            "/a\\b",
            "/./x",
            // What the URL parser also reads as `..` or `.`, and what it silently drops.
            "/.%2e/.%2e/.%2e/me",
            "/%2e./x",
            "/%2E%2e/x",
            "/%2e/x",
            "/.\t./.\t./.\t./me",
            "/a\r\n/b",
            // What servers behind the base read as `..` or as a separator.
            "/..;/x",
            "/a/..;/b",
            "/a/..;jsessionid=1/b",
            "/%2e%2e;/x",
            "/a/..%3b/b",
            "/.;/x",
            "/a%2F..%2Fb",
            "/a%2f..%2fb",
            "/a%5C..%5Cb",
        ] {
            assert_eq!(product_url(BASE, bad, false), Err(ProductError::Path), "{bad}");
        }
    }

    #[test]
    fn the_base_must_be_https_or_allowed_loopback() {
        for bad in [
            "http://api.atlassian.com/ex",
            "ftp://x/",
            "https://u:p@x/",
            "https://x/?q",
            "not a url",
        ] {
            assert_eq!(
                product_url(bad, "/x", false),
                Err(ProductError::ApiBaseUrl),
                "{bad}"
            );
        }
        assert!(product_url("http://127.0.0.1:9/ex", "/x", true).is_ok());
        assert_eq!(
            product_url("http://127.0.0.1:9/ex", "/x", false),
            Err(ProductError::ApiBaseUrl)
        );
        assert_eq!(
            product_url("http://10.0.0.1/ex", "/x", true),
            Err(ProductError::ApiBaseUrl)
        );
    }
}
