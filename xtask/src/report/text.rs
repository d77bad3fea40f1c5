//! benchmark-results.txt: the seed's plain summary and the advice.

use std::fmt::Write as _;

use super::Report;

impl Report {
    /// benchmark-results.txt.
    pub(crate) fn results_txt(&self) -> String {
        let d = self;
        let mut s = String::new();
        let _ = writeln!(s, "Session store benchmark results");
        let _ = writeln!(s, "===============================");
        let _ = writeln!(s, "date:  {}", d.run.date.as_deref().unwrap_or("?"));
        for (k, v) in &d.machine {
            let _ = writeln!(s, "{k}: {v}");
        }
        let _ = writeln!(s, "redis: {}", d.run.redis_choice.as_deref().unwrap_or("?"));
        if d.run.quick {
            let _ = writeln!(s, "NOTE: --quick smoke run, figures are indicative only");
        }
        let _ = writeln!(s);
        let width = d
            .figures
            .iter()
            .map(|f| f.full_id.len())
            .max()
            .unwrap_or(20);
        let _ = writeln!(
            s,
            "{:width$}  {:>12}  {:>12}  {:>12}  {:>12}",
            "benchmark", "ns/op", "ci low", "ci high", "ops/s"
        );
        for f in &d.figures {
            let e = f.elements as f64;
            let _ = writeln!(
                s,
                "{:width$}  {:>12.1}  {:>12.1}  {:>12.1}  {:>12.0}",
                f.full_id,
                f.per_op(),
                f.low / e,
                f.high / e,
                f.ops_per_sec()
            );
        }
        if let Some(rt) = &d.run.round_trips {
            let _ = writeln!(
                s,
                "\nRedis round trips per operation (commands run incl. scripts):"
            );
            for o in &rt.operations {
                let _ = writeln!(
                    s,
                    "  {:40} {} ({})",
                    o.operation, o.round_trips, o.commands_total
                );
            }
        }
        let _ = writeln!(s, "\nAdvice:");
        for a in d.advice() {
            let _ = writeln!(s, "- {a}");
        }
        s
    }
}
