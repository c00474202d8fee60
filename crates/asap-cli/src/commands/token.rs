//! `asap token`: sign an ASAP token and print it.

use asap_keys::ENV_AUDIENCE;

use super::print_line;
use super::signing::SignerArgs;

const AFTER_HELP: &str = "\
Examples:
  asap token --issuer billing --private-key-repo private --audience ledger
  asap token --issuer billing --private-key private/billing/k1.pem --audience ledger --claim scope='\"read\"'
  ASAP_ISSUER=billing ASAP_PRIVATE_KEY=\"$(asap data-uri --kid billing/k1.pem key.pem)\" asap token --audience ledger";

/// Sign an ASAP token and print it.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// The audience (`aud`): the service the token is for (repeatable)
    #[arg(long = "audience", env = ENV_AUDIENCE, hide_env_values = true, value_name = "AUD", required = true)]
    audiences: Vec<String>,

    #[command(flatten)]
    signer: SignerArgs,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let signer = args.signer.signer()?;
    let token = signer.sign_request(&args.signer.request(&args.audiences)?)?;
    print_line(token.as_str())
}
