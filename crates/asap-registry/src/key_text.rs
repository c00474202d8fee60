//! Public keys as people hand them in: a PEM document, or one OpenSSH `authorized_keys` line
//! (the `.pub` file `ssh-keygen` writes).
//!
//! The OpenSSH wire format (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709 §4) is a few length-prefixed
//! fields; it is read here and re-encoded as a DER `SubjectPublicKeyInfo`, which
//! [`PublicKey::from_spki_der`] then checks (curve points on the curve, RSA at least 2048 bits).

use asap_core::{KeyError, PublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::KeyFormatError;

/// The OpenSSH key types accepted, as they start an `authorized_keys` line.
pub const SSH_KEY_TYPES: [&str; 5] = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
];

const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// The longest key text accepted: far above a 16384-bit RSA `authorized_keys` line.
const MAX_KEY_TEXT: usize = 64 * 1024;

/// Parses a public key given as PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`) or as one OpenSSH
/// `authorized_keys` line (`ssh-ed25519`, `ecdsa-sha2-nistp256/384/521`, `ssh-rsa` of at least
/// 2048 bits; options before the type and a comment after the key are allowed). Blank lines and
/// `#` comment lines around an OpenSSH key are ignored.
///
/// ```
/// let line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDedm9L5Qo8FZBj0F91i0kgqU5jrzQROmqQMwrIuMoIK me@laptop";
/// let key = asap_registry::parse_public_key(line)?;
/// assert_eq!(key.kind(), asap_core::KeyKind::Ed25519);
/// assert!(asap_registry::parse_public_key("ssh-dss AAAA me@laptop").is_err());
/// # Ok::<(), asap_registry::KeyFormatError>(())
/// ```
pub fn parse_public_key(text: &str) -> Result<PublicKey, KeyFormatError> {
    if text.len() > MAX_KEY_TEXT {
        return Err(KeyFormatError::TooLarge { max: MAX_KEY_TEXT });
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
        [line] => parse_authorized_key(line),
        many => Err(KeyFormatError::SeveralKeys(many.len())),
    }
}

/// One `authorized_keys` line: `[options] type base64 [comment]`.
fn parse_authorized_key(line: &str) -> Result<PublicKey, KeyFormatError> {
    let rest = skip_options(line);
    let mut fields = rest.split_ascii_whitespace();
    let key_type = fields.next().ok_or(KeyFormatError::Empty)?;
    check_type_name(key_type)?;
    let blob = fields
        .next()
        .ok_or_else(|| malformed("the base64 key after the type is missing"))?;
    let blob = STANDARD
        .decode(blob)
        .map_err(|_| malformed("the key is not valid base64"))?;
    let spki = wire_to_spki(key_type, &blob)?;
    Ok(PublicKey::from_spki_der(&spki)?)
}

/// `authorized_keys` options (`from="a b",no-pty ssh-ed25519 …`) end at the first whitespace
/// outside double quotes. A line that starts with a key type has none.
fn skip_options(line: &str) -> &str {
    let first = line.split_ascii_whitespace().next().unwrap_or("");
    if looks_like_key_type(first) {
        return line;
    }
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c.is_ascii_whitespace() && !quoted => return line[i..].trim_start(),
            _ => {}
        }
    }
    line
}

fn looks_like_key_type(word: &str) -> bool {
    word.starts_with("ssh-") || word.starts_with("ecdsa-") || word.starts_with("sk-")
}

fn check_type_name(key_type: &str) -> Result<(), KeyFormatError> {
    if SSH_KEY_TYPES.contains(&key_type) {
        return Ok(());
    }
    if key_type.contains("-cert-") {
        return Err(KeyFormatError::UnsupportedType(format!(
            "{key_type:?} is an OpenSSH certificate; register the plain public key instead"
        )));
    }
    Err(KeyFormatError::UnsupportedType(format!(
        "OpenSSH key type {key_type:?} is not supported; use {}",
        SSH_KEY_TYPES.join(", ")
    )))
}

fn malformed(what: &str) -> KeyFormatError {
    KeyFormatError::Malformed(what.to_owned())
}

/// The SSH wire encoding: big-endian `uint32` lengths before each string.
struct Wire<'a>(&'a [u8]);

