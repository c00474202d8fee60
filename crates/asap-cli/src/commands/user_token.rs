//! `asap user-token`: a per-user token header (asymmetric-jwt-auth's format), signed with the
//! user's own key.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use asap_core::{Algorithm, PrivateKey};
use user_tokens::UserSigner;

use super::input::read_private_key_file;
use super::redact::Secret;
use super::{parse_algorithm, print_line, read_passphrase_file};

const AFTER_HELP: &str = "\
Prints the Authorization header value `JWT <token>`: {username, time, nonce} signed with the
key, kid = the SHA-256 fingerprint of its public key, as asymmetric-jwt-auth makes it. The token
is good once, within about 20 s of now.

Examples:
  asap user-token --username ann --private-key ~/.ssh/id_ed25519
  curl -H \"Authorization: $(asap user-token --username ann --private-key key.pem)\" https://svc/";

/// Print a per-user token header (`JWT <token>`) signed with the user's own key.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// The username the token claims
    #[arg(long, value_name = "NAME")]
    username: String,

    /// The private key: a PEM file (PKCS#8, PKCS#1, encrypted PKCS#8), an OpenSSH key
    /// (`~/.ssh/id_ed25519`, `id_rsa`) or a data URI; RSA or Ed25519
    #[arg(long, value_name = "FILE|DATA-URI")]
    private_key: Secret,

    /// A file holding the passphrase of an encrypted private key
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,

    /// RS512, RS384 or RS256 for an RSA key, EdDSA for Ed25519 [default: RS512 for RSA, EdDSA
    /// for Ed25519]
    #[arg(long, value_name = "ALG", value_parser = parse_algorithm)]
    alg: Option<Algorithm>,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let key = private_key(args.private_key.as_str(), args.passphrase_file.as_deref())?;
    let signer = match args.alg {
        Some(alg) => UserSigner::with_algorithm(args.username.clone(), key, alg)?,
        None => UserSigner::new(args.username.clone(), key)?,
    };
    print_line(&signer.authorization()?)
}

/// The key of `--private-key`: a data URI, or a key file in any format `asap token` reads.
fn private_key(source: &str, passphrase_file: Option<&Path>) -> anyhow::Result<PrivateKey> {
    let passphrase = passphrase_file.map(read_passphrase_file).transpose()?;
    let source = source.trim();
    if source.get(..5).is_some_and(|s| s.eq_ignore_ascii_case("data:")) {
        return Ok(asap_keys::parse_data_uri(source)?.1);
    }
    if source.is_empty() {
        return Err(anyhow!("--private-key is empty"));
    }
    read_private_key_file(
        source,
        "--private-key",
        "a data: URI",
        passphrase.as_ref().map(|p| p.as_slice()),
    )
}
