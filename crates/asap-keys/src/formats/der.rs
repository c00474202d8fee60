//! The one DER writer of the workspace: the standard documents aws-lc-rs loads, built from the
//! raw key components that other formats (OpenSSH) carry.
//!
//! The encoding is the RustCrypto `der`, `spki` and `pkcs8` crates' (in the tree already for
//! encrypted PKCS#8): `PrivateKeyInfo` and `SubjectPublicKeyInfo` come whole from them; the
//! PKCS#1 and SEC1 private keys, which have no crate here, are spelled out field by field from
//! `der` types. The object identifiers are [`asap_core::oid`]'s.

use asap_core::KeyKind;
use asap_core::oid;
use pkcs8::der::asn1::{AnyRef, BitStringRef, ContextSpecificRef, OctetStringRef, UintRef};
use pkcs8::der::{self, Encode, EncodeValue, FixedTag, Length, Tag, TagMode, TagNumber, Writer};
use pkcs8::{AlgorithmIdentifierRef, ObjectIdentifier, PrivateKeyInfo, SubjectPublicKeyInfoRef};
use zeroize::Zeroizing;

/// A DER INTEGER from an unsigned big-endian magnitude: leading zero bytes are dropped, a sign
/// byte is added when the top bit is set, and an empty magnitude is zero (`02 01 00`; `der`
/// alone would write an INTEGER without content, which no reader accepts).
fn uint(magnitude: &[u8]) -> der::Result<UintRef<'_>> {
    UintRef::new(if magnitude.is_empty() { &[0] } else { magnitude })
}

/// The curve of an EC key kind; an error for a kind that names none.
fn named_curve(kind: KeyKind) -> der::Result<ObjectIdentifier> {
    oid::named_curve(kind).ok_or_else(|| {
        der::Error::from(der::ErrorKind::OidUnknown {
            oid: oid::EC_PUBLIC_KEY,
        })
    })
}

fn spki_der(algorithm: AlgorithmIdentifierRef<'_>, key: &[u8]) -> der::Result<Vec<u8>> {
    SubjectPublicKeyInfoRef {
        algorithm,
        subject_public_key: BitStringRef::from_bytes(key)?,
    }
    .to_der()
}

/// `SubjectPublicKeyInfo` of an Ed25519 public key (RFC 8410 §4).
pub(crate) fn ed25519_spki(public: &[u8]) -> der::Result<Vec<u8>> {
    let algorithm = AlgorithmIdentifierRef {
        oid: oid::ED25519,
        parameters: None,
    };
    spki_der(algorithm, public)
}

/// `SubjectPublicKeyInfo` of an EC public key, the point in SEC1 form (RFC 5480 §2).
pub(crate) fn ec_spki(kind: KeyKind, point: &[u8]) -> der::Result<Vec<u8>> {
    let curve = named_curve(kind)?;
    let algorithm = AlgorithmIdentifierRef {
        oid: oid::EC_PUBLIC_KEY,
        parameters: Some(AnyRef::from(&curve)),
    };
    spki_der(algorithm, point)
}

/// `SubjectPublicKeyInfo` of an RSA public key: PKCS#1 `RSAPublicKey { n, e }` (RFC 8017
/// Appendix A.1.1) under `rsaEncryption` with NULL parameters.
pub(crate) fn rsa_spki(n: &[u8], e: &[u8]) -> der::Result<Vec<u8>> {
    let key = [uint(n)?, uint(e)?].to_der()?;
    let algorithm = AlgorithmIdentifierRef {
        oid: oid::RSA_ENCRYPTION,
        parameters: Some(AnyRef::NULL),
    };
    spki_der(algorithm, &key)
}

/// PKCS#8 v1 `PrivateKeyInfo` of an Ed25519 seed (RFC 8410 §7: the key is an OCTET STRING
/// inside the `privateKey` OCTET STRING).
pub(crate) fn ed25519_pkcs8(seed: &[u8; 32]) -> der::Result<Zeroizing<Vec<u8>>> {
    let inner = Zeroizing::new(OctetStringRef::new(seed)?.to_der()?);
    let algorithm = AlgorithmIdentifierRef {
        oid: oid::ED25519,
        parameters: None,
    };
    Ok(Zeroizing::new(PrivateKeyInfo::new(algorithm, &inner).to_der()?))
}

/// SEC1 `ECPrivateKey` (RFC 5915 §3): version 1, the scalar at the curve's width, the curve
/// and the public point.
struct EcPrivateKey<'a> {
    scalar: OctetStringRef<'a>,
    curve: ObjectIdentifier,
    point: BitStringRef<'a>,
}

impl EcPrivateKey<'_> {
    const VERSION: u8 = 1;

    fn curve_field(&self) -> ContextSpecificRef<'_, ObjectIdentifier> {
        ContextSpecificRef {
            tag_number: TagNumber::N0,
            tag_mode: TagMode::Explicit,
            value: &self.curve,
        }
    }

    fn point_field(&self) -> ContextSpecificRef<'_, BitStringRef<'_>> {
        ContextSpecificRef {
            tag_number: TagNumber::N1,
            tag_mode: TagMode::Explicit,
            value: &self.point,
        }
    }
}

impl FixedTag for EcPrivateKey<'_> {
    const TAG: Tag = Tag::Sequence;
}

