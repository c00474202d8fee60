//! Private keys from PEM text: the block's label picks the reader (PKCS#8 plain or encrypted,
//! PKCS#1, SEC1, OpenSSH).

use std::path::Path;

use asap_core::{Algorithm, KeyId, PrivateKey, SigningKey};
use zeroize::Zeroizing;

use crate::capped_file::{Buffer, read_capped};
use crate::error::LoadError;
use crate::formats::{MAX_KEY_TEXT_BYTES, encrypted_pkcs8, openssh};

/// Parses a private key in any supported PEM form, decrypting it with `passphrase` if it is
/// encrypted:
///
/// - `PRIVATE KEY` (PKCS#8: RSA, EC P-256/P-384/P-521, Ed25519),
/// - `RSA PRIVATE KEY` (PKCS#1), `EC PRIVATE KEY` (SEC1),
/// - `ENCRYPTED PRIVATE KEY` (PKCS#8 with PBES2: PBKDF2 or scrypt, AES-CBC),
/// - `OPENSSH PRIVATE KEY` (`ssh-keygen` keys: Ed25519, ECDSA, RSA; encrypted too).
///
/// A passphrase given for an unencrypted key is ignored. Text longer than
/// [`MAX_KEY_TEXT_BYTES`] (64 KiB) is refused before parsing ([`LoadError::TooLarge`]).
///
/// ```
/// use asap_core::{KeyKind, KeySpec, PrivateKey};
/// let pem = PrivateKey::generate(KeySpec::Curve(KeyKind::P256))?.to_pkcs8_pem()?;
/// let key = asap_keys::parse_private_key(&pem, None)?;
/// assert_eq!(key.kind(), KeyKind::P256);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_private_key(text: &str, passphrase: Option<&[u8]>) -> Result<PrivateKey, LoadError> {
    if text.len() > MAX_KEY_TEXT_BYTES {
        return Err(LoadError::TooLarge {
            max: MAX_KEY_TEXT_BYTES,
        });
    }
    let blocks = pem::parse_many(text).map_err(|e| LoadError::Format(e.to_string()))?;
    let Some(block) = blocks.iter().find(|b| b.tag().contains("PRIVATE KEY")) else {
        return Err(match blocks.first() {
            Some(b) if b.tag().contains("PUBLIC KEY") || b.tag() == "CERTIFICATE" => {
                LoadError::Format(format!("a {} is not a private key", b.tag()))
            }
            Some(b) => LoadError::Format(format!("unexpected PEM block {:?}", b.tag())),
            None => LoadError::Format("no PEM block found".to_owned()),
        });
    };
    // Old OpenSSL "traditional" encryption puts Proc-Type/DEK-Info headers on a PKCS#1 or SEC1
    // block; it uses MD5 as a KDF and is not supported.
    if block
        .headers()
        .get("Proc-Type")
        .is_some_and(|v| v.contains("ENCRYPTED"))
    {
        return Err(LoadError::UnsupportedEncryption(
            "legacy OpenSSL PEM encryption (Proc-Type: 4,ENCRYPTED); convert the key with \
             `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
                .to_owned(),
        ));
    }
    match block.tag() {
        "PRIVATE KEY" => Ok(PrivateKey::from_pkcs8_der(block.contents())?),
        "RSA PRIVATE KEY" => Ok(PrivateKey::from_pkcs1_der(block.contents())?),
        "EC PRIVATE KEY" => Ok(PrivateKey::from_sec1_der(block.contents())?),
        "ENCRYPTED PRIVATE KEY" => {
            encrypted_pkcs8::decrypt(block.contents(), passphrase.ok_or(LoadError::PassphraseRequired)?)
        }
        "OPENSSH PRIVATE KEY" => openssh::parse_private_key(text, passphrase),
        tag => Err(LoadError::Format(format!("unsupported PEM block {tag:?}"))),
    }
}

/// Reads and parses a private key file (see [`parse_private_key`]), such as `~/.ssh/id_ed25519`.
pub fn read_private_key(path: impl AsRef<Path>, passphrase: Option<&[u8]>) -> Result<PrivateKey, LoadError> {
    let text = read_key_file(path.as_ref())?;
    parse_private_key(&text, passphrase)
}

/// Parses a private key and binds it to its kid; `alg` defaults to the key's own algorithm.
pub fn signing_key_from_pem(
    kid: KeyId,
    text: &str,
    passphrase: Option<&[u8]>,
    alg: Option<Algorithm>,
) -> Result<SigningKey, LoadError> {
    Ok(SigningKey::new(kid, parse_private_key(text, passphrase)?, alg)?)
}

/// Reads a small text file holding a key, refusing anything implausibly large (over
/// [`MAX_KEY_TEXT_BYTES`], before parsing).
pub(crate) fn read_key_file(path: &Path) -> Result<Zeroizing<String>, LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_owned(),
        source,
    };
    let Some(mut bytes) = read_capped(path, MAX_KEY_TEXT_BYTES, Buffer::WholeCap).map_err(io)? else {
        return Err(LoadError::Format(format!(
            "{} is larger than {MAX_KEY_TEXT_BYTES} bytes; not a key file",
            path.display()
        )));
    };
    // Moved into the `String`, not copied; bytes that are not UTF-8 are wiped too.
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            Err(io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use asap_core::{KeyKind, KeySpec};

    use super::*;

    #[test]
    fn reads_every_plain_pem_form() {
        let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P384)).expect("generate");
        let pem = key.to_pkcs8_pem().expect("pem");
        assert_eq!(
            parse_private_key(&pem, None).expect("pkcs8").kind(),
            KeyKind::P384
        );
        // A passphrase for a plain key is ignored.
        assert!(parse_private_key(&pem, Some(b"unused")).is_ok());
    }

    #[test]
    fn refuses_public_keys_and_garbage_with_typed_errors() {
        let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("generate");
        let public = key.public_key().expect("public").to_pem();
        assert!(matches!(
            parse_private_key(&public, None),
            Err(LoadError::Format(_))
        ));
        assert!(matches!(
            parse_private_key("hello", None),
            Err(LoadError::Format(_))
        ));
        let junk = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(parse_private_key(junk, None), Err(LoadError::Key(_))));
        let junk = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(matches!(
            parse_private_key(junk, None),
            Err(LoadError::PassphraseRequired)
        ));
        assert!(matches!(
            parse_private_key(junk, Some(b"x")),
            Err(LoadError::Format(_))
        ));
    }

    #[test]
    fn text_over_the_cap_is_refused_before_parsing() {
        let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("generate");
        let pem = key.to_pkcs8_pem().expect("pem");
        // A valid key padded past the cap: refused for its size, not its content.
        let padded = format!("{pem}{}", "\n".repeat(MAX_KEY_TEXT_BYTES + 1 - pem.len()));
        assert!(matches!(
            parse_private_key(&padded, None),
            Err(LoadError::TooLarge {
                max: MAX_KEY_TEXT_BYTES
            })
        ));
        let at_the_cap = format!("{pem}{}", "\n".repeat(MAX_KEY_TEXT_BYTES - pem.len()));
        assert!(parse_private_key(&at_the_cap, None).is_ok());
    }

    #[test]
    fn legacy_openssl_encryption_is_named() {
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(matches!(
            parse_private_key(legacy, Some(b"pw")),
            Err(LoadError::UnsupportedEncryption(_))
        ));
    }
}
