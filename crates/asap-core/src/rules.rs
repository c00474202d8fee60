//! The ASAP rules, one function each, in the order the verifier applies them. The table in
//! `docs/asap-rules.md` points here; each function's tests sit next to it.

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::algorithm::Algorithm;
use crate::claims::{Audience, Claims};
use crate::error::VerifyError;
use crate::json::{WalkError, walk_object};
use crate::kid::KeyId;

/// The largest token accepted by default, in bytes (8 KiB).
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Header parameters that would let a token pick its own key or demand extensions we do not
/// implement; their presence alone refuses the token.
pub const FORBIDDEN_HEADERS: [&str; 5] = ["crit", "jku", "x5u", "jwk", "x5c"];

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
    if token.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(VerifyError::BadAuthorization(
            "the token must be printable ASCII, without spaces",
        ));
    }
    Ok(token)
}

/// Size: checked before anything is parsed, so a huge token costs one comparison.
pub(crate) fn check_size(token: &str, max: usize) -> Result<(), VerifyError> {
    if token.len() > max {
        return Err(VerifyError::TooLarge {
            len: token.len(),
            max,
        });
    }
    Ok(())
}

/// The three segments of a compact JWS.
#[derive(Debug)]
pub(crate) struct Segments<'a> {
    pub(crate) header: &'a str,
    pub(crate) claims: &'a str,
    pub(crate) signing_input: &'a str,
    pub(crate) signature: &'a str,
}

/// Framing: exactly three non-empty-header segments separated by `.`.
pub(crate) fn split_segments(token: &str) -> Result<Segments<'_>, VerifyError> {
    let mut dots = token.match_indices('.').map(|(i, _)| i);
    let (Some(first), Some(second), None) = (dots.next(), dots.next(), dots.next()) else {
        return Err(VerifyError::Malformed(
            "a token has exactly three segments separated by '.'",
        ));
    };
    Ok(Segments {
        header: &token[..first],
        claims: &token[first + 1..second],
        signing_input: &token[..second],
        signature: &token[second + 1..],
    })
}

/// Framing: base64url without padding, canonical (no stray trailing bits).
pub(crate) fn decode_segment(segment: &str, what: &'static str) -> Result<Vec<u8>, VerifyError> {
    if segment.is_empty() {
        return Err(VerifyError::Malformed(what));
    }
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| VerifyError::Malformed(what))
}

fn walk_error(what: &'static str) -> impl Fn(WalkError<VerifyError>) -> VerifyError {
    move |e| match e {
        WalkError::NotAnObject => VerifyError::Malformed(what),
        WalkError::Duplicate(key) => VerifyError::DuplicateKey(key),
        WalkError::Field(e) => e,
    }
}

/// The parts of the header the verifier uses.
#[derive(Debug)]
pub(crate) struct Header {
    pub(crate) alg: Algorithm,
    pub(crate) kid: KeyId,
}

/// Header: one JSON object without repeated keys; no `crit`/`jku`/`x5u`/`jwk`/`x5c`; `alg` a
/// string naming an accepted algorithm (EdDSA only when enabled); `kid` a string with valid
/// syntax. Checked before any key lookup.
pub(crate) fn decode_header(json: &[u8], eddsa_enabled: bool) -> Result<Header, VerifyError> {
    let (mut alg, mut kid) = (None, None);
    walk_object(json, |name, value| {
        if let Some(forbidden) = FORBIDDEN_HEADERS.into_iter().find(|h| *h == name) {
            return Err(VerifyError::ForbiddenHeader(forbidden));
        }
        match &*name {
            "alg" => alg = Some(value),
            "kid" => kid = Some(value),
            _ => {}
        }
        Ok(())
    })
    .map_err(walk_error("header is not a JSON object"))?;
    let Some(Value::String(alg)) = alg else {
        return Err(VerifyError::MissingHeader("alg"));
    };
    let alg: Algorithm = alg.parse()?;
    if alg == Algorithm::EdDSA && !eddsa_enabled {
        return Err(VerifyError::AlgorithmNotEnabled(alg));
    }
    let Some(Value::String(kid)) = kid else {
        return Err(VerifyError::MissingHeader("kid"));
    };
    Ok(Header {
        alg,
        kid: KeyId::parse(&kid)?,
    })
}

