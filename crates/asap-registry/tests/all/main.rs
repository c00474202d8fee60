//! asap-registry integration tests: the same scenarios on a real SQLite file in a temporary
//! directory and on a real PostgreSQL server started on 127.0.0.1 (asap-testkit), plus keys
//! made by `ssh-keygen`.

mod bad_keys;
mod openssh;
mod postgres;
mod scenarios;
mod sqlite;
mod support;
#[cfg(feature = "connect")]
mod tenant;
mod user_keys;
