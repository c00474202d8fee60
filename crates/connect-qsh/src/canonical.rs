//! The canonical request and its hash, the `qsh` claim: plain functions over strings, with no
//! async runtime and no HTTP client.
//!
//! `canonical request = UPPER(method) & canonical path & canonical query`, and
//! `qsh = lowercase hex SHA-256(canonical request)`. Each step is one function below, named after
//! the rule it applies (docs/connect.md).

use std::borrow::Cow;
use std::cmp::Ordering;

use subtle::ConstantTimeEq;

/// A URL that cannot be canonicalised against its base URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QshError {
    /// The URL's path does not start with the base URL's path (by whole segments), or the two
    /// absolute URLs have different origins.
    #[error("the URL is not under the base URL (other origin, or a path outside the base path)")]
    NotUnderBaseUrl,
    /// An absolute URL whose origin is not plain `scheme://host[:port]` or cannot be parsed, or
    /// a URL with a scheme but no `//`.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
}

/// The canonical request of `method` on `url`, relative to `base_url`.
///
/// `url` is an absolute URL (`https://tenant.atlassian.net/wiki/rest/api/space?limit=10`) or an
/// origin-form request target (`/wiki/rest/api/space?limit=10`); `base_url` is the tenant's (or,
/// for inbound requests, the app's) base URL, absolute or just its path (`/wiki`), and may be
/// empty. The base path is stripped from the path by whole segments; an absolute `url`'s origin
/// must be plain `scheme://host[:port]` (one that every URL parser reads as the same host), and
/// when both URLs are absolute their origins must match, so that a token is never made for
/// another host by mistake.
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
    // `//evil.example/x` is a path to this parser but a network-path reference to every URL
    // resolver (`Url::join`): a token made for it would be bound to the tenant yet sent to that
    // host. The WHATWG parser also reads `\` as `/`, drops tabs and line breaks, and trims
    // leading spaces and controls, so `/\evil`, `/\t/evil` and ` //evil` are the same. A
    // request received with such a target is checked by the inbound rule instead.
    if target.origin.is_none()
        && (target.path.starts_with("//")
            || target.path.starts_with(' ')
            || target.path.bytes().any(|b| b == b'\\' || b.is_ascii_control()))
    {
        return Err(QshError::InvalidUrl(
            "a path a URL resolver reads as another host (//host, a backslash, a control character, a leading space): give an absolute URL or a plain path".into(),
        ));
    }
    let relative = relative_path(&target, base_url)?;
    let mut query = String::with_capacity(target.query.len() + 8);
    push_canonical_query(&mut query, target.query)?;
    Ok(join_canonical(method, relative, &query))
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
    // Hex digits are ASCII, so always UTF-8.
    std::str::from_utf8(&sha256_hex_digits(bytes))
        .map(str::to_owned)
        .unwrap_or_default()
}

/// Lowercase hex SHA-256, on the stack.
fn sha256_hex_digits(bytes: &[u8]) -> [u8; 64] {
    let mut hex = [0u8; 64];
    // 64 digits are exactly the 32 bytes of the digest: it cannot fail.
    hex::encode_to_slice(sha256(bytes), &mut hex).unwrap_or_default();
    hex
}

/// SHA-256, the one place that chooses how: through aws-lc-rs with the `auth` feature (its
/// assembly; the feature links aws-lc for HMAC and signatures anyway), through the pure-Rust
/// `sha2` crate without it (the standalone qsh links no C).
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    #[cfg(feature = "auth")]
    {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        out
    }
    #[cfg(not(feature = "auth"))]
    {
        use sha2::Digest as _;
        sha2::Sha256::digest(bytes).into()
    }
}

