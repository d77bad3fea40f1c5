//! What the benches print, read into the run's types: the redis bench's paired table, the
//! footprint, coalesce and hybrid benches' lines, and `go test -bench` output.

use crate::report::run::{
    Coalesce, CoalesceRow, Footprint, Go, GoBench, Hybrid, Paired, PairedRow,
};

/// The cells of a Markdown table row `| a | b | c |`, trimmed; `None` for any other line.
fn cells(line: &str) -> Option<Vec<&str>> {
    Some(
        line.trim()
            .strip_prefix('|')?
            .strip_suffix('|')?
            .split('|')
            .map(str::trim)
            .collect(),
    )
}

/// The first number in `text` (digits and a point), e.g. `97.40` of `97.40 % (…)`.
fn first_number(text: &str) -> Option<f64> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|w| !w.is_empty())?
        .parse()
        .ok()
}

/// The number just before `unit` in `text`: 64 of `…, 64 tasks, …` with ` tasks`.
fn number_before(text: &str, unit: &str) -> Option<f64> {
    let head = &text[..text.find(unit)?];
    let start = head
        .rfind(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or(0, |i| i + 1);
    head[start..].parse().ok()
}

/// The redis bench's paired table: `| op | store us | floor us | ratio |`.
pub(crate) fn paired(stdout: &str) -> Option<Paired> {
    let start = stdout.find("paired medians over")?;
    let header = stdout[start..].lines().next().unwrap_or_default();
    let rounds: Option<u64> = header
        .split_whitespace()
        .nth(3)
        .and_then(|n| n.parse().ok());
    let rows: Vec<PairedRow> = stdout[start..]
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l
                .trim()
                .strip_prefix('|')?
                .strip_suffix('|')?
                .split('|')
                .map(str::trim)
                .collect();
            // `| op | store | floor | ratio |`, or with the payload and server times:
            // `| op | payload | store | floor | ratio | server us | server GET us | server / GET |`.
            let (op, payload, times, server) = match cells[..] {
                [op, store, floor, ratio] => (op, None, [store, floor, ratio], None),
                [op, payload, store, floor, ratio, server, get, _] => (
                    op,
                    Some(payload),
                    [store, floor, ratio],
                    Some([server, get]),
                ),
                _ => return None,
            };
            let [store, floor, ratio] = times.map(|v| v.parse::<f64>().ok());
            let server = server.map(|s| s.map(|v| v.parse::<f64>().ok()));
            Some(PairedRow {
                operation: op.to_owned(),
                payload: payload.map(str::to_owned),
                store_us: store?,
                floor_us: floor?,
                ratio: ratio?,
                server_us: server.and_then(|s| s[0]),
                server_get_us: server.and_then(|s| s[1]),
            })
        })
        .collect();
    Some(Paired { rounds, rows })
}

/// `footprint/seed: 1000000 sessions: allocator net 612 B/session, resident growth 700 B/session`
pub(crate) fn footprint(stdout: &str) -> Vec<Footprint> {
    stdout
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("footprint/")?;
            let (label, rest) = rest.split_once(": ")?;
            let numbers: Vec<f64> = rest
                .split(|c: char| !(c.is_ascii_digit() || c == '.'))
                .filter_map(|w| w.parse().ok())
                .collect();
            let [sessions, allocator, resident] = numbers[..] else {
                return None;
            };
            Some(Footprint {
                label: label.to_owned(),
                sessions,
                allocator_bytes_per_session: allocator,
                resident_bytes_per_session: resident,
            })
        })
        .collect()
}

/// The coalesce bench's table, after its `coalesce: realistic session (351 B encoded), 64
/// tasks, …` line: `| variant | ops/s | ratio to raw GET | 1 caller p50 µs | ratio |`.
pub(crate) fn coalesce(stdout: &str) -> Option<Coalesce> {
    let start = stdout.find("coalesce: ")?;
    let mut lines = stdout[start..].lines();
    let header = lines.next().unwrap_or_default();
    let rows: Vec<CoalesceRow> = lines
        .map_while(cells)
        .filter_map(|c| {
            let [variant, ops, _, p50, _] = c[..] else {
                return None;
            };
            Some(CoalesceRow {
                variant: variant.to_owned(),
                ops_per_sec: ops.parse().ok()?,
                p50_us: p50.parse().ok(),
            })
        })
        .collect();
    (!rows.is_empty()).then(|| Coalesce {
        tasks: number_before(header, " tasks").map(|n| n as u64),
        payload_bytes: number_before(header, " B encoded").map(|n| n as u64),
        rows,
    })
}

