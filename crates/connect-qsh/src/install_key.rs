//! Tokens signed with an asymmetric key of the product: RS256, the public key fetched by the
//! token's `kid` from a key source, `aud` = the app's base URL. The one rule behind signed
//! lifecycle callbacks and the [`Authenticator`](crate::Authenticator)'s public-key mode.

use std::fmt;
use std::sync::Arc;

use asap_core::{
    Algorithm, Audience, Jws, JwsSignature, KeyError, KeyId, PublicKeySource, TokenError, check_audience,
};

use crate::canonical::RequestTarget;
use crate::claims::ConnectClaims;
use crate::error::{AuthError, ConfigError};

/// The product's signing keys, by `kid`, and the audience their tokens must name.
#[derive(Clone)]
pub(crate) struct InstallKeys {
    source: Arc<dyn PublicKeySource>,
    /// The app base URL with and without one trailing `/`.
    audiences: Arc<[Audience]>,
}

impl InstallKeys {
    /// `app_base_url` must be absolute: it is the `aud` of every token verified here.
    pub(crate) fn new(
        source: Arc<dyn PublicKeySource>,
        app_base_url: &str,
    ) -> Result<InstallKeys, ConfigError> {
        if RequestTarget::split(app_base_url).origin.is_none() {
            return Err(ConfigError(format!(
                "the app base URL {app_base_url:?} must be absolute: it is the `aud` of RS256 Connect tokens"
            )));
        }
        let base = app_base_url.strip_suffix('/').unwrap_or(app_base_url);
        let audiences = [base.to_owned(), format!("{base}/")]
            .iter()
            .map(|aud| Audience::new(aud).map_err(|e| ConfigError(e.to_string())))
            .collect::<Result<_, _>>()?;
        Ok(InstallKeys { source, audiences })
    }

    /// The asymmetric-signature rule: RS256 with the key the source publishes for the token's
    /// `kid` (through asap-core's `PublicKey::verify` seam), and `aud` naming the app.
    pub(crate) async fn verify(
        &self,
        jws: &Jws<'_>,
        signed: &JwsSignature<'_>,
        claims: &ConnectClaims,
    ) -> Result<KeyId, AuthError> {
        let kid = KeyId::parse(jws.header().require_kid()?)?;
        let key = self.source.public_key(&kid).await?;
        signed.verify(&*key, Algorithm::RS256).map_err(|e| match e {
            // The source published a key that cannot verify RS256.
            TokenError::KeyAlgorithmMismatch { alg, key } => AuthError::InvalidKey {
                kid: kid.clone(),
                source: KeyError::AlgorithmMismatch { alg, key },
            },
            other => AuthError::Token(other),
        })?;
        check_audience(claims.audiences(), &self.audiences)?;
        Ok(kid)
    }
}

impl fmt::Debug for InstallKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallKeys")
            .field("source", &self.source)
            .field("audiences", &self.audiences)
            .finish()
    }
}
