//! Where tenants and their shared secrets live: the [`SharedSecretStore`] and [`TenantStore`]
//! traits (object safe, boxed `Send` futures, like asap-core's `PublicKeySource`) and in-memory
//! implementations. A Redis tenant store lives in `asap-redis`.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use crate::error::{PayloadError, StoreError};
use crate::payload::{InstallPayload, PayloadFields};
use crate::secret::SharedSecret;

/// The future returned by the store traits: boxed and `Send`, so that a store can be shared as
/// `Arc<dyn …>` and awaited in axum handlers and `tokio::spawn`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Looks up the shared secret of a tenant by client key (the `iss` of inbound tokens).
pub trait SharedSecretStore: Send + Sync + fmt::Debug {
    /// The shared secret of `client_key`, or `None` when no such tenant is installed.
    fn shared_secret<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<SharedSecret>>;
}

impl<T: SharedSecretStore + ?Sized> SharedSecretStore for Arc<T> {
    fn shared_secret<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<SharedSecret>> {
        (**self).shared_secret(client_key)
    }
}

/// A fixed, in-memory map from client key to shared secret.
///
/// ```
/// use connect_qsh::{InMemorySharedSecretStore, SharedSecret};
/// let secrets = InMemorySharedSecretStore::new();
/// secrets.insert("tenant-client-key", SharedSecret::new("s3cr3t")?);
/// # Ok::<(), connect_qsh::SharedSecretError>(())
/// ```
#[derive(Default)]
pub struct InMemorySharedSecretStore {
    secrets: RwLock<HashMap<String, SharedSecret>>,
}

impl InMemorySharedSecretStore {
    /// An empty store.
    pub fn new() -> InMemorySharedSecretStore {
        InMemorySharedSecretStore::default()
    }

    /// Adds or replaces the secret of `client_key`.
    pub fn insert(&self, client_key: impl Into<String>, secret: SharedSecret) {
        write(&self.secrets).insert(client_key.into(), secret);
    }

    /// Forgets `client_key`; whether it was known.
    pub fn remove(&self, client_key: &str) -> bool {
        write(&self.secrets).remove(client_key).is_some()
    }
}

impl fmt::Debug for InMemorySharedSecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemorySharedSecretStore")
            .field("tenants", &read(&self.secrets).len())
            .finish()
    }
}

impl SharedSecretStore for InMemorySharedSecretStore {
    fn shared_secret<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<SharedSecret>> {
        let found = read(&self.secrets).get(client_key).cloned();
        Box::pin(std::future::ready(Ok(found)))
    }
}

/// An installed tenant: the payload of its last authenticated `installed` callback.
///
/// Built from that JSON body and kept with it, so that a store can persist
/// [`Tenant::install_payload`] and rebuild the tenant with [`Tenant::from_install_payload`].
/// `Debug` shows neither the shared secret nor the payload, and both are wiped from memory
/// when the last clone of the tenant (or of them) is dropped ([`SharedSecret`],
/// [`InstallPayload`]).
#[derive(Clone)]
pub struct Tenant {
    client_key: String,
    base_url: String,
    shared_secret: SharedSecret,
    app_key: Option<String>,
    oauth_client_id: Option<String>,
    payload: InstallPayload,
}

impl Tenant {
    /// Reads an `installed` payload: `clientKey`, `sharedSecret` and `baseUrl` (an absolute
    /// `https` URL: outbound tokens go there) are required; `key` (the app key) is kept when
    /// present.
    ///
    /// ```
    /// use connect_qsh::{PayloadError, Tenant};
    /// let tenant = Tenant::from_install_payload(
    ///     r#"{"key":"my-app","clientKey":"c-1","sharedSecret":"s","baseUrl":"https://acme.atlassian.net/wiki","eventType":"installed"}"#,
    /// )?;
    /// assert_eq!(tenant.client_key(), "c-1");
    /// assert_eq!(tenant.base_url(), "https://acme.atlassian.net/wiki");
    ///
    /// let in_clear = r#"{"clientKey":"c-1","sharedSecret":"s","baseUrl":"http://acme.atlassian.net/wiki"}"#;
    /// assert_eq!(Tenant::from_install_payload(in_clear).err(), Some(PayloadError::InsecureBaseUrl));
    /// # Ok::<(), connect_qsh::PayloadError>(())
    /// ```
    pub fn from_install_payload(json: &str) -> Result<Tenant, PayloadError> {
        Tenant::parse(InstallPayload::new(json), BaseUrlRule::HttpsOnly)
    }

