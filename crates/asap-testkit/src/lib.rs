//! # asap-testkit
//!
//! Support for the integration tests of every crate in this workspace; never a dependency of
//! library code (`publish = false`).
//!
//! - [`forge`]: tokens made by hand for attack tests (any header, claims and signature).
//! - [`python`]: the Python reference peers (`atlassian-jwt-auth`, `atlassian-jwt`), driven
//!   through `python3 -c`.
//! - [`jwt_peers`]: the Python peers of the per-user (`asymmetric-jwt-auth`, in-process Django)
//!   and central-issuer (`api_jwt`) token profiles.
//! - [`tls`]: a throw-away certificate authority and a server certificate for `127.0.0.1` and
//!   `localhost`, generated with rcgen on aws-lc-rs.
//! - [`http`]: serve an axum `Router` over HTTP or HTTPS on a free loopback port.
//! - [`logs`]: a subscriber scoped to one test's thread that sees every event it logs.
//! - [`redis`]: a real `redis-server` on a free loopback port, killed on drop.
//! - [`postgres`]: a real PostgreSQL server (`initdb` + `postgres`) on a free loopback port,
//!   stopped and deleted on drop.
//!
//! Tests that need an external program (python3 and its packages, `redis-server`) ask for it
//! with a `require`/`start` function returning `Option`. Locally a missing program is a skip
//! with a reason printed to stderr; when the `CI` environment variable is set it is a panic,
//! because a CI run that silently skips the interop tests proves nothing.
//!
//! ```no_run
//! # fn demo() {
//! let Some(py) = asap_testkit::python::require(&["atlassian_jwt_auth"]) else { return };
//! assert_eq!(py.run("import sys; print(sys.argv[1])", &["hello"], ""), "hello");
//! # }
//! ```

pub mod forge;
pub mod http;
pub mod jwt_peers;
pub mod logs;
pub mod postgres;
pub mod python;
pub mod redis;
pub mod tls;

/// Whether this run is in CI, where missing test prerequisites must fail loudly.
fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// A prerequisite is missing: panic in CI, otherwise print why the test skips and give `None`.
fn missing<T>(reason: &str) -> Option<T> {
    if in_ci() {
        panic!("test prerequisite missing (CI is set, so this fails instead of skipping): {reason}");
    }
    eprintln!("skipping: {reason} (set CI=1 to make this a failure)");
    None
}
