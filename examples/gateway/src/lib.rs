//! An example HTTP gateway on [`SessionManager`]: log in, heartbeat, list my sessions, revoke
//! one, revoke all the others, with the store chosen by configuration (memory, Redis, or the
//! hybrid L1 + Redis). Several instances sharing a Redis see each other's revocations.
//!
//! | method and path | auth | what it does |
//! |---|---|---|
//! | `POST /login` `{"user": "alice", "device": "laptop"}` | none | creates a session; answers `201` `{"session_id", "token", "expires_at"}` |
//! | `POST /heartbeat` | bearer | slides the session's expiry; `{"session_id", "expires_at", "written"}` |
//! | `GET /sessions` | bearer | my live sessions, the current one marked |
//! | `DELETE /sessions/{id}` | bearer | revokes one of my sessions: `204`, or `404` if it is not mine or gone |
//! | `POST /sessions/revoke-others` | bearer | revokes all my sessions but this one: `{"revoked": n}` |
//! | `POST /logout` | bearer | deletes this session: `204` |
//!
//! Bearer auth is `Authorization: Bearer <token>` with the token from `/login`; a missing,
//! malformed, unknown, revoked or expired token gets `401`. Login trusts the user name it is
//! given: a real service authenticates the user first.
//!
//! Configuration ([`Config::from_env`]): `GATEWAY_STORE` = `memory` (default), a Redis URL
//! (`redis://127.0.0.1:6379`, `redis-cluster://...`, `redis-sentinel://...`) or `hybrid+` and a
//! Redis URL (`hybrid+redis://127.0.0.1:6379`); `GATEWAY_LISTEN` (default `127.0.0.1:8080`);
//! `GATEWAY_PREFIX` (Redis key prefix, default `gateway`); `GATEWAY_IDLE_SECS` (default
//! 1800) and `GATEWAY_LIFETIME_SECS` (default 86400).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use session_core::{DynStore, Error, Session, SessionId, SessionState, UserId};
use session_manager::{CleanupHandle, DeleteReason, ManagerConfig, SessionManager};
use store_hybrid::{HybridConfig, HybridStore};
use store_memory::MemoryStore;
use store_redis::{RedisConfig, RedisStore};

/// The manager the gateway runs on: any store, chosen at run time.
pub type Manager = SessionManager<Arc<dyn DynStore>>;

/// Which store the gateway keeps its sessions in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    /// In this process only (sessions do not survive a restart or reach other instances).
    Memory,
    /// Redis at this URL.
    Redis(String),
    /// An in-process L1 in front of Redis at this URL, kept coherent by client tracking.
    Hybrid(String),
}

impl StoreChoice {
    /// Parses `memory`, a Redis URL, or `hybrid+` followed by a Redis URL.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() || text.eq_ignore_ascii_case("memory") {
            return Ok(StoreChoice::Memory);
        }
        if let Some(url) = text.strip_prefix("hybrid+") {
            return Ok(StoreChoice::Hybrid(url.to_owned()));
        }
        if text.starts_with("redis") || text.starts_with("rediss") {
            return Ok(StoreChoice::Redis(text.to_owned()));
        }
        Err(format!(
            "GATEWAY_STORE={text:?}: expected memory, a redis://... URL, or hybrid+redis://..."
        ))
    }

    /// The name recorded in spans.
    pub fn name(&self) -> &'static str {
        match self {
            StoreChoice::Memory => "memory",
            StoreChoice::Redis(_) => "redis",
            StoreChoice::Hybrid(_) => "hybrid",
        }
    }
}

/// The gateway's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Which store.
    pub store: StoreChoice,
    /// The Redis key prefix (Redis and hybrid stores).
    pub prefix: String,
    /// Sessions not heard from for this long expire.
    pub idle_timeout: Duration,
    /// No session lives longer than this.
    pub max_lifetime: Duration,
    /// How often the cleanup task runs.
    pub cleanup_every: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            store: StoreChoice::Memory,
            prefix: "gateway".to_owned(),
            idle_timeout: Duration::from_secs(1800),
            max_lifetime: Duration::from_secs(86_400),
            cleanup_every: Duration::from_secs(60),
        }
    }
}

impl Config {
    /// The configuration from `GATEWAY_*` environment variables (see the crate docs).
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The configuration from a variable lookup (for tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut config = Config::default();
        if let Some(store) = var("GATEWAY_STORE") {
            config.store = StoreChoice::parse(&store)?;
        }
        if let Some(listen) = var("GATEWAY_LISTEN") {
            config.listen = listen
                .parse()
                .map_err(|e| format!("GATEWAY_LISTEN={listen:?}: {e}"))?;
        }
        if let Some(prefix) = var("GATEWAY_PREFIX") {
            config.prefix = prefix;
        }
        let secs = |name: &str, default: Duration| -> Result<Duration, String> {
            match var(name) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|&s| s > 0)
                    .map(Duration::from_secs)
                    .ok_or_else(|| format!("{name}={v:?}: expected a positive number of seconds")),
            }
        };
        config.idle_timeout = secs("GATEWAY_IDLE_SECS", config.idle_timeout)?;
        config.max_lifetime = secs("GATEWAY_LIFETIME_SECS", config.max_lifetime)?;
        Ok(config)
    }
}