impl EncodeValue for EcPrivateKey<'_> {
    fn value_len(&self) -> der::Result<Length> {
        Self::VERSION.encoded_len()?
            + self.scalar.encoded_len()?
            + self.curve_field().encoded_len()?
            + self.point_field().encoded_len()?
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        Self::VERSION.encode(writer)?;
        self.scalar.encode(writer)?;
        self.curve_field().encode(writer)?;
        self.point_field().encode(writer)
    }
}

/// SEC1 `ECPrivateKey` of an EC key on the curve of `kind`.
pub(crate) fn ec_sec1(kind: KeyKind, scalar: &[u8], point: &[u8]) -> der::Result<Zeroizing<Vec<u8>>> {
    let key = EcPrivateKey {
        scalar: OctetStringRef::new(scalar)?,
        curve: named_curve(kind)?,
        point: BitStringRef::from_bytes(point)?,
    };
    Ok(Zeroizing::new(key.to_der()?))
}

/// The components of an RSA private key, big-endian magnitudes.
pub(crate) struct RsaPrivateParts<'a> {
    pub(crate) n: &'a [u8],
    pub(crate) e: &'a [u8],
    pub(crate) d: &'a [u8],
    pub(crate) p: &'a [u8],
    pub(crate) q: &'a [u8],
    /// `d mod (p - 1)`.
    pub(crate) dp: &'a [u8],
    /// `d mod (q - 1)`.
    pub(crate) dq: &'a [u8],
    /// `q^-1 mod p`.
    pub(crate) qinv: &'a [u8],
}

/// PKCS#1 `RSAPrivateKey` (RFC 8017 Appendix A.1.2), two-prime (version 0): a SEQUENCE of nine
/// INTEGERs, so the same bytes as a SEQUENCE OF INTEGER.
pub(crate) fn rsa_pkcs1(k: &RsaPrivateParts<'_>) -> der::Result<Zeroizing<Vec<u8>>> {
    let fields = [
        uint(&[0])?,
        uint(k.n)?,
        uint(k.e)?,
        uint(k.d)?,
        uint(k.p)?,
        uint(k.q)?,
        uint(k.dp)?,
        uint(k.dq)?,
        uint(k.qinv)?,
    ];
    Ok(Zeroizing::new(fields.to_der()?))
}

#[cfg(test)]
mod tests {
    use asap_core::{KeySpec, PrivateKey, PublicKey};

    use super::*;

    #[test]
    fn integers_are_minimal_and_unsigned_and_empty_is_zero() {
        let der = |m: &[u8]| uint(m).and_then(|u| u.to_der()).expect("encodes");
        assert_eq!(der(&[0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(der(&[0x7f]), [0x02, 0x01, 0x7f]);
        assert_eq!(der(&[0, 0, 1]), [0x02, 0x01, 0x01]);
        assert_eq!(der(&[0, 0]), [0x02, 0x01, 0x00]);
        assert_eq!(der(&[]), [0x02, 0x01, 0x00]);
    }

    #[test]
    fn long_lengths_use_the_long_form() {
        let seed = [7u8; 32];
        let der = ed25519_pkcs8(&seed).expect("encodes");
        assert_eq!(&der[..2], &[0x30, 0x2e], "48-byte PKCS#8, short form");
        let point = [0x04; 1 + 2 * 66];
        let spki = ec_spki(KeyKind::P521, &point).expect("encodes");
        assert_eq!(&spki[..3], &[0x30, 0x81, 0x9b], "158-byte SPKI, long form");
    }

    #[test]
    fn ed25519_seed_round_trips_through_pkcs8() {
        let key = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("generate");
        let der = key.to_pkcs8_der().expect("der");
        // aws-lc writes v1 PKCS#8 for Ed25519: the seed is the last 32 bytes.
        let seed: [u8; 32] = der[der.len() - 32..].try_into().expect("32 bytes");
        let again = PrivateKey::from_pkcs8_der(&ed25519_pkcs8(&seed).expect("der")).expect("parse");
        assert_eq!(again.public_key().expect("pk"), key.public_key().expect("pk"));
    }

    #[test]
    fn spki_written_here_is_the_spki_aws_lc_writes() {
        let ed = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519))
            .and_then(|k| k.public_key())
            .expect("ed25519");
        let raw = &ed.spki_der()[ed.spki_der().len() - 32..];
        assert_eq!(ed25519_spki(raw).expect("der"), ed.spki_der());
        // The uncompressed point ends the SPKI: 1 + 2 * 32, 48 or 66 bytes.
        for (kind, width) in [(KeyKind::P256, 65), (KeyKind::P384, 97), (KeyKind::P521, 133)] {
            let ec = PrivateKey::generate(KeySpec::Curve(kind))
                .and_then(|k| k.public_key())
                .expect("ec");
            let point = &ec.spki_der()[ec.spki_der().len() - width..];
            assert_eq!(ec_spki(kind, point).expect("der"), ec.spki_der(), "{kind:?}");
            PublicKey::from_spki_der(&ec_spki(kind, point).expect("der")).expect("loads");
        }
        assert!(ec_spki(KeyKind::Rsa, &[4]).is_err(), "RSA names no curve");
    }
}
