//! The lifecycle payload as received: it holds the tenant's shared secret, so it is never
//! printed and is wiped from memory when dropped, like [`SharedSecret`](crate::SharedSecret).

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde_json::{Map, Value};
use zeroize::Zeroize;

use crate::error::PayloadError;

/// The JSON body of a lifecycle callback (`installed` and the others), exactly as received. It
/// holds the tenant's `sharedSecret`: cheap to clone, `Debug` never shows it, and its bytes
/// are wiped when the last clone is dropped.
///
/// A [`Tenant`](crate::Tenant) keeps the payload it was read from so that a
/// [`TenantStore`](crate::TenantStore) can persist it ([`Tenant::install_payload`](crate::Tenant::install_payload)).
///
/// Wiped: the whole allocation of the string handed to [`InstallPayload::new`], spare capacity
/// included. Not wiped: what the caller's `String` left behind before it was handed over (a
/// reallocation, a copy it kept), and any copy made from [`InstallPayload::expose`] (a
/// database or Redis client's buffers, a log line).
///
/// ```
/// use connect_qsh::InstallPayload;
/// let payload = InstallPayload::new(r#"{"clientKey":"c-1","sharedSecret":"s3cr3t"}"#);
/// assert_eq!(format!("{payload:?}"), "InstallPayload(<redacted>)");
/// assert!(payload.expose().contains("s3cr3t"));
/// ```
#[derive(Clone)]
pub struct InstallPayload(Arc<Wiped>);

impl InstallPayload {
    /// Wraps a payload as received (or as read back from a store). The string is taken as it
    /// is, so passing an owned `String` moves its buffer in, where it is wiped later.
    pub fn new(json: impl Into<String>) -> InstallPayload {
        InstallPayload(Arc::new(Wiped(json.into())))
    }

    /// The JSON text, for storing. It holds the shared secret: handle with care.
    pub fn expose(&self) -> &str {
        &self.0.0
    }
}

impl fmt::Debug for InstallPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InstallPayload(<redacted>)")
    }
}

impl PartialEq for InstallPayload {
    /// Constant time, as any comparison of secrets should be.
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.expose().as_bytes().ct_eq(other.expose().as_bytes()).into()
    }
}

impl Eq for InstallPayload {}

/// The one buffer every clone shares; wiped when the last clone goes.
struct Wiped(String);

impl Drop for Wiped {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// Zeroes every byte of `s`'s allocation, spare capacity included, leaving it empty.
fn wipe(s: &mut String) {
    // In place first, so that the test hook sees the wiped bytes at their length;
    // `String::zeroize` then wipes the spare capacity too.
    s.as_mut_str().zeroize();
    #[cfg(test)]
    tests::wiped(s.as_bytes());
    s.zeroize();
}

/// The top-level fields of a payload, parsed; the parsed copy of `sharedSecret` is wiped when
/// they are dropped, on every path (an early error included).
pub(crate) struct PayloadFields(Map<String, Value>);

impl PayloadFields {
    /// Parses one JSON object, refusing repeated keys (`asap_core::parse_json_object`).
    ///
    /// Not wiped: serde_json's own scratch buffer, used for a string with escapes, and the map
    /// `asap_core` builds when it refuses a repeated key.
    pub(crate) fn parse(json: &[u8]) -> Result<PayloadFields, PayloadError> {
        asap_core::parse_json_object(json)
            .map(PayloadFields)
            .map_err(|_| PayloadError::NotAnObject)
    }
}

impl Deref for PayloadFields {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Map<String, Value> {
        &self.0
    }
}

impl Drop for PayloadFields {
    fn drop(&mut self) {
        if let Some(Value::String(secret)) = self.0.get_mut("sharedSecret") {
            wipe(secret);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::RefCell;

    use super::*;

    thread_local! {
        /// What each buffer wiped on this thread held just after it was wiped, before it was
        /// freed.
        static WIPED: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn wiped(bytes: &[u8]) {
        WIPED.with(|w| w.borrow_mut().push(bytes.to_vec()));
    }

    /// The buffers wiped on this thread since the last call (each test runs on its own thread).
    pub(crate) fn take_wiped() -> Vec<Vec<u8>> {
        WIPED.with(|w| std::mem::take(&mut *w.borrow_mut()))
    }

    const PAYLOAD: &str = r#"{"clientKey":"c1","sharedSecret":"very-secret"}"#;

    #[test]
    fn the_buffer_is_wiped_when_the_last_clone_is_dropped() {
        take_wiped();
        let payload = InstallPayload::new(PAYLOAD.to_owned());
        let clone = payload.clone();
        drop(payload);
        assert!(take_wiped().is_empty(), "a clone still holds it");
        assert_eq!(clone.expose(), PAYLOAD);
        drop(clone);
        assert_eq!(take_wiped(), vec![vec![0; PAYLOAD.len()]]);
    }

    #[test]
    fn debug_never_shows_the_payload() {
        let shown = format!("{:?}", InstallPayload::new(PAYLOAD));
        assert!(!shown.contains("very-secret"), "{shown}");
        assert_eq!(shown, "InstallPayload(<redacted>)");
    }

    #[test]
    fn payloads_are_equal_when_their_text_is() {
        assert_eq!(
            InstallPayload::new(PAYLOAD),
            InstallPayload::new(PAYLOAD.to_owned())
        );
        assert_ne!(InstallPayload::new(PAYLOAD), InstallPayload::new("{}"));
    }

    #[test]
    fn the_parsed_secret_is_wiped_when_the_fields_are_dropped() {
        take_wiped();
        let fields = PayloadFields::parse(PAYLOAD.as_bytes()).expect("an object");
        assert_eq!(fields["sharedSecret"], "very-secret");
        drop(fields);
        assert_eq!(take_wiped(), vec![vec![0; "very-secret".len()]]);
        // No secret, nothing to wipe.
        drop(PayloadFields::parse(br#"{"clientKey":"c1"}"#).expect("an object"));
        assert!(take_wiped().is_empty());
    }
}