    /// Like [`Tenant::from_install_payload`], but also accepts a plain-`http` `baseUrl` whose
    /// host is a loopback address (`127.0.0.0/8`, `::1`, `localhost`): a product simulator in
    /// tests or local development. Any other `http` host is still refused.
    pub fn from_install_payload_allowing_loopback(json: &str) -> Result<Tenant, PayloadError> {
        Tenant::parse(InstallPayload::new(json), BaseUrlRule::HttpsOrLoopback)
    }

    /// Reads `payload` and keeps it (the same buffer, not a copy).
    pub(crate) fn parse(payload: InstallPayload, rule: BaseUrlRule) -> Result<Tenant, PayloadError> {
        let map = PayloadFields::parse(payload.expose().as_bytes())?;
        let field = |name: &'static str| match map.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(PayloadError::Field(name)),
        };
        let client_key = field("clientKey")?;
        // Whether the secret is usable (not empty) is `SharedSecret::new`'s rule alone.
        let shared_secret = match map.get("sharedSecret") {
            Some(Value::String(s)) => SharedSecret::new(s.clone()).ok(),
            _ => None,
        }
        .ok_or(PayloadError::Field("sharedSecret"))?;
        let base_url = field("baseUrl")?;
        rule.check(&base_url)?;
        let app_key = field("key").ok();
        let oauth_client_id = field("oauthClientId").ok();
        Ok(Tenant {
            client_key,
            base_url,
            shared_secret,
            app_key,
            oauth_client_id,
            payload,
        })
    }

    /// The tenant's client key (`clientKey`; the `iss` of its tokens).
    pub fn client_key(&self) -> &str {
        &self.client_key
    }

    /// The product's base URL for this tenant (`baseUrl`): outbound requests are signed relative
    /// to it.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Whether `site_url` (a Forge invocation's `context.siteUrl`) is this tenant's site: the
    /// same scheme, host and port as the base URL, whatever the path (Confluence's base URL
    /// ends in `/wiki`, the site URL does not).
    pub fn is_site(&self, site_url: &str) -> bool {
        match (url::Url::parse(&self.base_url), url::Url::parse(site_url)) {
            (Ok(base), Ok(site)) => base.origin() == site.origin() && site.has_host(),
            _ => false,
        }
    }

    /// The shared secret (`sharedSecret`).
    pub fn shared_secret(&self) -> &SharedSecret {
        &self.shared_secret
    }

    /// The app key (`key`), when the payload has one.
    pub fn app_key(&self) -> Option<&str> {
        self.app_key.as_deref()
    }

    /// The OAuth client id of the app on this tenant (`oauthClientId`), when the payload has
    /// one: the `iss` of the assertion that acts as a user ([`UserAssertion`](crate::UserAssertion)).
    pub fn oauth_client_id(&self) -> Option<&str> {
        self.oauth_client_id.as_deref()
    }

    /// The install payload as received, for a store to persist. It holds the shared secret:
    /// store it as a secret ([`InstallPayload::expose`] gives the text).
    pub fn install_payload(&self) -> &InstallPayload {
        &self.payload
    }
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenant")
            .field("client_key", &self.client_key)
            .field("base_url", &self.base_url)
            .field("app_key", &self.app_key)
            .finish_non_exhaustive()
    }
}

