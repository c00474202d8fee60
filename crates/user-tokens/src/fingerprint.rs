//! The key fingerprint that names a user's key in the `kid` header.

use std::fmt;

use asap_core::PublicKey;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The fingerprint of a public key, as asymmetric-jwt-auth computes it and sends it as the
/// token's `kid`: the lowercase hex SHA-256 of the key's `SubjectPublicKeyInfo` as PEM text
/// (`-----BEGIN PUBLIC KEY-----`, base64 in lines of 64 characters, `\n` line ends, a final
/// `\n`), exactly the bytes Python's `cryptography` writes for the key.
///
/// ```
/// use asap_core::{KeyKind, KeySpec, PrivateKey};
/// use user_tokens::Fingerprint;
///
/// let key = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519))?.public_key()?;
/// let fingerprint = Fingerprint::of(&key);
/// assert_eq!(fingerprint.as_str().len(), 64);
/// assert_eq!(Fingerprint::parse(fingerprint.as_str()), Some(fingerprint));
/// assert_eq!(Fingerprint::parse("ABC"), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The fingerprint of `key`.
    pub fn of(key: &PublicKey) -> Fingerprint {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki_pem_text(key).as_bytes());
        let mut hex = String::with_capacity(64);
        for byte in digest.as_ref() {
            hex.push(char::from(HEX[usize::from(byte >> 4)]));
            hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        Fingerprint(hex)
    }

    /// A fingerprint as a token's `kid` carries it: exactly 64 lowercase hex digits, or `None`.
    /// Checked before any key lookup, so a key store only ever sees well-formed fingerprints.
    pub fn parse(text: &str) -> Option<Fingerprint> {
        let well_formed = text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        well_formed.then(|| Fingerprint(text.to_owned()))
    }

    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.0)
    }
}

/// The SPKI PEM text the fingerprint hashes. Not [`PublicKey::to_pem`]: that one ends lines
/// with `\r\n`, and one different byte is another fingerprint.
fn spki_pem_text(key: &PublicKey) -> String {
    let body = STANDARD.encode(key.spki_der());
    let mut pem = String::with_capacity(body.len() + body.len() / 64 + 64);
    pem.push_str("-----BEGIN PUBLIC KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        // Base64 is ASCII, so every chunk is valid UTF-8.
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

#[cfg(test)]
mod tests {
    use asap_core::{KeySpec, PrivateKey};

    use super::*;

    #[test]
    fn pem_text_has_64_column_lines_and_unix_line_ends() {
        let key = PrivateKey::generate(KeySpec::Rsa(2048))
            .and_then(|k| k.public_key())
            .expect("key");
        let text = spki_pem_text(&key);
        assert!(!text.contains('\r'));
        assert!(text.ends_with("-----END PUBLIC KEY-----\n"));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1..lines.len() - 2].iter().all(|l| l.len() == 64));
        // Same key, same bytes as the PEM the rest of the workspace writes, line ends aside.
        assert_eq!(text, key.to_pem().replace("\r\n", "\n"));
    }

    #[test]
    fn parse_takes_only_64_lowercase_hex_digits() {
        let ok = "a".repeat(64);
        assert!(Fingerprint::parse(&ok).is_some());
        for bad in [
            "",
            &"a".repeat(63),
            &"a".repeat(65),
            &"A".repeat(64),
            &"g".repeat(64),
            &"../".repeat(21),
        ] {
            assert!(Fingerprint::parse(bad).is_none(), "{bad}");
        }
    }
}
