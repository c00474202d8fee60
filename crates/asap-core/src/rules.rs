//! The ASAP rules, one function each, in the order the verifier applies them. The table in
//! `docs/asap-rules.md` points here; each function's tests sit next to it. The rules every
//! profile shares (framing, claim typing, time, audience) live in `jws.rs`, `claims.rs` and
//! `time.rs`.

use std::collections::HashSet;

use crate::algorithm::Algorithm;
use crate::claims::Claims;
use crate::error::VerifyError;
use crate::jws::JwsHeader;
use crate::kid::KeyId;

/// Transport: whether a URL host names this machine — `localhost` (any case), an IPv4 address in
/// `127.0.0.0/8`, or `::1` (with or without the brackets a URL writes around it). Plain `http`
/// is acceptable only to such a host: a token or a key sent there never crosses a network.
///
/// ```
/// use asap_core::is_loopback_host;
/// assert!(is_loopback_host("127.0.0.1") && is_loopback_host("[::1]") && is_loopback_host("LocalHost"));
/// assert!(!is_loopback_host("10.0.0.1") && !is_loopback_host("localhost.example.com"));
/// ```
pub fn is_loopback_host(host: &str) -> bool {
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || unbracketed
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Transport: exactly one `Authorization` header, `Bearer` (any letter case), exactly one space,
/// then the token. Two headers could be read differently by a proxy and by us, so they are refused.
///
/// ```
/// use asap_core::bearer_token;
/// assert_eq!(bearer_token([&b"bearer abc.def.ghi"[..]]).unwrap(), "abc.def.ghi");
/// assert!(bearer_token([&b"Bearer  abc"[..]]).is_err());
/// assert!(bearer_token([&b"Bearer a"[..], &b"Bearer a"[..]]).is_err());
/// ```
pub fn bearer_token<'a, I>(authorization: I) -> Result<&'a str, VerifyError>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut values = authorization.into_iter();
    let value = values.next().ok_or(VerifyError::MissingToken)?;
    if values.next().is_some() {
        return Err(VerifyError::BadAuthorization(
            "more than one Authorization header",
        ));
    }
    // What nearly every request sends, checked on the bytes in one pass over the token: it
    // accepts exactly what the checks below accept, which name what is wrong otherwise.
    if let Some((b"Bearer" | b"bearer", token)) =
        value.split_at_checked(6).map(|(s, t)| (s, t.strip_prefix(b" ")))
        && let Some(token) = token
        && !token.is_empty()
        && all_graphic(token)
        && let Ok(token) = std::str::from_utf8(token)
    {
        return Ok(token);
    }
    let value = std::str::from_utf8(value).map_err(|_| VerifyError::BadAuthorization("not ASCII"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(VerifyError::BadAuthorization("expected \"Bearer <token>\""))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(VerifyError::BadAuthorization("the scheme must be Bearer"));
    }
    if token.is_empty() || token.starts_with(' ') {
        return Err(VerifyError::BadAuthorization(
            "expected exactly one space, then the token",
        ));
    }
    if !all_graphic(token.as_bytes()) {
        return Err(VerifyError::BadAuthorization(
            "the token must be printable ASCII, without spaces",
        ));
    }
    Ok(token)
}

/// Whether every byte is printable ASCII other than space. Every byte is looked at (no early
/// exit), which lets the compiler check many at a time: about 0.7k instructions instead of
/// 2.8k for a 400-byte token, on every request.
fn all_graphic(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(0u8, |bad, &b| bad | u8::from(b.wrapping_sub(0x21) >= 0x5e))
        == 0
}

/// Header: `alg` names an algorithm ASAP accepts (no `none`, no HMAC; EdDSA only when
/// enabled) and `kid` is present with valid syntax. Checked before any key lookup; the
/// shared framing ([`Jws::parse`](crate::Jws::parse)) has already refused forbidden parameters.
pub(crate) fn check_header(
    header: &JwsHeader,
    eddsa_enabled: bool,
) -> Result<(Algorithm, KeyId), VerifyError> {
    let alg: Algorithm = header.alg().parse()?;
    if alg == Algorithm::EdDSA && !eddsa_enabled {
        return Err(VerifyError::AlgorithmNotEnabled(alg));
    }
    Ok((alg, KeyId::parse(header.require_kid()?)?))
}

/// Issuer allow-list: checked on the unverified `iss` before any key lookup, so a token naming
/// an issuer this service never trusts costs no fetch.
pub(crate) fn check_issuer_allowed(
    issuer: &str,
    allowed: Option<&HashSet<String>>,
) -> Result<(), VerifyError> {
    match allowed {
        Some(set) if !set.contains(issuer) => Err(VerifyError::IssuerNotAllowed(crate::truncate(issuer))),
        _ => Ok(()),
    }
}

/// Subject: unless switched off, `sub` (when present) must equal `iss`; and when an allow-list
/// is set, the effective subject (`sub` or `iss`) must be in it.
pub(crate) fn check_subject(
    claims: &Claims,
    must_match_issuer: bool,
    allowed: Option<&HashSet<String>>,
) -> Result<(), VerifyError> {
    if let Some(sub) = &claims.sub
        && must_match_issuer
        && sub != &claims.iss
    {
        return Err(VerifyError::SubjectMismatch {
            subject: crate::truncate(sub),
            issuer: crate::truncate(&claims.iss),
        });
    }
    match allowed {
        Some(set) if !set.contains(claims.subject()) => {
            Err(VerifyError::SubjectNotAllowed(crate::truncate(claims.subject())))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Value, json};

    use super::*;
    use crate::claims::RegisteredClaims;
    use crate::error::TokenError;
    use crate::jws::Jws;

    #[allow(clippy::needless_pass_by_value)] // callers build the value inline
    fn claims(v: Value) -> Result<Claims, TokenError> {
        Claims::from_registered(RegisteredClaims::decode(v.to_string().as_bytes())?)
    }

    fn header(v: &Value, eddsa: bool) -> Result<(Algorithm, KeyId), VerifyError> {
        let token = format!("{}.e30.AA", URL_SAFE_NO_PAD.encode(v.to_string()));
        check_header(Jws::parse(&token, 999)?.header(), eddsa)
    }

    fn good() -> Value {
        json!({"iss":"a","aud":"b","jti":"j","iat":1000,"exp":1060})
    }

    #[test]
    fn bearer_header_variants() {
        let one = |v: &'static str| bearer_token([v.as_bytes()]);
        assert_eq!(one("Bearer t.o.k").expect("ok"), "t.o.k");
        assert_eq!(one("BEARER t.o.k").expect("ok"), "t.o.k");
        assert_eq!(one("bEaReR t.o.k").expect("ok"), "t.o.k");
        for bad in [
            "Bearer  t.o.k",
            "Bearer",
            "Bearer ",
            "Basic dXNlcjpwYXNz",
            "JWT t.o.k",
            "Bearer t.o.k ",
            " Bearer t.o.k",
            "Bearert.o.k",
            "Bearer\tt.o.k",
            "Bearer t o",
        ] {
            assert!(
                matches!(one(bad), Err(VerifyError::BadAuthorization(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            bearer_token(std::iter::empty()),
            Err(VerifyError::MissingToken)
        ));
        // The message says what is wrong.
        assert!(matches!(one("Bearer  t"), Err(VerifyError::BadAuthorization(m)) if m.contains("one space")));
        assert!(
            matches!(one("Bearer a b"), Err(VerifyError::BadAuthorization(m)) if m.contains("printable ASCII"))
        );
        assert!(matches!(
            bearer_token([&b"Bearer a.b.c"[..], &b"Bearer a.b.c"[..]]),
            Err(VerifyError::BadAuthorization(_))
        ));
        assert!(matches!(
            bearer_token([&[0xff, 0x20, 0x41][..]]),
            Err(VerifyError::BadAuthorization(_))
        ));
    }

    #[test]
    fn header_needs_an_accepted_alg_and_a_kid() {
        for (h, missing) in [
            (json!({"kid":"a/b"}), "alg"),
            (json!({"alg":256,"kid":"a/b"}), "alg"),
            (json!({"alg":"ES256"}), "kid"),
            (json!({"alg":"ES256","kid":7}), "kid"),
        ] {
            assert!(
                matches!(header(&h, false), Err(VerifyError::Token(TokenError::MissingHeader(m))) if m == missing)
            );
        }
        assert!(matches!(
            header(&json!({"alg":"HS256","kid":"a/b"}), false),
            Err(VerifyError::Token(TokenError::Algorithm(
                crate::AlgorithmError::Forbidden(_)
            )))
        ));
        assert!(matches!(
            header(&json!({"alg":"ES256","kid":"a/../b"}), false),
            Err(VerifyError::Kid(_))
        ));
    }

    #[test]
    fn eddsa_needs_enabling() {
        let h = json!({"alg":"EdDSA","kid":"a/b"});
        assert!(matches!(
            header(&h, false),
            Err(VerifyError::AlgorithmNotEnabled(Algorithm::EdDSA))
        ));
        assert!(header(&h, true).is_ok());
    }

    #[test]
    fn subject_must_match_issuer_by_default() {
        let mut v = good();
        v["sub"] = json!("someone-else");
        let c = claims(v).expect("valid");
        assert!(matches!(
            check_subject(&c, true, None),
            Err(VerifyError::SubjectMismatch { .. })
        ));
        assert!(check_subject(&c, false, None).is_ok());
        let allowed: HashSet<String> = ["someone-else".to_owned()].into();
        assert!(check_subject(&c, false, Some(&allowed)).is_ok());
        let other: HashSet<String> = ["x".to_owned()].into();
        assert!(matches!(
            check_subject(&c, false, Some(&other)),
            Err(VerifyError::SubjectNotAllowed(_))
        ));
        // Without `sub`, the effective subject is the issuer.
        let c = claims(good()).expect("valid");
        assert_eq!(c.subject(), "a");
        assert!(check_subject(&c, true, Some(&["a".to_owned()].into())).is_ok());
    }

    #[test]
    fn issuer_allow_list() {
        let allowed: HashSet<String> = ["a".to_owned()].into();
        assert!(check_issuer_allowed("a", Some(&allowed)).is_ok());
        assert!(matches!(
            check_issuer_allowed("b", Some(&allowed)),
            Err(VerifyError::IssuerNotAllowed(_))
        ));
        assert!(check_issuer_allowed("b", None).is_ok());
    }
}