/// Which tenant base URLs are accepted: the product's base URL is where outbound tokens go, so
/// it must be `https`, lest the tokens (and what they authorise) travel in clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BaseUrlRule {
    /// `https` only (the default everywhere).
    HttpsOnly,
    /// `https`, or `http` to a loopback host (asked for explicitly: tests, local development).
    HttpsOrLoopback,
}

impl BaseUrlRule {
    /// The base URL rule: an absolute URL with a host, `https`, or `http` to a loopback host
    /// when this rule allows it.
    pub(crate) fn check(self, base_url: &str) -> Result<(), PayloadError> {
        let url = url::Url::parse(base_url).map_err(|_| PayloadError::BaseUrl)?;
        if !url.has_host() {
            return Err(PayloadError::BaseUrl);
        }
        match url.scheme() {
            "https" => Ok(()),
            "http"
                if self == BaseUrlRule::HttpsOrLoopback
                    && url.host_str().is_some_and(asap_core::is_loopback_host) =>
            {
                Ok(())
            }
            "http" => Err(PayloadError::InsecureBaseUrl),
            _ => Err(PayloadError::BaseUrl),
        }
    }
}

/// Keeps the installed tenants, by client key.
pub trait TenantStore: Send + Sync + fmt::Debug {
    /// The tenant with `client_key`, if installed.
    fn tenant<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<Tenant>>;
    /// Saves `tenant`, replacing any previous record with its client key.
    fn save<'a>(&'a self, tenant: &'a Tenant) -> StoreFuture<'a, ()>;
    /// Saves `tenant` only if the record with its client key is still `current` (the same
    /// install payload, byte for byte), in one atomic step; whether it did. The lifecycle saves
    /// a re-install authenticated by the tenant's own secret this way, so that a rotation which
    /// landed while that callback was being checked is never undone by it.
    fn replace<'a>(&'a self, current: &'a Tenant, tenant: &'a Tenant) -> StoreFuture<'a, bool>;
    /// Removes the tenant with `client_key`; whether it was there.
    fn remove<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, bool>;
    /// Removes the record of `current`'s client key only if it is still `current` (the same
    /// install payload), in one atomic step; whether it did: an uninstall authenticated by the
    /// tenant's own secret never removes a record that a rotation replaced meanwhile.
    fn remove_if<'a>(&'a self, current: &'a Tenant) -> StoreFuture<'a, bool>;
}

impl<T: TenantStore + ?Sized> TenantStore for Arc<T> {
    fn tenant<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<Tenant>> {
        (**self).tenant(client_key)
    }
    fn save<'a>(&'a self, tenant: &'a Tenant) -> StoreFuture<'a, ()> {
        (**self).save(tenant)
    }
    fn replace<'a>(&'a self, current: &'a Tenant, tenant: &'a Tenant) -> StoreFuture<'a, bool> {
        (**self).replace(current, tenant)
    }
    fn remove<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, bool> {
        (**self).remove(client_key)
    }
    fn remove_if<'a>(&'a self, current: &'a Tenant) -> StoreFuture<'a, bool> {
        (**self).remove_if(current)
    }
}

/// Connect-on-Forge: which Forge installation (`app.installationId` of a verified Forge
/// invocation) is which Connect tenant (client key), so that one app serves both kinds of
/// request for one site. A link is one-to-one: linking an installation or a client key again
/// replaces its previous partner, and a lookup answers only while both directions agree.
///
/// Make a link only from verified facts: the installation id of a Forge invocation token that
/// verified, and a tenant that the lifecycle installed for the same site
/// ([`Tenant::is_site`] against the invocation's `context.siteUrl`).
///
/// ```
/// use connect_qsh::{InMemoryTenantStore, InstallationLinks};
/// # async fn run() -> Result<(), connect_qsh::StoreError> {
/// let store = InMemoryTenantStore::new();
/// store.link("ari:cloud:ecosystem::installation/1c5e", "client-key-of-acme").await?;
/// assert_eq!(
///     store.linked_client_key("ari:cloud:ecosystem::installation/1c5e").await?.as_deref(),
///     Some("client-key-of-acme"),
/// );
/// # Ok(()) }
/// ```
pub trait InstallationLinks: Send + Sync + fmt::Debug {
    /// Links `installation_id` and `client_key`, replacing the previous partner of either.
    fn link<'a>(&'a self, installation_id: &'a str, client_key: &'a str) -> StoreFuture<'a, ()>;
    /// The client key of the Connect tenant linked to this Forge installation.
    fn linked_client_key<'a>(&'a self, installation_id: &'a str) -> StoreFuture<'a, Option<String>>;
    /// The Forge installation linked to this Connect tenant.
    fn linked_installation<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<String>>;
}

