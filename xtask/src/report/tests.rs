//! The report's renderers on fixed inputs.

use serde_json::json;

use super::figure::FLOOR;
use super::*;

fn fig(group: &str, function: &str, param: &str, median: f64) -> Figure {
    Figure {
        full_id: format!("{group}/{function}/{param}"),
        group: group.into(),
        function: function.into(),
        param: Some(param.into()),
        median,
        low: median * 0.9,
        high: median * 1.1,
        confidence: 0.95,
        elements: 1,
        throughput: false,
        pass_medians: Vec::new(),
    }
}

fn run(v: serde_json::Value) -> Run {
    serde_json::from_value(v).expect("a run")
}

fn data(figures: Vec<Figure>) -> Report {
    Report {
        run: run(json!({"date": "2026-01-01T00:00:00Z", "quick": false,
            "round_trips": {"operations": [{"operation": "get", "round_trips": 1,
                "commands_sent": ["evalsha"], "commands_total": 3}]}})),
        figures,
        missing: vec![],
        machine: vec![],
        versions: vec![],
        pass_figures: vec![],
    }
}

#[test]
fn advice_is_computed_from_figures() {
    let d = data(vec![
        fig("Get", "memory", "same id", 10.0),
        fig("Get", "memory", "10k ids", 20.0),
        fig("Get", "redis", "hit", 60_000.0),
        fig("Get", FLOOR, "same payload", 50_000.0),
        fig("Update", "memory", "cas", 40.0),
    ]);
    let a = d.advice().join("\n");
    assert!(a.contains("A Redis get costs 3000× a memory get"), "{a}");
    assert!(a.contains("1.20× the floor"), "{a}");
    assert!(a.contains("in 1 round trip"), "{a}");
    let md = d.markdown("c.svg", true);
    assert!(
        md.contains("| Get | 20.0 ns [18.0–22.0] | 60.0 µs [54.0–66.0] |"),
        "{md}"
    );
    let svg = d.svg();
    assert!(svg.starts_with("<svg") && svg.contains("60.0 µs"));
}

#[test]
fn passes_give_the_median_and_a_spread_covering_every_pass() {
    let mut figures = vec![
        fig("Get", "memory", "10k ids", 0.0),
        fig("Get", "redis", "hit", 0.0),
    ];
    let pass = |m: f64, r: f64| {
        json!({"figures": {
            "Get/memory/10k ids": {"median": m, "low": m - 1.0, "high": m + 1.0},
            "Get/redis/hit": {"median": r, "low": r - 100.0, "high": r + 100.0},
        }, "paired": {"rounds": 10, "rows": [
            {"operation": "get", "store_us": r / 1000.0, "floor_us": 50.0, "ratio": r / 50_000.0}
        ]}})
    };
    let r =
        run(json!({"passes": [pass(20.0, 60_000.0), pass(22.0, 66_000.0), pass(21.0, 57_000.0)]}));
    let per_pass = stats::apply_passes(&r, &mut figures);
    assert_eq!(per_pass.len(), 3);
    assert_eq!(figures[0].median, 21.0);
    // Passes' intervals span 19..23; widened on each side by the larger of the medians'
    // range (2) and the typical in-process range (2/21 of the median, also 2).
    assert_eq!((figures[0].low, figures[0].high), (17.0, 25.0));
    assert_eq!(figures[1].pass_medians, [60_000.0, 66_000.0, 57_000.0]);
    let mut d = data(figures);
    d.run = r;
    d.pass_figures = per_pass;
    let raw = d.pass_ratios();
    let r = raw
        .iter()
        .find(|r| r.name == "Get: redis / memory (time)")
        .expect("ratio");
    // Per pass: 3000, 3000, 2714.3 -> median 3000, passes [2714.3, 3000].
    assert_eq!(r.value, 3000.0);
    assert!((r.low - 57_000.0 / 21.0).abs() < 1e-9 && r.high == 3000.0);
    let p = raw
        .iter()
        .find(|r| r.name.starts_with("paired get"))
        .expect("paired");
    assert_eq!((p.low, p.value, p.high), (1.14, 1.2, 1.32));
    // Re-run intervals: the typical relative range is the median of 285.7/3000 and
    // 0.18/1.2; each side widens by the larger of a ratio's own range and that share.
    let typical = (285.714_285_714_285_7 / 3000.0 + 0.15) / 2.0;
    assert!((d.ratio_typical() - typical).abs() < 1e-9);
    let wide = d.ratios();
    let r = &wide[0];
    let w = 3000.0 * typical;
    assert!((r.low - (57_000.0 / 21.0 - w)).abs() < 1e-6 && (r.high - (3000.0 + w)).abs() < 1e-6);
    let p = wide
        .iter()
        .find(|r| r.name.starts_with("paired get"))
        .expect("paired");
    assert!((p.low - 0.96).abs() < 1e-9 && (p.high - 1.50).abs() < 1e-9);
    let md = d.markdown("c.svg", true);
    assert!(
        md.contains("| Get: redis / memory (time) | 3000 [2346–3368] |"),
        "{md}"
    );
    assert!(
        md.contains("| get | seed | 60.0 | 50.0 | 1.20 [0.96–1.50] | – | – |"),
        "{md}"
    );
}

