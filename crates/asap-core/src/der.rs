//! Just enough DER reading to tell which kind of key a PKCS#8 or SubjectPublicKeyInfo document
//! holds, so that the right parser is chosen by the key's own algorithm identifier.

use crate::algorithm::KeyKind;

const RSA_ENCRYPTION: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
const EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
const P256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x22];
const P521: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x23];
const ED25519: &[u8] = &[0x2B, 0x65, 0x70];

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
    let (oid, params) = expect(alg_id, OID).ok_or_else(|| "no algorithm identifier".to_owned())?;
    if oid == RSA_ENCRYPTION {
        return Ok(KeyKind::Rsa);
    }
    if oid == ED25519 {
        return Ok(KeyKind::Ed25519);
    }
    if oid == EC_PUBLIC_KEY {
        let curve = expect(params, OID).map(|(c, _)| c);
        return match curve {
            Some(c) if c == P256 => Ok(KeyKind::P256),
            Some(c) if c == P384 => Ok(KeyKind::P384),
            Some(c) if c == P521 => Ok(KeyKind::P521),
            _ => Err("an EC key on an unsupported curve".to_owned()),
        };
    }
    Err(format!("unsupported key algorithm (OID bytes {})", hex_of(oid)))
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
