//! Capture the events one test logs, with a subscriber scoped to its thread.
//!
//! tracing caches each callsite's interest. While exactly one dispatcher exists, a callsite
//! first reached on some thread takes its interest from *that thread's* subscriber alone, so a
//! neighbouring test without a subscriber, reaching the callsite first while this one's
//! recorder is the only dispatcher, caches "never" and the recorder misses the event. A second
//! dispatcher that lives for the whole test binary keeps tracing on the path that asks every
//! live dispatcher, the recorder included.
//!
//! ```
//! let _guard = asap_testkit::logs::scoped(tracing::subscriber::NoSubscriber::default());
//! tracing::warn!("seen by the scoped subscriber only");
//! ```

use std::sync::{Arc, Mutex, OnceLock};

use tracing::subscriber::DefaultGuard;
use tracing::{Dispatch, Subscriber};

/// Makes `subscriber` this thread's default until the guard is dropped (a `#[tokio::test]`
/// runs on one thread), so that it sees every event this thread logs however the other test
/// threads reach the same callsites.
pub fn scoped<S>(subscriber: S) -> DefaultGuard
where
    S: Subscriber + Send + Sync + 'static,
{
    static ANCHOR: OnceLock<Dispatch> = OnceLock::new();
    ANCHOR.get_or_init(|| Dispatch::new(tracing::subscriber::NoSubscriber::default()));
    tracing::subscriber::set_default(subscriber)
}

/// What a `tracing` fmt subscriber wrote, as text.
///
/// ```
/// use asap_testkit::logs::{Captured, scoped};
/// let (captured, subscriber) = Captured::subscriber(tracing::Level::INFO);
/// {
///     let _guard = scoped(subscriber);
///     tracing::info!(user = "ann", "signed in");
///     tracing::debug!("below the level");
/// }
/// let lines = captured.lines();
/// assert_eq!(lines.len(), 1);
/// assert!(lines[0].contains("signed in") && lines[0].contains("user=\"ann\""));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// A fmt subscriber (no colours, no timestamps) of the events up to `level`, writing here,
    /// and where to read what it wrote. Make it the thread's default with [`scoped`].
    pub fn subscriber(level: tracing::Level) -> (Captured, impl Subscriber + Send + Sync) {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .without_time()
            .with_max_level(level)
            .finish();
        (captured, subscriber)
    }

    /// The lines written so far.
    pub fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner()))
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    /// Counts the events it is given.
    struct Counter(Arc<AtomicUsize>);

    impl Subscriber for Counter {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    /// One callsite, reached from two threads below.
    fn log_once() {
        tracing::warn!("reached");
    }

    #[test]
    fn an_event_whose_callsite_another_thread_reached_first_reaches_the_scoped_subscriber() {
        let events = Arc::new(AtomicUsize::new(0));
        let _guard = super::scoped(Counter(Arc::clone(&events)));
        // Another thread, with no subscriber, registers the callsite first.
        std::thread::spawn(log_once).join().expect("thread");
        log_once();
        assert_eq!(events.load(Ordering::SeqCst), 1);
    }
}
