//! Small helpers shared by the tasks: the workspace root, running commands, errors.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Every task's error: a message, or a boxed source.
pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// An error from a message.
pub(crate) fn err(message: impl Into<String>) -> Error {
    message.into().into()
}

/// The workspace root (the parent of `xtask/`).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .to_path_buf()
}

/// `cargo` as cargo itself was invoked (respects `CARGO`), in the workspace root.
pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// A command line as a shell would show it.
pub(crate) fn show(cmd: &Command) -> String {
    let mut out: Vec<String> = cmd
        .get_envs()
        .map(|(k, v)| match v {
            Some(v) => format!("{}={}", k.to_string_lossy(), quote(&v.to_string_lossy())),
            None => format!("-u {}", k.to_string_lossy()),
        })
        .collect();
    out.push(cmd.get_program().to_string_lossy().into_owned());
    out.extend(cmd.get_args().map(|a| quote(&a.to_string_lossy())));
    out.join(" ")
}

fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Runs `cmd` with inherited output; `Err` unless it exits with 0.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {}", show(cmd));
    let status = cmd
        .status()
        .map_err(|e| err(format!("cannot run `{}`: {e}", show(cmd))))?;
    if status.success() {
        Ok(())
    } else {
        Err(err(format!("`{}` failed ({status})", show(cmd))))
    }
}

/// Runs `cmd` and returns its stdout (trimmed); `Err` with its stderr unless it exits with 0.
pub(crate) fn output(cmd: &mut Command) -> Result<String> {
    // `output()` reads no stdin unless the caller set one (docker import reads a pipe).
    let out = cmd
        .output()
        .map_err(|e| err(format!("cannot run `{}`: {e}", show(cmd))))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(err(format!(
            "`{}` failed ({}): {}",
            show(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Whether `program` is found on `PATH`.
pub(crate) fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// `1m05s`, `42s`, `1.3s`.
pub(crate) fn human_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.1}s")
    } else if s < 60.0 {
        format!("{s:.0}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}
