//! [`RedisServer`]: a server a test uses, whichever way it was obtained, and what stopping,
//! killing and restarting it means for each way.

use crate::container::{self, ContainerGuard};
use crate::process::{Binary, ServerProcess};

/// The image tried when `SESSION_STORE_REDIS_IMAGE` is not set.
pub const DEFAULT_IMAGE: &str = container::DEFAULT_IMAGE;

/// What keeps a [`RedisServer`] alive; dropping it stops what we started.
#[derive(Debug)]
pub(crate) enum Handle {
    External,
    Process(ServerProcess),
    Container(Box<ContainerGuard>),
}

/// A running Redis-compatible server for a test. Dropping it stops a server this crate started
/// (kills the process, removes the container); for `REDIS_URL` it does nothing.
#[derive(Debug)]
pub struct RedisServer {
    pub(crate) url: String,
    pub(crate) description: String,
    pub(crate) handle: Handle,
}

impl RedisServer {
    /// The URL to connect to, e.g. `redis://127.0.0.1:PORT` (or `REDIS_URL` as given).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Which server this is and why it was chosen, e.g. `redis-server 7.0.15 binary on PATH
    /// (/usr/bin/redis-server) on 127.0.0.1:41234 (no REDIS_URL; container: image
    /// redis:7.4-alpine not available locally (never pulled))`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// True if this crate started the server, so nobody else uses it and it may be flushed.
    /// False for `REDIS_URL`: touch only your own prefix there.
    pub fn owned(&self) -> bool {
        !matches!(self.handle, Handle::External)
    }

    /// The loopback port of a server this crate started (`None` for `REDIS_URL`).
    pub fn port(&self) -> Option<u16> {
        match &self.handle {
            Handle::External => None,
            Handle::Process(process) => Some(process.port()),
            Handle::Container(container) => Some(container.port),
        }
    }

    /// Kills a server this crate started with SIGKILL, as a crash would (no shutdown, no
    /// final fsync); its port and directory are kept for [`restart`](Self::restart). `Err`
    /// for `REDIS_URL` and containers.
    pub fn kill(&mut self) -> Result<(), String> {
        match &mut self.handle {
            Handle::Process(process) => process.kill(),
            _ => Err(format!(
                "{} was not started from a binary here",
                self.description
            )),
        }
    }

    /// Starts a server killed with [`kill`](Self::kill) again: same binary, arguments, port
    /// and directory, so with persistence on (see
    /// [`server_with_args`](crate::server_with_args)) it loads its data.
    /// Returns once it answers PING (`LOADING` over).
    pub async fn restart(&mut self) -> Result<(), String> {
        match &mut self.handle {
            Handle::Process(process) => process.restart().await,
            _ => Err(format!(
                "{} was not started from a binary here",
                self.description
            )),
        }
    }

    pub(crate) fn from_process(binary: &Binary, process: ServerProcess, why: &str) -> Self {
        Self {
            url: process.url(),
            description: format!("{} on {}{why}", binary.describe(), process.addr()),
            handle: Handle::Process(process),
        }
    }
}
