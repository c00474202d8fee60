//! Just enough DER reading to tell which kind of key a PKCS#8 or SubjectPublicKeyInfo document
//! holds, so that the right parser is chosen by the key's own algorithm identifier; and the
//! object identifiers of the supported key algorithms, defined here once for the workspace.

use crate::algorithm::KeyKind;

/// The object identifiers of the key algorithms and curves this workspace supports, the one
/// place they are defined: this crate reads them to tell keys apart, and `asap-keys` writes
/// them into the DER documents it builds from OpenSSH keys.
///
/// ```
/// assert_eq!(asap_core::oid::P256.to_string(), "1.2.840.10045.3.1.7");
/// ```
pub mod oid {
    pub use const_oid::ObjectIdentifier;

    use crate::algorithm::KeyKind;

    /// `rsaEncryption` (RFC 8017 Appendix A.1): an RSA key, parameters NULL.
    pub const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
    /// `id-ecPublicKey` (RFC 5480 §2.1.1): an elliptic-curve key, the curve as parameter.
    pub const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
    /// `secp256r1` (RFC 5480 §2.1.1.1), NIST P-256.
    pub const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
    /// `secp384r1` (RFC 5480 §2.1.1.1), NIST P-384.
    pub const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
    /// `secp521r1` (RFC 5480 §2.1.1.1), NIST P-521.
    pub const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
    /// `id-Ed25519` (RFC 8410 §3): an Ed25519 key, no parameters.
    pub const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

    /// The named curve of an elliptic-curve key kind (the parameter of [`EC_PUBLIC_KEY`]);
    /// `None` for RSA and Ed25519, which name no curve.
    pub const fn named_curve(kind: KeyKind) -> Option<ObjectIdentifier> {
        match kind {
            KeyKind::P256 => Some(P256),
            KeyKind::P384 => Some(P384),
            KeyKind::P521 => Some(P521),
            KeyKind::Rsa | KeyKind::Ed25519 => None,
        }
    }
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;
const OCTET_STRING: u8 = 0x04;
const BIT_STRING: u8 = 0x03;

/// Reads one TLV; returns (tag, contents, rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn expect(input: &[u8], want: u8) -> Option<(&[u8], &[u8])> {
    let (tag, body, rest) = tlv(input)?;
    (tag == want).then_some((body, rest))
}

/// The key kind named by an AlgorithmIdentifier's contents, `Err(oid)` when unsupported.
fn kind_of_algorithm(alg_id: &[u8]) -> Result<KeyKind, String> {
    let (algorithm, params) = expect(alg_id, OID).ok_or_else(|| "no algorithm identifier".to_owned())?;
    if algorithm == oid::RSA_ENCRYPTION.as_bytes() {
        return Ok(KeyKind::Rsa);
    }
    if algorithm == oid::ED25519.as_bytes() {
        return Ok(KeyKind::Ed25519);
    }
    if algorithm == oid::EC_PUBLIC_KEY.as_bytes() {
        let curve = expect(params, OID).map(|(c, _)| c);
        return [KeyKind::P256, KeyKind::P384, KeyKind::P521]
            .into_iter()
            .find(|kind| curve.is_some_and(|c| oid::named_curve(*kind).is_some_and(|o| o.as_bytes() == c)))
            .ok_or_else(|| "an EC key on an unsupported curve".to_owned());
    }
    Err(format!(
        "unsupported key algorithm (OID bytes {})",
        hex_of(algorithm)
    ))
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key kind of a PKCS#8 `PrivateKeyInfo`.
pub(crate) fn pkcs8_kind(der: &[u8]) -> Result<KeyKind, String> {
    let (body, _) = expect(der, SEQUENCE).ok_or("not a DER sequence")?;
    let (_version, rest) = expect(body, INTEGER).ok_or("no PKCS#8 version")?;
    let (alg_id, _) = expect(rest, SEQUENCE).ok_or("no PKCS#8 algorithm identifier")?;
    kind_of_algorithm(alg_id)
}

/// The key kind of a `SubjectPublicKeyInfo`.
pub(crate) fn spki_kind(der: &[u8]) -> Result<KeyKind, String> {
    let (body, _) = expect(der, SEQUENCE).ok_or("not a DER sequence")?;
    let (alg_id, _) = expect(body, SEQUENCE).ok_or("no SubjectPublicKeyInfo algorithm identifier")?;
    kind_of_algorithm(alg_id)
}

/// The modulus length in bits of an RSA private key in PKCS#8 (`pkcs8`) or PKCS#1 form, to say
/// how small a refused key was.
pub(crate) fn rsa_private_modulus_bits(der: &[u8], pkcs8: bool) -> Option<usize> {
    let mut key = der;
    if pkcs8 {
        let (body, _) = expect(der, SEQUENCE)?;
        let (_version, rest) = expect(body, INTEGER)?;
        let (_alg, rest) = expect(rest, SEQUENCE)?;
        key = expect(rest, OCTET_STRING)?.0;
    }
    let (body, _) = expect(key, SEQUENCE)?;
    let (_version, rest) = expect(body, INTEGER)?;
    let (modulus, _) = expect(rest, INTEGER)?;
    integer_bits(modulus)
}

/// The modulus length in bits of an RSA `SubjectPublicKeyInfo`.
pub(crate) fn rsa_public_modulus_bits(spki: &[u8]) -> Option<usize> {
    let (body, _) = expect(spki, SEQUENCE)?;
    let (_alg, rest) = expect(body, SEQUENCE)?;
    let (bits, _) = expect(rest, BIT_STRING)?;
    // A BIT STRING starts with the count of unused bits, zero here.
    let (_unused, key) = bits.split_first()?;
    let (body, _) = expect(key, SEQUENCE)?;
    let (modulus, _) = expect(body, INTEGER)?;
    integer_bits(modulus)
}

fn integer_bits(integer: &[u8]) -> Option<usize> {
    let modulus = integer;
    let significant: &[u8] = match modulus.iter().position(|&b| b != 0) {
        Some(i) => &modulus[i..],
        None => &[],
    };
    let first = significant.first()?;
    Some((significant.len() - 1) * 8 + (8 - first.leading_zeros() as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_encode_to_the_bytes_keys_carry() {
        // The content bytes of each OID as OpenSSL and aws-lc write them into keys.
        for (oid, bytes) in [
            (
                oid::RSA_ENCRYPTION,
                &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01][..],
            ),
            (oid::EC_PUBLIC_KEY, &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]),
            (oid::P256, &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]),
            (oid::P384, &[0x2B, 0x81, 0x04, 0x00, 0x22]),
            (oid::P521, &[0x2B, 0x81, 0x04, 0x00, 0x23]),
            (oid::ED25519, &[0x2B, 0x65, 0x70]),
        ] {
            assert_eq!(oid.as_bytes(), bytes, "{oid}");
        }
    }

    #[test]
    fn truncated_and_garbage_input_is_refused() {
        for input in [
            &[][..],
            &[0x30],
            &[0x30, 0x05, 0x02],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x04, 0x00],
        ] {
            assert!(pkcs8_kind(input).is_err());
            assert!(spki_kind(input).is_err());
        }
    }
}
