//! Which repository URLs are accepted, and the loopback rule for plain `http`.

use crate::error::ConfigError;

/// Checks a repository URL and returns it with exactly one trailing `/`: the URL of a key is
/// this base followed by the kid, by string concatenation, so nothing in the base may swallow
/// or redirect the kid.
pub(super) fn base_url(url: &str, allow_insecure_loopback: bool) -> Result<String, ConfigError> {
    let parsed = checked_url(url, allow_insecure_loopback)?;
    if parsed.cannot_be_a_base() {
        return Err(invalid(url, "not a hierarchical URL"));
    }
    if parsed.query().is_some() {
        return Err(invalid(url, "a query or fragment would swallow the kid"));
    }
    let mut base = parsed.as_str().trim_end_matches('/').to_owned();
    base.push('/');
    Ok(base)
}

/// The rules every URL keys are fetched from passes (a repository base, a JWKS document):
/// absolute, no fragment, no credentials, `https` — or plain `http` to a loopback host when
/// `allow_insecure_loopback`.
pub(crate) fn checked_url(url: &str, allow_insecure_loopback: bool) -> Result<url::Url, ConfigError> {
    let parsed = url::Url::parse(url.trim()).map_err(|e| invalid(url, &e.to_string()))?;
    if parsed.fragment().is_some() {
        return Err(invalid(url, "a fragment is never sent to the server"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(url, "credentials in the URL are not supported"));
    }
    match parsed.scheme() {
        "https" => {}
        "http" if allow_insecure_loopback && is_loopback(&parsed) => {}
        "http" => return Err(ConfigError::InsecureUrl(crate::redact_url(url))),
        other => return Err(invalid(url, &format!("unsupported scheme {other:?}"))),
    }
    Ok(parsed)
}

fn invalid(url: &str, reason: &str) -> ConfigError {
    ConfigError::InvalidUrl {
        url: crate::redact_url(url),
        reason: reason.to_owned(),
    }
}

/// Whether a URL's host is this machine: an address in `127.0.0.0/8`, `::1`, or the name
/// `localhost` (not `localhost.example`, nor any other name that may resolve anywhere). Plain
/// `http` is acceptable only to such a host, where nothing on the network can read or change
/// the traffic.
///
/// ```
/// let url = |s| url::Url::parse(s).unwrap();
/// assert!(asap_keys::is_loopback(&url("http://127.1.2.3:8080/")));
/// assert!(asap_keys::is_loopback(&url("http://[::1]/")));
/// assert!(!asap_keys::is_loopback(&url("http://localhost.evil.example/")));
/// ```
pub fn is_loopback(url: &url::Url) -> bool {
    url.host_str().is_some_and(asap_core::is_loopback_host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_get_exactly_one_trailing_slash() {
        for (given, want) in [
            ("https://keys.example", "https://keys.example/"),
            ("https://keys.example/", "https://keys.example/"),
            ("https://keys.example/asap//", "https://keys.example/asap/"),
            ("https://KEYS.example/Asap", "https://keys.example/Asap/"),
        ] {
            assert_eq!(base_url(given, false).expect(given), want);
        }
    }

    #[test]
    fn plain_http_only_to_loopback_and_only_when_allowed() {
        assert!(matches!(
            base_url("http://127.0.0.1:8080/", false),
            Err(ConfigError::InsecureUrl(_))
        ));
        for ok in [
            "http://127.0.0.1:8080/",
            "http://127.1.2.3/",
            "http://[::1]/",
            "http://localhost/",
            "http://LocalHost:9/",
        ] {
            assert!(base_url(ok, true).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/",
            "http://keys.example/",
            "http://localhost.evil.example/",
            "http://[::ffff:7f00:1]/",
        ] {
            assert!(
                matches!(base_url(bad, true), Err(ConfigError::InsecureUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn urls_that_would_swallow_or_redirect_the_kid_are_refused() {
        for bad in [
            "https://keys.example/?x=",
            "https://keys.example/#",
            "https://user:pw@keys.example/",
            "ftp://keys.example/",
            "keys.example",
            "data:text/plain,x",
        ] {
            assert!(
                matches!(base_url(bad, false), Err(ConfigError::InvalidUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_refused_url_is_shown_without_its_credentials_or_query() {
        for bad in [
            "https://ann:pw-9f3k@keys.example/",
            "https://keys.example/?token=pw-9f3k",
            "http://ann:pw-9f3k@keys.example/",
            "http://keys.example/?token=pw-9f3k",
            "ftp://ann:pw-9f3k@keys.example/",
        ] {
            let e = base_url(bad, false).expect_err("refused");
            assert!(!format!("{e} {e:?}").contains("pw-9f3k"), "{e:?}");
        }
    }
}