/// Tenants in memory (a single process, or tests). It is also a [`SharedSecretStore`] and keeps
/// [`InstallationLinks`].
#[derive(Default)]
pub struct InMemoryTenantStore {
    tenants: RwLock<HashMap<String, Tenant>>,
    links: RwLock<Links>,
}

/// Both directions of the installation links, changed together under one lock.
#[derive(Default)]
struct Links {
    client_key_of: HashMap<String, String>,
    installation_of: HashMap<String, String>,
}

impl InMemoryTenantStore {
    /// An empty store.
    pub fn new() -> InMemoryTenantStore {
        InMemoryTenantStore::default()
    }
}

impl fmt::Debug for InMemoryTenantStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryTenantStore")
            .field("tenants", &read(&self.tenants).len())
            .finish()
    }
}

impl TenantStore for InMemoryTenantStore {
    fn tenant<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<Tenant>> {
        let found = read(&self.tenants).get(client_key).cloned();
        Box::pin(std::future::ready(Ok(found)))
    }
    fn save<'a>(&'a self, tenant: &'a Tenant) -> StoreFuture<'a, ()> {
        write(&self.tenants).insert(tenant.client_key.clone(), tenant.clone());
        Box::pin(std::future::ready(Ok(())))
    }
    fn replace<'a>(&'a self, current: &'a Tenant, tenant: &'a Tenant) -> StoreFuture<'a, bool> {
        let mut tenants = write(&self.tenants);
        let replaced = match tenants.get_mut(&tenant.client_key) {
            Some(stored)
                if current.client_key == tenant.client_key
                    && stored.install_payload().expose() == current.install_payload().expose() =>
            {
                *stored = tenant.clone();
                true
            }
            _ => false,
        };
        Box::pin(std::future::ready(Ok(replaced)))
    }
    fn remove<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, bool> {
        let removed = write(&self.tenants).remove(client_key).is_some();
        Box::pin(std::future::ready(Ok(removed)))
    }
    fn remove_if<'a>(&'a self, current: &'a Tenant) -> StoreFuture<'a, bool> {
        let mut tenants = write(&self.tenants);
        let is_current = tenants
            .get(&current.client_key)
            .is_some_and(|stored| stored.install_payload().expose() == current.install_payload().expose());
        if is_current {
            tenants.remove(&current.client_key);
        }
        Box::pin(std::future::ready(Ok(is_current)))
    }
}

impl InstallationLinks for InMemoryTenantStore {
    fn link<'a>(&'a self, installation_id: &'a str, client_key: &'a str) -> StoreFuture<'a, ()> {
        let mut links = write(&self.links);
        if let Some(old) = links
            .client_key_of
            .insert(installation_id.to_owned(), client_key.to_owned())
        {
            links.installation_of.remove(&old);
        }
        if let Some(old) = links
            .installation_of
            .insert(client_key.to_owned(), installation_id.to_owned())
            && old != installation_id
        {
            links.client_key_of.remove(&old);
        }
        Box::pin(std::future::ready(Ok(())))
    }
    fn linked_client_key<'a>(&'a self, installation_id: &'a str) -> StoreFuture<'a, Option<String>> {
        let found = read(&self.links).client_key_of.get(installation_id).cloned();
        Box::pin(std::future::ready(Ok(found)))
    }
    fn linked_installation<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<String>> {
        let found = read(&self.links).installation_of.get(client_key).cloned();
        Box::pin(std::future::ready(Ok(found)))
    }
}

