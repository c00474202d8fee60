//! Private keys as data URIs, `data:application/pkcs8;kid=<url-encoded kid>;base64,<DER>`, the
//! form the ASAP reference implementations read from `ASAP_PRIVATE_KEY`.

use asap_core::{KeyId, PrivateKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use zeroize::Zeroizing;

use crate::error::LoadError;

/// Everything but the RFC 3986 unreserved characters is escaped in the kid parameter (so `/`
/// becomes `%2F`, as the reference implementations write it).
const KID_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Data URIs longer than this are refused before decoding (an RSA 8192 key is ~6.6 KB).
const MAX_DATA_URI: usize = 32 * 1024;

/// Parses a private key data URI into its kid (checked with the core kid rules) and key.
///
/// ```
/// use asap_core::{KeyId, KeyKind, KeySpec, PrivateKey};
/// let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256))?;
/// let uri = asap_keys::to_data_uri(&KeyId::parse("billing/k1")?, &key)?;
/// assert!(uri.starts_with("data:application/pkcs8;kid=billing%2Fk1;base64,"));
/// let (kid, again) = asap_keys::parse_data_uri(&uri)?;
/// assert_eq!(kid.as_str(), "billing/k1");
/// assert_eq!(again.public_key()?, key.public_key()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_data_uri(uri: &str) -> Result<(KeyId, PrivateKey), LoadError> {
    let bad = |reason: &str| LoadError::DataUri(reason.to_owned());
    let uri = uri.trim();
    if uri.len() > MAX_DATA_URI {
        return Err(bad("longer than 32 KiB"));
    }
    let rest = uri
        .get(..5)
        .filter(|s| s.eq_ignore_ascii_case("data:"))
        .map(|_| &uri[5..])
        .ok_or_else(|| bad("does not start with `data:`"))?;
    let (meta, data) = rest
        .split_once(',')
        .ok_or_else(|| bad("no `,` before the data"))?;
    let mut params = meta.split(';');
    let media_type = params.next().unwrap_or_default();
    if !media_type.eq_ignore_ascii_case("application/pkcs8") {
        return Err(bad("the media type must be application/pkcs8"));
    }
    let mut kid = None;
    let mut base64 = false;
    for param in params {
        if param.eq_ignore_ascii_case("base64") {
            base64 = true;
        } else if let Some((name, value)) = param.split_once('=')
            && name.eq_ignore_ascii_case("kid")
        {
            if kid.is_some() {
                return Err(bad("the kid parameter is repeated"));
            }
            let decoded = percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| bad("the kid parameter is not UTF-8"))?;
            kid = Some(KeyId::parse(&decoded)?);
        }
    }
    let kid = kid.ok_or_else(|| bad("no kid parameter"))?;
    if !base64 {
        return Err(bad("the data must be base64 (`;base64,`)"));
    }
    // Environment variables and config files sometimes wrap long values.
    let compact: Zeroizing<String> =
        Zeroizing::new(data.chars().filter(|c| !c.is_ascii_whitespace()).collect());
    let der = Zeroizing::new(
        STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| bad("the data is not valid base64"))?,
    );
    Ok((kid, PrivateKey::from_pkcs8_der(&der)?))
}

/// Writes a private key as a data URI with its kid. The result is a secret: it is the key.
pub fn to_data_uri(kid: &KeyId, key: &PrivateKey) -> Result<String, LoadError> {
    let der = Zeroizing::new(key.to_pkcs8_der()?);
    Ok(format!(
        "data:application/pkcs8;kid={};base64,{}",
        utf8_percent_encode(kid.as_str(), KID_ESCAPE),
        STANDARD.encode(&*der)
    ))
}

#[cfg(test)]
mod tests {
    use asap_core::{KeyKind, KeySpec};

    use super::*;

    fn uri() -> String {
        let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("generate");
        to_data_uri(&KeyId::parse("svc/a+b_c.d-e").expect("kid"), &key).expect("uri")
    }

    #[test]
    fn round_trip_escapes_the_kid() {
        let uri = uri();
        assert!(uri.contains("kid=svc%2Fa%2Bb_c.d-e;"), "{uri}");
        let (kid, _) = parse_data_uri(&uri).expect("parse");
        assert_eq!(kid.as_str(), "svc/a+b_c.d-e");
    }

    #[test]
    fn kid_is_checked_with_the_core_rules() {
        let uri = uri().replace("kid=svc%2Fa%2Bb_c.d-e", "kid=svc%2F..%2Fadmin");
        assert!(matches!(parse_data_uri(&uri), Err(LoadError::Kid(_))));
    }

    #[test]
    fn malformed_uris_are_typed_errors() {
        let good = uri();
        let cases = [
            String::new(),
            "data:".into(),
            good.replace("application/pkcs8", "text/plain"),
            good.replace(";base64", ""),
            good.replace("kid=svc%2Fa%2Bb_c.d-e;", ""),
            good.replace("kid=svc%2Fa%2Bb_c.d-e", "kid=svc%2Fk;kid=svc%2Fk"),
            format!("{good}!!"),
            good.replace("data:", "http:"),
            format!("{good}{}", "A".repeat(40_000)),
        ];
        for case in cases {
            assert!(
                matches!(parse_data_uri(&case), Err(LoadError::DataUri(_))),
                "{case:.80}"
            );
        }
        let truncated = &good[..good.len() - 20];
        assert!(parse_data_uri(truncated).is_err());
    }

    #[test]
    fn whitespace_in_the_data_is_tolerated() {
        let good = uri();
        let (head, data) = good.split_once(',').expect("comma");
        let wrapped = format!("{head},{}\n{}", &data[..20], &data[20..]);
        assert!(parse_data_uri(&wrapped).is_ok());
    }
}
