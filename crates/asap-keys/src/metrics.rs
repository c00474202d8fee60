//! Counters and a histogram through the [`metrics`](https://docs.rs/metrics) facade, when the
//! `metrics` feature is on (the default): key fetches by outcome and their latency, errors of
//! each repository asked, key cache lookups by result, and lookups the fetch budget refused.
//! Nothing is exported unless the application installs a recorder.
//!
//! Every label value is a fixed name from this crate, never a kid, issuer or URL (a repository
//! URL may carry credentials, and kids are chosen by whoever sends a token), so the number of
//! series is bounded. The names and labels are listed in `docs/metrics.md`.

#[cfg(feature = "metrics")]
use crate::error::FetchError;

/// Registers the help text and units of asap-keys' metrics with the installed recorder, for
/// exporters that print them (Prometheus `# HELP`). Optional: counting works without it.
#[cfg(feature = "metrics")]
pub fn describe() {
    use metrics::Unit;
    metrics::describe_counter!(
        "asap_key_fetches_total",
        "Public key fetches from the key repositories (mirrors tried in order count once), by outcome"
    );
    metrics::describe_histogram!(
        "asap_key_fetch_duration_seconds",
        Unit::Seconds,
        "Time to fetch a public key across the repositories, by outcome"
    );
    metrics::describe_counter!(
        "asap_key_repository_errors_total",
        "Failed requests to one key repository (the next one is tried), by error"
    );
    metrics::describe_counter!(
        "asap_key_cache_lookups_total",
        "Public key lookups, by what the cache could answer (hit, stale, negative, miss)"
    );
    metrics::describe_counter!(
        "asap_key_fetch_budget_refusals_total",
        "Key lookups refused by the fetch budget without a fetch, by reason"
    );
}

/// How one fetch across the repositories ended.
#[derive(Clone, Copy)]
pub(crate) enum FetchOutcome {
    Key,
    NotFound,
    InvalidKey,
    Failed,
}

/// Counts one fetch and records how long it took.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn key_fetch(outcome: FetchOutcome, elapsed: std::time::Duration) {
    #[cfg(feature = "metrics")]
    {
        macro_rules! record {
            ($outcome:literal) => {{
                metrics::counter!("asap_key_fetches_total", "outcome" => $outcome).increment(1);
                metrics::histogram!("asap_key_fetch_duration_seconds", "outcome" => $outcome).record(elapsed);
            }};
        }
        match outcome {
            FetchOutcome::Key => record!("key"),
            FetchOutcome::NotFound => record!("not_found"),
            FetchOutcome::InvalidKey => record!("invalid_key"),
            FetchOutcome::Failed => record!("failed"),
        }
    }
}

/// Counts one failed request to one repository.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn repository_error(error: &crate::error::FetchError) {
    #[cfg(feature = "metrics")]
    {
        macro_rules! count {
            ($error:literal) => {
                metrics::counter!("asap_key_repository_errors_total", "error" => $error).increment(1)
            };
        }
        match error {
            FetchError::Connect { .. } => count!("connect"),
            FetchError::Timeout { .. } => count!("timeout"),
            FetchError::Status { .. } => count!("status"),
            FetchError::Redirect { .. } => count!("redirect"),
            FetchError::ContentType { .. } => count!("content_type"),
            FetchError::TooLarge { .. } => count!("too_large"),
            _ => count!("transport"),
        }
    }
}

/// What the key cache could answer for a lookup.
#[derive(Clone, Copy)]
pub(crate) enum CacheLookup {
    /// A fresh key.
    Hit,
    /// A key within `stale-while-revalidate`, answered while a refresh runs.
    Stale,
    /// A cached negative answer (not found, unacceptable key, every repository failed).
    Negative,
    /// Nothing usable: the lookup waits for a fetch.
    Miss,
}

/// Counts one key lookup.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn key_cache_lookup(result: CacheLookup) {
    #[cfg(feature = "metrics")]
    {
        macro_rules! count {
            ($result:literal) => {
                metrics::counter!("asap_key_cache_lookups_total", "result" => $result).increment(1)
            };
        }
        match result {
            CacheLookup::Hit => count!("hit"),
            CacheLookup::Stale => count!("stale"),
            CacheLookup::Negative => count!("negative"),
            CacheLookup::Miss => count!("miss"),
        }
    }
}

/// Counts one lookup the fetch budget refused.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn budget_refusal(error: &crate::error::FetchError) {
    #[cfg(feature = "metrics")]
    {
        if let FetchError::IssuerBudgetExhausted { .. } = error {
            metrics::counter!("asap_key_fetch_budget_refusals_total", "reason" => "issuer_budget")
                .increment(1);
        } else {
            metrics::counter!("asap_key_fetch_budget_refusals_total", "reason" => "in_flight").increment(1);
        }
    }
}
