//! Everything the soak runs against, started by the soak itself on 127.0.0.1: a key directory
//! served over HTTPS by a primary and a mirror key repository, Redis with an append-only file,
//! the install-key repository of the Connect product, and the service (ASAP and Connect routes)
//! behind the layers, served by hyper with a header read timeout.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use asap_core::{Audience, KeyId, KeyKind, KeySpec, PrivateKey, Signer, SigningKey, Verifier};
use asap_keys::server::{ConnectionLimits, KeyServer, KeyServerConfig};
use asap_keys::{CachePolicy, HttpKeyRepository};
use asap_redis::{RedisReplayGuard, RedisTenantStore, Timeouts};
use asap_testkit::redis::RedisServer;
use asap_testkit::tls::TestCa;
use asap_tower::{AsapLayer, ConnectLayer, connect_response};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use connect_qsh::{Authenticator, Lifecycle, TenantSecrets, TenantStore};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::Error;

/// The audience of the service.
pub(crate) const AUDIENCE: &str = "soak";
/// The only issuer the service admits.
pub(crate) const ISSUER: &str = "billing";
/// The Connect app's base URL: the `aud` of signed install callbacks.
pub(crate) const APP_BASE_URL: &str = "https://soak-app.example";
/// The kid of the product's install key.
pub(crate) const INSTALL_KID: &str = "soak-install-key";
/// What the key repositories put in `Cache-Control: max-age`.
pub(crate) const KEY_MAX_AGE: Duration = Duration::from_secs(2);
/// How long a cached key keeps answering once every repository is down.
pub(crate) const STALE_IF_ERROR: Duration = Duration::from_secs(4);
/// How long a stale key is answered while one background refresh runs.
pub(crate) const STALE_WHILE_REVALIDATE: Duration = Duration::from_secs(1);
/// How long the issuer's tokens live: short, so that tokens reach the end of their life (and
/// their replay entries expire) many times within a run.
pub(crate) const TOKEN_LIFETIME: Duration = Duration::from_secs(10);
/// The service's clock-skew allowance: a token is accepted until `exp` + this.
pub(crate) const LEEWAY: Duration = Duration::from_secs(5);
/// How long a client may take to send its request headers.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(2);

/// A key repository that can be killed and started again on the same address.
pub(crate) struct KeyRepository {
    addr: SocketAddr,
    config: KeyServerConfig,
    running: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl KeyRepository {
    async fn start(dir: &Path, ca: &TestCa) -> Result<KeyRepository, Error> {
        let config = KeyServerConfig::new(dir)
            .max_age(KEY_MAX_AGE)
            .tls(ca.server_config())
            .limits(ConnectionLimits::default().shutdown_grace(Duration::from_millis(200)));
        let mut repository = KeyRepository {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            config,
            running: None,
        };
        repository.restart().await?;
        Ok(repository)
    }

    /// The repository's base URL.
    pub(crate) fn url(&self) -> String {
        format!("https://{}/", self.addr)
    }

    /// Stops serving: open connections are closed after a short grace period.
    pub(crate) async fn kill(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(());
            let _ = task.await;
        }
    }

    /// Serves again on the same address.
    pub(crate) async fn restart(&mut self) -> Result<(), Error> {
        self.kill().await;
        let server = KeyServer::bind(self.addr, self.config.clone()).await?;
        self.addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = server
                .serve(async {
                    let _ = stopped.await;
                })
                .await;
        });
        self.running = Some((stop, task));
        Ok(())
    }
}

/// The signing keys of the one admitted issuer: the current one, and after a rotation the one
/// that was removed from the repositories.
pub(crate) struct IssuerKeys {
    dir: PathBuf,
    /// Signs with the key the repositories publish.
    pub(crate) current: Signer,
    /// The published key's kid.
    pub(crate) current_kid: KeyId,
    /// Signs with a key that was published once and then removed (after a rotation).
    pub(crate) removed: Option<Signer>,
    generation: u32,
}

impl IssuerKeys {
    fn create(dir: &Path) -> Result<IssuerKeys, Error> {
        let (current_kid, current) = publish(dir, 1)?;
        Ok(IssuerKeys {
            dir: dir.to_owned(),
            current,
            current_kid,
            removed: None,
            generation: 1,
        })
    }

    /// Publishes a new kid, signs with it from now on, and removes the old kid's file.
    pub(crate) fn rotate(&mut self) -> Result<(), Error> {
        let (kid, next) = publish(&self.dir, self.generation + 1)?;
        std::fs::remove_file(key_path(&self.dir, self.generation))?;
        self.generation += 1;
        self.current_kid = kid;
        self.removed = Some(std::mem::replace(&mut self.current, next));
        Ok(())
    }
}

fn key_path(dir: &Path, generation: u32) -> PathBuf {
    dir.join(ISSUER).join(format!("k{generation}"))
}

/// Writes a fresh P-256 public key as `billing/k<generation>` and returns its signer (a fresh
/// `jti` on every token: the service keeps replay protection on).
fn publish(dir: &Path, generation: u32) -> Result<(KeyId, Signer), Error> {
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256))?;
    let path = key_path(dir, generation);
    std::fs::create_dir_all(path.parent().ok_or("key path has a parent")?)?;
    std::fs::write(&path, key.public_key()?.to_pem())?;
    let kid = KeyId::parse(&format!("{ISSUER}/k{generation}"))?;
    let signer = Signer::builder(ISSUER)
        .key(SigningKey::new(kid.clone(), key, None)?)
        .lifetime(TOKEN_LIFETIME)
        .build()?;
    Ok((kid, signer))
}

