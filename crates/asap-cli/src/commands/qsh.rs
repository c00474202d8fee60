//! `asap qsh`: the Atlassian Connect query string hash of a request, or its canonical form.

use super::print_line;
use super::redact::SecretUrl;

const AFTER_HELP: &str = "\
Examples:
  asap qsh GET '/rest/api/search?cql=type%3Dpage&limit=10'
  asap qsh --canonical --base-url https://acme.atlassian.net/wiki GET https://acme.atlassian.net/wiki/rest/api/space
  GET&/rest/api/space&";

/// Print the Connect qsh of a request (or, with --canonical, its canonical request).
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// Print the canonical request `METHOD&path&query` instead of its hash
    #[arg(long)]
    canonical: bool,

    /// The base URL (or base path) the request path is relative to, e.g. the tenant's baseUrl
    #[arg(long, value_name = "URL", default_value = "")]
    base_url: SecretUrl,

    /// The HTTP method
    #[arg(value_name = "METHOD")]
    method: String,

    /// The request URL: absolute, or a path with its query (`/path?a=b`)
    #[arg(value_name = "URL")]
    url: SecretUrl,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let line = if args.canonical {
        connect_qsh::canonical_request(&args.method, args.url.as_str(), args.base_url.as_str())?
    } else {
        connect_qsh::qsh(&args.method, args.url.as_str(), args.base_url.as_str())?
    };
    print_line(&line)
}
