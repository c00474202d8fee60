//! The canonical request and its hash, the `qsh` claim: plain functions over strings, with no
//! async runtime and no HTTP client.
//!
//! `canonical request = UPPER(method) & canonical path & canonical query`, and
//! `qsh = lowercase hex SHA-256(canonical request)`. Each step is one function below, named after
//! the rule it applies (docs/connect.md).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A URL that cannot be canonicalised against its base URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QshError {
    /// The URL's path does not start with the base URL's path (by whole segments), or the two
    /// absolute URLs have different origins.
    #[error("the URL is not under the base URL (other origin, or a path outside the base path)")]
    NotUnderBaseUrl,
    /// An absolute URL whose origin cannot be parsed.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
}

/// Everything but the RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`) is encoded; the
/// percent-encoding crate writes uppercase hex, as the host does.
const QUERY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The canonical request of `method` on `url`, relative to `base_url`.
///
/// `url` is an absolute URL (`https://tenant.atlassian.net/wiki/rest/api/space?limit=10`) or an
/// origin-form request target (`/wiki/rest/api/space?limit=10`); `base_url` is the tenant's (or,
/// for inbound requests, the app's) base URL, absolute or just its path (`/wiki`), and may be
/// empty. The base path is stripped from the path by whole segments; when both URLs are absolute
/// their origins must match, so that a token is never made for another host by mistake.
///
/// The path is hashed raw, as sent on the wire (outbound rule); see
/// [`Authenticator`](crate::Authenticator) for the inbound rule, which also accepts the
/// percent-decoded path.
///
/// ```
/// use connect_qsh::canonical_request;
/// let canonical = canonical_request(
///     "get",
///     "https://acme.atlassian.net/wiki/rest/api/space?limit=10&expand=a+b&jwt=x.y.z",
///     "https://acme.atlassian.net/wiki",
/// )?;
/// assert_eq!(canonical, "GET&/rest/api/space&expand=a%20b&limit=10");
/// # Ok::<(), connect_qsh::QshError>(())
/// ```
pub fn canonical_request(method: &str, url: &str, base_url: &str) -> Result<String, QshError> {
    let target = RequestTarget::split(url);
    let relative = relative_path(&target, base_url)?;
    Ok(join_canonical(
        method,
        &canonical_path(relative),
        &canonical_query(target.query),
    ))
}

/// The `qsh` claim for `method` on `url` relative to `base_url`: the lowercase hex SHA-256 of
/// [`canonical_request`].
///
/// ```
/// use connect_qsh::qsh;
/// assert_eq!(
///     qsh("POST", "/installed", "")?,
///     "4a2e1de8ca74e6cafe8862d332fa3ac7a8e51e692bc6d798ea4dfedc14948bf4",
/// );
/// # Ok::<(), connect_qsh::QshError>(())
/// ```
pub fn qsh(method: &str, url: &str, base_url: &str) -> Result<String, QshError> {
    Ok(qsh_of_canonical(&canonical_request(method, url, base_url)?))
}

/// The lowercase hex SHA-256 of a canonical request.
pub fn qsh_of_canonical(canonical_request: &str) -> String {
    sha256_hex(canonical_request.as_bytes())
}

/// Lowercase hex SHA-256.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The inbound qsh rule: whether `claimed` is the qsh of the request `method` `target` (the
/// request target as received) relative to `base_url`, over the raw path or over the path with
/// its resource-preserving escapes decoded (the host signs the decoded form), compared in
/// constant time. Connect's `Authenticator` and request-bound ASAP tokens both apply it.
///
/// HTTP methods are case-sensitive (RFC 9110 §9.1) while the canonical request upper-cases
/// them, so a request whose method is not already upper-case never matches: a `GET` token must
/// not admit the extension method `get`.
///
/// ```
/// use connect_qsh::{qsh, qsh_matches_request};
/// let claimed = qsh("GET", "/api/balance?b=2&a=1", "")?;
/// assert!(qsh_matches_request(&claimed, "GET", "/api/balance?a=1&b=2", "")?);
/// assert!(!qsh_matches_request(&claimed, "GET", "/api/other?a=1&b=2", "")?);
/// assert!(!qsh_matches_request(&claimed, "get", "/api/balance?a=1&b=2", "")?);
/// # Ok::<(), connect_qsh::QshError>(())
/// ```
pub fn qsh_matches_request(
    claimed: &str,
    method: &str,
    target: &str,
    base_url: &str,
) -> Result<bool, QshError> {
    if method.bytes().any(|b| b.is_ascii_lowercase()) {
        return Ok(false);
    }
    let (raw, decoded) = inbound_canonical_requests(method, target, base_url)?;
    let mut matches = qsh_of_canonical(&raw).as_bytes().ct_eq(claimed.as_bytes());
    if let Some(decoded) = decoded {
        matches |= qsh_of_canonical(&decoded).as_bytes().ct_eq(claimed.as_bytes());
    }
    Ok(bool::from(matches))
}