/// The hybrid bench's tables, read by their rows' labels: `| run | memory ns | hit ns | … |`,
/// `| 64 tasks, … |` (the header of the throughput table), `| hybrid gets … | ops/s | … |`,
/// `| hybrid 95:5 get:update | ops/s | 97.40 % (…) |`, `| redis 95:5 get:update | ops/s | … |`,
/// and the invalidation rows `| idle | p50 | p99 | max |`, `| under the … | p50 | p99 | max |`
/// (a later `idle, watched off the runtime` or `under the …, watched off the runtime` row
/// replaces the one before it).
pub(crate) fn hybrid(stdout: &str) -> Option<Hybrid> {
    let mut h = Hybrid::default();
    let mut read = false;
    for c in stdout.lines().filter_map(cells) {
        let Some((&label, rest)) = c.split_first() else {
            continue;
        };
        let num = |i: usize| rest.get(i).and_then(|v| first_number(v));
        let three = || Some([num(0)?, num(1)?, num(2)?]);
        read |= match label {
            "run" => match (num(0), num(1)) {
                (Some(memory), Some(hit)) => {
                    h.hit_runs.push((memory, hit));
                    true
                }
                _ => false,
            },
            l if l.ends_with(" each") && l.contains(" tasks") => {
                h.tasks = number_before(l, " tasks").map(|n| n as u64);
                true
            }
            l if l.starts_with("hybrid gets") => {
                h.gets_ops = num(0);
                true
            }
            l if l.starts_with("hybrid") && l.contains("95:5") => {
                h.mix_ops = num(0);
                h.mix_hit_rate_pct = num(1);
                true
            }
            l if l.starts_with("redis") && l.contains("95:5") => {
                h.redis_mix_ops = num(0);
                true
            }
            // The rows "… watched off the runtime" come after the in-runtime ones and so win:
            // they time the invalidation's delivery, not how soon a busy runtime's watching
            // task gets a turn.
            l if l.starts_with("idle") => {
                h.invalidation_idle_us = three();
                true
            }
            l if l.starts_with("under the") => {
                h.invalidation_loaded_us = three();
                true
            }
            _ => false,
        };
    }
    read.then_some(h)
}

