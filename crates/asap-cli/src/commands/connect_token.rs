//! `asap connect-token`: an HS256 Atlassian Connect token bound to one request by its qsh.

use std::time::Duration;

use connect_qsh::{ConnectSigner, SharedSecret};

use super::print_line;
use super::redact::{Secret, SecretUrl};

const AFTER_HELP: &str = "\
Send it as `Authorization: JWT <token>`. A secret on the command line is visible to other users of
the machine: prefer ASAP_CONNECT_SHARED_SECRET.

Example:
  asap connect-token --client-key my-app --base-url https://acme.atlassian.net/wiki \\
      GET 'https://acme.atlassian.net/wiki/rest/api/space?limit=10'";

/// Print an HS256 Connect token for one request (qsh bound to METHOD and URL).
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// The issuer (`iss`): the tenant's clientKey, or the app key for calls to the product
    #[arg(long, value_name = "KEY")]
    client_key: String,

    /// The shared secret from the installed callback
    #[arg(
        long,
        value_name = "SECRET",
        env = "ASAP_CONNECT_SHARED_SECRET",
        hide_env_values = true
    )]
    shared_secret: Secret,

    /// Seconds until the token expires (at most 3600)
    #[arg(long, value_name = "SECS", default_value_t = 180, value_parser = clap::value_parser!(u64).range(1..=3600))]
    lifetime: u64,

    /// The base URL the qsh path is relative to (the tenant's baseUrl, or the app's)
    #[arg(long, value_name = "URL", default_value = "")]
    base_url: SecretUrl,

    /// The subject (`sub`): an Atlassian account id to act for
    #[arg(long, value_name = "SUB")]
    subject: Option<String>,

    /// The audience (`aud`)
    #[arg(long, value_name = "AUD")]
    audience: Option<String>,

    /// The HTTP method
    #[arg(value_name = "METHOD")]
    method: String,

    /// The request URL: absolute, or a path with its query
    #[arg(value_name = "URL")]
    url: SecretUrl,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let mut signer =
        ConnectSigner::new(args.client_key.clone()).lifetime(Duration::from_secs(args.lifetime))?;
    if let Some(subject) = &args.subject {
        signer = signer.subject(subject.clone());
    }
    if let Some(audience) = &args.audience {
        signer = signer.audience(audience.clone());
    }
    let secret = SharedSecret::new(args.shared_secret.as_str().to_owned())?;
    let token = signer.sign(&secret, &args.method, args.url.as_str(), args.base_url.as_str())?;
    print_line(&token)
}
