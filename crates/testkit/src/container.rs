//! A Redis in a container through testcontainers, only from an image that is already present
//! locally: there is no registry to pull from, and a test must never wait on one.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use testcontainers::bollard::models::{HostConfig, PortBinding};
use testcontainers::core::IntoContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::process::{Watchdog, blocking, info, info_field};
use crate::provision::{env_nonempty, run_with_timeout};

/// The image used when `SESSION_STORE_REDIS_IMAGE` is not set.
pub(crate) const DEFAULT_IMAGE: &str = "redis:7.4-alpine";
/// The whole container attempt (create, start, first PONG) is bounded by this.
const CONTAINER_TIMEOUT: Duration = Duration::from_secs(20);
/// The label that finds a container we may have left behind when a start timed out.
const RUN_LABEL: &str = "io.session-stores.testkit.run";

/// The image to use, or `None` when containers are switched off
/// (`SESSION_STORE_REDIS_IMAGE=none`), or when no image is named and
/// `SESSION_STORE_IGNORE_SYSTEM_SERVERS=1` says not to use images found on the machine.
pub(crate) fn configured_image() -> Option<String> {
    let image = match env_nonempty("SESSION_STORE_REDIS_IMAGE") {
        Some(image) => image,
        None if crate::provision::ignore_system() => return None,
        None => DEFAULT_IMAGE.into(),
    };
    (!image.eq_ignore_ascii_case("none")).then_some(image)
}

/// A running container; drop removes it.
pub(crate) struct ContainerGuard {
    /// The host port (on 127.0.0.1) mapped to the container's 6379.
    pub(crate) port: u16,
    container: Option<ContainerAsync<GenericImage>>,
    id: String,
    watchdog: Option<Watchdog>,
}

impl std::fmt::Debug for ContainerGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerGuard")
            .field("id", &self.id)
            .field("port", &self.port)
            .finish()
    }
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        self.watchdog.take();
        if let Some(container) = self.container.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                // testcontainers removes it (its Drop needs a runtime).
                drop(container);
            } else {
                // No runtime to run testcontainers' async drop: remove it with the CLI.
                std::mem::forget(container);
                remove_container(&self.id);
            }
        }
    }
}

fn remove_container(id: &str) {
    let _ = run_with_timeout(
        Command::new("docker").args(["rm", "-f", "-v", id]),
        Duration::from_secs(20),
    );
}

/// What `docker image inspect` says about an image: its entrypoint and command.
struct ImageConfig {
    entrypoint: Vec<String>,
    cmd: Vec<String>,
}

/// `Err` if the image is not present locally (or docker is not usable).
fn inspect_image(image: &str) -> Result<ImageConfig, String> {
    let (ok, out, err) = run_with_timeout(
        Command::new("docker").args([
            "image",
            "inspect",
            "--format",
            "{{json .Config.Entrypoint}}\n{{json .Config.Cmd}}",
            image,
        ]),
        Duration::from_secs(5),
    )
    .map_err(|e| format!("docker not usable ({e})"))?;
    if !ok {
        let err = err.trim();
        return Err(if err.to_ascii_lowercase().contains("no such image") {
            format!("image {image} not available locally (never pulled)")
        } else {
            format!("`docker image inspect {image}` failed: {err}")
        });
    }
    let mut lines = out.lines();
    Ok(ImageConfig {
        entrypoint: parse_json_strings(lines.next().unwrap_or("null")),
        cmd: parse_json_strings(lines.next().unwrap_or("null")),
    })
}

/// `["a","b"]` or `null`, as docker's `{{json}}` prints a list of simple strings.
fn parse_json_strings(text: &str) -> Vec<String> {
    let text = text.trim();
    let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
        return Vec::new();
    };
    inner
        .split("\",\"")
        .map(|s| {
            s.trim_matches('"')
                .replace("\\\"", "\"")
                .replace("\\\\", "\\")
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// The container command: server flags that make it usable from the host (no protected mode)
/// and ephemeral (no persistence), behind the image's own server binary.
fn container_cmd(config: &ImageConfig) -> Vec<String> {
    let flags = ["--protected-mode", "no", "--save", "", "--appendonly", "no"].map(String::from);
    let is_server = |s: &String| s.rsplit('/').next().is_some_and(|n| n.ends_with("-server"));
    if config.entrypoint.last().is_some_and(is_server) {
        // ENTRYPOINT ["redis-server"]: the command is just arguments.
        return flags.to_vec();
    }
    let server = config
        .cmd
        .first()
        .filter(|s| is_server(s))
        .cloned()
        .unwrap_or_else(|| "redis-server".into());
    std::iter::once(server).chain(flags).collect()
}

fn split_image(image: &str) -> (String, String) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.into(), tag.into()),
        _ => (image.into(), "latest".into()),
    }
}

/// A running container, its client URL, and a description.
pub(crate) struct Started {
    pub(crate) guard: ContainerGuard,
    pub(crate) url: String,
    pub(crate) description: String,
}