/// Whether `claimed` is the lowercase hex SHA-256 of `canonical`, in constant time: the
/// digits are compared eight at a time, the differences OR-ed together without a branch, and
/// only the total is looked at (its length is not secret: every `qsh` has 64).
fn qsh_matches(canonical: &str, claimed: &str) -> subtle::Choice {
    let ours = sha256_hex_digits(canonical.as_bytes());
    let Ok(claimed) = <&[u8; 64]>::try_from(claimed.as_bytes()) else {
        return subtle::Choice::from(0);
    };
    let word = |digits: &[u8]| u64::from_ne_bytes(digits.try_into().unwrap_or_default());
    let difference = ours
        .chunks_exact(8)
        .zip(claimed.chunks_exact(8))
        .fold(0u64, |acc, (a, b)| acc | (word(a) ^ word(b)));
    difference.ct_eq(&0)
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

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
    qsh_matches_target(claimed, method, RequestTarget::split(target), base_url)
}

/// [`qsh_matches_request`] on a request target already split.
pub(crate) fn qsh_matches_target(
    claimed: &str,
    method: &str,
    target: RequestTarget<'_>,
    base_url: &str,
) -> Result<bool, QshError> {
    if method.bytes().any(|b| b.is_ascii_lowercase()) {
        return Ok(false);
    }
    let (raw, decoded) = inbound_canonical_requests(method, target, base_url)?;
    let mut matches = qsh_matches(&raw, claimed);
    if let Some(decoded) = decoded {
        matches |= qsh_matches(&decoded, claimed);
    }
    Ok(bool::from(matches))
}

/// The canonical requests an inbound request may have been signed over: the raw path, and, when
/// it differs, the path with its resource-preserving escapes decoded
/// ([`decode_resource_preserving`]; the host signs over the decoded path, docs/connect.md).
fn inbound_canonical_requests(
    method: &str,
    target: RequestTarget<'_>,
    base_url: &str,
) -> Result<(String, Option<String>), QshError> {
    let relative = relative_path(&target, base_url)?;
    // One buffer holds the raw canonical request; the query part is written once and copied
    // into the decoded form when there is one.
    let mut raw = String::with_capacity(method.len() + relative.len() + target.query.len() + 24);
    push_method_and_path(&mut raw, method, relative);
    let query_start = raw.len();
    push_canonical_query(&mut raw, target.query)?;
    // Without a `%` the decoded path is the raw one: no second canonical request.
    let decoded = relative
        .contains('%')
        .then(|| decode_resource_preserving(relative))
        .flatten()
        .filter(|decoded| decoded != relative)
        .map(|decoded| join_canonical(method, &decoded, &raw[query_start..]));
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
/// request has.
///
/// `None` (no decoded form: only the raw path can match) when the path holds a `%` that does
/// not start an escape (`%` not followed by two hex digits): kept as it is while the escapes
/// after it were decoded, it would make a new escape of them. `/a%%32%46b` would give the text
/// `/a%2Fb`, so a token for the segment `a/b` (`/a%2Fb`) would pass on a request that the
/// router hands the handler as another resource (likewise `%%32%30` → `%20`, `%%32%65` →
/// `%2e`). And `None` when the decoded bytes are not UTF-8: replacing them with U+FFFD would
/// give `/%FF` and `/%FE` one canonical path.
fn decode_resource_preserving(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte != b'%' {
            out.push(byte);
            i += 1;
            continue;
        }
        let escaped = percent_escape(bytes, i)?;
        if matches!(escaped, b'/' | b'\\' | b'%' | b'.' | b';') {
            out.extend_from_slice(&bytes[i..i + 3]);
        } else {
            out.push(escaped);
        }
        i += 3;
    }
    String::from_utf8(out).ok()
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).and_then(|v| u8::try_from(v).ok())
}

/// `UPPER(method) & canonical path(relative) & query`, `query` already canonical.
fn join_canonical(method: &str, relative: &str, query: &str) -> String {
    let mut out = String::with_capacity(method.len() + relative.len() + query.len() + 8);
    push_method_and_path(&mut out, method, relative);
    out.push_str(query);
    out
}

