//! A user's keys from a JSON Web Key Set registered for that user (feature `jwks`): the
//! [`UserKeySource`] over `asap_keys::JwksKeySource`.

use std::collections::HashMap;
use std::fmt;

use asap_core::{ConfigError, KeyId, KeySourceError, PublicKeySource};
use asap_keys::JwksKeySource;

use crate::fingerprint::Fingerprint;
use crate::source::{UserKeyFuture, UserKeySource};

/// Users' keys from a JWKS URL per user, as asymmetric-jwt-auth lets a user register one: the
/// key whose `kid` is the token's fingerprint.
///
/// Every set is read through one [`JwksKeySource`] per user, made from a template with
/// [`JwksKeySource::for_url`] (one HTTP client, one policy): https only, a body cap, single
/// flight, `Cache-Control`, one refetch per cooldown for an unknown kid, and a maximum age.
/// A user without a registered set, and a fingerprint that is not in the user's set, are
/// `Ok(None)`. A set that cannot be fetched is an error (503) only for a key that set held
/// when it was last fetched: any other fingerprint is `Ok(None)`, as for a user without a
/// set, so that an outage of a user's set does not tell a made-up token for that user from
/// one for a user who is not registered. The cost is that a set that has never been fetched
/// answers "no key" (401) while it cannot be fetched, for its user's genuine keys too (the
/// fetch failure is logged as a warning): [`PerUserJwks::warm`] at start-up makes that only
/// the sets that were down from the start.
///
/// What timing still tells: a user's first lookup waits for the set to be fetched, which takes
/// longer than answering for a user without one (call [`PerUserJwks::warm`] at start-up so
/// that requests are answered from the cache), and an unknown fingerprint for a user with a set
/// costs one refetch per cooldown, so one answer per cooldown and user is slower.
///
/// ```no_run
/// use asap_keys::JwksKeySource;
/// use user_tokens::{PerUserJwks, UserVerifier};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let template = JwksKeySource::builder("https://keys.example.com/template.json").build()?;
/// let keys = PerUserJwks::new(template).with_user("ann", "https://keys.example.com/ann.json")?;
/// keys.warm().await;
/// let verifier = UserVerifier::builder(keys).build()?;
/// # let _ = verifier; Ok(()) }
/// ```
pub struct PerUserJwks {
    template: JwksKeySource,
    users: HashMap<String, JwksKeySource>,
}

impl PerUserJwks {
    /// No users yet; their sets will be fetched with `template`'s client and settings.
    pub fn new(template: JwksKeySource) -> PerUserJwks {
        PerUserJwks {
            template,
            users: HashMap::new(),
        }
    }

    /// Registers `url` as `username`'s key set (replacing any earlier one).
    ///
    /// # Errors
    ///
    /// When `url` is not an `https` URL (or loopback `http` where the template allows it).
    pub fn with_user(mut self, username: impl Into<String>, url: &str) -> Result<PerUserJwks, ConfigError> {
        let source = self
            .template
            .for_url(url)
            .map_err(|e| ConfigError(format!("the key set URL of a user: {e}")))?;
        self.users.insert(username.into(), source);
        Ok(self)
    }

    /// Fetches every registered set once, so that lookups are answered from the cache; a set
    /// that cannot be fetched now is fetched again on its user's first lookup.
    pub async fn warm(&self) {
        for (username, source) in &self.users {
            if let Err(e) = source.refresh().await {
                tracing::warn!(user = %username, error = %e, "a user's key set could not be fetched");
            }
        }
    }
}

impl fmt::Debug for PerUserJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerUserJwks")
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

impl UserKeySource for PerUserJwks {
    fn user_key<'a>(&'a self, username: &'a str, fingerprint: &'a Fingerprint) -> UserKeyFuture<'a> {
        Box::pin(async move {
            let Some(source) = self.users.get(username) else {
                return Ok(None);
            };
            // A fingerprint is 64 lower-case hex digits: always a one-segment kid.
            let Ok(kid) = KeyId::parse(fingerprint.as_str()) else {
                return Ok(None);
            };
            match source.public_key(&kid).await {
                Ok(key) => Ok(Some(key)),
                Err(KeySourceError::NotFound(_)) => Ok(None),
                // The set is down: 503 for a key it held when last seen, the user's own; "no
                // key" for any other fingerprint, as for a user without a set.
                Err(e) if source.key_set().is_some_and(|set| set.get(&kid).is_some()) => Err(e.into()),
                Err(_) => Ok(None),
            }
        })
    }
}