impl<'a> Wire<'a> {
    fn string(&mut self) -> Result<&'a [u8], KeyFormatError> {
        let Some((len, rest)) = self.0.split_first_chunk::<4>() else {
            return Err(malformed("truncated key blob"));
        };
        let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| malformed("length"))?;
        if len > rest.len() {
            return Err(malformed("truncated key blob"));
        }
        let (head, tail) = rest.split_at(len);
        self.0 = tail;
        Ok(head)
    }

    /// An `mpint` that must be positive; returned without leading zero bytes.
    fn positive_mpint(&mut self, what: &str) -> Result<&'a [u8], KeyFormatError> {
        let raw = self.string()?;
        if raw.first().is_some_and(|b| b & 0x80 != 0) {
            return Err(malformed(&format!("the RSA {what} is negative")));
        }
        let digits = &raw[raw.iter().take_while(|b| **b == 0).count()..];
        if digits.is_empty() {
            return Err(malformed(&format!("the RSA {what} is zero")));
        }
        Ok(digits)
    }

    fn finish(&self) -> Result<(), KeyFormatError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(malformed("trailing bytes after the key"))
        }
    }
}

/// Re-encodes an OpenSSH public key blob as a DER `SubjectPublicKeyInfo`.
fn wire_to_spki(outer_type: &str, blob: &[u8]) -> Result<Vec<u8>, KeyFormatError> {
    let mut wire = Wire(blob);
    let inner_type = wire.string()?;
    if inner_type != outer_type.as_bytes() {
        return Err(malformed(&format!(
            "the line says {outer_type:?} but the key blob holds {:?}",
            String::from_utf8_lossy(inner_type)
        )));
    }
    let spki = match outer_type {
        "ssh-ed25519" => {
            let point = wire.string()?;
            if point.len() != 32 {
                return Err(malformed("an Ed25519 key is 32 bytes"));
            }
            spki(&[&tlv(0x06, OID_ED25519)], point)
        }
        "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" => {
            let (curve, oid, coordinate) = match outer_type {
                "ecdsa-sha2-nistp256" => ("nistp256", OID_P256, 32),
                "ecdsa-sha2-nistp384" => ("nistp384", OID_P384, 48),
                _ => ("nistp521", OID_P521, 66),
            };
            if wire.string()? != curve.as_bytes() {
                return Err(malformed("the curve name does not match the key type"));
            }
            let point = wire.string()?;
            // Uncompressed points only (SEC 1 §2.3.3), as OpenSSH writes them.
            if point.len() != 1 + 2 * coordinate || point[0] != 0x04 {
                return Err(malformed(
                    "the EC point is not an uncompressed point of the curve",
                ));
            }
            spki(&[&tlv(0x06, OID_EC_PUBLIC_KEY), &tlv(0x06, oid)], point)
        }
        _ => {
            // RFC 4253: e before n.
            let e = wire.positive_mpint("exponent")?;
            let n = wire.positive_mpint("modulus")?;
            let pkcs1 = tlv(0x30, &[uint(n), uint(e)].concat());
            spki(&[&tlv(0x06, OID_RSA_ENCRYPTION), &[0x05, 0x00]], &pkcs1)
        }
    };
    wire.finish()?;
    Ok(spki)
}

