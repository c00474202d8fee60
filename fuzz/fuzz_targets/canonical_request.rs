//! The Connect canonical request: any method, URL and base URL give a canonical request of the
//! documented shape or an error, never a panic; the `jwt` parameter never reaches the hash.
//!
//! Input: `method \n url \n base_url` (missing parts are empty).

#![no_main]

use connect_qsh::{canonical_request, qsh, qsh_of_canonical};
use libfuzzer_sys::fuzz_target;

fn is_canonical_query_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~%=&,".contains(&b)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\n');
    let method = parts.next().unwrap_or_default();
    let url = parts.next().unwrap_or_default();
    let base_url = parts.next().unwrap_or_default();
    // An HTTP method is a token: it never holds the `&` separator.
    if method.contains('&') {
        return;
    }
    let Ok(canonical) = canonical_request(method, url, base_url) else {
        assert!(qsh(method, url, base_url).is_err());
        return;
    };
    let upper = method.to_ascii_uppercase();
    let rest = canonical
        .strip_prefix(&upper)
        .and_then(|r| r.strip_prefix('&'))
        .unwrap_or_else(|| panic!("{canonical:?} does not start with {upper:?}&"));
    // The path never holds a raw `&`, so the first `&` left ends it.
    let (path, query) = rest
        .split_once('&')
        .unwrap_or_else(|| panic!("{canonical:?} has no query separator"));
    assert!(path.starts_with('/'), "path {path:?}");
    assert!(query.bytes().all(is_canonical_query_byte), "query {query:?}");

    let hash = qsh(method, url, base_url).expect("qsh of a valid request");
    assert_eq!(hash, qsh_of_canonical(&canonical));
    assert!(
        hash.len() == 64
            && hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );

    // The token's own parameter is never part of what it signs.
    if !url.contains('#') {
        let sep = if url.contains('?') { '&' } else { '?' };
        let with_jwt = format!("{url}{sep}jwt=a.b.c");
        assert_eq!(
            canonical_request(method, &with_jwt, base_url).as_deref(),
            Ok(canonical.as_str()),
            "the jwt parameter changed the canonical request of {url:?}"
        );
    }
});
