//! OpenSSH public keys: one `authorized_keys` line (`[options] type base64 [comment]`, the
//! `.pub` file `ssh-keygen` writes), re-encoded as a DER `SubjectPublicKeyInfo` that
//! [`PublicKey::from_spki_der`] then checks (curve points on the curve, RSA at least 2048 bits).

use asap_core::PublicKey;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::wire::{Reader, WireError};
use super::{SSH_KEY_TYPES, SshKeyType};
use crate::error::KeyFormatError;
use crate::formats::der;

fn malformed(what: &str) -> KeyFormatError {
    KeyFormatError::Malformed(what.to_owned())
}

impl From<WireError> for KeyFormatError {
    fn from(e: WireError) -> Self {
        malformed(&e.to_string())
    }
}

/// One `authorized_keys` line.
pub(crate) fn parse_authorized_key(line: &str) -> Result<PublicKey, KeyFormatError> {
    let rest = skip_options(line);
    let mut fields = rest.split_ascii_whitespace();
    let type_name = fields.next().ok_or(KeyFormatError::Empty)?;
    let key_type = SshKeyType::from_name(type_name).ok_or_else(|| unsupported(type_name))?;
    let blob = fields
        .next()
        .ok_or_else(|| malformed("the base64 key after the type is missing"))?;
    let blob = STANDARD
        .decode(blob)
        .map_err(|_| malformed("the key is not valid base64"))?;
    let spki = blob_to_spki(type_name, &key_type, &blob)?;
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

fn unsupported(type_name: &str) -> KeyFormatError {
    if type_name.contains("-cert-") {
        return KeyFormatError::UnsupportedType(format!(
            "{type_name:?} is an OpenSSH certificate; register the plain public key instead"
        ));
    }
    KeyFormatError::UnsupportedType(format!(
        "OpenSSH key type {type_name:?} is not supported; use {}",
        SSH_KEY_TYPES.join(", ")
    ))
}

/// Re-encodes an OpenSSH public key blob (RFC 4253 §6.6) as a DER `SubjectPublicKeyInfo`.
fn blob_to_spki(type_name: &str, key_type: &SshKeyType, blob: &[u8]) -> Result<Vec<u8>, KeyFormatError> {
    let mut r = Reader::new(blob);
    let inner_type = r.string()?;
    if inner_type != type_name.as_bytes() {
        return Err(malformed(&format!(
            "the line says {type_name:?} but the key blob holds {:?}",
            String::from_utf8_lossy(inner_type)
        )));
    }
    let spki = match key_type {
        SshKeyType::Ed25519 => der::ed25519_spki(r.ed25519_public()?),
        SshKeyType::Ecdsa(curve) => der::ec_spki(curve.kind, r.ec_public(curve)?),
        SshKeyType::Rsa => {
            // RFC 4253 §6.6: e before n.
            let e = r.positive("RSA exponent")?;
            let n = r.positive("RSA modulus")?;
            der::rsa_spki(n, e)
        }
    };
    r.finish()?;
    spki.map_err(|e| malformed(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use asap_core::KeyError;

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
        let err = parse_authorized_key(&text).expect_err("mismatch");
        assert!(err.to_string().contains("blob holds"), "{err}");
    }

    #[test]
    fn truncated_and_trailing_blobs_are_refused() {
        let short = line("ssh-ed25519", &[&[7u8; 31]]);
        assert!(matches!(
            parse_authorized_key(&short),
            Err(KeyFormatError::Malformed(_))
        ));
        let trailing = line("ssh-ed25519", &[&[7u8; 32], b"x"]);
        let err = parse_authorized_key(&trailing).expect_err("trailing");
        assert!(err.to_string().contains("trailing"), "{err}");
    }

    #[test]
    fn ec_point_must_be_uncompressed_and_on_the_curve() {
        let compressed = line("ecdsa-sha2-nistp256", &[b"nistp256", &[0x02; 33]]);
        assert!(matches!(
            parse_authorized_key(&compressed),
            Err(KeyFormatError::Malformed(_))
        ));
        let mut off_curve = vec![0x04];
        off_curve.extend_from_slice(&[1u8; 64]);
        let off = line("ecdsa-sha2-nistp256", &[b"nistp256", &off_curve]);
        assert!(matches!(parse_authorized_key(&off), Err(KeyFormatError::Key(_))));
        let wrong_curve = line("ecdsa-sha2-nistp256", &[b"nistp384", &off_curve]);
        assert!(matches!(
            parse_authorized_key(&wrong_curve),
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
        match parse_authorized_key(&text) {
            Err(KeyFormatError::Key(KeyError::RsaTooSmall { bits })) => assert_eq!(bits, 1024),
            other => panic!("expected RsaTooSmall, got {other:?}"),
        }
    }

    #[test]
    fn a_zero_rsa_exponent_is_malformed() {
        let mut n = vec![0xc5u8; 257];
        n[0] = 0;
        let text = line("ssh-rsa", &[&[], &n]);
        let err = parse_authorized_key(&text).expect_err("zero exponent");
        assert!(
            err.to_string().contains("RSA exponent is not a positive"),
            "{err}"
        );
    }

    #[test]
    fn unsupported_types_name_the_alternatives() {
        let err = parse_authorized_key("ssh-dss AAAAB3NzaC1kc3M= me").expect_err("dsa");
        assert!(err.to_string().contains("ssh-ed25519"), "{err}");
        let err = parse_authorized_key("ssh-ed25519-cert-v01@openssh.com AAAA me").expect_err("cert");
        assert!(err.to_string().contains("certificate"), "{err}");
        let err = parse_authorized_key("sk-ssh-ed25519@openssh.com AAAA me").expect_err("sk");
        assert!(matches!(err, KeyFormatError::UnsupportedType(_)), "{err}");
    }
}
