//! Asking the repositories: `GET <base><kid>` on each in order until one answers; and the one
//! bounded download ([`HttpGet`]) that JWKS documents are fetched with too.
//!
//! A repository answers with a key, or says it has none (404, 410, and 403 as object stores
//! send for a missing object). Anything else is the repository's trouble, not the key's, and
//! the next one is tried: a connection error, a timeout, a 5xx or 429, but also a redirect
//! (never followed), another 4xx, a body that is not a PEM file or is too large — a primary
//! behind a broken proxy or a captive portal must not hide a mirror that works.

use std::sync::Arc;
use std::time::Duration;

use asap_core::{KeyError, KeyId, PublicKey};
use reqwest::header::{ACCEPT, AGE, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, LOCATION};

use super::cache::Directives;
use crate::error::FetchError;
use crate::metrics::FetchOutcome;

/// The largest response body accepted. An RSA 8192 public key is under 1.5 KiB.
pub const MAX_KEY_BODY_BYTES: usize = 64 * 1024;

/// The media type a key repository serves, sent as `Accept` and required as `Content-Type`.
pub const PEM_CONTENT_TYPE: &str = "application/x-pem-file";

/// What the repositories said about a kid.
pub(super) enum Fetched {
    Key {
        key: Arc<PublicKey>,
        directives: Directives,
        /// The `Age` header: how long a cache upstream has held the response.
        age: u64,
    },
    NotFound,
    /// The repository served something that is not an acceptable public key: the answer for
    /// this kid (a later repository must not override a bad key silently).
    Invalid(KeyError),
}

/// What one server answered.
pub(crate) enum Response {
    /// 200 with an accepted `Content-Type` and a body within the cap.
    Body {
        body: Vec<u8>,
        directives: Directives,
        /// The `Age` header: how long a cache upstream has held the response.
        age: u64,
    },
    /// 404, 410, or 403 as object stores send for a missing object.
    NotFound,
}

/// One bounded `GET`: the one place a key document is downloaded, for a repository's PEM keys
/// and for a JWKS document alike. `Accept` is sent and the `Content-Type` required to be one
/// of `content_types`; the body is capped at [`MAX_KEY_BODY_BYTES`] while it streams; the
/// whole exchange is bounded by `timeout`.
pub(crate) struct HttpGet {
    pub(crate) client: reqwest::Client,
    pub(crate) timeout: Duration,
    pub(crate) accept: &'static str,
    pub(crate) content_types: Vec<String>,
}

/// The repositories and how to ask them.
pub(super) struct Fetcher {
    pub(super) bases: Vec<String>,
    pub(super) get: HttpGet,
    pub(super) failover_on_not_found: bool,
}

impl Fetcher {
    /// Asks the repositories in order; counts the fetch and its latency.
    pub(super) async fn fetch(&self, kid: &KeyId) -> Result<Fetched, FetchError> {
        let started = std::time::Instant::now();
        let fetched = self.fetch_in_order(kid).await;
        let outcome = match &fetched {
            Ok(Fetched::Key { .. }) => FetchOutcome::Key,
            Ok(Fetched::NotFound) => FetchOutcome::NotFound,
            Ok(Fetched::Invalid(_)) => FetchOutcome::InvalidKey,
            Err(_) => FetchOutcome::Failed,
        };
        crate::metrics::key_fetch(outcome, started.elapsed());
        fetched
    }

    async fn fetch_in_order(&self, kid: &KeyId) -> Result<Fetched, FetchError> {
        let mut errors = Vec::new();
        let mut not_found = false;
        for base in &self.bases {
            // The kid has passed the core syntax rule: plain concatenation cannot leave the base.
            let url = format!("{base}{kid}");
            tracing::debug!(%url, "fetching public key");
            match self.get.get(&url).await {
                Ok(Response::Body {
                    body,
                    directives,
                    age,
                }) => {
                    let parsed = std::str::from_utf8(&body)
                        .map_err(|_| KeyError::Pem("the body is not UTF-8".into()))
                        .and_then(PublicKey::from_pem);
                    return Ok(match parsed {
                        Ok(key) => Fetched::Key {
                            key: Arc::new(key),
                            directives,
                            age,
                        },
                        Err(error) => {
                            tracing::warn!(%url, %error, "key repository served an unacceptable key");
                            Fetched::Invalid(error)
                        }
                    });
                }
                Ok(Response::NotFound) if self.failover_on_not_found => not_found = true,
                Ok(Response::NotFound) => return Ok(Fetched::NotFound),
                Err(error) => {
                    crate::metrics::repository_error(&error);
                    tracing::warn!(%error, "key repository failed; trying the next one");
                    errors.push(error);
                }
            }
        }
        if errors.is_empty() && not_found {
            return Ok(Fetched::NotFound);
        }
        Err(if errors.len() == 1 {
            errors.remove(0)
        } else {
            FetchError::AllFailed(errors)
        })
    }
}

impl HttpGet {
    /// `GET url`, within the timeout.
    pub(crate) async fn get(&self, url: &str) -> Result<Response, FetchError> {
        // reqwest's own timeout covers the body too; this one also bounds our reads.
        tokio::time::timeout(self.timeout, self.get_unbounded(url))
            .await
            .unwrap_or_else(|_| Err(FetchError::Timeout { url: url.to_owned() }))
    }

    async fn get_unbounded(&self, url: &str) -> Result<Response, FetchError> {
        let classify = |e: reqwest::Error| {
            if e.is_timeout() {
                FetchError::Timeout { url: url.to_owned() }
            } else if e.is_connect() {
                FetchError::Connect {
                    url: url.to_owned(),
                    source: Arc::new(e),
                }
            } else {
                FetchError::Transport {
                    url: url.to_owned(),
                    source: Arc::new(e),
                }
            }
        };
        let mut response = self
            .client
            .get(url)
            .header(ACCEPT, self.accept)
            .send()
            .await
            .map_err(classify)?;
        match response.status().as_u16() {
            200 => {}
            403 | 404 | 410 => return Ok(Response::NotFound),
            300..=399 => {
                return Err(FetchError::Redirect {
                    url: url.to_owned(),
                    location: header_text(response.headers(), LOCATION),
                });
            }
            status => {
                return Err(FetchError::Status {
                    url: url.to_owned(),
                    status,
                });
            }
        }
        let headers = response.headers();
        let content_type = header_text(headers, CONTENT_TYPE).unwrap_or_default();
        let media_type = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !self.content_types.contains(&media_type) {
            return Err(FetchError::ContentType {
                url: url.to_owned(),
                content_type,
                expected: self.accept,
            });
        }
        let too_large = || FetchError::TooLarge {
            url: url.to_owned(),
            limit: MAX_KEY_BODY_BYTES,
        };
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > MAX_KEY_BODY_BYTES as u64) {
            return Err(too_large());
        }
        let directives = Directives::parse(
            headers
                .get_all(CACHE_CONTROL)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        let age = headers
            .get(AGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let mut body =
            Vec::with_capacity(declared.map_or(4096, |l| usize::try_from(l).unwrap_or(MAX_KEY_BODY_BYTES)));
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > MAX_KEY_BODY_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response::Body {
            body,
            directives,
            age,
        })
    }
}

fn header_text(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}