fn string_claim(claim: &'static str, value: Value) -> Result<String, VerifyError> {
    match value {
        Value::String(s) if !s.is_empty() => Ok(s),
        Value::String(_) => Err(VerifyError::InvalidClaim {
            claim,
            reason: "must not be empty",
        }),
        _ => Err(VerifyError::InvalidClaim {
            claim,
            reason: "must be a string",
        }),
    }
}

fn time_claim(claim: &'static str, value: &Value) -> Result<i64, VerifyError> {
    // `Number::as_i64` is `None` for floats (`1.0`, `1e3`) and for integers beyond i64.
    value
        .as_number()
        .and_then(serde_json::Number::as_i64)
        .ok_or(VerifyError::InvalidClaim {
            claim,
            reason: "must be a JSON integer number of seconds",
        })
}

fn audience_claim(value: Value) -> Result<(Vec<String>, bool), VerifyError> {
    const CLAIM: &str = "aud";
    match value {
        Value::String(s) if !s.is_empty() => Ok((vec![s], false)),
        Value::Array(items) if !items.is_empty() => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) if !s.is_empty() => out.push(s),
                    _ => {
                        return Err(VerifyError::InvalidClaim {
                            claim: CLAIM,
                            reason: "every audience must be a non-empty string",
                        });
                    }
                }
            }
            Ok((out, true))
        }
        _ => Err(VerifyError::InvalidClaim {
            claim: CLAIM,
            reason: "must be a non-empty string or a non-empty array of strings",
        }),
    }
}

