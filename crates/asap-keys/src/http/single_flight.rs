//! One fetch per kid at a time: however many lookups wait for the same kid, one request is
//! sent, and it runs in its own task so it completes (and fills the cache) even if every
//! caller gives up waiting.
//!
//! The entry of a fetch is removed by a guard its task owns ([`Leader`]), however the task
//! ends: completed, unwound by a panic, or dropped unfinished because its tokio runtime shut
//! down. Removing it only on completion left, after a panic or a runtime dropped mid-fetch, an
//! entry that every later lookup of that kid joined, so the kid never fetched again.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::FutureExt as _;
use futures_util::future::Shared;
use tokio::sync::oneshot;

/// A fetch that any number of lookups can await.
pub(crate) type SharedFetch<T> = Shared<Pin<Box<dyn Future<Output = T> + Send>>>;

/// The fetches in flight, by what they fetch (a kid; `()` for a source with one document).
pub(crate) struct SingleFlight<T, K = asap_core::KeyId> {
    flights: Arc<Mutex<Flights<T, K>>>,
}

/// An entry is removed only by the [`Leader`] of its fetch, once: a later entry for the same
/// key is never another leader's to remove.
type Flights<T, K> = HashMap<K, SharedFetch<T>>;

/// Why [`SingleFlight::start`] started no fetch.
#[derive(Debug)]
pub(crate) enum NotStarted<E> {
    /// The admission refused it.
    Refused(E),
    /// No tokio runtime to run the fetch task on.
    NoRuntime,
}

/// Why a fetch ended without an outcome. Nothing is remembered of it: the next lookup fetches
/// again, so it is a retryable failure (503), never an answer about the kid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Abandoned {
    /// The fetch task panicked.
    #[error("the key fetch task panicked; the next lookup fetches again")]
    Panicked,
    /// The fetch task was dropped before it completed (its tokio runtime shut down).
    #[error(
        "the key fetch was dropped before it completed (its runtime shut down); the next lookup fetches again"
    )]
    Dropped,
}

/// What a fetch task sends its waiters.
type Outcome<T> = Result<T, Abandoned>;

/// Owned by a fetch's task: removes the fetch's entry and wakes its waiters when the task
/// completes, and also when it unwinds or is dropped unfinished (then with [`Abandoned`]).
struct Leader<T, K: Hash + Eq> {
    flights: Arc<Mutex<Flights<T, K>>>,
    key: K,
    waiters: Option<oneshot::Sender<Outcome<T>>>,
}

impl<T, K: Hash + Eq> Leader<T, K> {
    fn remove_entry(&self) {
        self.flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }

    /// The fetch completed: the entry goes first (a lookup after this starts a new fetch or
    /// reads the cache the fetch filled), then `guard`, then the waiters hear the outcome.
    fn complete<G>(mut self, outcome: T, guard: G) {
        self.remove_entry();
        drop(guard);
        if let Some(waiters) = self.waiters.take() {
            // No waiter left is fine: the fetch ran to fill the cache.
            let _ = waiters.send(Ok(outcome));
        }
    }
}

impl<T, K: Hash + Eq> Drop for Leader<T, K> {
    fn drop(&mut self) {
        if let Some(waiters) = self.waiters.take() {
            self.remove_entry();
            let reason = if std::thread::panicking() {
                Abandoned::Panicked
            } else {
                Abandoned::Dropped
            };
            let _ = waiters.send(Err(reason));
        }
    }
}

