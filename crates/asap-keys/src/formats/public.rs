//! Public keys as people hand them in: a PEM document, or one OpenSSH `authorized_keys` line.

use asap_core::{KeyError, PublicKey};

use crate::error::KeyFormatError;
use crate::formats::{MAX_KEY_TEXT_BYTES, openssh};

/// Parses a public key given as PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`) or as one OpenSSH
/// `authorized_keys` line (`ssh-ed25519`, `ecdsa-sha2-nistp256/384/521`, `ssh-rsa` of at least
/// 2048 bits; options before the type and a comment after the key are allowed). Blank lines and
/// `#` comment lines around an OpenSSH key are ignored.
///
/// ```
/// let line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDedm9L5Qo8FZBj0F91i0kgqU5jrzQROmqQMwrIuMoIK me@laptop";
/// let key = asap_keys::parse_public_key(line)?;
/// assert_eq!(key.kind(), asap_core::KeyKind::Ed25519);
/// assert!(asap_keys::parse_public_key("ssh-dss AAAA me@laptop").is_err());
/// # Ok::<(), asap_keys::KeyFormatError>(())
/// ```
pub fn parse_public_key(text: &str) -> Result<PublicKey, KeyFormatError> {
    if text.len() > MAX_KEY_TEXT_BYTES {
        return Err(KeyFormatError::TooLarge {
            max: MAX_KEY_TEXT_BYTES,
        });
    }
    let trimmed = text.trim();
    if trimmed.starts_with("-----BEGIN") {
        if trimmed.contains("PRIVATE KEY-----") {
            return Err(KeyFormatError::PrivateKey);
        }
        return Ok(PublicKey::from_pem(trimmed)?);
    }
    let lines: Vec<&str> = trimmed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    match lines.as_slice() {
        [] => Err(KeyFormatError::Empty),
        [line] => openssh::parse_authorized_key(line),
        many => Err(KeyFormatError::SeveralKeys(many.len())),
    }
}

impl From<KeyError> for KeyFormatError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::WrongKeyClass { .. } => KeyFormatError::PrivateKey,
            other => KeyFormatError::Key(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use asap_core::{KeyKind, KeySpec, PrivateKey};

    use super::*;

    #[test]
    fn empty_several_and_private_inputs_are_refused() {
        assert!(matches!(
            parse_public_key("  \n# only a comment\n"),
            Err(KeyFormatError::Empty)
        ));
        let one = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDedm9L5Qo8FZBj0F91i0kgqU5jrzQROmqQMwrIuMoIK me";
        assert!(parse_public_key(&format!("# laptop\n{one}\n")).is_ok());
        assert!(matches!(
            parse_public_key(&format!("{one}\n{one}\n")),
            Err(KeyFormatError::SeveralKeys(2))
        ));
        assert!(matches!(
            parse_public_key(
                "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
            ),
            Err(KeyFormatError::PrivateKey)
        ));
        assert!(matches!(
            parse_public_key(&"#".repeat(MAX_KEY_TEXT_BYTES + 1)),
            Err(KeyFormatError::TooLarge { .. })
        ));
    }

    #[test]
    fn pem_public_keys_are_read() {
        let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P384))
            .and_then(|k| k.public_key())
            .expect("key");
        assert_eq!(parse_public_key(&key.to_pem()).expect("pem"), key);
    }
}