/// The canonical requests an inbound request may have been signed over: the raw path, and, when
/// it differs, the path with its resource-preserving escapes decoded
/// ([`decode_resource_preserving`]; the host signs over the decoded path, docs/connect.md).
fn inbound_canonical_requests(
    method: &str,
    url: &str,
    base_url: &str,
) -> Result<(String, Option<String>), QshError> {
    let target = RequestTarget::split(url);
    let relative = relative_path(&target, base_url)?;
    let query = canonical_query(target.query);
    let raw = join_canonical(method, &canonical_path(relative), &query);
    let decoded = decode_resource_preserving(relative)
        .filter(|decoded| decoded != relative)
        .map(|decoded| join_canonical(method, &canonical_path(&decoded), &query));
    Ok((raw, decoded))
}

/// The decoded-path rule (docs/connect.md, round 2): decode only the escapes whose decoding cannot
/// change which resource the path addresses, so that a token for one resource is never accepted
/// for another through the decoded form. Kept encoded:
///
/// - `%2F` `/`: a segment boundary (`/users/1%2Fdelete` is one segment, `/users/1/delete` two);
/// - `%5C` `\`: a segment boundary for Windows servers, WHATWG URL parsers and some proxies;
/// - `%25` `%`: decoding it would be a second decoding (`/a%252Fb` would become `/a%2Fb`);
/// - `%2E` `.`: `%2e%2e` would become a `..` segment, which normalisers remove with the segment
///   before it, while a router takes the encoded form literally; and `.` never needs escaping,
///   so the host never sends `%2E`;
/// - `%3B` `;`: the path-parameter delimiter (servlet containers and proxies cut `;…` from a raw
///   segment, so `/admin;x` and `/admin%3Bx` are different resources there).
///
/// Everything else is decoded: unreserved characters (equivalent encoded or not, RFC 3986
/// §6.2.2.2), the other delimiters (one segment either way), and characters that cannot appear
/// raw in a path (space, `?`, `#`, controls such as NUL, non-ASCII), whose decoded form no other
/// request has. `None` when the decoded bytes are not UTF-8: replacing them with U+FFFD would
/// give `/%FF` and `/%FE` one canonical path.
fn decode_resource_preserving(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex_value(*hi).zip(hex_value(*lo)).map(|(hi, lo)| (hi << 4) | lo),
            _ => None,
        };
        match escaped {
            Some(byte) if !matches!(byte, b'/' | b'\\' | b'%' | b'.' | b';') => {
                out.push(byte);
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).and_then(|v| u8::try_from(v).ok())
}

fn join_canonical(method: &str, path: &str, query: &str) -> String {
    format!("{}&{path}&{query}", method.to_ascii_uppercase())
}

/// A URL cut into origin, path and query without any normalisation: the qsh covers the bytes
/// of the request target, so nothing may be re-encoded or resolved on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestTarget<'a> {
    /// `scheme://authority` of an absolute URL.
    pub(crate) origin: Option<&'a str>,
    /// The path, possibly empty.
    pub(crate) path: &'a str,
    /// The query without `?`, possibly empty.
    pub(crate) query: &'a str,
}

