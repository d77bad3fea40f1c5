//! Server processes: temp dirs, free ports, starting a server and waiting until it answers,
//! and making sure it dies with (or before) the test process. Which binary to start is
//! `provision`'s business.

use std::ffi::OsString;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::aio::MultiplexedConnection;

/// How long a started server gets to answer PING.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How many times a server is started on a fresh port when the last port turned out taken.
const START_ATTEMPTS: usize = 3;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A number unique within this process.
pub(crate) fn next_id() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// 64 random bits (std's per-process random hash keys, mixed with a counter and the clock).
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(next_id());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.finish()
}

/// A directory under [`std::env::temp_dir`], removed with its contents on drop.
#[derive(Debug)]
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub(crate) fn new(label: &str) -> Result<Self, String> {
        let base = std::env::temp_dir();
        let mut last_error = String::new();
        for _ in 0..16 {
            let path = base.join(format!(
                "testkit-{label}-{}-{}-{:08x}",
                std::process::id(),
                next_id(),
                random_u64() as u32
            ));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(e) => last_error = format!("cannot create {}: {e}", path.display()),
            }
        }
        Err(last_error)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A `sh` that waits for EOF on its stdin, then cleans up (kills a server and removes its
/// directory, or removes a container). We hold the only write end of that pipe (std opens
/// pipes close-on-exec), so the EOF comes when this process exits in any way, even SIGKILL:
/// what we start never outlives the test process. On a normal drop the watchdog itself is
/// killed first and we clean up directly.
#[derive(Debug)]
pub(crate) struct Watchdog {
    child: Child,
}

impl Watchdog {
    fn spawn(script: &str, args: &[&std::ffi::OsStr]) -> Option<Self> {
        Command::new("sh")
            .arg("-c")
            .arg(format!("read _ignored; {script}"))
            .arg("testkit-watchdog")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()
            .map(|child| Self { child })
    }

    /// Kills process `pid`, then removes its directory `dir`, when this process exits.
    pub(crate) fn kill_pid(pid: u32, dir: &Path) -> Option<Self> {
        // Wait (a second at most) for the kill to land before removing the directory, so the
        // server cannot write into it after the `rm`.
        let script = "kill -9 \"$1\" 2>/dev/null; \
                      for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 \"$1\" 2>/dev/null || break; \
                      sleep 0.1; done; rm -rf -- \"$2\"";
        let pid = pid.to_string();
        Self::spawn(script, &[pid.as_ref(), dir.as_os_str()])
    }

    /// Removes container `id` when this process exits.
    pub(crate) fn remove_container(id: &str) -> Option<Self> {
        Self::spawn("docker rm -f -v \"$1\" >/dev/null 2>&1", &[id.as_ref()])
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs blocking work (child processes, file system) off the async worker threads.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("testkit: a blocking helper panicked")
}

/// `n` distinct loopback ports that were free a moment ago (all bound at once, then released).
pub(crate) fn free_ports(n: usize) -> Result<Vec<u16>, String> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot bind a free port on 127.0.0.1: {e}"))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read a bound port: {e}"))
}

/// A server binary that was found (or fetched) and runs here.
pub(crate) type Binary = crate::provision::ServerBinary;

/// The arguments every standalone server (and cluster node) gets: loopback only, no
/// persistence, its own directory, replicas sync without the default 5 s diskless delay.
pub(crate) fn standard_args(dir: &Path, port: u16) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--protected-mode",
        "no",
        "--daemonize",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
        "--repl-diskless-sync-delay",
        "0",
        "--dir",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.push(dir.as_os_str().to_owned());
    args
}

/// A server process this crate started. Drop kills it (SIGKILL: nothing to persist) and
/// removes its directory.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    child: Child,
    watchdog: Option<Watchdog>,
    /// The ports picked for it; the first is the one clients use.
    pub(crate) ports: Vec<u16>,
    label: String,
    log: PathBuf,
    /// What was run, so that [`restart`](Self::restart) can run it again.
    program: PathBuf,
    args: Vec<OsString>,
    /// Removed on drop, after the process is gone (fields drop after `Drop::drop`).
    _dir: TempDir,
}

impl ServerProcess {
    pub(crate) fn port(&self) -> u16 {
        self.ports[0]
    }