/// The fleet: every server, and what callers need to talk to them.
pub(crate) struct Fleet {
    /// Where the key files live (the repositories serve this directory).
    pub(crate) _keys_dir: tempfile::TempDir,
    /// The issuer's keys.
    pub(crate) keys: IssuerKeys,
    /// The primary key repository.
    pub(crate) primary: KeyRepository,
    /// The mirror, tried when the primary fails.
    pub(crate) mirror: KeyRepository,
    /// Redis; with its append-only file (the default) the replay memory and the tenants
    /// survive its restart.
    pub(crate) redis: RedisServer,
    /// The product's install-key repository (never faulted).
    pub(crate) install_keys: KeyRepository,
    /// Signs install callbacks, as the product does.
    pub(crate) install_key: Arc<PrivateKey>,
    /// The service's address.
    pub(crate) service: SocketAddr,
    /// The tenant store, for the end-of-run check that no completed install was lost.
    pub(crate) tenants: Arc<dyn TenantStore>,
    service_stop: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Fleet {
    /// Starts everything, Redis with or without its append-only file. `None` when
    /// `redis-server` is missing and this is not CI.
    pub(crate) async fn start(persistent_redis: bool) -> Result<Option<Fleet>, Error> {
        let keys_dir = tempfile::tempdir()?;
        let public = keys_dir.path().join("public");
        let install = keys_dir.path().join("install");
        std::fs::create_dir_all(&install)?;
        let keys = IssuerKeys::create(&public)?;
        let ca = TestCa::new();
        let primary = KeyRepository::start(&public, &ca).await?;
        let mirror = KeyRepository::start(&public, &ca).await?;

        let install_key = Arc::new(PrivateKey::generate(KeySpec::Rsa(2048))?);
        std::fs::write(install.join(INSTALL_KID), install_key.public_key()?.to_pem())?;
        let install_keys = KeyRepository::start(&install, &ca).await?;

        let redis = if persistent_redis {
            RedisServer::start_persistent(keys_dir.path().join("redis"))
        } else {
            RedisServer::start()
        };
        let Some(redis) = redis else {
            return Ok(None);
        };
        let timeouts = Timeouts {
            connect: Duration::from_millis(300),
            response: Duration::from_millis(300),
        };
        let replay = RedisReplayGuard::connect_with(&redis.url(), timeouts).await?;
        let lifecycle_replay = RedisReplayGuard::connect_with(&redis.url(), timeouts)
            .await?
            .key_prefix("connect:lifecycle:");
        let tenants: Arc<dyn TenantStore> =
            Arc::new(RedisTenantStore::connect_with(&redis.url(), timeouts).await?);

        let mut policy = CachePolicy::default();
        policy.default_stale_while_revalidate = STALE_WHILE_REVALIDATE;
        policy.stale_while_revalidate_cap = STALE_WHILE_REVALIDATE;
        policy.default_stale_if_error = STALE_IF_ERROR;
        policy.stale_if_error_cap = STALE_IF_ERROR;
        policy.error_ttl = Duration::from_secs(1);
        policy.negative_ttl = Duration::from_secs(2);
        let repository = HttpKeyRepository::builder(primary.url())
            .fallback(mirror.url())
            .root_certificates_pem(ca.root_pem())
            .cache_policy(policy)
            .connect_timeout(Duration::from_millis(300))
            .timeout(Duration::from_secs(1))
            .build()?;
        let verifier = Verifier::builder(repository)
            .audience(Audience::new(AUDIENCE)?)
            .allowed_issuers([ISSUER])
            .leeway(LEEWAY)
            .replay_guard(Arc::new(replay))
            .build()?;

        let install_repository = HttpKeyRepository::builder(install_keys.url())
            .root_certificates_pem(ca.root_pem())
            .build()?;
        let lifecycle = Lifecycle::builder(APP_BASE_URL, Arc::new(install_repository), tenants.clone())
            .replay_guard(Arc::new(lifecycle_replay))
            .build()?;
        let authenticator = Authenticator::builder(TenantSecrets::new(tenants.clone()))
            .base_url(APP_BASE_URL)
            .build()?;

        let app = Router::new()
            .route("/asap", get(|| async { "ok" }).layer(AsapLayer::new(verifier)))
            .route(
                "/page",
                get(|| async { "page" }).layer(ConnectLayer::new(authenticator)),
            )
            .route("/installed", post(installed))
            .with_state(Arc::new(lifecycle));
        let (service, service_stop) = serve(app).await?;

        Ok(Some(Fleet {
            _keys_dir: keys_dir,
            keys,
            primary,
            mirror,
            redis,
            install_keys,
            install_key,
            service,
            tenants,
            service_stop: Some(service_stop),
        }))
    }

    /// Stops every server and closes every connection.
    pub(crate) async fn shutdown(mut self) {
        if let Some((stop, task)) = self.service_stop.take() {
            let _ = stop.send(());
            let _ = task.await;
        }
        self.primary.kill().await;
        self.mirror.kill().await;
        self.install_keys.kill().await;
        self.redis.stop();
    }
}

async fn installed(
    State(lifecycle): State<Arc<Lifecycle>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match lifecycle.installed(&method, &uri, &headers, &body).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => connect_response(&error).into_response(),
    }
}

/// Serves `app` on a free port with hyper: HTTP/1.1 with a header read timeout, so that a
/// client that trickles its headers is cut off. Stopping aborts every open connection.
async fn serve(app: Router) -> Result<(SocketAddr, (oneshot::Sender<()>, JoinHandle<()>)), Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let service = TowerToHyperService::new(app.clone());
                    connections.spawn(async move {
                        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                        builder
                            .http1()
                            .timer(TokioTimer::new())
                            .header_read_timeout(HEADER_READ_TIMEOUT);
                        let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    });
    Ok((addr, (stop, task)))
}