impl SharedSecretStore for InMemoryTenantStore {
    fn shared_secret<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<SharedSecret>> {
        let found = read(&self.tenants)
            .get(client_key)
            .map(|t| t.shared_secret.clone());
        Box::pin(std::future::ready(Ok(found)))
    }
}

/// Any [`TenantStore`] as a [`SharedSecretStore`]: the secret of an installed tenant.
///
/// ```
/// use std::sync::Arc;
/// use connect_qsh::{Authenticator, InMemoryTenantStore, TenantSecrets, TenantStore};
/// let tenants: Arc<dyn TenantStore> = Arc::new(InMemoryTenantStore::new());
/// let authenticator = Authenticator::builder(TenantSecrets::new(tenants)).build()?;
/// # Ok::<(), connect_qsh::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TenantSecrets<S>(S);

impl<S: TenantStore> TenantSecrets<S> {
    /// Wraps a tenant store.
    pub fn new(tenants: S) -> TenantSecrets<S> {
        TenantSecrets(tenants)
    }
}

impl<S: TenantStore> SharedSecretStore for TenantSecrets<S> {
    fn shared_secret<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<SharedSecret>> {
        Box::pin(async move { Ok(self.0.tenant(client_key).await?.map(|t| t.shared_secret)) })
    }
}

