//! Key formats: one module per format, each with its readers (and writers) of private and
//! public keys; the entry points pick the format from the text.
//!
//! | format | private keys | public keys |
//! |---|---|---|
//! | PEM `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1), `EC PRIVATE KEY` (SEC1) | [`parse_private_key`] (aws-lc-rs reads the DER) | — |
//! | PEM `ENCRYPTED PRIVATE KEY` (PKCS#8, PBES2) | `encrypted_pkcs8` | — |
//! | PEM `PUBLIC KEY` (SPKI), `RSA PUBLIC KEY` | — | [`parse_public_key`] ([`asap_core::PublicKey::from_pem`]) |
//! | OpenSSH (`id_ed25519`, `id_ecdsa`, `id_rsa`; `.pub`, `authorized_keys`) | `openssh::private` | `openssh::public` |
//! | data URI `data:application/pkcs8;kid=…;base64,…` | [`parse_data_uri`], [`to_data_uri`] | — |
//!
//! Formats that carry raw key components (OpenSSH, JWK) are re-encoded by the one DER writer,
//! `der`, into the standard documents aws-lc-rs loads; the object identifiers in those
//! documents are [`asap_core::oid`]'s.

/// The longest key text any reader here accepts, public or private, PEM or OpenSSH (an RSA
/// 8192 PEM is about 6.5 KiB; a 16384-bit `authorized_keys` line about 3 KiB): whatever a
/// parser costs per byte, a hostile key costs at most this many. Callers that read key text
/// from elsewhere (a file, stdin) cap their reads with it, so that no key these readers would
/// accept is refused before them.
pub const MAX_KEY_TEXT_BYTES: usize = 64 * 1024;

mod data_uri;
pub(crate) mod der;
mod encrypted_pkcs8;
mod openssh;
mod private;
mod public;

pub use data_uri::{parse_data_uri, to_data_uri};
pub use openssh::SSH_KEY_TYPES;
pub(crate) use private::read_key_file;
pub use private::{parse_private_key, read_private_key, signing_key_from_pem};
pub use public::parse_public_key;
