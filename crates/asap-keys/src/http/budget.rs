//! How many upstream fetches lookups may cause. A token only has to name an allowed issuer and
//! a made-up kid to make the repository client ask upstream (and start a task) for it; without
//! a bound, one caller with a valid issuer name turns every request into an upstream request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use asap_core::KeyId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::FetchError;

/// Issuers whose budget is tracked at once. Beyond this, fetches for kids of further issuers
/// are refused until some budget has refilled completely (a full budget need not be tracked).
const MAX_TRACKED_ISSUERS: usize = 10_000;

/// How many upstream fetches lookups may cause: a budget per issuer for kids that have no
/// cached key, and a bound on fetches in flight at once.
///
/// The issuer of a kid is its owner, the kid without its last segment (`billing` for
/// `billing/2026-01.pem`); a kid without `/` is its own (the legacy kid that equals its
/// issuer), so that made-up kids of one segment cannot spend the budget of every legacy
/// issuer at once. A repository of one signer with opaque kids (the Connect install keys)
/// charges the whole repository instead ([`BudgetScope::Repository`]). Refreshing a cached key costs no budget; a lookup beyond the budget fails
/// at once with
/// [`FetchError::IssuerBudgetExhausted`] or [`FetchError::TooManyInFlight`] inside
/// [`KeySourceError::Unavailable`](asap_core::KeySourceError::Unavailable) (HTTP 503), and no
/// request is sent.
///
/// ```
/// use std::time::Duration;
/// let mut budget = asap_keys::FetchBudget::default();
/// budget.burst = 3;
/// budget.refill_interval = Duration::from_secs(10);
/// let keys = asap_keys::HttpKeyRepository::builder("https://keys.example.com/")
///     .fetch_budget(budget)
///     .build()?;
/// # Ok::<(), asap_keys::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchBudget {
    /// Fetches of kids without a cached key that one issuer may cause back to back; default 10.
    pub burst: u32,
    /// After the burst, each issuer earns one more such fetch per this interval; default 1 s.
    pub refill_interval: Duration,
    /// Fetches in flight at once, over all kids and issuers (each runs in its own task);
    /// default 64.
    pub max_in_flight: usize,
    /// Whom a fetch of a kid without a cached key is charged to; default
    /// [`BudgetScope::Issuer`].
    pub scope: BudgetScope,
}

/// Whom a [`FetchBudget`] charges a fetch of a kid without a cached key to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BudgetScope {
    /// The kid's issuer: its owner, or the kid itself when it has one segment (a legacy kid
    /// that equals its issuer). For a repository of many issuers' keys, where one issuer's
    /// made-up kids must not spend another's budget.
    #[default]
    Issuer,
    /// The whole repository, one budget for every kid. For a repository of one signer whose
    /// kids are opaque one-segment names, such as the Connect install keys: charged per
    /// issuer, each made-up kid would be an issuer with a burst of its own, and only the
    /// fetches in flight would bound how fast anyone, without a key, makes the client ask
    /// upstream. The cost is the one a made-up kid flood has within one issuer: an honest new
    /// kid competes with the made-up ones for the refill.
    Repository,
}

impl Default for FetchBudget {
    fn default() -> Self {
        FetchBudget {
            burst: 10,
            refill_interval: Duration::from_secs(1),
            max_in_flight: 64,
            scope: BudgetScope::Issuer,
        }
    }
}

/// The name a fetch of `kid` is charged to under `scope`: the kid's owner (a kid without one is
/// its own), or, for the whole repository, the empty name, which no kid has.
fn charged_to(kid: &KeyId, scope: BudgetScope) -> &str {
    match scope {
        BudgetScope::Issuer => kid.owner().unwrap_or(kid.as_str()),
        BudgetScope::Repository => "",
    }
}