    pub(crate) fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port())
    }

    /// The last lines of the server's output, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n    ");
        format!("{} (log {}):\n    {tail}", self.label, self.log.display())
    }

    /// Waits until the server answers on its port *and* is our child (INFO's process_id), so a
    /// stranger that grabbed the port first is never mistaken for ours.
    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let url = self.url();
        let pid = self.child.id().to_string();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited ({status}) before answering PING; {}",
                    self.label,
                    self.log_tail()
                ));
            }
            let last = match info(&url, "server").await {
                Ok(text) if info_field(&text, "process_id") == Some(pid.as_str()) => return Ok(()),
                Ok(_) => format!("another process answers on port {}", self.port()),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not answer on {url} within {timeout:?} (last: {last}); {}",
                    self.label,
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl ServerProcess {
    /// Kills the server with SIGKILL (no shutdown, no final fsync) and reaps it. Its directory
    /// stays, so [`restart`](Self::restart) finds its data files.
    pub(crate) fn kill(&mut self) -> Result<(), String> {
        self.watchdog.take();
        self.child
            .kill()
            .map_err(|e| format!("cannot kill {}: {e}", self.label))?;
        self.child
            .wait()
            .map_err(|e| format!("cannot reap {}: {e}", self.label))?;
        Ok(())
    }

    /// Whether the server process is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Starts the server again after [`kill`](Self::kill): same binary, arguments, port and
    /// directory (so it loads what it persisted there); returns once it answers PING (its
    /// data loaded).
    pub(crate) async fn restart(&mut self) -> Result<(), String> {
        if self.is_running() {
            return Err(format!("{} is still running", self.label));
        }
        let out = File::options()
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("cannot open {}: {e}", self.log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("cannot clone a file handle: {e}"))?;
        self.child = Command::new(&self.program)
            .args(&self.args)
            .current_dir(self._dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.program.display()))?;
        self.watchdog = Watchdog::kill_pid(self.child.id(), self._dir.path());
        self.wait_ready(READY_TIMEOUT).await?;
        // INFO answers while the data set is still loading; PING does not.
        let deadline = Instant::now() + READY_TIMEOUT;
        let url = self.url();
        loop {
            let ping = async {
                let mut con = connect(&url, Duration::from_secs(1)).await?;
                redis::cmd("PING").query_async::<String>(&mut con).await
            };
            match ping.await {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!(
                        "{} answers INFO but not PING after a restart: {e}; {}",
                        self.label,
                        self.log_tail()
                    ));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // The watchdog first, so it cannot signal a recycled pid after we reap the server.
        self.watchdog.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `binary` on `ports` fresh loopback ports (the first is the client port) with the
/// arguments `make_args(dir, ports)` returns, waits until it answers, and retries on new ports
/// when the server could not bind.
pub(crate) async fn start_process(
    binary: &Binary,
    label: &str,
    ports: usize,
    mut make_args: impl FnMut(&Path, &[u16]) -> Result<Vec<OsString>, String>,
) -> Result<ServerProcess, String> {
    let mut last_error = String::new();
    for _ in 0..START_ATTEMPTS {
        let dir = TempDir::new(label)?;
        let ports = free_ports(ports)?;
        let args = make_args(dir.path(), &ports)?;
        let log = dir.path().join("server.log");
        let out =
            File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("cannot clone a file handle: {e}"))?;
        let child = Command::new(&binary.path)
            .args(&args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.path.display()))?;
        let watchdog = Watchdog::kill_pid(child.id(), dir.path());
        let mut process = ServerProcess {
            child,
            watchdog,
            label: format!(
                "{label} ({} on port {})",
                binary.flavor.binary_name(),
                ports[0]
            ),
            ports,
            log,
            program: binary.path.clone(),
            args,
            _dir: dir,
        };
        match process.wait_ready(READY_TIMEOUT).await {
            Ok(()) => return Ok(process),
            Err(e) => {
                let port_taken = e.contains("already in use") || e.contains("another process");
                last_error = e;
                drop(process);
                if !port_taken {
                    break;
                }
            }
        }
    }
    Err(last_error)
}

/// A multiplexed connection with bounded connect and response times.
pub(crate) async fn connect(
    url: &str,
    timeout: Duration,
) -> redis::RedisResult<MultiplexedConnection> {
    let client = redis::Client::open(url)?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// `INFO section` of the server at `url`.
pub(crate) async fn info(url: &str, section: &str) -> redis::RedisResult<String> {
    let mut con = connect(url, Duration::from_secs(1)).await?;
    redis::cmd("INFO").arg(section).query_async(&mut con).await
}

/// One `field:value` line of an INFO reply.
pub(crate) fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == field).then(|| value.trim())
    })
}
