//! The app's OAuth tokens, handed to the handler as opaque secrets.

use std::fmt;

use http::HeaderMap;
use zeroize::Zeroizing;

use crate::error::ForgeError;

/// The header carrying the app system token (manifest `endpoint.auth.appSystemToken`).
pub const SYSTEM_TOKEN_HEADER: &str = "x-forge-oauth-system";

/// The header carrying the app user token (manifest `endpoint.auth.appUserToken`).
pub const USER_TOKEN_HEADER: &str = "x-forge-oauth-user";

/// The longest OAuth token accepted from a header.
pub const MAX_OAUTH_TOKEN_BYTES: usize = 16 * 1024;

/// An OAuth token Forge hands the remote (the app system token or the app user token) to call
/// the product with. Opaque: `Debug` prints `ForgeOAuthToken(<redacted>)`, there is no
/// `Display`, and the memory is zeroed on drop; [`expose`](ForgeOAuthToken::expose) is the one
/// way to the text, for the `Authorization` header of a call to the product.
#[derive(Clone, PartialEq, Eq)]
pub struct ForgeOAuthToken(Zeroizing<String>);

impl ForgeOAuthToken {
    /// The token, for an `Authorization: Bearer` header. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads the token from `header` of `headers`: absent is `None`; present more than once,
    /// empty, larger than [`MAX_OAUTH_TOKEN_BYTES`] or not printable ASCII is an error (it could
    /// not be sent on as a header value).
    pub fn from_headers(
        headers: &HeaderMap,
        header: &'static str,
    ) -> Result<Option<ForgeOAuthToken>, ForgeError> {
        let mut values = headers.get_all(header).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        let bad = |reason| ForgeError::BadOAuthToken { header, reason };
        if values.next().is_some() {
            return Err(bad("sent more than once"));
        }
        let bytes = value.as_bytes();
        if bytes.is_empty() {
            return Err(bad("empty"));
        }
        if bytes.len() > MAX_OAUTH_TOKEN_BYTES {
            return Err(bad("too large"));
        }
        if !bytes.iter().all(u8::is_ascii_graphic) {
            return Err(bad("not printable ASCII"));
        }
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| bad("not printable ASCII"))?;
        Ok(Some(ForgeOAuthToken(Zeroizing::new(text))))
    }
}

impl fmt::Debug for ForgeOAuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ForgeOAuthToken(<redacted>)")
    }
}

impl From<String> for ForgeOAuthToken {
    /// Wraps a token obtained otherwise (tests, a token cache).
    fn from(token: String) -> Self {
        ForgeOAuthToken(Zeroizing::new(token))
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let token = ForgeOAuthToken::from("eyJsecret.part.here".to_owned());
        assert_eq!(format!("{token:?}"), "ForgeOAuthToken(<redacted>)");
        assert!(!format!("{:?}", Some(&token)).contains("secret"));
        assert_eq!(token.expose(), "eyJsecret.part.here");
    }

    #[test]
    fn header_values_that_could_not_be_sent_on_are_refused() {
        let mut headers = HeaderMap::new();
        assert!(matches!(
            ForgeOAuthToken::from_headers(&headers, SYSTEM_TOKEN_HEADER),
            Ok(None)
        ));
        headers.insert(SYSTEM_TOKEN_HEADER, HeaderValue::from_static("abc"));
        let token = ForgeOAuthToken::from_headers(&headers, SYSTEM_TOKEN_HEADER).expect("ok");
        assert_eq!(token.map(|t| t.expose().to_owned()).as_deref(), Some("abc"));
        headers.append(SYSTEM_TOKEN_HEADER, HeaderValue::from_static("def"));
        assert!(matches!(
            ForgeOAuthToken::from_headers(&headers, SYSTEM_TOKEN_HEADER),
            Err(ForgeError::BadOAuthToken {
                reason: "sent more than once",
                ..
            })
        ));
        for bad in ["a b", ""] {
            let mut headers = HeaderMap::new();
            headers.insert(USER_TOKEN_HEADER, HeaderValue::from_str(bad).expect("value"));
            assert!(
                ForgeOAuthToken::from_headers(&headers, USER_TOKEN_HEADER).is_err(),
                "{bad:?}"
            );
        }
        let mut headers = HeaderMap::new();
        let huge = "a".repeat(MAX_OAUTH_TOKEN_BYTES + 1);
        headers.insert(USER_TOKEN_HEADER, HeaderValue::from_str(&huge).expect("value"));
        assert!(matches!(
            ForgeOAuthToken::from_headers(&headers, USER_TOKEN_HEADER),
            Err(ForgeError::BadOAuthToken {
                reason: "too large",
                ..
            })
        ));
    }
}