/// A token bucket.
struct Bucket {
    tokens: u32,
    refilled_at: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant, budget: &FetchBudget) {
        let elapsed = now.saturating_duration_since(self.refilled_at).as_nanos();
        // A zero interval refills at once.
        let earned = elapsed
            .checked_div(budget.refill_interval.as_nanos())
            .map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX));
        self.tokens = self.tokens.saturating_add(earned).min(budget.burst);
        self.refilled_at = match budget.refill_interval.checked_mul(earned) {
            Some(spent) if self.tokens < budget.burst => self.refilled_at + spent,
            _ => now,
        };
    }

    fn is_full(&mut self, now: Instant, budget: &FetchBudget) -> bool {
        self.refill(now, budget);
        self.tokens >= budget.burst
    }

    fn take(&mut self, now: Instant, budget: &FetchBudget) -> bool {
        self.refill(now, budget);
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// The budgets in force.
pub(super) struct Budgets {
    budget: FetchBudget,
    issuers: Mutex<Issuers>,
    in_flight: Arc<Semaphore>,
}

/// The issuers' buckets, and when the next sweep for full ones may run.
#[derive(Default)]
struct Issuers {
    buckets: HashMap<Box<str>, Bucket>,
    /// A sweep of a full map that freed nothing is not repeated before this: a bucket may need
    /// a whole refill interval to fill, and each sweep reads every bucket (under the
    /// single-flight lock, which every cache miss takes), so a flood of made-up issuers must
    /// not make every admission a scan of 10,000 buckets.
    no_sweep_until: Option<Instant>,
}

impl Budgets {
    pub(super) fn new(budget: FetchBudget) -> Budgets {
        Budgets {
            budget,
            issuers: Mutex::new(Issuers::default()),
            in_flight: Arc::new(Semaphore::new(budget.max_in_flight)),
        }
    }

    pub(super) fn budget(&self) -> &FetchBudget {
        &self.budget
    }

    /// Admits one fetch for `kid`: a place among the fetches in flight, held until the fetch
    /// ends, and, for a kid without a cached key (`unknown`), a token of its issuer's budget.
    pub(super) fn admit(
        &self,
        kid: &KeyId,
        unknown: bool,
        now: Instant,
    ) -> Result<OwnedSemaphorePermit, FetchError> {
        let permit = self
            .in_flight
            .clone()
            .try_acquire_owned()
            .map_err(|_| FetchError::TooManyInFlight {
                limit: self.budget.max_in_flight,
            })?;
        let charged = charged_to(kid, self.budget.scope);
        if unknown && !self.take_issuer_token(charged, now) {
            return Err(FetchError::IssuerBudgetExhausted {
                issuer: asap_core::truncate(charged),
            });
        }
        Ok(permit)
    }

    fn take_issuer_token(&self, issuer: &str, now: Instant) -> bool {
        let budget = &self.budget;
        let mut issuers = self.issuers.lock().unwrap_or_else(PoisonError::into_inner);
        let Issuers {
            buckets,
            no_sweep_until,
        } = &mut *issuers;
        if let Some(bucket) = buckets.get_mut(issuer) {
            return bucket.take(now, budget);
        }
        if buckets.len() >= MAX_TRACKED_ISSUERS {
            if no_sweep_until.is_some_and(|until| now < until) {
                return false;
            }
            // A bucket that has refilled completely says nothing a new one would not.
            buckets.retain(|_, bucket| !bucket.is_full(now, budget));
            if buckets.len() >= MAX_TRACKED_ISSUERS {
                *no_sweep_until = now.checked_add(budget.refill_interval);
                return false;
            }
        }
        let mut bucket = Bucket {
            tokens: budget.burst,
            refilled_at: now,
        };
        let taken = bucket.take(now, budget);
        buckets.insert(issuer.into(), bucket);
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(burst: u32, refill_ms: u64) -> FetchBudget {
        FetchBudget {
            burst,
            refill_interval: Duration::from_millis(refill_ms),
            max_in_flight: 100,
            scope: BudgetScope::Issuer,
        }
    }

    fn kid(s: &str) -> KeyId {
        KeyId::parse(s).expect("kid")
    }

    #[test]
    fn the_issuer_is_the_kid_without_its_last_segment_or_a_one_segment_kid_itself() {
        assert_eq!(charged_to(&kid("billing/k1"), BudgetScope::Issuer), "billing");
        assert_eq!(
            charged_to(&kid("org/billing/2026.pem"), BudgetScope::Issuer),
            "org/billing"
        );
        assert_eq!(
            charged_to(&kid("billing"), BudgetScope::Issuer),
            "billing",
            "a legacy kid is its own"
        );
        assert_eq!(charged_to(&kid("billing/k1"), BudgetScope::Repository), "");
    }

    #[test]
    fn an_issuer_gets_its_burst_then_one_per_interval() {
        let budgets = Budgets::new(budget(3, 100));
        let t0 = Instant::now();
        let admitted = |now| budgets.admit(&kid("billing/x"), true, now).is_ok();
        assert!((0..3).all(|_| admitted(t0)));
        assert!(!admitted(t0), "burst spent");
        assert!(!admitted(t0 + Duration::from_millis(99)));
        assert!(admitted(t0 + Duration::from_millis(100)), "one earned");
        assert!(!admitted(t0 + Duration::from_millis(150)));
        // A long pause refills the burst, no more.
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..10).filter(|_| admitted(later)).count(), 3);
    }

    #[test]
    fn issuers_have_separate_budgets_and_known_kids_cost_nothing() {
        let budgets = Budgets::new(budget(1, 60_000));
        let now = Instant::now();
        assert!(budgets.admit(&kid("billing/a"), true, now).is_ok());
        assert!(matches!(
            budgets.admit(&kid("billing/b"), true, now),
            Err(FetchError::IssuerBudgetExhausted { issuer }) if issuer == "billing"
        ));
        assert!(budgets.admit(&kid("ledger/a"), true, now).is_ok());
        assert!(budgets.admit(&kid("billing/a"), false, now).is_ok(), "a refresh");
    }

    /// Legacy kids (a kid equal to its issuer) are one segment each: made-up ones spend their
    /// own budgets, not one shared by every legacy issuer.
    #[test]
    fn one_segment_kids_do_not_share_a_budget() {
        let budgets = Budgets::new(budget(1, 60_000));
        let now = Instant::now();
        assert!(budgets.admit(&kid("made-up-1"), true, now).is_ok());
        assert!(
            budgets.admit(&kid("made-up-1"), true, now).is_err(),
            "its own budget spent"
        );
        assert!(budgets.admit(&kid("made-up-2"), true, now).is_ok());
        assert!(budgets.admit(&kid("billing"), true, now).is_ok());
    }

    #[test]
    fn fetches_in_flight_are_bounded() {
        let mut b = budget(100, 1);
        b.max_in_flight = 2;
        let budgets = Budgets::new(b);
        let now = Instant::now();
        let first = budgets.admit(&kid("a/1"), true, now).expect("first");
        let _second = budgets.admit(&kid("b/1"), false, now).expect("second");
        assert!(matches!(
            budgets.admit(&kid("c/1"), false, now),
            Err(FetchError::TooManyInFlight { limit: 2 })
        ));
        drop(first);
        assert!(budgets.admit(&kid("c/1"), false, now).is_ok());
    }

    #[test]
    fn tracked_issuers_are_bounded_and_full_buckets_are_forgotten() {
        let budgets = Budgets::new(budget(1, 1000));
        let t0 = Instant::now();
        for i in 0..MAX_TRACKED_ISSUERS {
            assert!(budgets.take_issuer_token(&format!("i{i}"), t0));
        }
        assert!(
            !budgets.take_issuer_token("one-too-many", t0),
            "every bucket in use"
        );
        // That sweep freed nothing: none runs again before a bucket can have refilled.
        let no_sweep_until = budgets.issuers.lock().expect("lock").no_sweep_until;
        assert_eq!(no_sweep_until, Some(t0 + Duration::from_secs(1)));
        let later = t0 + Duration::from_secs(1);
        assert!(
            budgets.take_issuer_token("one-too-many", later),
            "refilled buckets forgotten"
        );
        assert!(budgets.issuers.lock().expect("lock").buckets.len() <= 1);
    }
}
