//! Configuring a [`JwksKeySource`]: every setting is checked once, in
//! [`build`](JwksKeySourceBuilder::build).

use std::sync::Arc;
use std::time::Duration;

use asap_core::{Clock, SystemClock};

use super::{JWKS_CONTENT_TYPE, JwksKeySource, jwks_content_types};
use crate::error::ConfigError;
use crate::http::{CachePolicy, ClientSettings, HttpGet, checked_url};

/// What a key set needs beyond HTTP caching: the refetch cooldown for unknown kids and the
/// maximum age of a set.
///
/// ```
/// use std::time::Duration;
/// let mut policy = asap_keys::JwksPolicy::default();
/// policy.max_age = Duration::from_secs(3600);
/// let keys = asap_keys::JwksKeySource::builder("https://issuer.example/.well-known/jwks.json")
///     .policy(policy)
///     .build()?;
/// # Ok::<(), asap_keys::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwksPolicy {
    /// After a kid the set does not hold made the set be fetched again, how long until another
    /// unknown kid may; default 30 s.
    pub refetch_cooldown: Duration,
    /// The longest a fetched set is used, whatever its `Cache-Control` asks and however long
    /// refreshes fail; default 1 day.
    pub max_age: Duration,
}

impl Default for JwksPolicy {
    fn default() -> Self {
        JwksPolicy {
            refetch_cooldown: Duration::from_secs(30),
            max_age: Duration::from_secs(24 * 3600),
        }
    }
}

/// Configures a [`JwksKeySource`].
#[derive(Debug, Clone)]
#[must_use]
pub struct JwksKeySourceBuilder {
    url: String,
    client: ClientSettings,
    cache: CachePolicy,
    policy: JwksPolicy,
    clock: Option<Arc<dyn Clock>>,
}

impl JwksKeySource {
    /// Starts a source for the key set at `url`.
    pub fn builder(url: impl Into<String>) -> JwksKeySourceBuilder {
        JwksKeySourceBuilder {
            url: url.into(),
            client: ClientSettings::default(),
            cache: CachePolicy::default(),
            policy: JwksPolicy::default(),
            clock: None,
        }
    }
}

impl JwksKeySourceBuilder {
    /// Allows a plain `http://` URL whose host is a loopback address (see
    /// [`is_loopback`](crate::is_loopback)), for a key set served by a sidecar or in tests. Off
    /// by default.
    pub fn allow_insecure_loopback(mut self, allow: bool) -> Self {
        self.client.allow_insecure_loopback = allow;
        self
    }

    /// The time allowed to establish a connection (TCP and TLS); default 2 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.client.connect_timeout = timeout;
        self
    }

    /// The time allowed for the whole request, body included; default 5 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.client.timeout = timeout;
        self
    }

    /// How `Cache-Control` is read: defaults when absent, caps, and how long a failure is
    /// remembered ([`CachePolicy::error_ttl`]). The counts of cached entries do not apply: a
    /// source holds one set.
    pub fn cache_policy(mut self, policy: CachePolicy) -> Self {
        self.cache = policy;
        self
    }

    /// The refetch cooldown and maximum age ([`JwksPolicy::default`] unless given).
    pub fn policy(mut self, policy: JwksPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The clock the cache windows, the cooldown and the maximum age are measured with
    /// ([`SystemClock`] unless given; a [`ManualClock`](asap_core::ManualClock) in tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Trusts only the CA certificates in this PEM bundle (a private PKI, tests).
    pub fn root_certificates_pem(mut self, pem: impl Into<String>) -> Self {
        self.client.roots_only = Some(pem.into());
        self
    }

    /// Trusts the CA certificates in this PEM bundle in addition to the system's.
    pub fn add_root_certificates_pem(mut self, pem: impl Into<String>) -> Self {
        self.client.extra_roots.push(pem.into());
        self
    }

    /// Checks the URL and settings and builds the source.
    pub fn build(self) -> Result<JwksKeySource, ConfigError> {
        let url = checked_url(&self.url, self.client.allow_insecure_loopback)?;
        if self.policy.max_age.is_zero() {
            return Err(ConfigError::Setting(
                "the maximum age of a key set must not be zero".to_owned(),
            ));
        }
        let client = self.client.build()?;
        Ok(JwksKeySource::from_parts(
            url.to_string(),
            self.client.allow_insecure_loopback,
            Arc::new(HttpGet {
                client,
                timeout: self.client.timeout,
                accept: JWKS_CONTENT_TYPE,
                content_types: jwks_content_types(),
            }),
            self.cache,
            self.policy,
            self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
        ))
    }
}
