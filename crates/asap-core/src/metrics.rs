//! Counters through the [`metrics`](https://docs.rs/metrics) facade, when the `metrics` feature
//! is on (the default): tokens verified and refused (by rule), verified-token cache lookups and
//! in-memory replay-store errors. Nothing is exported unless the application installs a
//! recorder (a Prometheus exporter, StatsD, …); without one, each count is a thread-local read
//! and an atomic load.
//!
//! Every label value is a fixed name from this crate (an algorithm, a rule, an outcome), never
//! a token, kid, issuer or claim, so the number of series is bounded. The names, labels and
//! their values are listed in `docs/metrics.md`.
//!
//! Names and label values are literals at each call so that the facade builds each key at
//! compile time: counting a verified token allocates nothing.

#[cfg(feature = "metrics")]
use crate::algorithm::Algorithm;
#[cfg(feature = "metrics")]
use crate::error::Outcome;
use crate::error::VerifyError;
use crate::verifier::Verified;

/// Registers the help text of asap-core's metrics with the installed recorder, for exporters
/// that print it (Prometheus `# HELP`). Optional: counting works without it.
#[cfg(feature = "metrics")]
pub fn describe() {
    metrics::describe_counter!(
        "asap_tokens_verified_total",
        "ASAP tokens that passed every rule (cache hits included), by algorithm"
    );
    metrics::describe_counter!(
        "asap_tokens_refused_total",
        "ASAP tokens refused by the verifier, by the rule that failed and the HTTP outcome"
    );
    metrics::describe_counter!(
        "asap_verified_cache_lookups_total",
        "Lookups in the verified-token cache, by result (hit or miss)"
    );
    metrics::describe_counter!(
        "asap_replay_store_errors_total",
        "Replay-store failures, by store, error and what the verification did (refused or accepted)"
    );
}

/// Counts one verification: by algorithm when it passed, by rule and outcome when it failed.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn verification(result: &Result<Verified, VerifyError>) {
    #[cfg(feature = "metrics")]
    match result {
        Ok(verified) => verified_by(verified.algorithm()),
        Err(error) => refused(error),
    }
}

/// Counts one verification that passed (a cache hit: [`Verifier::verify_from_cache`](crate::Verifier::verify_from_cache)).
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn verified(verified: &Verified) {
    #[cfg(feature = "metrics")]
    verified_by(verified.algorithm());
}

/// Counts a refusal decided outside [`Verifier::verify`](crate::Verifier::verify) (which counts
/// its own): a missing or malformed `Authorization` header, a layer's access policy, a route
/// that requires a request-bound token. The tower layer calls it, so that
/// `asap_tokens_refused_total` counts every refusal a service answers.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub fn refused_outside_verifier(error: &VerifyError) {
    #[cfg(feature = "metrics")]
    refused(error);
}

#[cfg(feature = "metrics")]
fn verified_by(alg: Algorithm) {
    macro_rules! count {
        ($alg:literal) => {
            metrics::counter!("asap_tokens_verified_total", "alg" => $alg).increment(1)
        };
    }
    match alg {
        Algorithm::RS256 => count!("RS256"),
        Algorithm::RS384 => count!("RS384"),
        Algorithm::RS512 => count!("RS512"),
        Algorithm::PS256 => count!("PS256"),
        Algorithm::PS384 => count!("PS384"),
        Algorithm::PS512 => count!("PS512"),
        Algorithm::ES256 => count!("ES256"),
        Algorithm::ES384 => count!("ES384"),
        Algorithm::ES512 => count!("ES512"),
        Algorithm::EdDSA => count!("EdDSA"),
    }
}

/// Refusals are off the hot path: the rule label is a `&'static str` chosen at run time, so
/// the key is built per call (one small allocation, only while counting refusals).
#[cfg(feature = "metrics")]
fn refused(error: &VerifyError) {
    metrics::counter!(
        "asap_tokens_refused_total",
        "rule" => error.rule(),
        "outcome" => outcome_label(error.outcome()),
    )
    .increment(1);
}

/// The `outcome` label: what the service answers.
#[cfg(feature = "metrics")]
fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Forbidden => "forbidden",
        Outcome::Unavailable => "unavailable",
        _ => "unauthorized",
    }
}

/// Counts one lookup in the verified-token cache.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn verified_cache_lookup(hit: bool) {
    #[cfg(feature = "metrics")]
    if hit {
        metrics::counter!("asap_verified_cache_lookups_total", "result" => "hit").increment(1);
    } else {
        metrics::counter!("asap_verified_cache_lookups_total", "result" => "miss").increment(1);
    }
}

/// Counts one refusal by the in-memory replay guard (full, or the issuer's quota spent).
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn memory_replay_store_full(whole_store: bool) {
    #[cfg(feature = "metrics")]
    if whole_store {
        metrics::counter!("asap_replay_store_errors_total", "store" => "memory", "error" => "full", "action" => "refused")
            .increment(1);
    } else {
        metrics::counter!("asap_replay_store_errors_total", "store" => "memory", "error" => "issuer_full", "action" => "refused")
            .increment(1);
    }
}
