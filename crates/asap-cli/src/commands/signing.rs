//! The signing options shared by `asap token` and `asap curl`: where the key comes from, and
//! what goes into the token.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use asap_core::{
    Algorithm, Audience, KeyId, PrivateKey, Signer, SigningKey, SigningKeySource as _, TokenRequest,
};
use asap_keys::{ENV_ISSUER, ENV_KEY_ID, ENV_PRIVATE_KEY, FileKeyRepository};
use zeroize::Zeroizing;

use super::input::read_private_key_file;
use super::redact::Secret;
use super::{parse_algorithm, read_passphrase_file};

/// Where the signing key comes from and what the token says.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Signing")]
pub(crate) struct SignerArgs {
    /// The issuer (`iss`): the service that signs
    #[arg(long, env = ENV_ISSUER, hide_env_values = true, value_name = "ISS")]
    issuer: Option<String>,

    /// The kid [env: ASAP_KEY_ID] [default: from a data URI, or ISS/FILE when FILE is in
    /// ISS's directory of a key repository]
    #[arg(long, value_name = "KID")]
    kid: Option<String>,

    /// The private key: a PEM file (PKCS#8, PKCS#1, SEC1, encrypted PKCS#8, OpenSSH) or a data
    /// URI `data:application/pkcs8;kid=...;base64,...` [env: ASAP_PRIVATE_KEY, which may also
    /// hold the PEM text]
    #[arg(long, value_name = "FILE|DATA-URI", conflicts_with = "private_key_repo")]
    private_key: Option<Secret>,

    /// A private key repository: signs with the last DIR/ISS/*.pem (kid ISS/FILE)
    #[arg(long, value_name = "DIR")]
    private_key_repo: Option<PathBuf>,

    /// A file holding the passphrase of an encrypted private key
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,

    /// The signing algorithm [default: the key's: RS256 for RSA, ES256/384/512 for EC, EdDSA
    /// for Ed25519]
    #[arg(long, value_name = "ALG", value_parser = parse_algorithm)]
    alg: Option<Algorithm>,

    /// The subject (`sub`) [default: the issuer]
    #[arg(long, value_name = "SUB")]
    subject: Option<String>,

    /// Seconds until the token expires (at most 3600)
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    lifetime: u64,

    /// An extra claim, its value as JSON: --claim scope='"read"' --claim n=3 (repeatable)
    #[arg(long = "claim", value_name = "NAME=JSON")]
    claims: Vec<String>,
}

impl SignerArgs {
    /// The signer these options describe.
    pub(crate) fn signer(&self) -> anyhow::Result<Signer> {
        let issuer = self
            .issuer
            .clone()
            .filter(|i| !i.trim().is_empty())
            .ok_or_else(|| anyhow!("no issuer: give --issuer ISS or set {ENV_ISSUER}"))?;
        let passphrase = self.passphrase()?;
        let builder = Signer::builder(issuer.clone()).lifetime(Duration::from_secs(self.lifetime));
        let builder = if let Some(repo) = &self.private_key_repo {
            let mut keys = FileKeyRepository::builder(repo, &issuer);
            if let Some(alg) = self.alg {
                keys = keys.algorithm(alg);
            }
            if let Some(passphrase) = &passphrase {
                keys = keys.passphrase(passphrase.as_slice());
            }
            let keys = keys.build()?;
            if let Some(kid) = &self.kid {
                let active = keys.current()?;
                if active.kid().as_str() != kid {
                    bail!(
                        "--kid {kid} is not the active key of {} (that is {})",
                        keys.dir().display(),
                        active.kid()
                    );
                }
            }
            builder.key_source(Arc::new(keys))
        } else {
            builder.key(self.signing_key(&issuer, passphrase.as_ref().map(|p| p.as_slice()))?)
        };
        Ok(builder.build()?)
    }

    /// The token contents for these audiences.
    pub(crate) fn request(&self, audiences: &[String]) -> anyhow::Result<TokenRequest> {
        let mut audiences = audiences.iter().map(|aud| Audience::new(aud.trim()));
        let first = audiences
            .next()
            .ok_or_else(|| anyhow!("no audience: give --audience AUD"))??;
        let mut request = TokenRequest::new(first);
        for audience in audiences {
            request = request.audience(audience?);
        }
        if let Some(subject) = &self.subject {
            request = request.subject(subject.clone());
        }
        for claim in &self.claims {
            let (name, value) = parse_claim(claim)?;
            request = request.claim(name, value);
        }
        Ok(request)
    }

    fn passphrase(&self) -> anyhow::Result<Option<Zeroizing<Vec<u8>>>> {
        self.passphrase_file
            .as_deref()
            .map(read_passphrase_file)
            .transpose()
    }