/// `go test -bench` output as run.sh prints it: its `go version …` line, then
/// `BenchmarkMemoryStore_Get-2   4677058   30.81 ns/op   0 B/op …` lines, several per
/// benchmark with `-count`.
pub(crate) fn go(stdout: &str) -> Option<Go> {
    let mut out = Go {
        version: stdout
            .lines()
            .find(|l| l.starts_with("go version"))
            .map(str::to_owned),
        benchmarks: Vec::new(),
    };
    for line in stdout.lines().filter(|l| l.starts_with("Benchmark")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(ns) = words
            .iter()
            .position(|w| *w == "ns/op")
            .and_then(|i| words.get(i.checked_sub(1)?)?.parse::<f64>().ok())
        else {
            continue;
        };
        // `-2`: GOMAXPROCS, not part of the name.
        let name = match words[0].rsplit_once('-') {
            Some((name, procs)) if procs.chars().all(|c| c.is_ascii_digit()) => name,
            _ => words[0],
        };
        match out.benchmarks.iter_mut().find(|b| b.name == name) {
            Some(b) => b.ns_per_op.push(ns),
            None => out.benchmarks.push(GoBench {
                name: name.to_owned(),
                ns_per_op: vec![ns],
            }),
        }
    }
    (!out.benchmarks.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_paired_table() {
        let text = "x\npaired medians over 300 rounds (operation, then ...):\n\
                    | operation | redis store (us) | raw fred GET (us) | ratio |\n|---|---:|---:|---:|\n\
                    | get | 60.1 | 55.0 | 1.09 |\n";
        let v = paired(text).expect("a table");
        assert_eq!(v.rounds, Some(300));
        assert_eq!(v.rows[0].operation, "get");
        assert_eq!(v.rows[0].ratio, 1.09);
        assert_eq!(
            (v.rows[0].payload.as_deref(), v.rows[0].server_us),
            (None, None)
        );
        let text = "paired medians over 300 rounds (operation, then ...):\n\
                    | operation | payload | redis store (us) | raw fred GET (us) | ratio | server (us) | server GET (us) | server / GET |\n\
                    | create | realistic | 70.2 | 50.1 | 1.40 | 12.5 | 2.5 | 5.00 |\n\
                    | get | seed | 60.1 | 55.0 | 1.09 | – | – | – |\n";
        let v = paired(text).expect("a table");
        assert_eq!(v.rows.len(), 2, "{v:?}");
        assert_eq!(v.rows[0].payload.as_deref(), Some("realistic"));
        assert_eq!(
            (v.rows[0].server_us, v.rows[0].server_get_us),
            (Some(12.5), Some(2.5))
        );
        assert_eq!((v.rows[1].ratio, v.rows[1].server_us), (1.09, None));
    }

    #[test]
    fn parses_footprint_lines() {
        let v = footprint(
            "footprint/seed+2 metadata: 100000 sessions: allocator net 700 B/session, resident growth 812 B/session\n",
        );
        assert_eq!(v[0].label, "seed+2 metadata");
        assert_eq!(v[0].resident_bytes_per_session, 812.0);
    }

    #[test]
    fn parses_the_coalesce_table() {
        let text = "Redis for this run: x\n\ncoalesce: realistic session (351 B encoded), 64 tasks, 1 passes of 500ms\n\
            | variant | 64 tasks, ops/s | ratio to raw GET | 1 caller p50 µs | ratio |\n\
            |---|---:|---:|---:|---:|\n\
            | raw fred GET (floor) | 100000 | 1.00 | 60.0 | 1.000 |\n\
            | get, coalescing off | 90000 | 0.90 | 61.0 | 1.017 |\n\
            | 95:5 get:update, coalescing on (default) | 180000 | 1.80 | - | - |\n\
            95:5 mix / plain get: coalescing off 0.95, on 0.90\n";
        let c = coalesce(text).expect("a table");
        assert_eq!((c.tasks, c.payload_bytes), (Some(64), Some(351)));
        assert_eq!(c.rows.len(), 3, "{c:?}");
        assert_eq!(c.rows[1].variant, "get, coalescing off");
        assert_eq!(
            (c.rows[1].ops_per_sec, c.rows[1].p50_us),
            (90000.0, Some(61.0))
        );
        assert_eq!((c.rows[2].ops_per_sec, c.rows[2].p50_us), (180000.0, None));
        assert_eq!(coalesce("no table\n"), None);
    }

    #[test]
    fn parses_the_hybrid_tables() {
        let text = "loadavg 2.0\n\n| one task, same id | memory get (ns) | hybrid hit (ns) | ratio |\n\
            |---|---:|---:|---:|\n| run | 20.0 | 30.0 | 1.50 |\n| run | 22.0 | 26.4 | 1.20 |\n\n\
            | 64 tasks, 1s each | ops/s | L1 hit rate |\n|---|---:|---:|\n\
            | hybrid gets (L1 hits) | 30000000 | 100.00 % |\n\
            | hybrid 95:5 get:update | 380000 | 97.40 % (100 hits, 3 misses, 2 refreshes) |\n\
            | redis 95:5 get:update | 86000 | - |\n| hybrid mix / redis mix | 4.42x | |\n\n\
            | invalidation A -> B | p50 (us) | p99 (us) | max (us) |\n|---|---:|---:|---:|\n\
            | idle | 80 | 900 | 8300 |\n| under the 64-task mix on A | 300 | 18800 | 20000 |\n\
            | hybrid update_with only | 25000 | - |\n\
            | idle, watched off the runtime | 40 | 700 | 4000 |\n\
            | under the 64-task mix on A, watched off the runtime | 200 | 3300 | 3700 |\n";
        let h = hybrid(text).expect("tables");
        // The off-runtime rows time delivery and replace the in-runtime ones.
        assert_eq!(h.invalidation_idle_us, Some([40.0, 700.0, 4000.0]));
        assert_eq!(h.invalidation_loaded_us, Some([200.0, 3300.0, 3700.0]));
        assert_eq!(h.hit_runs, [(20.0, 30.0), (22.0, 26.4)]);
        assert_eq!(h.tasks, Some(64));
        assert_eq!(h.gets_ops, Some(30_000_000.0));
        assert_eq!(
            (h.mix_ops, h.mix_hit_rate_pct),
            (Some(380_000.0), Some(97.4))
        );
        assert_eq!(h.redis_mix_ops, Some(86_000.0));
        assert_eq!(hybrid("| a | b |\nnothing\n"), None);
    }

    #[test]
    fn parses_go_bench_output() {
        let text = "go version go1.27.3 linux/amd64; loadavg 2.74 2.06 0.96\ngoos: linux\n\
            BenchmarkMemoryStore_Get-2           \t 4677058\t        30.81 ns/op\t       0 B/op\t       0 allocs/op\n\
            BenchmarkMemoryStore_Get-2           \t 4734561\t        31.66 ns/op\t       0 B/op\t       0 allocs/op\n\
            BenchmarkMemoryStore_GetByUserID     \t  626294\t       217.5 ns/op\n\
            BenchmarkBroken-2 --- FAIL\nPASS\n";
        let g = go(text).expect("benchmarks");
        assert_eq!(
            g.version.as_deref(),
            Some("go version go1.27.3 linux/amd64; loadavg 2.74 2.06 0.96")
        );
        assert_eq!(g.benchmarks.len(), 2, "{g:?}");
        assert_eq!(g.benchmarks[0].name, "BenchmarkMemoryStore_Get");
        assert_eq!(g.benchmarks[0].ns_per_op, [30.81, 31.66]);
        assert_eq!(g.benchmarks[1].name, "BenchmarkMemoryStore_GetByUserID");
        assert_eq!(go("PASS\n"), None);
    }
}
