//! Configuring a repository client: every setting is checked once, in
//! [`build`](HttpKeyRepositoryBuilder::build).

use std::sync::Arc;
use std::time::Duration;

use super::budget::{Budgets, FetchBudget};
use super::cache::{AnswerCache, CachePolicy};
use super::client::ClientSettings;
use super::fetch::{Fetcher, HttpGet, PEM_CONTENT_TYPE};
use super::single_flight::SingleFlight;
use super::url::base_url;
use super::{HttpKeyRepository, Inner};
use crate::error::ConfigError;

/// Configures an [`HttpKeyRepository`].
#[derive(Debug, Clone)]
#[must_use]
pub struct HttpKeyRepositoryBuilder {
    urls: Vec<String>,
    client: ClientSettings,
    policy: CachePolicy,
    budget: FetchBudget,
    failover_on_not_found: bool,
    content_types: Vec<String>,
}

impl HttpKeyRepository {
    /// Starts a repository client for `url`; add mirrors or fallbacks with
    /// [`fallback`](HttpKeyRepositoryBuilder::fallback).
    pub fn builder(url: impl Into<String>) -> HttpKeyRepositoryBuilder {
        HttpKeyRepositoryBuilder {
            urls: vec![url.into()],
            client: ClientSettings::default(),
            policy: CachePolicy::default(),
            budget: FetchBudget::default(),
            failover_on_not_found: false,
            content_types: vec![PEM_CONTENT_TYPE.to_owned()],
        }
    }
}

impl HttpKeyRepositoryBuilder {
    /// Adds a repository, tried after the ones already given (a mirror or a fallback).
    pub fn fallback(mut self, url: impl Into<String>) -> Self {
        self.urls.push(url.into());
        self
    }

    /// Allows plain `http://` URLs whose host is a loopback address (see
    /// [`is_loopback`](crate::is_loopback)), for a repository served by a sidecar or in tests.
    /// Off by default.
    pub fn allow_insecure_loopback(mut self, allow: bool) -> Self {
        self.client.allow_insecure_loopback = allow;
        self
    }

    /// The time allowed to establish a connection (TCP and TLS); default 2 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.client.connect_timeout = timeout;
        self
    }

    /// The time allowed for a whole request to one repository, body included; default 5 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.client.timeout = timeout;
        self
    }

    /// How long answers are kept, and how many ([`CachePolicy::default`] unless given).
    pub fn cache_policy(mut self, policy: CachePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How many upstream fetches lookups may cause ([`FetchBudget::default`] unless given).
    pub fn fetch_budget(mut self, budget: FetchBudget) -> Self {
        self.budget = budget;
        self
    }

    /// Also try the next repository after a 404/403/410 (for mirrors that may lag behind). Off
    /// by default: a missing key is usually missing everywhere, and failing over would double
    /// the traffic an attacker can cause with made-up kids.
    pub fn failover_on_not_found(mut self, failover: bool) -> Self {
        self.failover_on_not_found = failover;
        self
    }

    /// Accepts another `Content-Type` besides `application/x-pem-file` (for a repository
    /// behind a store that labels files differently).
    pub fn accept_content_type(mut self, media_type: impl Into<String>) -> Self {
        self.content_types.push(media_type.into().to_ascii_lowercase());
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

    /// Checks the URLs and settings and builds the repository.
    pub fn build(self) -> Result<HttpKeyRepository, ConfigError> {
        if self.urls.is_empty() {
            return Err(ConfigError::NoRepository);
        }
        let bases = self
            .urls
            .iter()
            .map(|url| base_url(url, self.client.allow_insecure_loopback))
            .collect::<Result<Vec<_>, _>>()?;
        let setting = |message: &str| Err(ConfigError::Setting(message.to_owned()));
        if self.policy.max_keys == 0 || self.policy.max_negative == 0 {
            return setting("the cache must hold at least one key and one negative answer");
        }
        if self.budget.burst == 0 || self.budget.max_in_flight == 0 {
            return setting("the fetch budget must allow at least one fetch");
        }
        if self.budget.max_in_flight > tokio::sync::Semaphore::MAX_PERMITS {
            return setting("the fetch budget allows more fetches in flight than can be counted");
        }
        let client = self.client.build()?;
        Ok(HttpKeyRepository {
            inner: Arc::new(Inner {
                fetcher: Fetcher {
                    bases,
                    get: HttpGet {
                        client,
                        timeout: self.client.timeout,
                        accept: PEM_CONTENT_TYPE,
                        content_types: self.content_types,
                    },
                    failover_on_not_found: self.failover_on_not_found,
                },
                cache: AnswerCache::new(self.policy),
                budgets: Budgets::new(self.budget),
                flights: SingleFlight::new(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_that_would_disable_a_bound_are_refused() {
        let policy = CachePolicy {
            max_negative: 0,
            ..CachePolicy::default()
        };
        let err = HttpKeyRepository::builder("https://keys.example/")
            .cache_policy(policy)
            .build()
            .expect_err("no negative cache");
        assert!(matches!(err, ConfigError::Setting(_)), "{err}");
        let budget = FetchBudget {
            max_in_flight: 0,
            ..FetchBudget::default()
        };
        let err = HttpKeyRepository::builder("https://keys.example/")
            .fetch_budget(budget)
            .build()
            .expect_err("no fetch at all");
        assert!(matches!(err, ConfigError::Setting(_)), "{err}");
    }
}
