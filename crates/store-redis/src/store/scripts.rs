//! The Lua routines (`lua/prelude.lua`, then one file each), loaded as a library of Redis
//! Functions where the server takes it and as scripts where it does not, and how they run.

use std::sync::atomic::{AtomicBool, Ordering};

use fred::bytes::Bytes;
use fred::bytes_utils::Str;
use fred::error::ErrorKind;
use fred::prelude::{Client, FunctionInterface, LuaInterface};
use fred::types::Value;
use fred::types::scripts::Script;
use session_core::Result;

use super::{Inner, Topology};
use crate::error::map_err;

macro_rules! routine {
    ($name:literal, $flags:literal) => {
        Routine::new(
            $name,
            $flags,
            include_str!(concat!("../lua/", $name, ".lua")),
        )
    };
}

/// One of the store's server-side routines: a Redis Function of the store's library (FCALL),
/// and the same code as a script (EVALSHA, EVAL), for servers where the library cannot be
/// loaded and for the node a Cluster slot is being imported to (`cluster::route`).
pub(crate) struct Routine {
    name: &'static str,
    /// `flags` of `redis.register_function`: a Lua table constructor.
    flags: &'static str,
    body: &'static str,
    /// The prelude and the body, as a script.
    pub(crate) script: Script,
    /// The function's name in the library: `{library}_{name}`.
    function: Str,
}

impl Routine {
    fn new(name: &'static str, flags: &'static str, body: &'static str) -> Routine {
        Routine {
            name,
            flags,
            body,
            script: Script::from_lua(format!("{PRELUDE}{body}")),
            function: Str::from_static(""),
        }
    }
}

const PRELUDE: &str = include_str!("../lua/prelude.lua");

/// The store's routines, and whether they run as Functions.
///
/// An EVALSHA runs the whole script each time, and so defines the prelude's helpers (some
/// twenty closures) on every call; a library of Functions defines them once, when it is
/// loaded. On Redis 7.0 that took 14k to 17k instructions off every write, about six GETs'
/// worth (`benches/server_cost.sh`, the same Lua run both ways). The library's name carries a hash of its code, so that stores of different
/// versions sharing a server each call their own (an older library is left in place: a
/// server keeps it until `FUNCTION DELETE`).
pub(crate) struct Scripts {
    pub(crate) create: Routine,
    pub(crate) update: Routine,
    pub(crate) touch: Routine,
    pub(crate) delete: Routine,
    pub(crate) delete_by_user: Routine,
    pub(crate) by_user: Routine,
    pub(crate) bucket: Routine,
    pub(crate) cluster_conn: Routine,
    pub(crate) cluster_index: Routine,
    pub(crate) cluster_record: Routine,
    /// The library's code, for FUNCTION LOAD.
    library: Str,
    /// Whether FCALL is used: true once the library loaded, false on a server that refused
    /// it (no FUNCTION command, or an ACL that denies it); scripts are used then.
    functions: AtomicBool,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        // Routines that only read or remove data may run when the server is out of memory
        // (`allow-oom`), as their scripts could; the others are refused whole then, before
        // they write anything.
        let mut s = Scripts {
            create: routine!("create", "{}"),
            update: routine!("update", "{}"),
            touch: routine!("touch", "{}"),
            delete: routine!("delete", "{'allow-oom'}"),
            delete_by_user: routine!("delete_by_user", "{'allow-oom'}"),
            by_user: routine!("by_user", "{'allow-oom'}"),
            bucket: routine!("bucket", "{'allow-oom'}"),
            cluster_conn: routine!("cluster_conn", "{}"),
            cluster_index: routine!("cluster_index", "{}"),
            cluster_record: routine!("cluster_record", "{}"),
            library: Str::from_static(""),
            functions: AtomicBool::new(false),
        };
        let mut code = String::from(PRELUDE);
        for r in s.all() {
            code.push_str(&format!(
                "\nlocal function {}(KEYS, ARGV)\n{}\nend\n",
                r.name, r.body
            ));
        }
        let name = format!("session_stores_{}", &fred::util::sha1_hash(&code)[..16]);
        for r in s.all_mut() {
            r.function = Str::from(format!("{name}_{}", r.name));
            code.push_str(&format!(
                "redis.register_function{{function_name = '{}', callback = {}, flags = {}}}\n",
                r.function, r.name, r.flags
            ));
        }
        s.library = Str::from(format!("#!lua name={name}\n{code}"));
        s
    }

    pub(crate) fn all(&self) -> [&Routine; 10] {
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

    fn all_mut(&mut self) -> [&mut Routine; 10] {
        [
            &mut self.create,
            &mut self.update,
            &mut self.touch,
            &mut self.delete,
            &mut self.delete_by_user,
            &mut self.by_user,
            &mut self.bucket,
            &mut self.cluster_conn,
            &mut self.cluster_index,
            &mut self.cluster_record,
        ]
    }

    /// Loads the library (on every primary of a Cluster) if `functions`; if not, or if the
    /// server refuses it, loads the scripts instead and runs them from then on. A server
    /// that cannot be reached is an error.
    pub(crate) async fn load(&self, client: &Client, functions: bool) -> Result<()> {
        let loaded = match functions {
            true => {
                client
                    .function_load_cluster::<Value, _>(true, self.library.clone())
                    .await
            }
            false => Err(fred::error::Error::new(
                ErrorKind::Unknown,
                "scripts chosen",
            )),
        };
        match loaded {
            Ok(_) => {
                self.functions.store(true, Ordering::Relaxed);
                return Ok(());
            }
            Err(e) if !refused(&e) => return Err(map_err(e)),
            Err(_) => self.functions.store(false, Ordering::Relaxed),
        }
        for r in self.all() {
            if let Some(lua) = r.script.lua() {
                client
                    .script_load_cluster::<(), _>(lua.clone())
                    .await
                    .map_err(map_err)?;
            }
        }
        Ok(())
    }
}

