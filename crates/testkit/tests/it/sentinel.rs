//! The sentinel setup: every sentinel names the primary, fred connects through the URL it
//! hands out, and writes reach the replica.

use crate::common::timed;

use fred::prelude::{Builder, ClientLike, Config, KeysInterface};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinels_know_the_primary_and_fred_connects() {
    let Some((setup, took)) = timed(testkit::sentinel()).await else {
        return;
    };
    eprintln!("sentinel() ready in {took:?}: {}", setup.url());
    let primary_port = setup.primary_url().rsplit(':').next().unwrap().to_owned();
    assert_eq!(setup.master_name(), "mymaster");
    assert_eq!(setup.sentinels().len(), 3);
    for sentinel in setup.sentinels() {
        let client = redis::Client::open(format!("redis://{sentinel}")).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let addr: Vec<String> = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg("mymaster")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(addr, vec!["127.0.0.1".to_owned(), primary_port.clone()]);
    }

    let key = format!("{}k", testkit::unique_prefix("sentinel"));
    let fred = Builder::from_config(Config::from_url(&setup.url()).unwrap())
        .build()
        .unwrap();
    fred.init().await.unwrap();
    let () = fred.set(&key, "v", None, None, false).await.unwrap();
    fred.quit().await.unwrap();

    let primary = redis::Client::open(setup.primary_url()).unwrap();
    let mut primary = primary.get_multiplexed_async_connection().await.unwrap();
    let acked: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(5000)
        .query_async(&mut primary)
        .await
        .unwrap();
    assert_eq!(acked, 1);
    let replica = redis::Client::open(setup.replica_url()).unwrap();
    let mut replica = replica.get_multiplexed_async_connection().await.unwrap();
    let v: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut replica)
        .await
        .unwrap();
    assert_eq!(v, "v");
}
