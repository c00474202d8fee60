//! asap-redis integration tests against a real redis-server on a free loopback port.

mod fleet;
