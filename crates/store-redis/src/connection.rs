//! Building fred clients as [`RedisStore`](crate::RedisStore) does, for crates layered on this
//! one (store-hybrid builds its tracking connection with it): fred's configuration from a
//! [`RedisConfig`], with the command timeout, the connection timeout and the reconnect policy
//! always set (fred's defaults are "no timeout" and "no reconnect"), a first connection
//! bounded by `connect_timeout`, and fred's errors sorted into [`session_core::Error`] as the
//! store sorts them.
//!
//! ```no_run
//! use fred::prelude::ClientLike;
//! use fred::types::RespVersion;
//! use store_redis::{RedisConfig, connection};
//!
//! # async fn run() -> Result<(), session_core::Error> {
//! let config = RedisConfig::new("redis://127.0.0.1:6379");
//! let client = connection::builder(&config, connection::fred_config(&config, RespVersion::RESP3)?)
//!     .build()
//!     .map_err(connection::map_error)?;
//! connection::wait_connected(&config, async {
//!     client.init().await?;
//!     client.wait_for_connect().await
//! })
//! .await?;
//! # Ok(())
//! # }
//! ```

use fred::prelude::{Builder, Config};
use fred::types::RespVersion;
use session_core::{Error, Result};

use crate::config::RedisConfig;
use crate::error::map_err;

/// fred's configuration for `config.url`, speaking `resp` (RESP3 or RESP2).
pub fn fred_config(config: &RedisConfig, resp: RespVersion) -> Result<Config> {
    let mut fred_config =
        Config::from_url(&config.url).map_err(|e| Error::invalid("url", e.to_string()))?;
    fred_config.version = resp;
    Ok(fred_config)
}

/// A builder for `fred_config` with `config`'s command timeout, connection timeout and
/// reconnect policy. Callers add their own settings on top.
pub fn builder(config: &RedisConfig, fred_config: Config) -> Builder {
    let mut builder = Builder::from_config(fred_config);
    builder
        .with_performance_config(|p| {
            p.default_command_timeout = config.command_timeout;
        })
        .with_connection_config(|c| {
            c.connection_timeout = config.connect_timeout;
            c.internal_command_timeout = config.command_timeout.max(config.connect_timeout);
        })
        .set_policy(config.reconnect.clone());
    builder
}

/// Runs `connect` (a client's `init` and `wait_for_connect`) for at most
/// `config.connect_timeout`. On an error the client is left to the caller (who may `quit` it).
pub async fn wait_connected(
    config: &RedisConfig,
    connect: impl Future<Output = std::result::Result<(), fred::error::Error>>,
) -> Result<()> {
    match tokio::time::timeout(config.connect_timeout, connect).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(map_err(e)),
        Err(_) => Err(Error::Timeout { source: None }),
    }
}

/// Sorts a fred error into a [`session_core::Error`], keeping it as the source: timeouts are
/// `Timeout`; no connection (I/O, cancelled, routing, back-pressure, Cluster and Sentinel
/// errors, and fred's "Failed to route command" while it reconnects) is `Unavailable`; a
/// WRONGTYPE is `Codec`; anything else is `Backend`.
pub fn map_error(e: fred::error::Error) -> Error {
    map_err(e)
}
