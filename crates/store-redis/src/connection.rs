//! Connection setup shared by every client this crate (and store-hybrid) builds: fred's
//! configuration from a [`RedisConfig`], with the command timeout, the connection timeout and
//! the reconnect policy always set (fred's defaults are "no timeout" and "no reconnect"), and
//! a first connection bounded by `connect_timeout`.

use fred::prelude::{Builder, Config};
use fred::types::RespVersion;
use session_core::{Error, Result};

use crate::config::RedisConfig;
use crate::error::map_err;

/// fred's configuration for `config.url`, speaking `resp` (RESP3 or RESP2).
pub(crate) fn fred_config(config: &RedisConfig, resp: RespVersion) -> Result<Config> {
    let mut fred_config =
        Config::from_url(&config.url).map_err(|e| Error::invalid("url", e.to_string()))?;
    fred_config.version = resp;
    Ok(fred_config)
}

/// A builder for `fred_config` with `config`'s command timeout, connection timeout and
/// reconnect policy. Callers add their own settings on top.
pub(crate) fn builder(config: &RedisConfig, fred_config: Config) -> Builder {
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
pub(crate) async fn wait_connected(
    config: &RedisConfig,
    connect: impl Future<Output = std::result::Result<(), fred::error::Error>>,
) -> Result<()> {
    match tokio::time::timeout(config.connect_timeout, connect).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(map_err(e)),
        Err(_) => Err(Error::Timeout { source: None }),
    }
}