#[test]
fn targets_say_why_a_figure_is_missing() {
    let mut d = data(vec![fig("Update", "memory", "cas", 40.0)]);
    d.run
        .not_run
        .insert("go".into(), "the Go original was not run".into());
    d.run.go = None;
    let t = d.targets();
    assert_eq!(t.len(), 23);
    assert!(t.iter().all(|t| t.met().is_none()), "{t:?}");
    let why = |what: &str| {
        t.iter()
            .find(|t| t.what.starts_with(what))
            .and_then(|t| t.measured.clone().err())
            .unwrap_or_default()
    };
    assert_eq!(
        why("one caller, realistic payload: create"),
        "the redis bench printed no paired table"
    );
    assert!(why("64 tasks").contains("run.json has no coalesce table"));
    assert_eq!(why("memory update"), "the Go original was not run");
    let md = d.markdown("c.svg", false);
    assert!(md.contains("0 met, 0 not met, 23 not measured."), "{md}");
    assert!(
        md.contains("| not measured in this run: the Go original was not run | – |"),
        "{md}"
    );
    // With the figures: met and not met, from the values.
    d.run = run(json!({
        "hybrid": {"mix_ops": 900000.0, "redis_mix_ops": 100000.0, "mix_hit_rate_pct": 97.5},
        "go": {"benchmarks": [{"name": "BenchmarkMemoryStore_Update", "ns_per_op": [50.0, 30.0, 40.0]}]},
    }));
    let t = d.targets();
    let find = |what: &str| t.iter().find(|t| t.what.starts_with(what)).expect(what);
    assert_eq!(find("64 tasks, 95:5").value(), Some(9.0));
    assert_eq!(find("64 tasks, 95:5").met(), Some(false));
    assert_eq!(find("L1 hit rate").met(), Some(false));
    let u = find("memory update");
    assert_eq!((u.value(), u.met()), (Some(1.0), Some(true)));
}

/// The renderers on a fixture run (testdata/: run.json and criterion's files for a dozen
/// benchmarks over three passes, one listed id without output) against the files they wrote
/// before the report was split into modules. `XTASK_BLESS=1 cargo test -p xtask` rewrites
/// testdata/golden/ after a deliberate change.
#[test]
fn renders_the_fixture_run_as_before() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/report/testdata");
    let run: Run =
        serde_json::from_slice(&fs::read(dir.join("run.json")).expect("run.json")).expect("a run");
    let report = Report::new(
        run,
        &dir.join("criterion"),
        vec![("CPU".into(), "fixture".into())],
        vec![("fred".into(), "10.1.0".into())],
    )
    .expect("a report");
    assert_eq!(report.missing.len(), 1, "{:?}", report.missing);
    let mut outputs: Vec<(&str, Vec<u8>)> = report.outputs().expect("outputs").into();
    outputs.push(("docs.md", report.markdown("store-latency.svg", true).into()));
    let golden = dir.join("golden");
    for (name, bytes) in outputs {
        let path = golden.join(name);
        if std::env::var_os("XTASK_BLESS").is_some() {
            fs::create_dir_all(&golden).expect("golden dir");
            fs::write(&path, &bytes).expect("bless");
            continue;
        }
        let want = fs::read(&path).expect("a golden file");
        assert!(
            want == bytes,
            "{name} differs from {}:\n{}",
            path.display(),
            String::from_utf8_lossy(&bytes)
        );
    }
}
