//! Counting what a client costs the server, from the server's own log: `MONITOR` lists every
//! command a client sent (standalone, a round trip each) and every command a script ran
//! (marked `[.. lua]`). Used by store-redis's round-trip test and by the round-trip bench
//! that feeds the report.
//!
//! MONITOR sees every client, so use it only on a server started for the purpose (testkit's
//! [`crate::RedisServer::owned`]), never on a shared one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

/// How long to wait for the server's log to catch up with a marker.
const WAIT: Duration = Duration::from_secs(5);

/// What one operation cost the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpCost {
    /// The commands the client sent, lower-case, in order (standalone: one round trip each).
    pub sent: Vec<String>,
    /// Commands run inside scripts.
    pub in_scripts: usize,
}

impl OpCost {
    /// Every command the server ran for the operation, including those inside scripts.
    pub fn total(&self) -> usize {
        self.sent.len() + self.in_scripts
    }

    fn of(lines: Vec<String>) -> OpCost {
        let mut sent = Vec::new();
        let mut in_scripts = 0;
        for l in lines {
            if l.contains(" lua]") {
                in_scripts += 1;
            } else if let Some(cmd) = l.split('"').nth(1) {
                sent.push(cmd.to_lowercase());
            }
        }
        OpCost { sent, in_scripts }
    }
}

/// A MONITOR connection and a second connection that writes markers into the log (`ECHO`),
/// so the commands between two markers are exactly one operation's.
#[derive(Debug)]
pub struct Monitor {
    lines: Receiver<String>,
    stream: TcpStream,
    marker: TcpStream,
    n: u64,
}

impl Monitor {
    /// Starts monitoring `server`, which must be one this crate started: MONITOR sees every
    /// client, so on a shared server (`REDIS_URL`) the counts would be others' too. `Err` for
    /// a shared one.
    pub fn of(server: &crate::RedisServer) -> std::io::Result<Monitor> {
        if !server.owned() {
            return Err(std::io::Error::other(format!(
                "MONITOR needs a server started for this test, not {}",
                server.description()
            )));
        }
        Monitor::start(
            server
                .url()
                .strip_prefix("redis://")
                .unwrap_or(server.url()),
        )
    }

    /// Starts monitoring the server at `addr` (`host:port`, no password).
    pub fn start(addr: &str) -> std::io::Result<Monitor> {
        let mut stream = TcpStream::connect(addr)?;
        stream.write_all(b"MONITOR\r\n")?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut ok = String::new();
        reader.read_line(&mut ok)?;
        if ok.trim_end() != "+OK" {
            return Err(std::io::Error::other(format!("MONITOR answered {ok:?}")));
        }
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in reader.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let marker = TcpStream::connect(addr)?;
        marker.set_read_timeout(Some(WAIT))?;
        Ok(Monitor {
            lines: rx,
            stream,
            marker,
            n: 0,
        })
    }

    /// Writes a marker and returns the log lines before it.
    fn lines_until_marker(&mut self) -> std::io::Result<Vec<String>> {
        self.n += 1;
        let marker = format!("testkit-monitor-mark-{}", self.n);
        self.marker
            .write_all(format!("ECHO {marker}\r\n").as_bytes())?;
        // The reply: `$N\r\nmarker\r\n`.
        let mut reply = vec![0; format!("${}\r\n{marker}\r\n", marker.len()).len()];
        self.marker.read_exact(&mut reply)?;
        let mut out = Vec::new();
        loop {
            let line = self.lines.recv_timeout(WAIT).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "no MONITOR line within 5 s")
            })?;
            if line.contains(&marker) {
                return Ok(out);
            }
            out.push(line);
        }
    }

    /// Starts an operation's count: what the log holds so far is dropped.
    pub fn mark(&mut self) -> std::io::Result<()> {
        self.lines_until_marker().map(drop)
    }

    /// What the server ran since [`Self::mark`].
    pub fn cost_since_mark(&mut self) -> std::io::Result<OpCost> {
        self.lines_until_marker().map(OpCost::of)
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        let _ = self.marker.shutdown(std::net::Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sent_commands_and_script_commands() {
        let c = OpCost::of(vec![
            r#"1700000000.1 [0 127.0.0.1:5000] "EVALSHA" "abc" "1" "k""#.into(),
            r#"1700000000.2 [0 lua] "GET" "k""#.into(),
            r#"1700000000.3 [0 lua] "SET" "k" "v""#.into(),
        ]);
        assert_eq!(c.sent, ["evalsha"]);
        assert_eq!((c.in_scripts, c.total()), (2, 3));
    }
}