/// `UPPER(method) & canonical path(relative) &`.
fn push_method_and_path(out: &mut String, method: &str, relative: &str) {
    out.extend(method.chars().map(|c| c.to_ascii_uppercase()));
    out.push('&');
    push_canonical_path(out, relative);
    out.push('&');
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
    /// A request target as a server received it: only its path and query. An absolute-form
    /// target's origin is whatever host the client addressed, which the qsh does not cover
    /// and the app has no tenant's origin to compare it with.
    #[cfg(feature = "auth")]
    pub(crate) fn received(target: &'a str) -> RequestTarget<'a> {
        RequestTarget {
            origin: None,
            ..RequestTarget::split(target)
        }
    }

    pub(crate) fn split(url: &'a str) -> RequestTarget<'a> {
        let is_path_start = |b: &u8| matches!(b, b'/' | b'?');
        // A fragment never reaches the server.
        let url = url.split_once('#').map_or(url, |(before, _)| before);
        let bytes = url.as_bytes();
        // `scheme://authority` when the first `/` or `?` is the `//` of a `://` (so that no
        // `/` or `?` comes before the `://`).
        let origin_end = match bytes.iter().position(is_path_start) {
            Some(i) if i > 0 && bytes[i - 1] == b':' && bytes[i..].starts_with(b"//") => {
                let after = i + 2;
                Some(
                    bytes[after..]
                        .iter()
                        .position(is_path_start)
                        .map_or(bytes.len(), |j| after + j),
                )
            }
            _ => None,
        };
        // Every index above is that of an ASCII byte (or the end), so a character boundary.
        let (origin, rest) = match origin_end.and_then(|end| Some((url.get(..end)?, url.get(end..)?))) {
            Some((origin, rest)) => (Some(origin), rest),
            None => (None, url),
        };
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        RequestTarget { origin, path, query }
    }
}

/// The path relative to the base URL: the base path is removed by whole segments (`/wiki` is
/// stripped from `/wiki/x` but not from `/wikipedia/x`); an absolute URL's origin must be plain
/// ([`is_plain_origin`]) whatever the base, and when the base is absolute too, the same as its
/// origin.
fn relative_path<'a>(target: &RequestTarget<'a>, base_url: &str) -> Result<&'a str, QshError> {
    // `https:evil.example/x` has no `//`, so no origin here, but every URL parser reads it as
    // an absolute URL of that host: taken as a path, a token would be signed and sent there.
    if target.origin.is_none() && starts_with_scheme(target.path) {
        return Err(QshError::InvalidUrl(
            "a URL is absolute (scheme://host…) or a path starting with /".into(),
        ));
    }
    let base = RequestTarget::split(base_url);
    // The allow-list applies to every absolute URL, whatever the base: with a path base (`""`,
    // `/wiki`) there is no origin to compare with, but the token is still sent to this one.
    let origin = target.origin.map(plain_origin).transpose()?;
    if let (Some(origin), Some(base_origin)) = (origin, base.origin)
        && origin.origin() != plain_origin(base_origin)?.origin()
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

/// `origin` (`scheme://authority`) parsed, when [`is_plain_origin`] allows it. Only origins are
/// parsed (to compare default ports and the letter case of scheme and host); paths stay raw.
fn plain_origin(origin: &str) -> Result<url::Url, QshError> {
    if !is_plain_origin(origin) {
        return Err(QshError::InvalidUrl(
            "an absolute URL's origin must be scheme://host[:port] alone, in ASCII".into(),
        ));
    }
    url::Url::parse(origin).map_err(|e| QshError::InvalidUrl(e.to_string()))
}

/// Whether `path` begins with `scheme:`.
fn starts_with_scheme(path: &str) -> bool {
    path.split_once(':').is_some_and(|(scheme, _)| is_scheme(scheme))
}

/// A URL scheme: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// `scheme://host[:port]` and nothing else, by the bytes every URL parser reads alike: a
/// scheme ([`is_scheme`]), and an authority of letters, digits, `.`, `-`, `_`, `:` and the brackets of an IPv6 literal. So no user info
/// (`@`), no `\` (which the WHATWG parser reads as `/`, and other clients as part of the authority:
/// `https://tenant\@evil/x` names the tenant to one and `evil` to the next, and a token signed
/// for the tenant's `/x` would go to `evil`), no escapes, spaces, controls or characters beyond
/// ASCII that one parser strips, decodes or maps and another keeps (a host beyond ASCII is
/// given in its `xn--` form).
pub(crate) fn is_plain_origin(origin: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    is_scheme(scheme)
        && !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']'))
}