/// Connects the configured store.
pub async fn connect_store(config: &Config) -> Result<Arc<dyn DynStore>, Error> {
    Ok(match &config.store {
        StoreChoice::Memory => Arc::new(MemoryStore::new()),
        StoreChoice::Redis(url) => Arc::new(
            RedisStore::connect(RedisConfig::new(url.as_str()).prefix(config.prefix.as_str()))
                .await?,
        ),
        StoreChoice::Hybrid(url) => Arc::new(
            HybridStore::connect(HybridConfig::new(
                RedisConfig::new(url.as_str()).prefix(config.prefix.as_str()),
            ))
            .await?,
        ),
    })
}

/// A gateway ready to serve: its router, its manager and its cleanup task.
#[derive(Debug)]
pub struct Gateway {
    /// The routes, with the manager as state.
    pub router: Router,
    /// The manager (shared with the router).
    pub manager: Manager,
    /// The cleanup task (it also stops when the manager is dropped).
    pub cleanup: CleanupHandle,
}

impl Gateway {
    /// Connects the store and builds the manager and routes. Needs a tokio runtime.
    pub async fn build(config: &Config) -> Result<Self, Error> {
        let store = connect_store(config).await?;
        let manager = SessionManager::new(
            store,
            ManagerConfig::new()
                .idle_timeout(config.idle_timeout)
                .max_lifetime(config.max_lifetime)
                .store_name(config.store.name()),
        );
        let cleanup = manager.spawn_cleanup(config.cleanup_every);
        Ok(Gateway {
            router: router(manager.clone()),
            manager,
            cleanup,
        })
    }

    /// Serves on `listener` until the task is dropped or the listener fails.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(
            listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    }
}

/// The routes of the table in the crate docs. Serve them with connect info
/// (`into_make_service_with_connect_info::<SocketAddr>()`), as [`Gateway::serve`] does.
pub fn router(manager: Manager) -> Router {
    Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/heartbeat", post(heartbeat))
        .route("/sessions", get(my_sessions))
        .route("/sessions/{id}", delete(revoke_one))
        .route("/sessions/revoke-others", post(revoke_others))
        .with_state(manager)
}

/// An error answer: a status and a JSON `{"error": ...}`.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body {
            error: String,
        }
        (self.0, Json(Body { error: self.1 })).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::InvalidInput { .. } => StatusCode::BAD_REQUEST,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::AlreadyExists(_) | Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::Timeout { .. } | Error::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

fn unauthorized() -> ApiError {
    ApiError(
        StatusCode::UNAUTHORIZED,
        "missing, invalid, revoked or expired token".into(),
    )
}

/// The session of the request's bearer token.
#[derive(Debug)]
pub struct Authenticated(pub Arc<Session>);

impl FromRequestParts<Manager> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, manager: &Manager) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(unauthorized)?;
        match manager.get_session_by_token(token.trim()).await {
            Ok(Some(session)) => Ok(Authenticated(session)),
            Ok(None) | Err(Error::InvalidInput { .. }) => Err(unauthorized()),
            Err(e) => Err(e.into()),
        }
    }
}

/// `POST /login` body.
#[derive(Debug, Deserialize)]
pub struct LoginRequest {
    /// Who logs in.
    pub user: String,
    /// A label for the device, kept in the session's metadata.
    #[serde(default)]
    pub device: Option<String>,
}

/// `POST /login` answer.
#[derive(Debug, Serialize)]
pub struct LoginResponse {
    /// The new session's id.
    pub session_id: String,
    /// The bearer token (shown once).
    pub token: String,
    /// When the session expires without heartbeats, in ms since the epoch.
    pub expires_at: u64,
}

async fn login(
    State(manager): State<Manager>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Json(request): Json<LoginRequest>,
) -> Result<(StatusCode, Json<LoginResponse>), ApiError> {
    let user = UserId::new(&request.user)?;
    let mut new = manager
        .new_session(user)
        .client_addr(client)
        .state(SessionState::Active);
    if let Some(device) = request.device {
        new = new.metadata("device", device);
    }
    let created = manager.create_session(new).await?;
    Ok((
        StatusCode::CREATED,
        Json(LoginResponse {
            session_id: created.session.id.to_string(),
            expires_at: created.session.expires_at.as_millis(),
            token: created.token.into_string(),
        }),
    ))
}

