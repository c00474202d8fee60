//! One fetch per kid at a time: however many lookups wait for the same kid, one request is
//! sent, and it runs in its own task so it completes (and fills the cache) even if every
//! caller gives up waiting.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::FutureExt as _;
use futures_util::future::Shared;

/// A fetch that any number of lookups can await.
pub(crate) type SharedFetch<T> = Shared<Pin<Box<dyn Future<Output = T> + Send>>>;

/// The fetches in flight, by what they fetch (a kid; `()` for a source with one document).
pub(crate) struct SingleFlight<T, K = asap_core::KeyId> {
    flights: Arc<Mutex<HashMap<K, SharedFetch<T>>>>,
}

/// No tokio runtime to run the fetch task on.
#[derive(Debug)]
pub(crate) struct NoRuntime;

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

    /// Runs `fetch` for `kid` in its own task, holding `guard` until it ends; if a fetch for
    /// `kid` is in flight already, that one instead. `on_panic` makes the answer of a task
    /// that panicked.
    pub(crate) fn start<G: Send + 'static>(
        &self,
        kid: &K,
        guard: G,
        fetch: impl Future<Output = T> + Send + 'static,
        on_panic: impl FnOnce(tokio::task::JoinError) -> T + Send + 'static,
    ) -> Result<SharedFetch<T>, NoRuntime> {
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(fetch) = flights.get(kid) {
            return Ok(fetch.clone());
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NoRuntime)?;
        let task = runtime.spawn({
            let flights = self.flights.clone();
            let kid = kid.clone();
            async move {
                let outcome = fetch.await;
                flights
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&kid);
                drop(guard);
                outcome
            }
        });
        let shared: Pin<Box<dyn Future<Output = T> + Send>> =
            Box::pin(async move { task.await.unwrap_or_else(on_panic) });
        let shared = shared.shared();
        flights.insert(kid.clone(), shared.clone());
        Ok(shared)
    }
}