    /// The key from `--private-key` or `ASAP_PRIVATE_KEY`, bound to its kid.
    fn signing_key(&self, issuer: &str, passphrase: Option<&[u8]>) -> anyhow::Result<SigningKey> {
        let from_env = || {
            std::env::var(ENV_PRIVATE_KEY)
                .ok()
                .filter(|v| !v.trim().is_empty())
        };
        let (source, origin) = match &self.private_key {
            Some(value) => (value.as_str().to_owned(), "--private-key"),
            None => (from_env().ok_or_else(|| {
                anyhow!("no private key: give --private-key FILE|DATA-URI or --private-key-repo DIR, or set {ENV_PRIVATE_KEY}")
            })?, ENV_PRIVATE_KEY),
        };
        let source = Zeroizing::new(source);
        let kid = match &self.kid {
            Some(kid) => Some(kid.clone()),
            None => std::env::var(ENV_KEY_ID).ok().filter(|v| !v.trim().is_empty()),
        };
        let kid = kid
            .map(|kid| KeyId::parse(kid.trim()).with_context(|| format!("invalid kid {kid:?}")))
            .transpose()?;
        let source = source.trim();
        let (kid, key): (KeyId, PrivateKey) =
            if source.get(..5).is_some_and(|s| s.eq_ignore_ascii_case("data:")) {
                let (uri_kid, key) = asap_keys::parse_data_uri(source)?;
                match kid {
                    Some(kid) if kid != uri_kid => {
                        bail!("--kid {kid} differs from the kid {uri_kid} in the data URI")
                    }
                    _ => (uri_kid, key),
                }
            } else if source.starts_with("-----BEGIN") {
                // PEM text, as ASAP_PRIVATE_KEY may hold it (line breaks possibly written `\n`).
                let text = Zeroizing::new(source.replace("\\n", "\n"));
                let key = asap_keys::parse_private_key(&text, passphrase)?;
                let kid = kid.ok_or_else(|| {
                    anyhow!("no kid for the private key: give --kid KID or set {ENV_KEY_ID}")
                })?;
                (kid, key)
            } else {
                let key = read_private_key_file(
                    source,
                    origin,
                    "a PEM private key (-----BEGIN …), a data: URI",
                    passphrase,
                )?;
                let path = Path::new(source);
                let kid = match kid {
                    Some(kid) => kid,
                    None => kid_from_repository_path(path, issuer).ok_or_else(|| {
                        anyhow!(
                            "no kid for {}: give --kid KID (or set {ENV_KEY_ID}), or keep the key in a \
                         repository as DIR/{issuer}/NAME.pem",
                            path.display()
                        )
                    })?,
                };
                (kid, key)
            };
        Ok(SigningKey::new(kid, key, self.alg)?)
    }
}

/// `ISS/FILE` for a key file kept at `DIR/ISS/FILE`, the kid a key repository gives it.
fn kid_from_repository_path(path: &Path, issuer: &str) -> Option<KeyId> {
    let file = path.file_name()?.to_str()?;
    if !path.parent()?.ends_with(issuer) {
        return None;
    }
    KeyId::parse(&format!("{issuer}/{file}")).ok()
}

/// `NAME=JSON` → the claim.
fn parse_claim(claim: &str) -> anyhow::Result<(String, serde_json::Value)> {
    let (name, value) = claim
        .split_once('=')
        .filter(|(name, _)| !name.is_empty())
        .ok_or_else(|| anyhow!("--claim {claim:?} is not NAME=JSON"))?;
    let value = serde_json::from_str(value).map_err(|e| {
        anyhow!("--claim {name}: the value is not JSON ({e}); quote strings: --claim {name}='\"{value}\"'")
    })?;
    Ok((name.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_name_equals_json() {
        assert_eq!(
            parse_claim("n=3").expect("valid"),
            ("n".to_owned(), serde_json::json!(3))
        );
        assert_eq!(
            parse_claim("scope=\"a=b\"").expect("valid"),
            ("scope".to_owned(), serde_json::json!("a=b"))
        );
        assert!(parse_claim("scope=read").is_err());
        assert!(parse_claim("=1").is_err());
        assert!(parse_claim("novalue").is_err());
    }

    #[test]
    fn the_kid_of_a_repository_file_is_issuer_slash_file() {
        let kid = kid_from_repository_path(Path::new("/keys/billing/k1.pem"), "billing").expect("kid");
        assert_eq!(kid.as_str(), "billing/k1.pem");
        let kid =
            kid_from_repository_path(Path::new("keys/micros/billing/k1.pem"), "micros/billing").expect("kid");
        assert_eq!(kid.as_str(), "micros/billing/k1.pem");
        assert!(kid_from_repository_path(Path::new("/keys/other/k1.pem"), "billing").is_none());
        assert!(kid_from_repository_path(Path::new("k1.pem"), "billing").is_none());
    }
}
