//! OpenSSH private keys (`-----BEGIN OPENSSH PRIVATE KEY-----`, the `openssh-key-v1` format of
//! OpenSSH's `PROTOCOL.key`), so a service can sign with the key it already has.
//!
//! The container is read here (it is a handful of length-prefixed fields); decryption uses
//! `bcrypt-pbkdf` and `ssh-cipher`; the raw key components are re-encoded as DER and loaded by
//! aws-lc-rs, the one crypto stack of this workspace.

use asap_core::{KeyError, PrivateKey};
use ssh_cipher::Cipher;
use zeroize::Zeroizing;

use crate::error::LoadError;

const MAGIC: &[u8] = b"openssh-key-v1\0";
/// bcrypt rounds above this are refused: OpenSSH's default is 16 (`ssh-keygen -a 100` is the
/// usual hardening advice), each round costs milliseconds, and a hostile file could otherwise
/// ask for hours of work. (4096 rounds took over 30 s; found by the `private_key` fuzz target.)
const MAX_BCRYPT_ROUNDS: u32 = 512;

fn malformed(what: &str) -> LoadError {
    LoadError::Format(format!("malformed OpenSSH private key: {what}"))
}

/// A reader of SSH wire encoding (RFC 4251): big-endian `uint32` and length-prefixed strings.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], LoadError> {
        if n > self.0.len() {
            return Err(malformed("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, LoadError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> Result<&'a [u8], LoadError> {
        let len = self.u32()? as usize;
        self.bytes(len)
    }

    fn text(&mut self) -> Result<&'a str, LoadError> {
        std::str::from_utf8(self.string()?).map_err(|_| malformed("a name is not UTF-8"))
    }

    /// An `mpint` that must be positive, without its sign byte.
    fn positive(&mut self) -> Result<&'a [u8], LoadError> {
        let raw = self.string()?;
        if raw.first().is_some_and(|b| b & 0x80 != 0) {
            return Err(malformed("negative integer"));
        }
        let start = raw.iter().take_while(|b| **b == 0).count();
        Ok(&raw[start..])
    }
}

pub(crate) fn parse(text: &str, passphrase: Option<&[u8]>) -> Result<PrivateKey, LoadError> {
    let block = pem::parse(text.trim()).map_err(|e| malformed(&e.to_string()))?;
    let data = block.contents();
    let mut r = Reader(
        data.strip_prefix(MAGIC)
            .ok_or_else(|| malformed("not openssh-key-v1"))?,
    );
    let cipher_name = r.text()?;
    let kdf_name = r.text()?;
    let kdf_options = r.string()?;
    if r.u32()? != 1 {
        return Err(LoadError::Format(
            "an OpenSSH file with several keys is not supported".into(),
        ));
    }
    let _public = r.string()?;
    let sealed = r.string()?;
    let cipher = Cipher::new(cipher_name)
        .map_err(|_| LoadError::UnsupportedEncryption(format!("OpenSSH cipher {cipher_name:?}")))?;
    let mut plain = Zeroizing::new(sealed.to_vec());
    if cipher.is_some() {
        let tag = if cipher.has_tag() {
            let tag: [u8; 16] = r.bytes(16)?.try_into().map_err(|_| malformed("tag"))?;
            Some(tag)
        } else {
            None
        };
        if kdf_name != "bcrypt" {
            return Err(LoadError::UnsupportedEncryption(format!(
                "OpenSSH KDF {kdf_name:?}"
            )));
        }
        let passphrase = passphrase.ok_or(LoadError::PassphraseRequired)?;
        let mut options = Reader(kdf_options);
        let salt = options.string()?;
        let rounds = options.u32()?;
        if rounds == 0 || rounds > MAX_BCRYPT_ROUNDS {
            return Err(malformed("bcrypt rounds out of range"));
        }
        let (key_len, iv_len) = cipher
            .key_and_iv_size()
            .ok_or_else(|| LoadError::UnsupportedEncryption(cipher_name.to_owned()))?;
        let mut key_iv = Zeroizing::new(vec![0u8; key_len + iv_len]);
        bcrypt_pbkdf::bcrypt_pbkdf(passphrase, salt, rounds, &mut key_iv)
            .map_err(|_| malformed("bcrypt parameters"))?;
        let (key, iv) = key_iv.split_at(key_len);
        if plain.len() % cipher.block_size() != 0 {
            return Err(malformed("the encrypted section is not whole blocks"));
        }
        // An authenticated cipher fails here on a wrong passphrase.
        cipher
            .decrypt(key, iv, &mut plain, tag)
            .map_err(|_| LoadError::WrongPassphrase)?;
    } else if kdf_name != "none" {
        return Err(malformed("a KDF without a cipher"));
    }
    let mut r = Reader(&plain);
    // Two equal random numbers: OpenSSH's only check that the passphrase was right.
    let (check1, check2) = (r.u32()?, r.u32()?);
    if check1 != check2 {
        return Err(if cipher.is_some() {
            LoadError::WrongPassphrase
        } else {
            malformed("check integers differ")
        });
    }
    from_fields(&mut r)
}

