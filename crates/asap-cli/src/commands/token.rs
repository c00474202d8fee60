//! `asap token`: sign an ASAP token and print it.

use anyhow::{Context as _, anyhow};
use asap_core::{Qsh, TokenRequest};
use asap_keys::ENV_AUDIENCE;

use super::print_line;
use super::redact::SecretUrl;
use super::signing::SignerArgs;

const AFTER_HELP: &str = "\
Examples:
  asap token --issuer billing --private-key-repo private --audience ledger
  asap token --issuer billing --private-key private/billing/k1.pem --audience ledger --claim scope='\"read\"'
  ASAP_ISSUER=billing ASAP_PRIVATE_KEY=\"$(asap data-uri --kid billing/k1.pem key.pem)\" asap token --audience ledger
  asap token --issuer billing --private-key-repo private --audience ledger --bind POST 'https://ledger.example.com/api/pay?to=acme' --base-url https://ledger.example.com/api

--bind makes a request-bound token: its `qsh` claim is the hash of the request's Connect
canonical form (`asap qsh --canonical` prints it), relative to --base-url; a route that
requires bound tokens accepts it for that method and URL only.";

/// Sign an ASAP token and print it.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// The audience (`aud`): the service the token is for (repeatable)
    #[arg(long = "audience", env = ENV_AUDIENCE, hide_env_values = true, value_name = "AUD", required = true)]
    audiences: Vec<String>,

    /// Bind the token to one request (its `qsh` claim): the method and URL (absolute, or a
    /// path with its query)
    #[arg(long, num_args = 2, value_names = ["METHOD", "URL"])]
    bind: Option<Vec<SecretUrl>>,

    /// The base URL (or base path) the --bind URL is relative to, as the server that checks
    /// the binding has it [default: none, the whole path]
    #[arg(long, value_name = "URL", requires = "bind")]
    base_url: Option<SecretUrl>,

    #[command(flatten)]
    signer: SignerArgs,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let signer = args.signer.signer()?;
    let mut request = args.signer.request(&args.audiences)?;
    if let Some([method, url]) = args.bind.as_deref() {
        let base_url = args.base_url.as_ref().map_or("", SecretUrl::as_str);
        request = bind(request, method.as_str(), url.as_str(), base_url)?;
    }
    let token = signer.sign_request(&request)?;
    print_line(token.as_str())
}

/// Binds `request` to `method` `url` relative to `base_url`: connect-qsh's canonical request,
/// as the server's `require_bound_token` computes it. Shared with `asap curl --bind`.
pub(crate) fn bind(
    request: TokenRequest,
    method: &str,
    url: &str,
    base_url: &str,
) -> anyhow::Result<TokenRequest> {
    // A method the request could not carry would make a token no request matches.
    reqwest::Method::from_bytes(method.as_bytes()).map_err(|_| anyhow!("invalid method {method:?}"))?;
    let qsh = connect_qsh::qsh(method, url, base_url)
        .with_context(|| format!("cannot bind the token to {url:?} (base URL {base_url:?})"))?;
    Ok(request.bind(Qsh::new(&qsh)?))
}