/// Starts `image` if it is present locally; `Err` says why not (or what failed).
/// `Err((present, reason))`: `present` tells an absent image from one that failed to run.
pub(crate) async fn start(image: &str) -> Result<Started, (bool, String)> {
    let config = {
        let image = image.to_owned();
        blocking(move || inspect_image(&image))
            .await
            .map_err(|e| (false, e))?
    };
    let run_id = format!("{}-{:x}", std::process::id(), crate::process::random_u64());
    let attempt = start_present(image, &config, &run_id);
    let result = match tokio::time::timeout(CONTAINER_TIMEOUT, attempt).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "container from image {image} not ready within {CONTAINER_TIMEOUT:?}"
        )),
    };
    if result.is_err() {
        // A start that failed or timed out part way may leave a created container behind
        // (testcontainers only removes containers it handed out): find it by our label.
        let filter = format!("label={RUN_LABEL}={run_id}");
        blocking(move || {
            if let Ok((_, ids, _)) = run_with_timeout(
                Command::new("docker").args(["ps", "-aq", "--filter", &filter]),
                Duration::from_secs(5),
            ) {
                ids.split_whitespace().for_each(remove_container);
            }
        })
        .await;
    }
    result.map_err(|e| (true, e))
}

async fn start_present(image: &str, config: &ImageConfig, run_id: &str) -> Result<Started, String> {
    let started_at = Instant::now();
    let (name, tag) = split_image(image);
    let container = GenericImage::new(name, tag)
        .with_exposed_port(6379.tcp())
        .with_cmd(container_cmd(config))
        .with_label(RUN_LABEL, run_id)
        .with_startup_timeout(CONTAINER_TIMEOUT)
        .with_host_config_modifier(|host: &mut HostConfig| {
            // Publish on loopback only (testcontainers' default publishes on every interface).
            let binding = PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(String::new()),
            };
            host.publish_all_ports = Some(false);
            host.port_bindings = Some(HashMap::from([("6379/tcp".into(), Some(vec![binding]))]));
        })
        .start()
        .await
        .map_err(|e| format!("cannot start a container from {image}: {e}"))?;
    // On an early return the container is dropped, and testcontainers removes it.
    let port = container
        .get_host_port_ipv4(6379)
        .await
        .map_err(|e| format!("container from {image} has no port for 6379: {e}"))?;
    let id = container.id().to_owned();
    let guard = ContainerGuard {
        port,
        watchdog: Watchdog::remove_container(&id),
        container: Some(container),
        id,
    };
    let url = format!("redis://127.0.0.1:{port}");
    let server_info = loop {
        let last = match info(&url, "server").await {
            Ok(text) => break text,
            Err(e) => e.to_string(),
        };
        if started_at.elapsed() > CONTAINER_TIMEOUT {
            return Err(format!(
                "container from {image} never answered on {url}: {last}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let version = match info_field(&server_info, "valkey_version") {
        Some(v) => format!("valkey {v}"),
        None => format!(
            "redis {}",
            info_field(&server_info, "redis_version").unwrap_or("?")
        ),
    };
    Ok(Started {
        description: format!("container from image {image} ({version}) on 127.0.0.1:{port}"),
        guard,
        url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_json_lists() {
        assert_eq!(parse_json_strings("null"), Vec::<String>::new());
        assert_eq!(
            parse_json_strings("[\"docker-entrypoint.sh\"]"),
            vec!["docker-entrypoint.sh"]
        );
        assert_eq!(
            parse_json_strings("[\"redis-server\",\"--port\",\"6379\"]"),
            vec!["redis-server", "--port", "6379"]
        );
    }

    #[test]
    fn container_command_fits_the_image() {
        let official = ImageConfig {
            entrypoint: vec!["docker-entrypoint.sh".into()],
            cmd: vec!["redis-server".into()],
        };
        assert_eq!(container_cmd(&official)[0], "redis-server");
        let valkey = ImageConfig {
            entrypoint: vec!["docker-entrypoint.sh".into()],
            cmd: vec!["valkey-server".into()],
        };
        assert_eq!(container_cmd(&valkey)[0], "valkey-server");
        let bare = ImageConfig {
            entrypoint: vec![],
            cmd: vec![],
        };
        assert_eq!(container_cmd(&bare)[0], "redis-server");
        let server_entry = ImageConfig {
            entrypoint: vec!["/usr/bin/redis-server".into()],
            cmd: vec![],
        };
        assert_eq!(container_cmd(&server_entry)[0], "--protected-mode");
    }

    #[test]
    fn splits_image_names() {
        assert_eq!(
            split_image("redis:7.4-alpine"),
            ("redis".into(), "7.4-alpine".into())
        );
        assert_eq!(split_image("redis"), ("redis".into(), "latest".into()));
        assert_eq!(
            split_image("localhost:5000/redis"),
            ("localhost:5000/redis".into(), "latest".into())
        );
        assert_eq!(
            split_image("localhost:5000/redis:7"),
            ("localhost:5000/redis".into(), "7".into())
        );
    }
}