/// The canonical path rule: one trailing `/` removed, empty → `/`, a leading `/` ensured, and
/// `&` (the separator of the canonical request) written `%26`; otherwise the path is kept as is.
fn push_canonical_path(out: &mut String, relative: &str) {
    let path = relative.strip_suffix('/').unwrap_or(relative);
    if !path.starts_with('/') {
        out.push('/');
    }
    let mut pieces = path.split('&');
    if let Some(first) = pieces.next() {
        out.push_str(first);
    }
    for piece in pieces {
        out.push_str("%26");
        out.push_str(piece);
    }
}

/// The canonical query rule: form-decode every `key=value` pair (`+` is a space), drop `jwt`,
/// encode keys and values as RFC 3986 unreserved, sort the pairs by encoded key, join repeated
/// values with `,` after sorting them by decoded value, and write a valueless `a` as `a=`. A
/// key or value that does not decode to UTF-8 is [`QshError::InvalidUrl`]: replacing its bytes
/// with U+FFFD, as the host does, would give `?id=%FF` and `?id=%FE` one `qsh`, so a token for
/// one would admit the other (the path rule refuses the same collision).
///
/// Written straight into `out`: the pairs are sorted once by (encoded key, decoded value), which
/// gives each key's values in their order next to each other, and a key or value that needs no
/// decoding or encoding is never copied (a unit test holds this to the rule written out with a
/// map, on generated hostile queries).
fn push_canonical_query(out: &mut String, query: &str) -> Result<(), QshError> {
    let not_utf8 = || QshError::InvalidUrl("a query key or value does not decode to UTF-8".into());
    let mut params: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::new();
    for (key, value) in query_pairs(query) {
        let key = form_decode(key).ok_or_else(not_utf8)?;
        if key == "jwt" {
            continue;
        }
        params.push((encode(key), form_decode(value).ok_or_else(not_utf8)?));
    }
    // Sorted by decoded value (the host's behaviour, not the encoded order the spec text
    // suggests), comparing UTF-16 code units as Java's `String.compareTo` does.
    params.sort_unstable_by(|(a_key, a_value), (b_key, b_value)| {
        a_key.cmp(b_key).then_with(|| java_string_order(a_value, b_value))
    });
    let mut previous: Option<&str> = None;
    for (key, value) in &params {
        if previous == Some(key) {
            out.push(',');
        } else {
            if previous.is_some() {
                out.push('&');
            }
            out.push_str(key);
            out.push('=');
        }
        push_encoded(out, value);
        previous = Some(key);
    }
    Ok(())
}

/// The `key=value` pairs of a query, still encoded: the query split at every `&`, empty pieces
/// skipped, each piece split at its first `=` (a piece without one is a key with an empty
/// value). One pass over the bytes, finding both separators at once: every request's query goes
/// through this (to find the token, then to canonicalise it), and on a query of a few dozen
/// bytes `str::split`'s searchers cost more than the scan.
pub(crate) fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = query;
    std::iter::from_fn(move || {
        while !rest.is_empty() {
            let bytes = rest.as_bytes();
            let (mut end, mut equals) = (0, None);
            while let Some(&byte) = bytes.get(end)
                && byte != b'&'
            {
                if byte == b'=' && equals.is_none() {
                    equals = Some(end);
                }
                end += 1;
            }
            // `&` and `=` are ASCII, so every index here is on a character boundary.
            let piece = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or_default();
            if !piece.is_empty() {
                return Some(match equals {
                    Some(at) => (&piece[..at], &piece[at + 1..]),
                    None => (piece, ""),
                });
            }
        }
        None
    })
}

