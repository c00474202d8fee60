//! `asap data-uri`: a private key as `data:application/pkcs8;kid=...;base64,...`, the form
//! `ASAP_PRIVATE_KEY` takes.

use std::path::PathBuf;

use anyhow::Context as _;
use asap_core::KeyId;
use zeroize::Zeroizing;

use super::{print_line, read_passphrase_file};

const AFTER_HELP: &str = "\
The output is the private key itself: keep it as secret as the file.

Example:
  export ASAP_PRIVATE_KEY=\"$(asap data-uri --kid billing/k1.pem private/billing/k1.pem)\"";

/// Print the data URI of a private key (for ASAP_PRIVATE_KEY).
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// The kid to put in the URI
    #[arg(long, value_name = "KID")]
    kid: String,

    /// A file holding the passphrase of an encrypted private key
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,

    /// The private key: PEM (PKCS#8, PKCS#1, SEC1, encrypted PKCS#8) or OpenSSH
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let kid = KeyId::parse(&args.kid).with_context(|| format!("invalid kid {:?}", args.kid))?;
    let passphrase = args
        .passphrase_file
        .as_deref()
        .map(read_passphrase_file)
        .transpose()?;
    let key = asap_keys::read_private_key(&args.file, passphrase.as_ref().map(|p| p.as_slice()))?;
    let uri = Zeroizing::new(asap_keys::to_data_uri(&kid, &key)?);
    print_line(&uri)
}
