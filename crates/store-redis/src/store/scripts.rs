//! The Lua scripts (each one `lua/prelude.lua` followed by its own file), and how a script
//! is run.

use fred::bytes::Bytes;
use fred::prelude::{Client, LuaInterface};
use fred::types::Value;
use fred::types::scripts::Script;
use session_core::Result;

use super::{Inner, Topology};
use crate::error::map_err;

macro_rules! script {
    ($file:literal) => {
        concat!(include_str!("../lua/prelude.lua"), include_str!($file))
    };
}

pub(crate) struct Scripts {
    pub(crate) create: Script,
    pub(crate) update: Script,
    pub(crate) touch: Script,
    pub(crate) delete: Script,
    pub(crate) delete_by_user: Script,
    pub(crate) by_user: Script,
    pub(crate) bucket: Script,
    pub(crate) cluster_conn: Script,
    pub(crate) cluster_index: Script,
    pub(crate) cluster_record: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Scripts {
            create: Script::from_lua(script!("../lua/create.lua")),
            update: Script::from_lua(script!("../lua/update.lua")),
            touch: Script::from_lua(script!("../lua/touch.lua")),
            delete: Script::from_lua(script!("../lua/delete.lua")),
            delete_by_user: Script::from_lua(script!("../lua/delete_by_user.lua")),
            by_user: Script::from_lua(script!("../lua/by_user.lua")),
            bucket: Script::from_lua(script!("../lua/bucket.lua")),
            cluster_conn: Script::from_lua(script!("../lua/cluster_conn.lua")),
            cluster_index: Script::from_lua(script!("../lua/cluster_index.lua")),
            cluster_record: Script::from_lua(script!("../lua/cluster_record.lua")),
        }
    }

    pub(crate) fn all(&self) -> [&Script; 10] {
        [
            &self.create,
            &self.update,
            &self.touch,
            &self.delete,
            &self.delete_by_user,
            &self.by_user,
            &self.bucket,
            &self.cluster_conn,
            &self.cluster_index,
            &self.cluster_record,
        ]
    }
}

/// A version as the scripts take it: its 8 bytes, little-endian (never a Lua number, which
/// is a double and cannot hold every u64).
pub(crate) fn version_arg(version: u64) -> Value {
    Value::Bytes(Bytes::copy_from_slice(&version.to_le_bytes()))
}

impl Inner {
    /// Runs `script`: EVALSHA, falling back to EVAL (which also caches the script) after a
    /// NOSCRIPT, as after a server restart or failover. In a Cluster, through
    /// `crate::cluster::route`, which follows redirections and retries TRYAGAIN.
    pub(crate) async fn eval(
        &self,
        script: &Script,
        keys: Vec<String>,
        args: Vec<Value>,
    ) -> Result<Value> {
        match self.topology {
            Topology::Standalone { .. } => eval_once(self.pool.next(), script, &keys, &args)
                .await
                .map_err(map_err),
            Topology::Cluster => self.eval_routed(script, keys, args).await,
        }
    }
}

/// EVALSHA on `client`, then EVAL after a NOSCRIPT.
pub(crate) async fn eval_once(
    client: &Client,
    script: &Script,
    keys: &[String],
    args: &[Value],
) -> std::result::Result<Value, fred::error::Error> {
    match client
        .evalsha::<Value, _, _, _>(script.sha1().clone(), keys.to_vec(), args.to_vec())
        .await
    {
        Err(e) if e.details().starts_with("NOSCRIPT") => {
            let lua = script.lua().cloned().unwrap_or_default();
            client.eval(lua, keys.to_vec(), args.to_vec()).await
        }
        other => other,
    }
}
