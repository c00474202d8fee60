//! OpenSSH private keys (`openssh-key-v1`), so a service can sign with the key it already has.
//!
//! The container is a handful of wire fields; decryption uses `bcrypt-pbkdf` and `ssh-cipher`.

use asap_core::{KeyError, PrivateKey};
use ssh_cipher::Cipher;
use zeroize::Zeroizing;

use super::SshKeyType;
use super::wire::{Reader, WireError};
use crate::error::LoadError;
use crate::formats::der;

const MAGIC: &[u8] = b"openssh-key-v1\0";
/// bcrypt rounds above this are refused: OpenSSH's default is 16 (`ssh-keygen -a 100` is the
/// usual hardening advice), each round costs milliseconds, and a hostile file could otherwise
/// ask for hours of work. (4096 rounds took over 30 s; found by the `private_key` fuzz target.)
const MAX_BCRYPT_ROUNDS: u32 = 512;
/// The longest RSA modulus accepted, in bits; every other component must be no longer than the
/// modulus. Checked before any arithmetic: computing the CRT exponents reduces `d` bit by bit
/// (steps ∝ bits of `d` × limbs of `p`), and unbounded components from a 64 KiB hostile key took
/// seconds.
const MAX_RSA_BITS: usize = 8192;

fn malformed(what: &str) -> LoadError {
    LoadError::Format(format!("malformed OpenSSH private key: {what}"))
}

impl From<WireError> for LoadError {
    fn from(e: WireError) -> Self {
        malformed(&e.to_string())
    }
}