impl<'a> RequestTarget<'a> {
    pub(crate) fn split(url: &'a str) -> RequestTarget<'a> {
        // A fragment never reaches the server.
        let url = url.split_once('#').map_or(url, |(before, _)| before);
        let (origin, rest) = match url.find("://") {
            Some(i) if !url[..i].contains(['/', '?']) => {
                let after = i + 3;
                let end = url[after..].find(['/', '?']).map_or(url.len(), |j| after + j);
                (Some(&url[..end]), &url[end..])
            }
            _ => (None, url),
        };
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        RequestTarget { origin, path, query }
    }
}

/// The path relative to the base URL: the base path is removed by whole segments (`/wiki` is
/// stripped from `/wiki/x` but not from `/wikipedia/x`), and when both are absolute the origins
/// must be the same.
fn relative_path<'a>(target: &RequestTarget<'a>, base_url: &str) -> Result<&'a str, QshError> {
    let base = RequestTarget::split(base_url);
    if let (Some(origin), Some(base_origin)) = (target.origin, base.origin)
        && !same_origin(origin, base_origin)?
    {
        return Err(QshError::NotUnderBaseUrl);
    }
    let base_path = base.path.trim_end_matches('/');
    if base_path.is_empty() {
        return Ok(target.path);
    }
    match target.path.strip_prefix(base_path) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => Ok(rest),
        _ => Err(QshError::NotUnderBaseUrl),
    }
}

fn same_origin(a: &str, b: &str) -> Result<bool, QshError> {
    // Only the origins are parsed (default ports, letter case of scheme and host); the path
    // stays raw.
    let parse = |s: &str| url::Url::parse(s).map_err(|e| QshError::InvalidUrl(e.to_string()));
    Ok(parse(a)?.origin() == parse(b)?.origin())
}

/// The canonical path rule: one trailing `/` removed, empty → `/`, a leading `/` ensured, and
/// `&` (the separator of the canonical request) written `%26`; otherwise the path is kept as is.
pub(crate) fn canonical_path(relative: &str) -> String {
    let path = relative.strip_suffix('/').unwrap_or(relative);
    let path = path.replace('&', "%26");
    if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    }
}

/// The canonical query rule: form-decode every `key=value` pair (`+` is a space), drop `jwt`,
/// encode keys and values as RFC 3986 unreserved, sort the pairs by encoded key, join repeated
/// values with `,` after sorting them by decoded value, and write a valueless `a` as `a=`.
pub(crate) fn canonical_query(query: &str) -> String {
    let mut params: BTreeMap<String, Vec<Cow<'_, str>>> = BTreeMap::new();
    for (key, value) in form_pairs(query) {
        if key == "jwt" {
            continue;
        }
        params.entry(encode(&key)).or_default().push(value);
    }
    let mut out = String::with_capacity(query.len() + 16);
    for (encoded_key, mut values) in params {
        // Sorted by decoded value (the host's behaviour, not the encoded order the spec text
        // suggests), comparing UTF-16 code units as Java's `String.compareTo` does.
        values.sort_by(|a, b| java_string_order(a, b));
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&encoded_key);
        out.push('=');
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&encode(value));
        }
    }
    out
}

/// The `key=value` pairs of an `application/x-www-form-urlencoded` query: split on `&`, empty
/// pieces skipped, `+` is a space, `%XX` decoded, invalid UTF-8 replaced by U+FFFD (as the host's
/// servlet container and Python's `parse_qs` do).
pub(crate) fn form_pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query.split('&').filter(|piece| !piece.is_empty()).map(|piece| {
        let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
        (form_decode(key), form_decode(value))
    })
}

fn form_decode(s: &str) -> Cow<'_, str> {
    if s.contains('+') {
        let spaced = s.replace('+', " ");
        Cow::Owned(percent_decode_str(&spaced).decode_utf8_lossy().into_owned())
    } else {
        percent_decode_str(s).decode_utf8_lossy()
    }
}

fn encode(s: &str) -> String {
    utf8_percent_encode(s, QUERY_ENCODE).to_string()
}