/// One `application/x-www-form-urlencoded` key or value decoded: `+` is a space, `%XX` decoded
/// (a `%` without two hex digits stays as it is); `None` when the decoded bytes are not UTF-8
/// (the host's servlet container and Python's `parse_qs` replace them with U+FFFD, which would
/// make many texts one). Borrowed when there is nothing to decode.
pub(crate) fn form_decode(s: &str) -> Option<Cow<'_, str>> {
    let bytes = s.as_bytes();
    let Some(first) = bytes.iter().position(|&b| b == b'%' || b == b'+') else {
        return Some(Cow::Borrowed(s));
    };
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..first]);
    let mut i = first;
    while let Some(&byte) = bytes.get(i) {
        let (decoded, width) = match byte {
            b'+' => (b' ', 1),
            b'%' => match percent_escape(bytes, i) {
                Some(escaped) => (escaped, 3),
                None => (b'%', 1),
            },
            other => (other, 1),
        };
        out.push(decoded);
        i += width;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// The byte a `%XX` escape at `i` stands for, when `bytes[i..]` starts with one.
fn percent_escape(bytes: &[u8], i: usize) -> Option<u8> {
    match bytes.get(i..i + 3) {
        Some([b'%', hi, lo]) => hex_value(*hi).zip(hex_value(*lo)).map(|(hi, lo)| (hi << 4) | lo),
        _ => None,
    }
}

/// The RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`): the only ones the canonical
/// query leaves unencoded.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// `s` percent-encoded: every UTF-8 byte but the unreserved ones written `%XX`, uppercase hex
/// as the host writes it. Borrowed when nothing needs encoding.
fn encode(s: Cow<'_, str>) -> Cow<'_, str> {
    if s.bytes().all(is_unreserved) {
        return s;
    }
    let mut out = String::with_capacity(s.len() * 3);
    push_encoded(&mut out, &s);
    Cow::Owned(out)
}

fn push_encoded(out: &mut String, s: &str) {
    // `s[run..i]` is a run of unreserved (ASCII) bytes, so both ends are character boundaries.
    let mut run = 0;
    for (i, &byte) in s.as_bytes().iter().enumerate() {
        if is_unreserved(byte) {
            continue;
        }
        out.push_str(s.get(run..i).unwrap_or_default());
        out.push('%');
        out.push(char::from(HEX_UPPER[usize::from(byte >> 4)]));
        out.push(char::from(HEX_UPPER[usize::from(byte & 0x0f)]));
        run = i + 1;
    }
    out.push_str(s.get(run..).unwrap_or_default());
}

/// Java's `String.compareTo`: lexicographic over UTF-16 code units. It differs from Rust's
/// (code point) order only between a character above U+FFFF and one in U+E000..=U+FFFF.
///
/// So the UTF-8 bytes decide (their order is the code points'), unless the first bytes that
/// differ are both at least `0xEE`, the lead bytes from U+E000 up, where the UTF-16 units
/// decide.
fn java_string_order(a: &str, b: &str) -> Ordering {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    match x.iter().zip(y).position(|(p, q)| p != q) {
        None => x.len().cmp(&y.len()),
        Some(i) if x[i] < 0xEE || y[i] < 0xEE => x[i].cmp(&y[i]),
        Some(_) => a.encode_utf16().cmp(b.encode_utf16()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
    use proptest::prelude::*;

    use super::*;

    fn canonical_path(relative: &str) -> String {
        let mut out = String::new();
        push_canonical_path(&mut out, relative);
        out
    }

    fn canonical_query(query: &str) -> Option<String> {
        let mut out = String::new();
        push_canonical_query(&mut out, query).ok()?;
        Some(out)
    }

    /// The canonical query rule written out the straightforward way, on the percent-encoding
    /// crate and a map: what [`push_canonical_query`] must give on every query.
    fn reference_canonical_query(query: &str) -> Option<String> {
        const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~');
        let decode = |s: &str| {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8()
                .ok()
                .map(|decoded| decoded.into_owned())
        };
        let encode = |s: &str| utf8_percent_encode(s, UNRESERVED).to_string();
        let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for piece in query.split('&').filter(|piece| !piece.is_empty()) {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            let key = decode(key)?;
            if key != "jwt" {
                params.entry(encode(&key)).or_default().push(decode(value)?);
            }
        }
        let mut out = Vec::new();
        for (key, mut values) in params {
            values.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            let values: Vec<String> = values.iter().map(|v| encode(v)).collect();
            out.push(format!("{key}={}", values.join(",")));
        }
        Some(out.join("&"))
    }

    /// The canonical path rule written out the straightforward way.
    fn reference_canonical_path(relative: &str) -> String {
        let path = relative.strip_suffix('/').unwrap_or(relative).replace('&', "%26");
        if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        }
    }

    /// The split written out the straightforward way: origin, path and query as `str` searches.
    fn reference_split(url: &str) -> (Option<&str>, &str, &str) {
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
        (origin, path, query)
    }

    /// Hostile query and path text: every character class the rules treat apart (unreserved,
    /// `&`, `=`, `+`, `%` with and without hex digits, `jwt` spelled out and encoded, `/`,
    /// `;`, `?`, `#`, `://`, controls, non-ASCII from U+0080 to the astral planes, escapes of invalid
    /// UTF-8), in short runs so that keys repeat.
    fn hostile() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("a".to_owned()),
            Just("B".to_owned()),
            Just("jwt".to_owned()),
            Just("j%77t".to_owned()),
            Just("%6A%57T".to_owned()),
            Just("&".to_owned()),
            Just("&&".to_owned()),
            Just("=".to_owned()),
            Just("+".to_owned()),
            Just("%".to_owned()),
            Just("%2".to_owned()),
            Just("%zz".to_owned()),
            Just("%2B".to_owned()),
            Just("%26".to_owned()),
            Just("%3d".to_owned()),
            Just("%FF".to_owned()),
            Just("%C3".to_owned()),
            Just("%C3%A9".to_owned()),
            Just("%EF%BC%81".to_owned()),
            Just("%F0%9F%98%80".to_owned()),
            Just("/".to_owned()),
            Just("?".to_owned()),
            Just("#".to_owned()),
            Just(":".to_owned()),
            Just("://".to_owned()),
            Just(";".to_owned()),
            Just("-._~".to_owned()),
            Just("*".to_owned()),
            any::<char>().prop_map(String::from),
            "[\\u{0}-\\u{7f}]{1,3}",
            "[\\u{e000}-\\u{ffff}\\u{10000}-\\u{10ffff}]",
        ];
        proptest::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn the_canonical_query_is_the_rule_written_out(query in hostile()) {
            prop_assert_eq!(canonical_query(&query), reference_canonical_query(&query));
        }

        #[test]
        fn the_split_is_the_rule_written_out(
            scheme in prop_oneof![Just(""), Just("https"), Just("a/b"), Just("x?y"), Just("h:")],
            sep in prop_oneof![Just(""), Just("://"), Just(":/"), Just(":///"), Just("//")],
            rest in hostile(),
            tail in prop_oneof![Just(""), Just("#f"), Just("?q#f"), Just("://x/y?z")],
        ) {
            let url = format!("{scheme}{sep}{rest}{tail}");
            let t = RequestTarget::split(&url);
            prop_assert_eq!((t.origin, t.path, t.query), reference_split(&url));
        }

        #[test]
        fn the_canonical_path_is_the_rule_written_out(path in hostile()) {
            prop_assert_eq!(canonical_path(&path), reference_canonical_path(&path));
        }

        #[test]
        fn query_pairs_are_the_split_written_out(query in hostile()) {
            let expected: Vec<(&str, &str)> = query
                .split('&')
                .filter(|piece| !piece.is_empty())
                .map(|piece| piece.split_once('=').unwrap_or((piece, "")))
                .collect();
            prop_assert_eq!(query_pairs(&query).collect::<Vec<_>>(), expected);
        }

        #[test]
        fn form_decoding_is_the_percent_encoding_crates(text in hostile()) {
            let spaced = text.replace('+', " ");
            let expected = percent_decode_str(&spaced).decode_utf8().ok();
            let ours = form_decode(&text);
            prop_assert_eq!(ours.as_deref(), expected.as_deref());
        }

        #[test]
        fn java_order_is_utf16_order(a in hostile(), b in hostile()) {
            prop_assert_eq!(java_string_order(&a, &b), a.encode_utf16().cmp(b.encode_utf16()));
        }
    }

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

    /// An origin that parsers read apart is refused, not compared, whatever the base (a path base
    /// has no origin to compare with, but the token still goes to the URL's host): `\` is a `/`
    /// to the WHATWG parser (so the host is the tenant's) but part of the authority to others
    /// (so the host is `evil.example`), and user info, escapes and spaces are read differently
    /// too.
    #[test]
    fn an_origin_that_parsers_read_apart_is_refused() {
        for url in [
            "https://acme.atlassian.net\\@evil.example/wiki/x",
            "https://acme.atlassian.net\\evil.example/wiki/x",
            "https://user@acme.atlassian.net/wiki/x",
            "https://acme%2eatlassian.net/wiki/x",
            "https://acme.atlassian.net\t/wiki/x",
            "https://acme.atlassian.net\u{3000}/wiki/x",
            "https://acme\u{ff0e}atlassian.net/wiki/x",
            "https://acme.atlassian.net;evil.example/wiki/x",
            "https:///wiki/x",
        ] {
            let target = RequestTarget::split(url);
            for base in ["", "/wiki", "https://acme.atlassian.net/wiki"] {
                assert!(
                    matches!(relative_path(&target, base), Err(QshError::InvalidUrl(_))),
                    "{url} under {base:?}"
                );
            }
        }
        for (url, base, relative) in [
            (
                "https://ACME.atlassian.net:443/wiki/x",
                "https://acme.atlassian.net/wiki",
                "/x",
            ),
            ("http://[::1]:8080/x?a=1", "http://[::1]:8080", "/x"),
            (
                "https://xn--bcher-kva.example/x",
                "https://xn--bcher-kva.example/",
                "/x",
            ),
            (
                "http://dev_box.internal:8080/x",
                "http://dev_box.internal:8080",
                "/x",
            ),
            ("https://acme.atlassian.net/wiki/x", "", "/wiki/x"),
            ("https://acme.atlassian.net/wiki/x", "/wiki", "/x"),
        ] {
            let target = RequestTarget::split(url);
            assert_eq!(relative_path(&target, base).expect(url), relative, "{url}");
        }
    }

    /// A URL with a scheme but no `//` is what every URL parser reads as absolute: refused, so
    /// that no token is bound to it as a path and sent to its host.
    #[test]
    fn a_url_with_a_scheme_but_no_slashes_is_refused() {
        for url in [
            "https:evil.example/x",
            "https:/evil.example/x",
            "HTTP:evil.example",
            "git+ssh:evil.example/x",
        ] {
            for base in ["", "/wiki", "https://acme.atlassian.net"] {
                assert!(
                    matches!(
                        relative_path(&RequestTarget::split(url), base),
                        Err(QshError::InvalidUrl(_))
                    ),
                    "{url} under {base:?}"
                );
            }
        }
        for (path, relative) in [("/x:y", "/x:y"), ("a/b:c", "a/b:c"), ("1a:b", "1a:b"), ("", "")] {
            assert_eq!(
                relative_path(&RequestTarget::split(path), "").expect(path),
                relative
            );
        }
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
            canonical_query("v=%EF%BC%81&v=%F0%9F%98%80").as_deref(),
            Some("v=%F0%9F%98%80,%EF%BC%81")
        );
    }

    #[test]
    fn jwt_is_dropped_even_when_encoded() {
        assert_eq!(canonical_query("j%77t=x&a=1").as_deref(), Some("a=1"));
    }

    #[test]
    fn bad_escapes_are_kept() {
        assert_eq!(
            canonical_query("b=%zz&c=%4&d=%EF%BF%BD").as_deref(),
            Some("b=%25zz&c=%254&d=%EF%BF%BD")
        );
    }

    #[test]
    fn a_network_path_reference_is_not_signed() {
        for url in [
            "//evil.example/x",
            "//evil.example",
            "//evil.example/x?a=1",
            "/\\evil.example/x",
            "\\\\evil.example/x",
            "/\t/evil.example/x",
            "/\n/evil.example/x",
            " //evil.example/x",
            "/a\\b",
        ] {
            assert!(
                matches!(
                    canonical_request("GET", url, "https://acme.atlassian.net"),
                    Err(QshError::InvalidUrl(_))
                ),
                "{url}"
            );
            assert!(
                matches!(qsh("GET", url, ""), Err(QshError::InvalidUrl(_))),
                "{url}"
            );
        }
        // Inbound, `//x` is a request target like any other.
        let claimed = qsh(
            "GET",
            "https://acme.atlassian.net//x",
            "https://acme.atlassian.net",
        )
        .expect("absolute");
        assert_eq!(qsh_matches_request(&claimed, "GET", "//x", ""), Ok(true));
    }

    /// `%FF`, `%FE` and `%C0` are three requests; read as U+FFFD they would share one `qsh`.
    #[test]
    fn a_query_that_does_not_decode_to_utf8_has_no_canonical_form() {
        for query in ["a=%FF", "a=%FE", "a=%C0", "%FF=1", "a=1&b=%ED%A0%80"] {
            assert_eq!(canonical_query(query), None, "{query}");
            assert!(
                matches!(
                    qsh("GET", &format!("/x?{query}"), ""),
                    Err(QshError::InvalidUrl(_))
                ),
                "{query}"
            );
        }
        // A `jwt` parameter's value is not part of the canonical query.
        assert_eq!(canonical_query("jwt=%FF&a=1").as_deref(), Some("a=1"));
    }

    #[test]
    fn decoded_variant_only_when_the_path_has_escapes() {
        let inbound = |url| inbound_canonical_requests("GET", RequestTarget::split(url), "");
        let (raw, decoded) = inbound("/a%20b/c%26d").expect("valid");
        assert_eq!(raw, "GET&/a%20b/c%26d&");
        assert_eq!(decoded.as_deref(), Some("GET&/a b/c%26d&"));
        let (_, decoded) = inbound("/plain").expect("valid");
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
        // A `%` that starts no escape gives no decoded form, wherever it is.
        for lone in ["/a%2/b", "/b%zz", "/c%", "/a%%32%46b", "/%%41"] {
            assert_eq!(decoded(lone), None, "{lone}");
        }
        // Invalid UTF-8 gives no decoded form rather than U+FFFD for several byte strings.
        assert_eq!(decoded("/%FF"), None);
        assert_eq!(decoded("/%C3"), None);
    }

    /// A `%` that starts no escape cannot make one out of the escapes after it: `%%32%46` is not
    /// `%2F` (nor `%%32%30` `%20`, nor `%%32%65` `%2e`), so a token for the one path never admits
    /// the other, which a router decodes to another resource.
    #[test]
    fn a_lone_percent_does_not_make_an_escape_of_the_escapes_after_it() {
        for (signed, sent) in [
            ("/a%2Fb", "/a%%32%46b"),
            ("/a%20b", "/a%%32%30b"),
            ("/x/%2e%2e/admin", "/x/%%32%65%%32%65/admin"),
        ] {
            let claimed = qsh("GET", signed, "").expect("valid");
            assert!(
                !qsh_matches_request(&claimed, "GET", sent, "").expect("valid"),
                "{sent}"
            );
            // Only the raw form can match a path with a lone `%`.
            let raw = qsh("GET", sent, "").expect("valid");
            assert!(
                qsh_matches_request(&raw, "GET", sent, "").expect("valid"),
                "{sent}"
            );
        }
    }

    #[cfg(feature = "auth")]
    #[test]
    fn aws_lc_sha256_is_the_sha2_crates() {
        use sha2::Digest as _;
        // Every length across the one- and two-block boundaries (55, 56, 64, 119, 120, 128).
        for len in 0..300usize {
            let bytes: Vec<u8> = (0..len)
                .map(|i| u8::try_from((i * 31 + len) % 251).unwrap_or(0))
                .collect();
            let expected: [u8; 32] = sha2::Sha256::digest(&bytes).into();
            assert_eq!(sha256(&bytes), expected, "len {len}");
        }
    }

    #[test]
    fn qsh_is_lowercase_hex_sha256() {
        assert_eq!(
            qsh_of_canonical("GET&/&"),
            "c88caad15a1c1a900b8ac08aa9686f4e8184539bea1deda36e2f649430df3239"
        );
    }
}
