//! A ready signer from the `ASAP_*` environment variables the reference implementations use.

use asap_core::{Audience, KeyId, SignError, Signer, SigningKey, Token};

use crate::error::EnvError;
use crate::formats::parse_data_uri;
use crate::formats::parse_private_key;

/// The token issuer (required).
pub const ENV_ISSUER: &str = "ASAP_ISSUER";
/// The kid (required unless `ASAP_PRIVATE_KEY` is a data URI, which carries one).
pub const ENV_KEY_ID: &str = "ASAP_KEY_ID";
/// The private key: a data URI `data:application/pkcs8;kid=…;base64,…` or PEM text (required).
pub const ENV_PRIVATE_KEY: &str = "ASAP_PRIVATE_KEY";
/// The default audience of tokens (optional).
pub const ENV_AUDIENCE: &str = "ASAP_AUDIENCE";

/// A [`Signer`] built from the environment, with the default audience if one was set.
///
/// ```
/// use asap_core::{KeyId, KeyKind, KeySpec, PrivateKey};
/// use asap_keys::{EnvSigner, to_data_uri};
///
/// let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256))?;
/// let uri = to_data_uri(&KeyId::parse("billing/k1")?, &key)?;
/// let vars = move |name: &str| match name {
///     "ASAP_ISSUER" => Some("billing".to_owned()),
///     "ASAP_PRIVATE_KEY" => Some(uri.clone()),
///     "ASAP_AUDIENCE" => Some("ledger".to_owned()),
///     _ => None,
/// };
/// let env = EnvSigner::from_vars(vars)?;
/// let token = env.sign()?;
/// assert_eq!(env.signer().issuer(), "billing");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct EnvSigner {
    signer: Signer,
    audience: Option<Audience>,
}

impl EnvSigner {
    /// Reads `ASAP_ISSUER`, `ASAP_KEY_ID`, `ASAP_PRIVATE_KEY` and `ASAP_AUDIENCE` from the
    /// process environment.
    pub fn from_env() -> Result<EnvSigner, EnvError> {
        EnvSigner::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `vars`, so that tests and embedders need not touch the
    /// process environment. Every error names the variable that is missing or wrong.
    ///
    /// `ASAP_KEY_ID` may be left out when `ASAP_PRIVATE_KEY` is a data URI (its kid is used);
    /// when both are given they must agree. The kid must belong to the issuer
    /// (`<issuer>/…`). PEM in `ASAP_PRIVATE_KEY` may have its line breaks written as `\n`.
    pub fn from_vars(vars: impl Fn(&str) -> Option<String>) -> Result<EnvSigner, EnvError> {
        let get = |name: &'static str| vars(name).filter(|v| !v.trim().is_empty());
        let issuer = get(ENV_ISSUER).ok_or(EnvError::Missing(ENV_ISSUER))?;
        let issuer = issuer.trim().to_owned();
        let key_id = get(ENV_KEY_ID)
            .map(|kid| KeyId::parse(kid.trim()).map_err(|e| EnvError::invalid(ENV_KEY_ID, e)))
            .transpose()?;
        let private =
            zeroize::Zeroizing::new(get(ENV_PRIVATE_KEY).ok_or(EnvError::Missing(ENV_PRIVATE_KEY))?);
        let private = private.trim();
        let (kid, key) = if private.get(..5).is_some_and(|s| s.eq_ignore_ascii_case("data:")) {
            let (uri_kid, key) =
                parse_data_uri(private).map_err(|e| EnvError::invalid(ENV_PRIVATE_KEY, e))?;
            match key_id {
                Some(kid) if kid != uri_kid => {
                    return Err(EnvError::invalid(
                        ENV_KEY_ID,
                        format!("{kid} differs from the kid {uri_kid} in {ENV_PRIVATE_KEY}"),
                    ));
                }
                _ => (uri_kid, key),
            }
        } else {
            let text = if private.contains('\n') {
                zeroize::Zeroizing::new(private.to_owned())
            } else {
                zeroize::Zeroizing::new(private.replace("\\n", "\n"))
            };
            let key = parse_private_key(&text, None).map_err(|e| EnvError::invalid(ENV_PRIVATE_KEY, e))?;
            (key_id.ok_or(EnvError::Missing(ENV_KEY_ID))?, key)
        };
        if let Err(e) = kid.check_owned_by(&issuer, asap_core::KidOwnership::default()) {
            return Err(EnvError::invalid(ENV_KEY_ID, e));
        }
        let key = SigningKey::new(kid, key, None).map_err(|e| EnvError::invalid(ENV_PRIVATE_KEY, e))?;
        let signer = Signer::builder(issuer)
            .key(key)
            .build()
            .map_err(|e| EnvError::invalid(ENV_ISSUER, e))?;
        let audience = get(ENV_AUDIENCE)
            .map(|aud| Audience::new(aud.trim()).map_err(|e| EnvError::invalid(ENV_AUDIENCE, e.to_string())))
            .transpose()?;
        Ok(EnvSigner { signer, audience })
    }

    /// The signer.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// The default audience (`ASAP_AUDIENCE`), if set.
    pub fn audience(&self) -> Option<&Audience> {
        self.audience.as_ref()
    }

    /// A token for the default audience.
    pub fn sign(&self) -> Result<Token, SignError> {
        let audience = self
            .audience
            .as_ref()
            .ok_or_else(|| SignError::Config(format!("{ENV_AUDIENCE} is not set: give an audience")))?;
        self.signer.sign(audience)
    }

    /// The signer and the default audience.
    pub fn into_parts(self) -> (Signer, Option<Audience>) {
        (self.signer, self.audience)
    }
}

#[cfg(test)]
mod tests {
    use asap_core::{KeyKind, KeySpec, PrivateKey};

