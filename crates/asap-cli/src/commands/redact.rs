//! The argument types of values that may be secrets, so that a `{:?}` of any arguments struct
//! (a log line, a panic message, a debugging `dbg!`) never shows one: each arguments struct
//! derives `Debug`, and a field that may hold a secret has one of these types instead of
//! `String`.
//!
//! - [`Secret`]: a value that is or may carry a credential: key material (`--private-key` takes
//!   a PEM text or a data URI as well as a path), a shared secret, a token, and what is passed
//!   through to a request or a command (`curl -H`/`-d`, `run -- COMMAND`). Shown `<redacted>`.
//! - [`SecretUrl`]: every URL argument, which may hold a password in its userinfo (a
//!   `postgres://` `--db`) or a key in its query. Shown as [`asap_registry::redact_url`] shows a
//!   URL in errors, so the two never disagree.

use std::ffi::OsString;
use std::fmt;

/// What a redacted value shows.
const REDACTED: &str = "<redacted>";

/// A value that may be a secret; [`expose`](Secret::expose) gives it, `{:?}` never does.
#[derive(Clone)]
pub(crate) struct Secret<T = String>(T);

impl<T> Secret<T> {
    /// The value itself.
    pub(crate) fn expose(&self) -> &T {
        &self.0
    }
}

impl Secret {
    /// The value itself, as text.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

// clap builds an argument's value through `From` (`value_parser!` picks it).
impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl From<OsString> for Secret<OsString> {
    fn from(value: OsString) -> Secret<OsString> {
        Secret(value)
    }
}

/// A URL argument; `{:?}` shows it without userinfo, query and fragment.
#[derive(Clone)]
pub(crate) struct SecretUrl(String);

impl SecretUrl {
    /// The URL as given.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&asap_registry::redact_url(&self.0), f)
    }
}

impl From<String> for SecretUrl {
    fn from(value: String) -> SecretUrl {
        SecretUrl(value)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::commands::Cli;

    /// What each secret-bearing argument is set to below.
    const SECRET: &str = "s3cret-value";

    #[test]
    fn redacted_values_never_show_in_debug() {
        let secret = Secret::from(format!("-----BEGIN PRIVATE KEY-----{SECRET}"));
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(secret.as_str(), format!("-----BEGIN PRIVATE KEY-----{SECRET}"));
        let url = SecretUrl::from(format!(
            "postgres://app:{SECRET}@db.internal:5432/keys?sslkey={SECRET}"
        ));
        assert_eq!(
            format!("{url:?}"),
            "\"postgres://<redacted>@db.internal:5432/keys?<redacted>\""
        );
    }

    /// Every argument that may hold a secret, on every command that takes one: none of them
    /// shows in `{:?}` or `{:#?}` of the parsed command line.
    #[test]
    fn no_arguments_debug_shows_a_secret() {
        let db = format!("postgres://app:{SECRET}@db.internal/keys");
        let url = format!("https://user:{SECRET}@svc.example.com/pay?api_key={SECRET}");
        let header = format!("X-Api-Key: {SECRET}");
        let signing = ["--issuer", "svc", "--private-key", SECRET];
        let command_lines: Vec<Vec<&str>> = vec![
            vec!["keys", "add", "--db", &db, "--principal", "p", "key.pub"],
            vec!["keys", "list", "--db", &db],
            vec!["keys", "revoke", "--db", &db, "--principal", "p", "--name", "k"],
            vec!["serve-keys", "--db", &db],
            vec![
                "token",
                "--audience",
                "a",
                "--bind",
                "GET",
                &url,
                "--base-url",
                &url,
            ],
            vec![
                "curl",
                "-H",
                &header,
                "-d",
                SECRET,
                "--audience",
                "a",
                "--bind",
                "--base-url",
                &url,
                &url,
            ],
            vec![
                "verify",
                "--audience",
                "a",
                "--key-repo",
                &url,
                "--fallback-key-repo",
                &url,
                SECRET,
            ],
            vec!["verify", "--audience", "a", "--jwks", &url, SECRET],
            vec!["inspect", SECRET],
            vec![
                "connect-token",
                "--client-key",
                "c",
                "--shared-secret",
                SECRET,
                "--base-url",
                &url,
                "GET",
                &url,
            ],
            vec!["qsh", "--base-url", &url, "GET", &url],
            vec![
                "proxy",
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                &url,
                "--audience",
                "a",
            ],
            vec!["run", "--audience", "a", "--", "sh", "-c", SECRET],
            vec!["user-token", "--username", "u", "--private-key", SECRET],
            vec!["user-verify", "--username", "u", "--public-key", "k.pub", SECRET],
            vec!["issuer-verify", "--public-key", "k.pem", SECRET],
        ];
        for line in command_lines {
            let mut args = vec!["asap"];
            args.extend(&line);
            if matches!(line[0], "token" | "curl" | "proxy" | "run") {
                let at = args.iter().position(|a| *a == "--").unwrap_or(args.len());
                args.splice(at..at, signing);
            }
            let cli = Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            for shown in [format!("{cli:?}"), format!("{cli:#?}")] {
                assert!(!shown.contains(SECRET), "{line:?} shows the secret: {shown}");
            }
        }
    }
}
