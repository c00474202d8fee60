//! OpenSSH keys: the private key file `ssh-keygen` writes (`-----BEGIN OPENSSH PRIVATE
//! KEY-----`, the `openssh-key-v1` format of OpenSSH's `PROTOCOL.key`) and the public key line
//! of `.pub` and `authorized_keys` files.
//!
//! Both hold key fields in the SSH wire encoding, read by [`wire`]; the components are
//! re-encoded as DER ([`super::der`]) and loaded by aws-lc-rs, the one crypto stack of this
//! workspace. The reader is our own rather than the `ssh-key` crate's: ssh-key 0.6 refuses
//! about half of all P-521 private keys (it wants a fixed-width scalar where OpenSSH writes a
//! minimal `mpint`).

mod private;
mod public;
mod wire;

use asap_core::KeyKind;

pub(crate) use private::parse_private_key;
pub(crate) use public::parse_authorized_key;

const ED25519: &str = "ssh-ed25519";
const RSA: &str = "ssh-rsa";

/// An ECDSA key type as OpenSSH names it (RFC 5656 §6.2, §10.1).
pub(crate) struct SshCurve {
    /// The key type, `ecdsa-sha2-<curve name>`.
    pub(crate) key_type: &'static str,
    /// The curve name inside the key.
    pub(crate) name: &'static str,
    pub(crate) kind: KeyKind,
    /// The width of the private scalar and of each point coordinate, in bytes.
    pub(crate) scalar_len: usize,
}

const CURVES: [SshCurve; 3] = [
    SshCurve {
        key_type: "ecdsa-sha2-nistp256",
        name: "nistp256",
        kind: KeyKind::P256,
        scalar_len: 32,
    },
    SshCurve {
        key_type: "ecdsa-sha2-nistp384",
        name: "nistp384",
        kind: KeyKind::P384,
        scalar_len: 48,
    },
    SshCurve {
        key_type: "ecdsa-sha2-nistp521",
        name: "nistp521",
        kind: KeyKind::P521,
        scalar_len: 66,
    },
];

/// The OpenSSH key types accepted, as they start an `authorized_keys` line and name the key
/// inside a private key file.
pub const SSH_KEY_TYPES: [&str; 5] = [
    ED25519,
    CURVES[0].key_type,
    CURVES[1].key_type,
    CURVES[2].key_type,
    RSA,
];

/// A key type this crate reads.
enum SshKeyType {
    Ed25519,
    Ecdsa(&'static SshCurve),
    Rsa,
}

impl SshKeyType {
    fn from_name(name: &str) -> Option<SshKeyType> {
        match name {
            ED25519 => Some(SshKeyType::Ed25519),
            RSA => Some(SshKeyType::Rsa),
            _ => CURVES.iter().find(|c| c.key_type == name).map(SshKeyType::Ecdsa),
        }
    }
}