    use super::*;
    use crate::formats::to_data_uri;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn key() -> PrivateKey {
        PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("generate")
    }

    #[test]
    fn errors_name_the_variable() {
        let uri = to_data_uri(&KeyId::parse("billing/k1").expect("kid"), &key()).expect("uri");
        let pem = key().to_pkcs8_pem().expect("pem");
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![(ENV_PRIVATE_KEY, &uri)], ENV_ISSUER),
            (vec![(ENV_ISSUER, "billing")], ENV_PRIVATE_KEY),
            (
                vec![(ENV_ISSUER, "billing"), (ENV_PRIVATE_KEY, "data:junk")],
                ENV_PRIVATE_KEY,
            ),
            (
                vec![(ENV_ISSUER, "billing"), (ENV_PRIVATE_KEY, "not a key")],
                ENV_PRIVATE_KEY,
            ),
            (vec![(ENV_ISSUER, "billing"), (ENV_PRIVATE_KEY, &pem)], ENV_KEY_ID),
            (
                vec![
                    (ENV_ISSUER, "billing"),
                    (ENV_PRIVATE_KEY, &pem),
                    (ENV_KEY_ID, "../x"),
                ],
                ENV_KEY_ID,
            ),
            (
                vec![
                    (ENV_ISSUER, "billing"),
                    (ENV_PRIVATE_KEY, &pem),
                    (ENV_KEY_ID, "other/k1"),
                ],
                ENV_KEY_ID,
            ),
            (
                vec![
                    (ENV_ISSUER, "billing"),
                    (ENV_PRIVATE_KEY, &uri),
                    (ENV_KEY_ID, "billing/k2"),
                ],
                ENV_KEY_ID,
            ),
            (vec![(ENV_ISSUER, "other"), (ENV_PRIVATE_KEY, &uri)], ENV_KEY_ID),
        ];
        for (pairs, variable) in cases {
            let err = EnvSigner::from_vars(vars(&pairs)).expect_err("must fail");
            assert_eq!(err.variable(), variable, "{err}");
            assert!(err.to_string().contains(variable), "{err}");
            assert!(!err.to_string().contains("BEGIN"), "no key material in {err}");
        }
    }

    #[test]
    fn pem_with_escaped_newlines_and_a_key_id() {
        let pem = key().to_pkcs8_pem().expect("pem").replace('\n', "\\n");
        let env = EnvSigner::from_vars(vars(&[
            (ENV_ISSUER, "billing"),
            (ENV_KEY_ID, "billing/k9"),
            (ENV_PRIVATE_KEY, &pem),
        ]))
        .expect("signer");
        assert!(env.audience().is_none());
        assert!(matches!(env.sign(), Err(SignError::Config(_))));
        let aud = Audience::new("ledger").expect("aud");
        assert!(env.signer().sign(&aud).is_ok());
    }
}
