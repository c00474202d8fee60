//! `asap curl`: one HTTP request with a fresh ASAP token, like `curl --fail`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use asap_keys::ENV_AUDIENCE;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, WWW_AUTHENTICATE};

use super::input::{Input, read_file, read_stdin};
use super::redact::{Secret, SecretUrl};
use super::signing::SignerArgs;
use super::write_stdout;

const AFTER_HELP: &str = "\
Sends `Authorization: Bearer <token>` with a token for --audience, prints the response body, and
exits 1 with one line on stderr when the status is 400 or more (like `curl --fail`). Redirects
are not followed. Plain http is allowed to this machine (127.0.0.0/8, ::1, localhost) only,
unless --allow-insecure-http: the token is a credential.

Examples:
  asap curl --issuer billing --private-key-repo private --audience ledger https://ledger.example.com/api/balance
  asap curl -X POST -H 'Content-Type: application/json' -d '{\"amount\": 3}' --audience ledger http://127.0.0.1:8080/pay
  asap curl --bind -X POST --audience ledger 'http://127.0.0.1:8080/api/pay?to=acme' --base-url http://127.0.0.1:8080/api

--bind binds the token to this request (its `qsh` claim is the hash of the method and URL, as
`asap token --bind` makes it): the body is not covered.";

/// Send an HTTP request with an ASAP token and print the response body.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// The request method [default: GET, or POST with --data]
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    method: Option<String>,

    /// A request header (repeatable)
    #[arg(short = 'H', long = "header", value_name = "Name: value")]
    headers: Vec<Secret>,

    /// The request body; @FILE reads a file, @- stdin (at most 16 MiB)
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    data: Option<Secret>,

    /// The audience (`aud`) of the token: the service called (repeatable)
    #[arg(long = "audience", env = ENV_AUDIENCE, hide_env_values = true, value_name = "AUD", required = true)]
    audiences: Vec<String>,

    /// Print the status line and response headers before the body
    #[arg(short = 'i', long)]
    include: bool,

    /// On an HTTP error, print the response body too
    #[arg(long)]
    fail_with_body: bool,

    /// Allow plain http to hosts other than this machine (sends the token in clear text)
    #[arg(long)]
    allow_insecure_http: bool,

    /// Trust the CA certificates in this PEM file, besides the system's
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,

    /// Give up after this many seconds
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    max_time: u64,

    /// Bind the token to this request's method and URL (a `qsh` claim)
    #[arg(long)]
    bind: bool,

    /// The base URL (or base path) --bind is relative to, as the server has it [default: none,
    /// the whole path]
    #[arg(long, value_name = "URL", requires = "bind")]
    base_url: Option<SecretUrl>,

    #[command(flatten)]
    signer: SignerArgs,

    /// The URL to request
    #[arg(value_name = "URL")]
    url: SecretUrl,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    // What messages show of the URL: never its userinfo or query (`redact_url`).
    let shown = asap_registry::redact_url(args.url.as_str());
    let url = url::Url::parse(args.url.as_str()).with_context(|| format!("invalid URL {shown:?}"))?;
    match url.scheme() {
        "https" => {}
        "http" if args.allow_insecure_http || asap_keys::is_loopback(&url) => {}
        "http" => {
            bail!(
                "refusing to send a token in clear text to {shown}: use https, or pass --allow-insecure-http"
            )
        }
        other => bail!("unsupported URL scheme {other:?}: use https or http"),
    }
    let headers = parse_headers(&args.headers)?;
    let body = args.data.as_ref().map(|d| read_data(d.as_str())).transpose()?;
    let method = match (&args.method, &body) {
        (Some(method), _) => reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| anyhow!("invalid method {method:?}"))?,
        (None, Some(_)) => reqwest::Method::POST,
        (None, None) => reqwest::Method::GET,
    };

    let signer = args.signer.signer()?;
    let mut token_request = args.signer.request(&args.audiences)?;
    if args.bind {
        // The URL as it goes on the wire: reqwest sends `url` serialised as it is here.
        let base_url = args.base_url.as_ref().map_or("", SecretUrl::as_str);
        token_request = super::token::bind(token_request, method.as_str(), url.as_str(), base_url)?;
    }
    let token = signer.sign_request(&token_request)?;
    let mut authorization = HeaderValue::try_from(format!("Bearer {token}")).context("token")?;
    authorization.set_sensitive(true);

    let mut client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // Straight to the URL: a proxy from the environment would see the token, in clear for
        // the loopback `http` this command allows.
        .no_proxy()
        .timeout(Duration::from_secs(args.max_time))
        .user_agent(concat!("asap-cli/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &args.cacert {
        let pem = read_file(path, Input::CaBundle)?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("{} holds no usable certificate", path.display()))?;
        client = client.tls_certs_merge(certs);
    }
    let client = client.build().context("cannot build the HTTP client")?;

    let mut request = client.request(method, url.clone()).headers(headers.clone());
    request = request.header(AUTHORIZATION, authorization);
    if let Some(body) = body {
        // curl's default for -d.
        if !headers.contains_key(CONTENT_TYPE) {
            request = request.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        request = request.body(body);
    }
    let response = request
        .send()
        .await
        .map_err(|e| anyhow!("request to {shown} failed: {}", error_chain(&e.without_url())))?;

    let status = response.status();
    if args.include {
        let mut head = format!("{:?} {status}\r\n", response.version());
        for (name, value) in response.headers() {
            head.push_str(&format!(
                "{name}: {}\r\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        head.push_str("\r\n");
        write_stdout(head.as_bytes())?;
    }
    let challenge = response
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let failed = status.as_u16() >= 400;
    if !failed || args.fail_with_body {
        let body = response.bytes().await.map_err(|e| {
            anyhow!(
                "reading the response from {shown} failed: {}",
                error_chain(&e.without_url())
            )
        })?;
        write_stdout(&body)?;
    }
    if failed {
        let challenge = challenge
            .map(|c| format!(" (WWW-Authenticate: {c})"))
            .unwrap_or_default();
        bail!("{shown} answered HTTP {status}{challenge}");
    }
    Ok(())
}

fn parse_headers(headers: &[Secret]) -> anyhow::Result<HeaderMap> {
    let mut map = HeaderMap::new();
    for header in headers.iter().map(Secret::as_str) {
        let (name, value) = header
            .split_once(':')
            // The value may be a credential: the message never shows it.
            .ok_or_else(|| anyhow!("a -H value is not 'Name: value'"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| anyhow!("invalid header name {name:?}"))?;
        if name == AUTHORIZATION {
            bail!("-H Authorization: asap curl sets the Authorization header itself");
        }
        let value =
            HeaderValue::from_str(value.trim()).map_err(|_| anyhow!("invalid value for header {name}"))?;
        map.append(name, value);
    }
    Ok(map)
}

/// `-d` as curl reads it: the text itself, `@FILE`, or `@-` for stdin.
fn read_data(data: &str) -> anyhow::Result<Vec<u8>> {
    match data.strip_prefix('@') {
        Some("-") => read_stdin(Input::RequestBody, "the body on stdin"),
        Some(path) => read_file(Path::new(path), Input::RequestBody),
        None => Ok(data.as_bytes().to_vec()),
    }
}

/// reqwest's errors keep the useful part (connection refused, certificate unknown) in their
/// sources.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !line.contains(&message) {
            line.push_str(": ");
            line.push_str(&message);
        }
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::super::Cli;
    use super::super::input::MAX_REQUEST_BODY_BYTES;

    #[test]
    fn the_help_of_data_states_the_body_cap() {
        let cli = Cli::command();
        let curl = cli.find_subcommand("curl").expect("curl");
        let data = curl.get_arguments().find(|a| a.get_id() == "data").expect("-d");
        let help = data.get_help().expect("help").to_string();
        let cap = format!("at most {} MiB", MAX_REQUEST_BODY_BYTES / (1024 * 1024));
        assert!(help.contains(&cap), "{help}");
    }
}