impl<T: Clone + Send + Sync + 'static, K: Hash + Eq + Clone + Send + 'static> SingleFlight<T, K> {
    pub(crate) fn new() -> SingleFlight<T, K> {
        SingleFlight {
            flights: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The fetch in flight for `kid`, if any.
    pub(crate) fn join(&self, kid: &K) -> Option<SharedFetch<T>> {
        self.flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(kid)
            .cloned()
    }

    /// Runs `fetch` for `kid` in its own task, holding the guard `admit` gives until it ends;
    /// if a fetch for `kid` is in flight already, that one instead, and `admit` is not called.
    /// `admit` runs under the lock that decides who starts the fetch, so however many lookups
    /// of one kid race here, only the one that starts it pays for it (a fetch budget's token).
    /// `on_abandon` makes the answer of a task that panicked or was dropped unfinished.
    pub(crate) fn start<G: Send + 'static, E>(
        &self,
        kid: &K,
        admit: impl FnOnce() -> Result<G, E>,
        fetch: impl Future<Output = T> + Send + 'static,
        on_abandon: impl FnOnce(Abandoned) -> T + Send + 'static,
    ) -> Result<SharedFetch<T>, NotStarted<E>> {
        let (runtime, leader, shared, guard) = {
            let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(fetch) = flights.get(kid) {
                return Ok(fetch.clone());
            }
            let runtime = tokio::runtime::Handle::try_current().map_err(|_| NotStarted::NoRuntime)?;
            let guard = admit().map_err(NotStarted::Refused)?;
            let (waiters, outcome) = oneshot::channel::<Outcome<T>>();
            let shared: Pin<Box<dyn Future<Output = T> + Send>> = Box::pin(async move {
                match outcome.await {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(reason)) => on_abandon(reason),
                    // The guard always sends; this is only for completeness.
                    Err(_) => on_abandon(Abandoned::Dropped),
                }
            });
            let shared = shared.shared();
            flights.insert(kid.clone(), shared.clone());
            let leader = Leader {
                flights: self.flights.clone(),
                key: kid.clone(),
                waiters: Some(waiters),
            };
            (runtime, leader, shared, guard)
        };
        // Spawned with the lock released: a runtime that is shutting down drops the task at
        // once, and with it the leader, which takes the lock.
        runtime.spawn(async move {
            let outcome = fetch.await;
            leader.complete(outcome, guard);
        });
        Ok(shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flights() -> SingleFlight<Result<u32, Abandoned>, u32> {
        SingleFlight::new()
    }

    fn admitted() -> Result<(), ()> {
        Ok(())
    }

    /// Lookups that find a fetch in flight join it without being admitted: only the one that
    /// starts a fetch pays for it.
    #[tokio::test]
    async fn only_the_start_that_starts_a_fetch_is_admitted() {
        let flights = flights();
        let admissions = std::cell::Cell::new(0);
        let admit = || {
            admissions.set(admissions.get() + 1);
            Ok::<(), ()>(())
        };
        let (release, released) = oneshot::channel::<()>();
        let first = flights
            .start(
                &1,
                admit,
                async move { released.await.map(|()| 1).map_err(|_| Abandoned::Dropped) },
                Err,
            )
            .expect("started");
        for _ in 0..10 {
            let joined = flights.start(&1, admit, async { Ok(2) }, Err).expect("joined");
            assert!(joined.ptr_eq(&first));
        }
        assert_eq!(admissions.get(), 1);
        assert!(matches!(
            flights.start(&2, || Err::<(), _>("no budget"), async { Ok(3) }, Err),
            Err(NotStarted::Refused("no budget"))
        ));
        assert!(flights.join(&2).is_none(), "a refused start leaves no entry");
        release.send(()).expect("fetch waiting");
        assert_eq!(first.await, Ok(1));
    }

    #[tokio::test]
    async fn a_fetch_that_panics_is_retryable_and_the_next_start_fetches_again() {
        let flights = flights();
        let first = flights
            .start(&1, admitted, async { panic!("a fetch that panics once") }, Err)
            .expect("runtime");
        assert_eq!(first.await, Err(Abandoned::Panicked));
        assert!(flights.join(&1).is_none(), "the entry is gone");
        let second = flights
            .start(&1, admitted, async { Ok(7) }, Err)
            .expect("runtime");
        assert_eq!(second.await, Ok(7));
    }

    #[test]
    fn a_fetch_whose_runtime_is_dropped_is_retryable_and_the_next_start_fetches_again() {
        let flights = flights();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let first = {
            let _in = runtime.enter();
            flights
                .start(&1, admitted, std::future::pending(), Err)
                .expect("runtime")
        };
        drop(runtime);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            assert_eq!(first.await, Err(Abandoned::Dropped));
            assert!(flights.join(&1).is_none(), "the entry is gone");
            let second = flights
                .start(&1, admitted, async { Ok(7) }, Err)
                .expect("runtime");
            assert_eq!(second.await, Ok(7));
        });
    }
}
