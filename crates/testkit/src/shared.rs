//! One server per test module, started by the first test that asks:
//! [`shared_server!`](crate::shared_server).

/// Declares `async fn server() -> Option<&'static $ty>` in a test binary: the server (or
/// cluster, or sentinel set) is started once, by the first test that asks, with `$start` (an
/// expression giving an `Option<$ty>`, such as `testkit::server(Flavor::Redis).await`), and
/// shared by every test of the binary; testkit's watchdog stops it when the binary exits.
#[macro_export]
macro_rules! shared_server {
    ($ty:ty, $start:expr) => {
        static SERVER: tokio::sync::OnceCell<Option<$ty>> = tokio::sync::OnceCell::const_new();

        async fn server() -> Option<&'static $ty> {
            SERVER.get_or_init(|| async { $start }).await.as_ref()
        }
    };
}
