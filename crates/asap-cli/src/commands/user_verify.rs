//! `asap user-verify`: check a per-user token header against a user's public keys.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use user_tokens::{StaticUserKeys, UserVerifier};

use super::input::{Input, read_text_file};
use super::print_line;
use super::redact::Secret;

const AFTER_HELP: &str = "\
On success prints the claims ({\"nonce\",\"time\",\"username\"}) as one line of JSON and exits 0;
otherwise prints one line naming the rule that failed on stderr and exits 1. The nonce store
lives only as long as this command, so a replay is caught only by a running service.

Examples:
  asap user-verify --username ann --public-key ~/.ssh/id_ed25519.pub \"$(asap user-token --username ann --private-key ~/.ssh/id_ed25519)\"
  asap user-verify --username ann --public-key old.pem --public-key new.pem \"JWT eyJ...\"";

/// Verify a per-user token (`JWT <token>` or the bare token) and print its claims as JSON.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// The user the keys belong to (the token must claim this username)
    #[arg(long, value_name = "NAME")]
    username: String,

    /// One of the user's public keys: PEM or an OpenSSH `.pub` line (repeatable)
    #[arg(long = "public-key", value_name = "FILE", required = true)]
    public_keys: Vec<PathBuf>,

    /// How far the token's time may be from now, either way, in seconds (at most 300)
    #[arg(long, value_name = "SECS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=300))]
    tolerance: u64,

    /// The header value `JWT <token>`, or the token alone
    #[arg(value_name = "HEADER-OR-TOKEN")]
    token: Secret,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let mut keys = StaticUserKeys::new();
    for path in &args.public_keys {
        let text = read_text_file(path, Input::PublicKey)?;
        let key = asap_keys::parse_public_key(&text).with_context(|| format!("{}", path.display()))?;
        keys.insert(args.username.clone(), key);
    }
    let verifier = UserVerifier::builder(keys)
        .tolerance(Duration::from_secs(args.tolerance))
        .build()?;
    let input = args.token.as_str().trim();
    let token = match input.split_once(' ') {
        Some(_) => user_tokens::jwt_token(input)?,
        None if input.is_empty() => return Err(anyhow!("no token")),
        None => input,
    };
    let user = verifier.verify(token).await?;
    print_line(&serde_json::to_string(&user)?)
}
