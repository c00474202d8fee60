//! Where a token may go: the origins a middleware attaches its token for, and the one rule
//! that compares them with a request's URL.
//!
//! A bearer token sent to a host that is not its audience can be replayed there against the
//! audience until it expires (ASAP tokens are reused for most of their minute). A client that
//! also calls URLs it was given (webhooks) would otherwise hand its token to whoever runs them.

use std::fmt;
use std::str::FromStr;

use reqwest::Url;

/// The error of parsing a URL (`url::ParseError`, the parser reqwest itself uses), named
/// through reqwest so this crate parses origins exactly as reqwest parses request URLs.
type UrlParseError = <Url as FromStr>::Err;

/// An origin a token may be sent to: scheme (`http` or `https`), host and port, as the URL
/// parser reqwest uses reads them (host lowercased, an international name in its `xn--` form,
/// an IP address in its canonical form, the default port made explicit). So
/// `https://Ledger.Internal`, `https://ledger.internal/` and `https://ledger.internal:443`
/// are one origin; `https://ledger.internal.` (a trailing dot) is another, and a request to it
/// is refused.
///
/// ```
/// use asap_reqwest::Origin;
/// let origin = Origin::parse("https://Ledger.Internal:443")?;
/// assert_eq!(origin, Origin::parse("https://ledger.internal/")?);
/// assert_eq!(origin.to_string(), "https://ledger.internal");
/// assert!(Origin::parse("https://ledger.internal@evil.example").is_err()); // userinfo
/// assert!(Origin::parse("https://ledger.internal/api").is_err()); // a path
/// # Ok::<(), asap_reqwest::OriginError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    https: bool,
    /// As `Url::host_str` gives it (IPv6 in brackets), so a request's host compares as is.
    host: Box<str>,
    port: u16,
}

/// Why a text is not an [`Origin`]. The text itself is not repeated: it may hold a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OriginError {
    /// Not an absolute URL.
    #[error("an origin must be an absolute URL (scheme://host[:port]): {0}")]
    Url(#[source] UrlParseError),
    /// A scheme other than `http` or `https`.
    #[error("an origin's scheme must be http or https")]
    Scheme,
    /// A user name or password (`https://ledger.internal@evil.example` goes to `evil.example`).
    #[error("an origin has no user name or password (`user@host` names another host than it seems)")]
    Userinfo,
    /// A path other than `/`: a token goes to the whole origin, so a path would promise a
    /// limit that is not kept.
    #[error("an origin has no path (a token is sent to the whole origin)")]
    Path,
    /// A query (`?…`), even an empty one.
    #[error("an origin has no query")]
    Query,
    /// A fragment (`#…`), even an empty one.
    #[error("an origin has no fragment")]
    Fragment,
}

impl Origin {
    /// `scheme://host[:port]`, with at most a trailing `/`.
    pub fn parse(origin: &str) -> Result<Origin, OriginError> {
        let url = Url::parse(origin).map_err(OriginError::Url)?;
        let origin = Origin::of(&url)?;
        if url.path() != "/" {
            return Err(OriginError::Path);
        }
        if url.query().is_some() {
            return Err(OriginError::Query);
        }
        if url.fragment().is_some() {
            return Err(OriginError::Fragment);
        }
        Ok(origin)
    }

    /// The origin of `url` (a service's base URL, say): its scheme, host and port; the path,
    /// query and fragment are left out. A URL with a user name or password is refused.
    ///
    /// ```
    /// use asap_reqwest::Origin;
    /// let url = reqwest::Url::parse("https://ledger.internal/api/v1/balance?x=1")?;
    /// assert_eq!(Origin::of(&url)?, Origin::parse("https://ledger.internal")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn of(url: &Url) -> Result<Origin, OriginError> {
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return Err(OriginError::Scheme),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OriginError::Userinfo);
        }
        // http(s) URLs always have a host and a known default port.
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return Err(OriginError::Scheme);
        };
        Ok(Origin {
            https,
            host: host.into(),
            port,
        })
    }

    /// Whether `url` (as reqwest parsed it) is on this origin: the parsed scheme, host and
    /// port compared whole, never a prefix of the text.
    pub(crate) fn contains(&self, url: &Url) -> bool {
        url.port_or_known_default() == Some(self.port)
            && url.scheme() == self.scheme()
            && url.host_str() == Some(&*self.host)
    }

    fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }
}

impl FromStr for Origin {
    type Err = OriginError;
    fn from_str(s: &str) -> Result<Origin, OriginError> {
        Origin::parse(s)
    }
}

/// `scheme://host`, with `:port` unless it is the scheme's default.
impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme(), self.host)?;
        match (self.https, self.port) {
            (true, 443) | (false, 80) => Ok(()),
            (_, port) => write!(f, ":{port}"),
        }
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Origin({self})")
    }
}

/// What a middleware does with a request to an origin its token may not go to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtherOrigins {
    /// Refuse it: the request is not sent, and fails with the middleware's `OriginNotAllowed`
    /// error. The default, so a mistyped or forgotten origin shows at once.
    #[default]
    Refuse,
    /// Send it without a token (for a client that also calls URLs it was given, such as
    /// webhooks).
    SendUnsigned,
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Destination {
    /// Attach the token.
    Sign,
    /// Send the request as it is.
    SendUnsigned,
    /// Do not send it.
    Refuse,
}