fn from_fields(r: &mut Reader<'_>) -> Result<PrivateKey, LoadError> {
    let key_type = r.text()?;
    match key_type {
        "ssh-ed25519" => {
            let public = r.string()?;
            let pair = r.string()?;
            if public.len() != 32 || pair.len() != 64 || &pair[32..] != public {
                return Err(malformed("Ed25519 key lengths"));
            }
            let seed: Zeroizing<[u8; 32]> =
                Zeroizing::new(pair[..32].try_into().map_err(|_| malformed("Ed25519 seed"))?);
            let key = PrivateKey::from_pkcs8_der(&ed25519_pkcs8(&seed))?;
            // PKCS#8 v1 carries no public key, so check the one OpenSSH stored ourselves.
            if !key.public_key()?.spki_der().ends_with(public) {
                return Err(
                    KeyError::Malformed("Ed25519 public key does not match the private key".into()).into(),
                );
            }
            Ok(key)
        }
        "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" => {
            let (oid, size): (&[u8], usize) = match (key_type, r.text()?) {
                ("ecdsa-sha2-nistp256", "nistp256") => {
                    (&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07], 32)
                }
                ("ecdsa-sha2-nistp384", "nistp384") => (&[0x2b, 0x81, 0x04, 0x00, 0x22], 48),
                ("ecdsa-sha2-nistp521", "nistp521") => (&[0x2b, 0x81, 0x04, 0x00, 0x23], 66),
                _ => return Err(malformed("curve name does not match the key type")),
            };
            let point = r.string()?;
            // OpenSSH writes the scalar as a minimal mpint: put back the leading zeros.
            let scalar = r.positive()?;
            if scalar.len() > size {
                return Err(malformed("ECDSA scalar too long"));
            }
            let mut fixed = Zeroizing::new(vec![0u8; size]);
            fixed[size - scalar.len()..].copy_from_slice(scalar);
            Ok(PrivateKey::from_sec1_der(&sec1_der(&fixed, oid, point))?)
        }
        "ssh-rsa" => {
            let n = r.positive()?;
            let e = r.positive()?;
            let d = r.positive()?;
            let iqmp = r.positive()?;
            let p = r.positive()?;
            let q = r.positive()?;
            if p.is_empty() || q.is_empty() {
                return Err(malformed("RSA prime is zero"));
            }
            Ok(PrivateKey::from_pkcs1_der(&pkcs1_der(n, e, d, p, q, iqmp))?)
        }
        other => Err(LoadError::Format(format!(
            "OpenSSH key type {other:?} is not supported (use Ed25519, ECDSA or RSA)"
        ))),
    }
}

// A few lines of DER writing, enough for three fixed structures.