/// Required claims: one JSON object without repeated keys (at any depth); `iss`, `aud`, `jti`,
/// `iat`, `exp` present; strings non-empty; times JSON integers; `sub` and `nbf` optional with
/// the same typing. Everything else is an extra claim.
pub(crate) fn required_claims(json: &[u8]) -> Result<Claims, VerifyError> {
    let (mut iss, mut sub, mut aud, mut jti) = (None, None, None, None);
    let (mut iat, mut exp, mut nbf) = (None, None, None);
    let mut extra = Map::new();
    walk_object(json, |name, value| {
        match &*name {
            "iss" => iss = Some(string_claim("iss", value)?),
            "sub" => sub = Some(string_claim("sub", value)?),
            "aud" => aud = Some(audience_claim(value)?),
            "jti" => jti = Some(string_claim("jti", value)?),
            "iat" => iat = Some(time_claim("iat", &value)?),
            "exp" => exp = Some(time_claim("exp", &value)?),
            "nbf" => nbf = Some(time_claim("nbf", &value)?),
            _ => {
                extra.insert(name.into_owned(), value);
            }
        }
        Ok(())
    })
    .map_err(walk_error("claims are not a JSON object"))?;
    let iss = iss.ok_or(VerifyError::MissingClaim("iss"))?;
    let (aud, aud_was_array) = aud.ok_or(VerifyError::MissingClaim("aud"))?;
    let jti = jti.ok_or(VerifyError::MissingClaim("jti"))?;
    let iat = iat.ok_or(VerifyError::MissingClaim("iat"))?;
    let exp = exp.ok_or(VerifyError::MissingClaim("exp"))?;
    Ok(Claims {
        iss,
        sub,
        aud,
        aud_was_array,
        jti,
        iat,
        exp,
        nbf,
        extra,
    })
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

/// Time: `iat <= now + leeway`; `nbf` (default `iat`) `<= now + leeway`; `now <= exp + leeway`
/// (so a token is still good at exactly `exp`); `iat <= exp`; `exp - iat <= max_lifetime`.
pub(crate) fn check_time(
    claims: &Claims,
    now: i64,
    leeway: i64,
    max_lifetime: i64,
) -> Result<(), VerifyError> {
    let latest_start = now.saturating_add(leeway);
    if claims.iat > latest_start {
        return Err(VerifyError::IssuedInFuture { iat: claims.iat, now });
    }
    let nbf = claims.nbf.unwrap_or(claims.iat);
    if nbf > latest_start {
        return Err(VerifyError::NotYetValid { nbf, now });
    }
    if now > claims.exp.saturating_add(leeway) {
        return Err(VerifyError::Expired { exp: claims.exp, now });
    }
    let lifetime = claims.exp.saturating_sub(claims.iat);
    if claims.exp < claims.iat || lifetime > max_lifetime {
        return Err(VerifyError::BadLifetime {
            lifetime,
            max: max_lifetime,
        });
    }
    Ok(())
}

/// Audience: at least one `aud` value exactly equals one of this service's audiences.
pub(crate) fn check_audience(claims: &Claims, audiences: &[Audience]) -> Result<(), VerifyError> {
    let matches = claims
        .aud
        .iter()
        .any(|a| audiences.iter().any(|mine| mine.as_str() == a.as_str()));
    if matches {
        Ok(())
    } else {
        Err(VerifyError::AudienceMismatch)
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
    use super::*;
    use serde_json::json;

    #[allow(clippy::needless_pass_by_value)] // callers build the value inline
    fn claims(v: Value) -> Result<Claims, VerifyError> {
        required_claims(v.to_string().as_bytes())
    }

    fn header(v: &Value, eddsa: bool) -> Result<Header, VerifyError> {
        decode_header(v.to_string().as_bytes(), eddsa)
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
    fn size_limit_is_inclusive() {
        assert!(check_size(&"a".repeat(10), 10).is_ok());
        assert!(matches!(
            check_size(&"a".repeat(11), 10),
            Err(VerifyError::TooLarge { len: 11, max: 10 })
        ));
    }

    #[test]
    fn exactly_three_segments() {
        for bad in ["", "a", "a.b", "a.b.c.d", "....", "a.b.c."] {
            assert!(split_segments(bad).is_err(), "{bad}");
        }
        let s = split_segments("h.c.s").expect("three");
        assert_eq!(
            (s.header, s.claims, s.signing_input, s.signature),
            ("h", "c", "h.c", "s")
        );
    }

    #[test]
    fn base64_must_be_unpadded_url_safe_and_canonical() {
        assert!(decode_segment("e30", "x").is_ok());
        for bad in ["e30=", "e3+", "e3/", "e3 0", "", "e31"] {
            assert!(decode_segment(bad, "x").is_err(), "{bad}");
        }
    }

    #[test]
    fn forbidden_headers_are_refused() {
        for name in FORBIDDEN_HEADERS {
            let mut h = json!({"alg":"ES256","kid":"a/b"});
            h[name] = json!("x");
            assert!(matches!(header(&h, false), Err(VerifyError::ForbiddenHeader(n)) if n == name));
        }
    }

    #[test]
    fn header_needs_string_alg_and_kid() {
        for (h, missing) in [
            (json!({"kid":"a/b"}), "alg"),
            (json!({"alg":256,"kid":"a/b"}), "alg"),
            (json!({"alg":"ES256"}), "kid"),
            (json!({"alg":"ES256","kid":7}), "kid"),
        ] {
            assert!(matches!(header(&h, false), Err(VerifyError::MissingHeader(m)) if m == missing));
        }
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
    fn every_required_claim_is_required() {
        for name in ["iss", "aud", "jti", "iat", "exp"] {
            let mut v = good();
            v.as_object_mut().map(|m| m.remove(name));
            assert!(
                matches!(claims(v), Err(VerifyError::MissingClaim(n)) if n == name),
                "{name}"
            );
        }
        assert!(claims(good()).is_ok());
    }

    #[test]
    fn strings_must_be_non_empty_strings() {
        for name in ["iss", "jti", "sub"] {
            for bad in [json!(""), json!(1), json!(null), json!(["a"])] {
                let mut v = good();
                v[name] = bad.clone();
                assert!(
                    matches!(claims(v), Err(VerifyError::InvalidClaim { claim, .. }) if claim == name),
                    "{name} {bad}"
                );
            }
        }
    }

    #[test]
    fn times_must_be_json_integers() {
        for name in ["iat", "exp", "nbf"] {
            for bad in [
                json!(1000.0),
                json!(1.5),
                json!("1000"),
                json!(null),
                json!(1e3),
                json!(u64::MAX),
            ] {
                let mut v = good();
                v[name] = bad.clone();
                assert!(
                    matches!(claims(v), Err(VerifyError::InvalidClaim { claim, .. }) if claim == name),
                    "{name} {bad}"
                );
            }
        }
    }

    #[test]
    fn audience_is_string_or_non_empty_array_of_strings() {
        for bad in [
            json!([]),
            json!(""),
            json!([""]),
            json!(["a", 1]),
            json!(1),
            json!({"a":1}),
        ] {
            let mut v = good();
            v["aud"] = bad.clone();
            assert!(
                matches!(claims(v), Err(VerifyError::InvalidClaim { claim: "aud", .. })),
                "{bad}"
            );
        }
        let mut v = good();
        v["aud"] = json!(["x", "b"]);
        let c = claims(v).expect("array aud");
        assert_eq!(c.audiences(), ["x", "b"]);
        assert!(check_audience(&c, &[Audience::new("b").expect("aud")]).is_ok());
        assert!(check_audience(&c, &[Audience::new("B").expect("aud")]).is_err());
        assert!(check_audience(&c, &[Audience::new("bb").expect("aud")]).is_err());
    }

    #[test]
    fn extra_claims_are_kept() {
        let mut v = good();
        v["scope"] = json!("read write");
        let c = claims(v).expect("valid");
        assert_eq!(c.get("scope"), Some(&json!("read write")));
        assert_eq!(c.extra().len(), 1);
    }

    fn timed(iat: i64, exp: i64, nbf: Option<i64>) -> Claims {
        let mut v = json!({"iss":"a","aud":"b","jti":"j","iat":iat,"exp":exp});
        if let Some(nbf) = nbf {
            v["nbf"] = json!(nbf);
        }
        claims(v).expect("valid")
    }

    #[test]
    fn exp_is_inclusive_and_leeway_extends_it() {
        let c = timed(1000, 1060, None);
        assert!(check_time(&c, 1060, 0, 3600).is_ok());
        assert!(matches!(
            check_time(&c, 1061, 0, 3600),
            Err(VerifyError::Expired { .. })
        ));
        assert!(check_time(&c, 1090, 30, 3600).is_ok());
        assert!(matches!(
            check_time(&c, 1091, 30, 3600),
            Err(VerifyError::Expired { .. })
        ));
    }

    #[test]
    fn iat_in_the_future_is_refused_beyond_leeway() {
        let c = timed(1030, 1090, None);
        assert!(check_time(&c, 1000, 30, 3600).is_ok());
        assert!(matches!(
            check_time(&c, 999, 30, 3600),
            Err(VerifyError::IssuedInFuture { .. })
        ));
        assert!(matches!(
            check_time(&c, 1029, 0, 3600),
            Err(VerifyError::IssuedInFuture { .. })
        ));
    }

    #[test]
    fn nbf_defaults_to_iat_and_is_checked_with_leeway() {
        let c = timed(1000, 1060, Some(1040));
        assert!(matches!(
            check_time(&c, 1009, 30, 3600),
            Err(VerifyError::NotYetValid { nbf: 1040, .. })
        ));
        assert!(check_time(&c, 1010, 30, 3600).is_ok());
    }

    #[test]
    fn lifetime_bounds() {
        assert!(check_time(&timed(1000, 4600, None), 1000, 0, 3600).is_ok());
        assert!(matches!(
            check_time(&timed(1000, 4601, None), 1000, 0, 3600),
            Err(VerifyError::BadLifetime { lifetime: 3601, .. })
        ));
        assert!(matches!(
            check_time(&timed(1000, 999, None), 1000, 10, 3600),
            Err(VerifyError::BadLifetime { .. })
        ));
        assert!(matches!(
            check_time(&timed(1000, 1301, None), 1000, 0, 300),
            Err(VerifyError::BadLifetime { .. })
        ));
        // Extreme values neither overflow nor pass.
        assert!(check_time(&timed(i64::MIN, i64::MAX, None), 0, 30, 3600).is_err());
        assert!(check_time(&timed(0, i64::MAX, None), i64::MAX, i64::MAX, 3600).is_err());
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
