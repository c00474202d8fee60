//! asap-redis integration tests against a real redis-server on a free loopback port.

#[cfg(feature = "connect")]
mod connect;
mod fleet;