/// Java's `String.compareTo`: lexicographic over UTF-16 code units. It differs from Rust's
/// (code point) order only between a character above U+FFFF and one in U+E000..=U+FFFF.
fn java_string_order(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_path_removes_one_trailing_slash_only() {
        assert_eq!(canonical_path(""), "/");
        assert_eq!(canonical_path("/"), "/");
        assert_eq!(canonical_path("/a/"), "/a");
        assert_eq!(canonical_path("/a//"), "/a/");
        assert_eq!(canonical_path("a"), "/a");
    }

    #[test]
    fn canonical_path_escapes_only_the_separator() {
        assert_eq!(canonical_path("/a&b/c%20d+e"), "/a%26b/c%20d+e");
    }

    #[test]
    fn base_path_is_stripped_by_whole_segments() {
        let target = RequestTarget::split("/wiki/rest");
        assert_eq!(relative_path(&target, "/wiki"), Ok("/rest"));
        assert_eq!(relative_path(&target, "/wiki/"), Ok("/rest"));
        assert_eq!(relative_path(&target, "https://x.example/wiki"), Ok("/rest"));
        assert_eq!(relative_path(&RequestTarget::split("/wiki"), "/wiki"), Ok(""));
        assert_eq!(
            relative_path(&RequestTarget::split("/wikipedia/x"), "/wiki"),
            Err(QshError::NotUnderBaseUrl)
        );
    }

    #[test]
    fn origins_must_match_when_both_are_absolute() {
        let target = RequestTarget::split("https://ACME.atlassian.net:443/wiki/x");
        assert_eq!(
            relative_path(&target, "https://acme.atlassian.net/wiki"),
            Ok("/x")
        );
        assert_eq!(
            relative_path(&target, "https://evil.example/wiki"),
            Err(QshError::NotUnderBaseUrl)
        );
    }

    #[test]
    fn split_keeps_raw_parts_and_drops_the_fragment() {
        let t = RequestTarget::split("https://h.example:8443/a%2Fb c?x=1&y#frag");
        assert_eq!(t.origin, Some("https://h.example:8443"));
        assert_eq!(t.path, "/a%2Fb c");
        assert_eq!(t.query, "x=1&y");
        let t = RequestTarget::split("https://h.example?q=1");
        assert_eq!(
            (t.origin, t.path, t.query),
            (Some("https://h.example"), "", "q=1")
        );
        let t = RequestTarget::split("/p?next=https://x.example/");
        assert_eq!(
            (t.origin, t.path, t.query),
            (None, "/p", "next=https://x.example/")
        );
    }

    #[test]
    fn query_values_sort_in_java_utf16_order() {
        // U+FF01 sorts after U+1F600 in Java (0xFF01 > 0xD83D) but before it by code point.
        assert_eq!(
            canonical_query("v=%EF%BC%81&v=%F0%9F%98%80"),
            "v=%F0%9F%98%80,%EF%BC%81"
        );
    }

    #[test]
    fn jwt_is_dropped_even_when_encoded() {
        assert_eq!(canonical_query("j%77t=x&a=1"), "a=1");
    }

    #[test]
    fn invalid_utf8_is_replaced_and_bad_escapes_kept() {
        assert_eq!(canonical_query("a=%FF&b=%zz&c=%4"), "a=%EF%BF%BD&b=%25zz&c=%254");
    }

    #[test]
    fn decoded_variant_only_when_the_path_has_escapes() {
        let (raw, decoded) = inbound_canonical_requests("GET", "/a%20b/c%26d", "").expect("valid");
        assert_eq!(raw, "GET&/a%20b/c%26d&");
        assert_eq!(decoded.as_deref(), Some("GET&/a b/c%26d&"));
        let (_, decoded) = inbound_canonical_requests("GET", "/plain", "").expect("valid");
        assert_eq!(decoded, None);
    }

    #[test]
    fn only_resource_preserving_escapes_are_decoded() {
        let decoded = |path| decode_resource_preserving(path);
        // Segment boundaries, a second decoding, dot segments and path parameters stay encoded,
        // whatever the letter case of the hex digits.
        for kept in [
            "/a%2Fb",
            "/a%2fb",
            "/a%5Cb",
            "/a%5cb",
            "/a%252Fb",
            "/%2e%2e/x",
            "/%2E",
            "/a%3Bb",
            "/a%3bb",
        ] {
            assert_eq!(decoded(kept).as_deref(), Some(kept), "{kept}");
        }
        assert_eq!(decoded("/a%20b%3F%23%00%41%7E").as_deref(), Some("/a b?#\0A~"));
        assert_eq!(decoded("/caf%C3%A9%3A%40%2C").as_deref(), Some("/café:@,"));
        // Incomplete or non-hex escapes are kept as they are.
        assert_eq!(decoded("/a%2/b%zz%").as_deref(), Some("/a%2/b%zz%"));
        // Invalid UTF-8 gives no decoded form rather than U+FFFD for several byte strings.
        assert_eq!(decoded("/%FF"), None);
        assert_eq!(decoded("/%C3"), None);
    }

    #[test]
    fn qsh_is_lowercase_hex_sha256() {
        assert_eq!(
            qsh_of_canonical("GET&/&"),
            "c88caad15a1c1a900b8ac08aa9686f4e8184539bea1deda36e2f649430df3239"
        );
    }
}