/// A server's refusal of FUNCTION LOAD itself (an error reply), as opposed to a connection
/// or routing failure: no such command (before Redis 7), denied by an ACL (NOPERM), or a
/// library it will not take.
fn refused(e: &fred::error::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Unknown | ErrorKind::InvalidCommand | ErrorKind::InvalidArgument
    )
}

/// A version as the scripts take it: its 8 bytes, little-endian (never a Lua number, which
/// is a double and cannot hold every u64).
pub(crate) fn version_arg(version: u64) -> Value {
    Value::Bytes(Bytes::copy_from_slice(&version.to_le_bytes()))
}

impl Inner {
    /// Runs `routine` (see [`eval_once`]). In a Cluster, through `crate::cluster::route`,
    /// which follows redirections and retries TRYAGAIN.
    pub(crate) async fn eval(
        &self,
        routine: &Routine,
        keys: Vec<String>,
        args: Vec<Value>,
    ) -> Result<Value> {
        match self.topology {
            Topology::Standalone { .. } => {
                eval_once(self.pool.next(), &self.scripts, routine, &keys, &args)
                    .await
                    .map_err(map_err)
            }
            Topology::Cluster => self.eval_routed(routine, keys, args).await,
        }
    }
}

/// Runs `routine` on `client`: FCALL while the library is loaded, reloading it once if the
/// server has lost it (a restart without persistence, a new Cluster node); else EVALSHA, then
/// EVAL after a NOSCRIPT.
pub(crate) async fn eval_once(
    client: &Client,
    scripts: &Scripts,
    routine: &Routine,
    keys: &[String],
    args: &[Value],
) -> std::result::Result<Value, fred::error::Error> {
    if scripts.functions.load(Ordering::Relaxed) {
        let call = || {
            client.fcall::<Value, _, _, _>(routine.function.clone(), keys.to_vec(), args.to_vec())
        };
        match call().await {
            Err(e) if e.details().contains("Function not found") => {
                match client
                    .function_load_cluster::<Value, _>(true, scripts.library.clone())
                    .await
                {
                    Ok(_) => return call().await,
                    Err(e) if !refused(&e) => return Err(e),
                    Err(_) => {}
                }
            }
            other => return other,
        }
    }
    let script = &routine.script;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_registers_every_routine_under_its_versioned_name() {
        let s = Scripts::new();
        let name = s.library.strip_prefix("#!lua name=").unwrap();
        let name = &name[..name.find('\n').unwrap()];
        assert!(
            name.starts_with("session_stores_") && name.len() == 31,
            "{name}"
        );
        for r in s.all() {
            assert_eq!(&*r.function, format!("{name}_{}", r.name));
            let line = format!("function_name = '{}', callback = {},", r.function, r.name);
            assert_eq!(s.library.matches(&line).count(), 1, "{line}");
            assert!(r.script.lua().unwrap().ends_with(r.body));
        }
    }
}