async fn logout(
    State(manager): State<Manager>,
    Authenticated(me): Authenticated,
) -> Result<StatusCode, ApiError> {
    manager.delete_session(&me.id, DeleteReason::Logout).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /heartbeat` answer.
#[derive(Debug, Serialize)]
pub struct HeartbeatResponse {
    /// The session.
    pub session_id: String,
    /// Its expiry now, in ms since the epoch.
    pub expires_at: u64,
    /// Whether this heartbeat was written (heartbeats are throttled).
    pub written: bool,
}

async fn heartbeat(
    State(manager): State<Manager>,
    Authenticated(me): Authenticated,
) -> Result<Json<HeartbeatResponse>, ApiError> {
    let beat = manager.heartbeat(&me.id).await.map_err(|e| {
        if e.is_not_found() {
            unauthorized()
        } else {
            e.into()
        }
    })?;
    Ok(Json(HeartbeatResponse {
        session_id: beat.session.id.to_string(),
        expires_at: beat.session.expires_at.as_millis(),
        written: beat.written,
    }))
}

/// One entry of `GET /sessions`.
#[derive(Debug, Serialize)]
pub struct SessionView {
    /// The session's id.
    pub id: String,
    /// True for the session that made the request.
    pub current: bool,
    /// Its state.
    pub state: String,
    /// The client's address at login.
    pub client_addr: String,
    /// The device label given at login.
    pub device: Option<String>,
    /// Created, in ms since the epoch.
    pub created_at: u64,
    /// Last heartbeat written, in ms since the epoch.
    pub last_active_at: u64,
    /// Expiry, in ms since the epoch.
    pub expires_at: u64,
}

async fn my_sessions(
    State(manager): State<Manager>,
    Authenticated(me): Authenticated,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let sessions = manager.user_sessions(&me.user_id).await?;
    Ok(Json(
        sessions
            .iter()
            .map(|s| SessionView {
                id: s.id.to_string(),
                current: s.id == me.id,
                state: s.state.to_string(),
                client_addr: s.client_addr.to_string(),
                device: s.metadata.get("device").map(str::to_owned),
                created_at: s.created_at.as_millis(),
                last_active_at: s.last_active_at.as_millis(),
                expires_at: s.expires_at.as_millis(),
            })
            .collect(),
    ))
}

async fn revoke_one(
    State(manager): State<Manager>,
    Authenticated(me): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let not_found = || ApiError(StatusCode::NOT_FOUND, "no such session of yours".into());
    let id = SessionId::parse(&id).map_err(|_| not_found())?;
    // Only the caller's own sessions: another user's id is as good as absent.
    match manager.get_session(&id).await? {
        Some(s) if s.user_id == me.user_id => {}
        _ => return Err(not_found()),
    }
    if manager.delete_session(&id, DeleteReason::Revoked).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}

/// `POST /sessions/revoke-others` answer.
#[derive(Debug, Serialize)]
pub struct RevokeResponse {
    /// How many sessions were revoked.
    pub revoked: u64,
}

async fn revoke_others(
    State(manager): State<Manager>,
    Authenticated(me): Authenticated,
) -> Result<Json<RevokeResponse>, ApiError> {
    let revoked = manager.revoke_user(&me.user_id, Some(&me.id)).await?;
    Ok(Json(RevokeResponse {
        revoked: revoked.total(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_choice_parses() {
        assert_eq!(StoreChoice::parse("memory"), Ok(StoreChoice::Memory));
        assert_eq!(StoreChoice::parse(""), Ok(StoreChoice::Memory));
        assert_eq!(
            StoreChoice::parse("redis://127.0.0.1:6379"),
            Ok(StoreChoice::Redis("redis://127.0.0.1:6379".into()))
        );
        assert_eq!(
            StoreChoice::parse("hybrid+redis://h:1"),
            Ok(StoreChoice::Hybrid("redis://h:1".into()))
        );
        assert!(StoreChoice::parse("postgres://x").is_err());
    }

    #[test]
    fn config_from_vars() {
        let c = Config::from_vars(|name| match name {
            "GATEWAY_STORE" => Some("hybrid+redis://h:1".into()),
            "GATEWAY_LISTEN" => Some("0.0.0.0:9000".into()),
            "GATEWAY_IDLE_SECS" => Some("60".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.store, StoreChoice::Hybrid("redis://h:1".into()));
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.idle_timeout, Duration::from_secs(60));
        assert_eq!(c.max_lifetime, Duration::from_secs(86_400));
        assert!(Config::from_vars(|n| (n == "GATEWAY_IDLE_SECS").then(|| "0".into())).is_err());
        assert!(Config::from_vars(|n| (n == "GATEWAY_LISTEN").then(|| "nope".into())).is_err());
    }
}