// A poisoned lock only means another thread panicked mid-insert of a whole value: the map is
// still consistent, so keep serving.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &str = r#"{"key":"app","clientKey":"c1","sharedSecret":"very-secret","baseUrl":"https://acme.atlassian.net"}"#;

    #[test]
    fn a_site_is_the_base_urls_origin_whatever_the_path() {
        let wiki = r#"{"key":"app","clientKey":"c1","sharedSecret":"s","baseUrl":"https://acme.atlassian.net/wiki"}"#;
        let tenant = Tenant::from_install_payload(wiki).expect("valid");
        assert!(tenant.is_site("https://acme.atlassian.net"));
        assert!(tenant.is_site("https://acme.atlassian.net/"));
        // Another host, a suffix trick, another scheme or port, or no URL at all: not this site.
        for other in [
            "https://evil.atlassian.net",
            "https://acme.atlassian.net.evil.com",
            "http://acme.atlassian.net",
            "https://acme.atlassian.net:8443",
            "acme.atlassian.net",
            "",
        ] {
            assert!(!tenant.is_site(other), "{other}");
        }
    }

    #[test]
    fn tenant_debug_hides_secret_and_payload() {
        let tenant = Tenant::from_install_payload(PAYLOAD).expect("valid");
        for shown in [
            format!("{tenant:?}"),
            format!("{tenant:#?}"),
            format!("{:?}", tenant.install_payload()),
        ] {
            assert!(!shown.contains("very-secret"), "{shown}");
            assert!(!shown.contains("sharedSecret"), "{shown}");
        }
        assert!(format!("{tenant:?}").contains("c1"));
    }

    #[test]
    fn the_payload_and_its_parsed_secret_are_wiped_when_dropped() {
        use crate::payload::tests::take_wiped;
        take_wiped();
        let tenant = Tenant::from_install_payload(PAYLOAD).expect("valid");
        // Parsing left no copy of the secret behind: the parsed field was wiped.
        assert_eq!(take_wiped(), vec![vec![0; "very-secret".len()]]);
        let copy = tenant.clone();
        drop(tenant);
        assert!(take_wiped().is_empty(), "the copy still holds the payload");
        assert_eq!(copy.install_payload().expose(), PAYLOAD);
        drop(copy);
        assert_eq!(take_wiped(), vec![vec![0; PAYLOAD.len()]]);
    }

    #[test]
    fn a_tenant_keeps_the_payload_it_was_read_from() {
        let payload = InstallPayload::new(PAYLOAD);
        let tenant = Tenant::parse(payload.clone(), BaseUrlRule::HttpsOnly).expect("valid");
        assert!(std::ptr::eq(tenant.install_payload().expose(), payload.expose()));
    }

    #[test]
    fn payload_fields_are_required() {
        assert_eq!(
            Tenant::from_install_payload(r#"{"clientKey":"c","baseUrl":"https://a.example"}"#).err(),
            Some(PayloadError::Field("sharedSecret"))
        );
        assert_eq!(
            Tenant::from_install_payload(
                r#"{"clientKey":"c","sharedSecret":"","baseUrl":"https://a.example"}"#
            )
            .err(),
            Some(PayloadError::Field("sharedSecret"))
        );
        assert_eq!(
            Tenant::from_install_payload(r#"{"clientKey":"c","sharedSecret":"s","baseUrl":"ftp://a"}"#).err(),
            Some(PayloadError::BaseUrl)
        );
        assert_eq!(
            Tenant::from_install_payload(r#"{"clientKey":"c","clientKey":"d"}"#).err(),
            Some(PayloadError::NotAnObject)
        );
    }

    fn base_url_payload(base_url: &str) -> String {
        format!(r#"{{"clientKey":"c","sharedSecret":"s","baseUrl":"{base_url}"}}"#)
    }

    #[test]
    fn base_url_must_be_https() {
        for insecure in [
            "http://acme.atlassian.net/wiki",
            "HTTP://acme.atlassian.net",
            "http://127.0.0.1.example.com",
            "http://10.0.0.1:8080",
        ] {
            assert_eq!(
                Tenant::from_install_payload(&base_url_payload(insecure)).err(),
                Some(PayloadError::InsecureBaseUrl),
                "{insecure}"
            );
            assert_eq!(
                Tenant::from_install_payload_allowing_loopback(&base_url_payload(insecure)).err(),
                Some(PayloadError::InsecureBaseUrl),
                "{insecure}"
            );
        }
        assert!(Tenant::from_install_payload(&base_url_payload("https://acme.atlassian.net")).is_ok());
        for relative in ["/wiki", "mailto:a@b.example", "ftp://files.example"] {
            assert_eq!(
                Tenant::from_install_payload(&base_url_payload(relative)).err(),
                Some(PayloadError::BaseUrl),
                "{relative}"
            );
        }
    }

    #[test]
    fn loopback_http_only_when_allowed() {
        for loopback in [
            "http://127.0.0.1:8080/wiki",
            "http://127.1.2.3",
            "http://[::1]:9000",
            "http://LocalHost:3000",
        ] {
            assert_eq!(
                Tenant::from_install_payload(&base_url_payload(loopback)).err(),
                Some(PayloadError::InsecureBaseUrl),
                "{loopback}"
            );
            let tenant = Tenant::from_install_payload_allowing_loopback(&base_url_payload(loopback))
                .unwrap_or_else(|e| panic!("{loopback}: {e}"));
            assert_eq!(tenant.base_url(), loopback);
        }
    }

    #[test]
    fn payload_round_trips_through_a_store_record() {
        let tenant = Tenant::from_install_payload(PAYLOAD).expect("valid");
        let again = Tenant::from_install_payload(tenant.install_payload().expose()).expect("valid");
        assert_eq!(again.shared_secret(), tenant.shared_secret());
        assert_eq!(again.app_key(), Some("app"));
    }

    #[tokio::test]
    async fn in_memory_tenant_store_serves_secrets() {
        let store = Arc::new(InMemoryTenantStore::new());
        let tenant = Tenant::from_install_payload(PAYLOAD).expect("valid");
        store.save(&tenant).await.expect("saved");
        let via_adapter = TenantSecrets::new(store.clone());
        let secret = via_adapter.shared_secret("c1").await.expect("ok").expect("known");
        assert_eq!(secret.expose(), "very-secret");
        assert!(store.shared_secret("nope").await.expect("ok").is_none());
        assert!(store.remove("c1").await.expect("ok"));
        assert!(!store.remove("c1").await.expect("ok"));
    }
}