/// `SEQUENCE { SEQUENCE { algorithm parameters }, BIT STRING key }`.
fn spki(algorithm: &[&[u8]], key: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(key.len() + 1);
    bits.push(0); // no unused bits
    bits.extend_from_slice(key);
    let algorithm = tlv(0x30, &algorithm.concat());
    tlv(0x30, &[algorithm, tlv(0x03, &bits)].concat())
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    match u8::try_from(content.len()) {
        Ok(short) if short < 0x80 => out.push(short),
        _ => {
            let bytes = content.len().to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | u8::try_from(bytes.len() - skip).unwrap_or(0));
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    out.extend_from_slice(content);
    out
}

/// A DER INTEGER from a positive big-endian magnitude without leading zeros.
fn uint(digits: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(digits.len() + 1);
    if digits.first().is_some_and(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(digits);
    tlv(0x02, &content)
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
    use super::*;

    fn ssh_string(out: &mut Vec<u8>, s: &[u8]) {
        out.extend_from_slice(&u32::try_from(s.len()).expect("short").to_be_bytes());
        out.extend_from_slice(s);
    }

    fn line(key_type: &str, fields: &[&[u8]]) -> String {
        let mut blob = Vec::new();
        ssh_string(&mut blob, key_type.as_bytes());
        for f in fields {
            ssh_string(&mut blob, f);
        }
        format!("{key_type} {} test", STANDARD.encode(blob))
    }

    #[test]
    fn der_lengths() {
        assert_eq!(tlv(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        assert_eq!(&tlv(0x04, &[0; 200])[..3], &[0x04, 0x81, 200]);
        assert_eq!(&tlv(0x04, &[0; 300])[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(uint(&[0x80]), vec![0x02, 2, 0, 0x80]);
        assert_eq!(uint(&[0x7f]), vec![0x02, 1, 0x7f]);
    }

    #[test]
    fn options_before_the_type_are_skipped() {
        assert_eq!(
            skip_options(r#"from="10.0.0.1 x",no-pty ssh-ed25519 AAAA c"#),
            "ssh-ed25519 AAAA c"
        );
        assert_eq!(skip_options("ssh-rsa AAAA"), "ssh-rsa AAAA");
    }

    #[test]
    fn type_mismatch_between_line_and_blob_is_refused() {
        let text = line("ssh-ed25519", &[&[7u8; 32]]).replacen("ssh-ed25519", "ssh-rsa", 1);
        let err = parse_public_key(&text).expect_err("mismatch");
        assert!(err.to_string().contains("blob holds"), "{err}");
    }

    #[test]
    fn truncated_and_trailing_blobs_are_refused() {
        let short = line("ssh-ed25519", &[&[7u8; 31]]);
        assert!(matches!(
            parse_public_key(&short),
            Err(KeyFormatError::Malformed(_))
        ));
        let trailing = line("ssh-ed25519", &[&[7u8; 32], b"x"]);
        let err = parse_public_key(&trailing).expect_err("trailing");
        assert!(err.to_string().contains("trailing"), "{err}");
    }

    #[test]
    fn ec_point_must_be_uncompressed_and_on_the_curve() {
        let compressed = line("ecdsa-sha2-nistp256", &[b"nistp256", &[0x02; 33]]);
        assert!(matches!(
            parse_public_key(&compressed),
            Err(KeyFormatError::Malformed(_))
        ));
        let mut off_curve = vec![0x04];
        off_curve.extend_from_slice(&[1u8; 64]);
        let off = line("ecdsa-sha2-nistp256", &[b"nistp256", &off_curve]);
        assert!(matches!(parse_public_key(&off), Err(KeyFormatError::Key(_))));
        let wrong_curve = line("ecdsa-sha2-nistp256", &[b"nistp384", &off_curve]);
        assert!(matches!(
            parse_public_key(&wrong_curve),
            Err(KeyFormatError::Malformed(_))
        ));
    }

    #[test]
    fn small_rsa_is_refused_with_its_size() {
        // An mpint: a zero byte before a magnitude whose top bit is set.
        let mut n = vec![0xc5u8; 129]; // 1024 bits after the zero byte
        n[0] = 0;
        n[128] |= 1;
        let text = line("ssh-rsa", &[&[1, 0, 1], &n]);
        match parse_public_key(&text) {
            Err(KeyFormatError::Key(KeyError::RsaTooSmall { bits })) => assert_eq!(bits, 1024),
            other => panic!("expected RsaTooSmall, got {other:?}"),
        }
    }

    #[test]
    fn unsupported_types_name_the_alternatives() {
        let err = parse_public_key("ssh-dss AAAAB3NzaC1kc3M= me").expect_err("dsa");
        assert!(err.to_string().contains("ssh-ed25519"), "{err}");
        let err = parse_public_key("ssh-ed25519-cert-v01@openssh.com AAAA me").expect_err("cert");
        assert!(err.to_string().contains("certificate"), "{err}");
        let err = parse_public_key("sk-ssh-ed25519@openssh.com AAAA me").expect_err("sk");
        assert!(matches!(err, KeyFormatError::UnsupportedType(_)), "{err}");
    }

    #[test]
    fn empty_several_and_private_inputs_are_refused() {
        assert!(matches!(
            parse_public_key("  \n# only a comment\n"),
            Err(KeyFormatError::Empty)
        ));
        let one = line("ssh-ed25519", &[&[7u8; 32]]);
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
    }
}