/// Reads an `OPENSSH PRIVATE KEY` PEM document, decrypting it with `passphrase` if it is
/// encrypted.
pub(crate) fn parse_private_key(text: &str, passphrase: Option<&[u8]>) -> Result<PrivateKey, LoadError> {
    let block = pem::parse(text.trim()).map_err(|e| malformed(&e.to_string()))?;
    let data = block.contents();
    let mut r = Reader::new(
        data.strip_prefix(MAGIC)
            .ok_or_else(|| malformed("not openssh-key-v1"))?,
    );
    let cipher_name = r.text("cipher name")?;
    let kdf_name = r.text("KDF name")?;
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
        let mut options = Reader::new(kdf_options);
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
    let mut r = Reader::new(&plain);
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

/// The key fields of the private section (OpenSSH `PROTOCOL.key` §3, after the check
/// integers; the comment and padding that follow are not needed).
fn from_fields(r: &mut Reader<'_>) -> Result<PrivateKey, LoadError> {
    let der_error = |e: pkcs8::der::Error| malformed(&e.to_string());
    let key_type = r.text("key type")?;
    match SshKeyType::from_name(key_type) {
        Some(SshKeyType::Ed25519) => {
            let public = r.ed25519_public()?;
            let pair = r.string()?;
            if pair.len() != 64 || &pair[32..] != public {
                return Err(malformed("Ed25519 key lengths"));
            }
            let seed: Zeroizing<[u8; 32]> =
                Zeroizing::new(pair[..32].try_into().map_err(|_| malformed("Ed25519 seed"))?);
            let key = PrivateKey::from_pkcs8_der(&der::ed25519_pkcs8(&seed).map_err(der_error)?)?;
            // PKCS#8 v1 carries no public key, so check the one OpenSSH stored ourselves.
            if !key.public_key()?.spki_der().ends_with(public) {
                return Err(
                    KeyError::Malformed("Ed25519 public key does not match the private key".into()).into(),
                );
            }
            Ok(key)
        }
        Some(SshKeyType::Ecdsa(curve)) => {
            let point = r.ec_public(curve)?;
            // OpenSSH writes the scalar as a minimal mpint: put back the leading zeros.
            let scalar = r.positive("ECDSA scalar")?;
            if scalar.len() > curve.scalar_len {
                return Err(malformed("ECDSA scalar too long"));
            }
            let mut fixed = Zeroizing::new(vec![0u8; curve.scalar_len]);
            fixed[curve.scalar_len - scalar.len()..].copy_from_slice(scalar);
            let sec1 = der::ec_sec1(curve.kind, &fixed, point).map_err(der_error)?;
            Ok(PrivateKey::from_sec1_der(&sec1)?)
        }
        Some(SshKeyType::Rsa) => {
            let n = r.positive("RSA modulus")?;
            let e = r.positive("RSA exponent")?;
            let d = r.positive("RSA private exponent")?;
            let qinv = r.positive("RSA coefficient")?;
            let p = r.positive("RSA prime")?;
            let q = r.positive("RSA prime")?;
            check_rsa_sizes(
                n,
                &[
                    ("public exponent", e),
                    ("private exponent", d),
                    ("coefficient", qinv),
                    ("prime", p),
                    ("prime", q),
                ],
            )?;
            // OpenSSH does not store the CRT exponents: compute them.
            let dp = Zeroizing::new(modulo(d, &minus_one(p)));
            let dq = Zeroizing::new(modulo(d, &minus_one(q)));
            let parts = der::RsaPrivateParts {
                n,
                e,
                d,
                p,
                q,
                dp: &dp,
                dq: &dq,
                qinv,
            };
            Ok(PrivateKey::from_pkcs1_der(
                &der::rsa_pkcs1(&parts).map_err(der_error)?,
            )?)
        }
        None => Err(LoadError::Format(format!(
            "OpenSSH key type {key_type:?} is not supported (use Ed25519, ECDSA or RSA)"
        ))),
    }
}

/// The length in bits of a big-endian magnitude without leading zero bytes.
fn bit_len(x: &[u8]) -> usize {
    x.first()
        .map_or(0, |top| 8 * x.len() - top.leading_zeros() as usize)
}

/// The modulus at most [`MAX_RSA_BITS`], every other component no longer than the modulus.
fn check_rsa_sizes(n: &[u8], components: &[(&'static str, &[u8])]) -> Result<(), LoadError> {
    let n_bits = bit_len(n);
    if n_bits > MAX_RSA_BITS {
        return Err(LoadError::RsaComponentTooLarge {
            component: "modulus",
            max_bits: MAX_RSA_BITS,
        });
    }
    match components.iter().find(|(_, x)| bit_len(x) > n_bits) {
        Some((component, _)) => Err(LoadError::RsaComponentTooLarge {
            component,
            max_bits: n_bits,
        }),
        None => Ok(()),
    }
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

    /// An unencrypted `openssh-key-v1` RSA key with these components (`n, e, d, iqmp, p, q`).
    fn openssh_rsa(components: [&[u8]; 6]) -> String {
        fn string(out: &mut Vec<u8>, bytes: &[u8]) {
            out.extend_from_slice(&u32::try_from(bytes.len()).expect("len").to_be_bytes());
            out.extend_from_slice(bytes);
        }
        let mut private = Vec::new();
        private.extend_from_slice(&[0, 0, 0, 7, 0, 0, 0, 7]);
        string(&mut private, b"ssh-rsa");
        for magnitude in components {
            // A positive mpint: a leading zero byte when the top bit is set.
            let mut mpint = vec![0];
            mpint.extend_from_slice(magnitude);
            string(&mut private, &mpint);
        }
        string(&mut private, b"comment");
        let mut blob = MAGIC.to_vec();
        string(&mut blob, b"none");
        string(&mut blob, b"none");
        string(&mut blob, b"");
        blob.extend_from_slice(&1u32.to_be_bytes());
        string(&mut blob, b"public key (not read)");
        string(&mut blob, &private);
        pem::encode(&pem::Pem::new("OPENSSH PRIVATE KEY", blob))
    }

    #[test]
    fn rsa_components_are_bounded_before_any_arithmetic() {
        let ones = |bytes: usize| vec![0xffu8; bytes];
        let (n, e, small) = (ones(256), [1, 0, 1], ones(128));
        let refused = |components: [&[u8]; 6]| {
            let text = openssh_rsa(components);
            assert!(text.len() <= crate::MAX_KEY_TEXT_BYTES, "within the text cap");
            match crate::parse_private_key(&text, None) {
                Err(LoadError::RsaComponentTooLarge { component, max_bits }) => (component, max_bits),
                other => panic!("expected RsaComponentTooLarge, got {other:?}"),
            }
        };
        // A modulus of 8193 bits.
        let mut big_n = vec![1];
        big_n.extend(ones(1024));
        assert_eq!(
            refused([&big_n, &e, &small, &small, &small, &small]),
            ("modulus", MAX_RSA_BITS)
        );
        // A 2048-bit modulus with a 40 KiB private exponent, prime or coefficient: the
        // hostile key whose d was reduced bit by bit.
        let huge = ones(40 * 1024);
        assert_eq!(
            refused([&n, &e, &huge, &small, &small, &small]),
            ("private exponent", 2048)
        );
        assert_eq!(refused([&n, &e, &small, &small, &huge, &small]), ("prime", 2048));
        assert_eq!(refused([&n, &e, &small, &small, &small, &huge]), ("prime", 2048));
        assert_eq!(
            refused([&n, &e, &small, &huge, &small, &small]),
            ("coefficient", 2048)
        );
        // One bit longer than the modulus is too long; as long is not refused for its size.
        let mut longer = vec![1];
        longer.extend(ones(256));
        assert_eq!(
            refused([&n, &e, &longer, &small, &small, &small]),
            ("private exponent", 2048)
        );
        assert!(!matches!(
            crate::parse_private_key(&openssh_rsa([&n, &e, &n, &small, &small, &small]), None),
            Err(LoadError::RsaComponentTooLarge { .. })
        ));
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_len(&[]), 0);
        assert_eq!(bit_len(&[1]), 1);
        assert_eq!(bit_len(&[0x80, 0]), 16);
        assert_eq!(bit_len(&[0x7f, 0, 0]), 23);
    }

    #[test]
    fn minus_one_borrows() {
        assert_eq!(&*minus_one(&[1, 0, 0]), &[0, 0xff, 0xff]);
        assert_eq!(&*minus_one(&[0, 5]), &[0, 4]);
    }
}