fn der_len(len: usize, out: &mut Vec<u8>) {
    match u8::try_from(len) {
        Ok(short) if short < 0x80 => out.push(short),
        _ => {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            let count = u8::try_from(bytes.len() - skip).unwrap_or(0);
            out.push(0x80 | count);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
}

fn tlv(tag: u8, content: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(content.len() + 6));
    out.push(tag);
    der_len(content.len(), &mut out);
    out.extend_from_slice(content);
    out
}

/// A DER INTEGER from an unsigned big-endian magnitude.
fn uint(magnitude: &[u8]) -> Zeroizing<Vec<u8>> {
    let start = magnitude.iter().take_while(|b| **b == 0).count();
    let digits = &magnitude[start..];
    let mut content = Zeroizing::new(Vec::with_capacity(digits.len() + 1));
    if digits.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(digits);
    tlv(0x02, &content)
}

fn sequence(parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let body: Zeroizing<Vec<u8>> = Zeroizing::new(parts.concat());
    tlv(0x30, &body)
}

/// PKCS#8 v1 `PrivateKeyInfo` for an Ed25519 seed (RFC 8410).
fn ed25519_pkcs8(seed: &[u8; 32]) -> Zeroizing<Vec<u8>> {
    let algorithm = sequence(&[&[0x06, 0x03, 0x2b, 0x65, 0x70]]);
    let inner = tlv(0x04, seed);
    sequence(&[&uint(&[0]), &algorithm, &tlv(0x04, &inner)])
}

/// SEC1 `ECPrivateKey` (RFC 5915) with the curve and the public point.
fn sec1_der(scalar: &[u8], curve_oid: &[u8], point: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut bits = Vec::with_capacity(point.len() + 1);
    bits.push(0);
    bits.extend_from_slice(point);
    sequence(&[
        &uint(&[1]),
        &tlv(0x04, scalar),
        &tlv(0xa0, &tlv(0x06, curve_oid)),
        &tlv(0xa1, &tlv(0x03, &bits)),
    ])
}

/// PKCS#1 `RSAPrivateKey`; OpenSSH does not store the CRT exponents, so they are computed.
fn pkcs1_der(n: &[u8], e: &[u8], d: &[u8], p: &[u8], q: &[u8], iqmp: &[u8]) -> Zeroizing<Vec<u8>> {
    let dp = Zeroizing::new(modulo(d, &minus_one(p)));
    let dq = Zeroizing::new(modulo(d, &minus_one(q)));
    sequence(&[
        &uint(&[0]),
        &uint(n),
        &uint(e),
        &uint(d),
        &uint(p),
        &uint(q),
        &uint(&dp),
        &uint(&dq),
        &uint(iqmp),
    ])
}

/// `x - 1` for a big-endian `x > 0`.
fn minus_one(x: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(x.to_vec());
    for byte in out.iter_mut().rev() {
        let (v, borrow) = byte.overflowing_sub(1);
        *byte = v;
        if !borrow {
            break;
        }
    }
    out
}

/// `a mod m` for big-endian magnitudes, by shift-and-subtract: a few thousand steps for RSA
/// sizes, run once per key load, so no bignum dependency is needed.
fn modulo(a: &[u8], m: &[u8]) -> Vec<u8> {
    // Little-endian 32-bit limbs.
    fn limbs(x: &[u8]) -> Vec<u32> {
        x.rchunks(4)
            .map(|c| c.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
            .collect()
    }
    fn geq(r: &[u32], m: &[u32]) -> bool {
        for (a, b) in r.iter().rev().zip(m.iter().rev()) {
            if a != b {
                return a > b;
            }
        }
        true
    }
    let mut m = limbs(m);
    m.push(0);
    let mut r = Zeroizing::new(vec![0u32; m.len()]);
    if m.iter().all(|l| *l == 0) {
        return Vec::new();
    }
    for byte in a {
        for bit in (0..8).rev() {
            let mut carry = u32::from((byte >> bit) & 1);
            for limb in r.iter_mut() {
                let next = *limb >> 31;
                *limb = (*limb << 1) | carry;
                carry = next;
            }
            if geq(&r, &m) {
                let mut borrow = 0u64;
                for (limb, sub) in r.iter_mut().zip(&m) {
                    let v = u64::from(*limb)
                        .wrapping_sub(u64::from(*sub))
                        .wrapping_sub(borrow);
                    #[allow(clippy::cast_possible_truncation)] // the low 32 bits are the limb
                    let low = v as u32;
                    *limb = low;
                    borrow = (v >> 63) & 1;
                }
            }
        }
    }
    r.iter().rev().flat_map(|l| l.to_be_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(x: u64) -> Vec<u8> {
        x.to_be_bytes().to_vec()
    }

    fn value(x: &[u8]) -> u128 {
        x.iter().fold(0u128, |acc, b| (acc << 8) | u128::from(*b))
    }

    #[test]
    fn modulo_matches_machine_arithmetic() {
        for (a, m) in [
            (0u64, 7u64),
            (6, 7),
            (7, 7),
            (u64::MAX, 3),
            (u64::MAX, 0xffff_fffb),
            (12345678901234, 97),
        ] {
            assert_eq!(
                value(&modulo(&small(a), &small(m))),
                u128::from(a % m),
                "{a} mod {m}"
            );
        }
        let a = u128::MAX - 12345;
        let m = 0x1_0000_0001_u128 * 0xfff1;
        let got = modulo(&a.to_be_bytes(), &m.to_be_bytes()[8..]);
        assert_eq!(value(&got), a % m);
    }

    #[test]
    fn minus_one_borrows() {
        assert_eq!(&*minus_one(&[1, 0, 0]), &[0, 0xff, 0xff]);
        assert_eq!(&*minus_one(&[0, 5]), &[0, 4]);
    }

    #[test]
    fn der_lengths_and_integers() {
        assert_eq!(&*uint(&[0x80]), &[0x02, 0x02, 0x00, 0x80]);
        assert_eq!(&*uint(&[0, 0, 1]), &[0x02, 0x01, 0x01]);
        assert_eq!(&*uint(&[]), &[0x02, 0x01, 0x00]);
        let long = tlv(0x04, &[0u8; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn ed25519_seed_round_trips_through_pkcs8() {
        let key =
            PrivateKey::generate(asap_core::KeySpec::Curve(asap_core::KeyKind::Ed25519)).expect("generate");
        let der = key.to_pkcs8_der().expect("der");
        // aws-lc writes v1 PKCS#8 for Ed25519: the seed is the last 32 bytes.
        let seed: [u8; 32] = der[der.len() - 32..].try_into().expect("32 bytes");
        let again = PrivateKey::from_pkcs8_der(&ed25519_pkcs8(&seed)).expect("parse");
        assert_eq!(again.public_key().expect("pk"), key.public_key().expect("pk"));
    }
}