/// The rule: a token goes only to an origin in `allowed`; `None` (no list configured at all)
/// allows every origin, and an empty list none.
pub(crate) fn destination(allowed: Option<&[Origin]>, other: OtherOrigins, url: &Url) -> Destination {
    let Some(allowed) = allowed else {
        return Destination::Sign;
    };
    if allowed.iter().any(|origin| origin.contains(url)) {
        return Destination::Sign;
    }
    match other {
        OtherOrigins::Refuse => Destination::Refuse,
        OtherOrigins::SendUnsigned => Destination::SendUnsigned,
    }
}

/// A request URL's origin for an error message: scheme, host and port, never its userinfo,
/// path or query.
pub(crate) fn shown(url: &Url) -> String {
    url.origin().ascii_serialization()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("url")
    }

    #[test]
    fn spellings_of_one_origin_are_one_origin() {
        let origin = Origin::parse("https://ledger.internal").expect("origin");
        for same in [
            "https://ledger.internal/",
            "https://ledger.internal:443",
            "HTTPS://LEDGER.Internal:443/",
        ] {
            assert_eq!(Origin::parse(same).expect(same), origin, "{same}");
        }
        assert_eq!(origin.to_string(), "https://ledger.internal");
        assert_eq!(
            Origin::parse("http://ledger.internal:80")
                .expect("origin")
                .to_string(),
            "http://ledger.internal"
        );
        assert_eq!(
            Origin::parse("http://[0:0::1]:8080").expect("origin").to_string(),
            "http://[::1]:8080"
        );
        assert_eq!(
            Origin::parse("https://bücher.example")
                .expect("origin")
                .to_string(),
            "https://xn--bcher-kva.example"
        );
        assert_eq!(
            "http://127.1:9".parse::<Origin>().expect("origin").to_string(),
            "http://127.0.0.1:9"
        );
    }

    #[test]
    fn anything_but_scheme_host_and_port_is_refused() {
        let kind = |text: &str| match Origin::parse(text).expect_err(text) {
            OriginError::Url(_) => "url",
            OriginError::Scheme => "scheme",
            OriginError::Userinfo => "userinfo",
            OriginError::Path => "path",
            OriginError::Query => "query",
            OriginError::Fragment => "fragment",
        };
        for (text, expected) in [
            ("ledger.internal", "url"),
            ("/balance", "url"),
            ("https://", "url"),
            ("ftp://ledger.internal", "scheme"),
            ("file:///etc/passwd", "scheme"),
            ("https://ledger.internal@evil.example", "userinfo"),
            ("https://svc:s3cr3t@ledger.internal", "userinfo"),
            ("https://ledger.internal/api", "path"),
            ("https://ledger.internal//", "path"),
            ("https://ledger.internal/?", "query"),
            ("https://ledger.internal#", "fragment"),
        ] {
            assert_eq!(kind(text), expected, "{text}");
        }
    }

    #[test]
    fn errors_do_not_repeat_the_text() {
        let err = Origin::parse("https://svc:s3cr3t@ledger.internal").expect_err("userinfo");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
        let err = Origin::parse("https://ledger.internal/?token=s3cr3t").expect_err("query");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }

    #[test]
    fn a_url_is_on_an_origin_only_when_scheme_host_and_port_are_equal() {
        let origin = Origin::parse("https://ledger.internal").expect("origin");
        for inside in [
            "https://ledger.internal/balance?x=1",
            "https://LEDGER.internal:443/",
            "https://user:pass@ledger.internal/x",
        ] {
            assert!(origin.contains(&url(inside)), "{inside}");
        }
        for outside in [
            "http://ledger.internal/",
            "https://ledger.internal:8443/",
            "https://ledger.internal.evil.example/",
            "https://ledger.internal@evil.example/",
            "https://evil.example/ledger.internal",
            "https://evil.example/?https://ledger.internal",
            "https://ledger.internal./",
            "https://xledger.internal/",
            "https://ledger.interna/",
        ] {
            assert!(!origin.contains(&url(outside)), "{outside}");
        }
        let v6 = Origin::parse("http://[::1]:8080").expect("origin");
        assert!(v6.contains(&url("http://[0::1]:8080/x")));
        assert!(!v6.contains(&url("http://[::2]:8080/x")));
        let idna = Origin::parse("https://xn--bcher-kva.example").expect("origin");
        assert!(idna.contains(&url("https://BÜCHER.example/")));
    }

    #[test]
    fn no_list_signs_everywhere_an_empty_one_nowhere() {
        let u = url("https://ledger.internal/x");
        assert_eq!(destination(None, OtherOrigins::Refuse, &u), Destination::Sign);
        assert_eq!(
            destination(Some(&[]), OtherOrigins::Refuse, &u),
            Destination::Refuse
        );
        assert_eq!(
            destination(Some(&[]), OtherOrigins::SendUnsigned, &u),
            Destination::SendUnsigned
        );
        let allowed = [Origin::parse("https://ledger.internal").expect("origin")];
        assert_eq!(
            destination(Some(&allowed), OtherOrigins::Refuse, &u),
            Destination::Sign
        );
    }

    #[test]
    fn an_error_shows_only_the_origin_of_a_url() {
        assert_eq!(
            shown(&url("https://svc:s3cr3t@evil.example:8443/x?token=t#f")),
            "https://evil.example:8443"
        );
    }
}
