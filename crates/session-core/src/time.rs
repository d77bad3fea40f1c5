//! One clock convention everywhere: milliseconds since the Unix epoch, UTC.

use std::fmt;
use std::ops::{Add, Sub};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time: whole milliseconds since 1970-01-01T00:00:00Z.
///
/// Millisecond precision is what Redis keeps for expiry (`PXAT`), so every store agrees on it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);
    /// The latest expiry any store accepts: 9999-12-31T23:59:59.999Z.
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999);

    /// From milliseconds since the epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Timestamp(millis)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// The system's wall clock now.
    pub fn now() -> Self {
        SystemTime::now().into()
    }

    /// `self + d`, saturating at `u64::MAX` milliseconds.
    pub fn saturating_add(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_add(duration_millis(d)))
    }

    /// `self - d`, saturating at the epoch.
    pub fn saturating_sub(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_sub(duration_millis(d)))
    }

    /// How long from `earlier` to `self` (zero if `earlier` is later).
    pub fn duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

fn duration_millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(duration_millis(d)),
            Err(_) => Timestamp::EPOCH,
        }
    }
}

impl From<Timestamp> for SystemTime {
    fn from(t: Timestamp) -> Self {
        UNIX_EPOCH + Duration::from_millis(t.0)
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: Duration) -> Timestamp {
        self.saturating_add(d)
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, d: Duration) -> Timestamp {
        self.saturating_sub(d)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({}ms)", self.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// Where a store reads "now" from. Stores take it from outside so that tests of in-process
/// stores can move time without sleeping.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// The wall clock, read through the CPU's time-stamp counter: about 9 ns a read here instead
/// of about 30 ns for [`SystemTime::now`], so that a store can check expiry on every read
/// without the clock dominating it.
///
/// It reads a monotonic counter and adds an offset to the wall clock that it takes again from
/// [`SystemTime::now`] every 100 ms, so it follows wall-clock steps within 100 ms and its
/// drift between re-anchorings is that of the counter against the system clock (parts per
/// million: microseconds, far below the millisecond precision of a [`Timestamp`]). Where the
/// CPU has no usable counter it reads the OS's monotonic clock instead. Clones share one
/// anchor.
#[derive(Debug, Clone)]
pub struct FastClock(Arc<FastInner>);

#[derive(Debug)]
struct FastInner {
    counter: quanta::Clock,
    base: u64,
    /// Wall-clock nanoseconds minus counter nanoseconds since `base`.
    offset_ns: AtomicU64,
    /// Counter nanoseconds since `base` at which to re-anchor.
    next_anchor_ns: AtomicU64,
}

const REANCHOR_NS: u64 = 100_000_000;

impl FastClock {
    /// A clock anchored to the system clock now.
    pub fn new() -> Self {
        let counter = quanta::Clock::new();
        let base = counter.raw();
        let clock = FastClock(Arc::new(FastInner {
            counter,
            base,
            offset_ns: AtomicU64::new(0),
            next_anchor_ns: AtomicU64::new(0),
        }));
        clock.anchor();
        clock
    }

    fn counter_ns(&self) -> u64 {
        let c = &self.0;
        c.counter.delta_as_nanos(c.base, c.counter.raw())
    }

    #[cold]
    fn anchor(&self) -> Timestamp {
        let wall_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let mono_ns = self.counter_ns();
        self.0
            .offset_ns
            .store(wall_ns.saturating_sub(mono_ns), Ordering::Relaxed);
        self.0
            .next_anchor_ns
            .store(mono_ns.saturating_add(REANCHOR_NS), Ordering::Relaxed);
        Timestamp(wall_ns / 1_000_000)
    }
}

impl Default for FastClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for FastClock {
    #[inline]
    fn now(&self) -> Timestamp {
        let mono_ns = self.counter_ns();
        if mono_ns >= self.0.next_anchor_ns.load(Ordering::Relaxed) {
            return self.anchor();
        }
        let wall_ns = mono_ns.saturating_add(self.0.offset_ns.load(Ordering::Relaxed));
        Timestamp(wall_ns / 1_000_000)
    }
}

/// A clock that moves only when told to; clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use session_core::{Clock, ManualClock, Timestamp};
///
/// let clock = ManualClock::new(Timestamp::from_millis(1_000));
/// clock.advance(Duration::from_secs(2));
/// assert_eq!(clock.now(), Timestamp::from_millis(3_000));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock(Arc::new(AtomicU64::new(start.0)))
    }

    /// A clock stopped at the system's current time.
    pub fn starting_now() -> Self {
        Self::new(Timestamp::now())
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(duration_millis(d), Ordering::SeqCst);
    }

    /// Sets the clock to `t` (which may be earlier).
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    #[inline]
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_clock_agrees_with_the_system_clock() {
        let fast = FastClock::new();
        for _ in 0..50 {
            let before = Timestamp::now();
            let t = fast.now();
            let after = Timestamp::now();
            // Within a millisecond of rounding either way.
            assert!(
                t.as_millis() + 1 >= before.as_millis(),
                "{t:?} < {before:?}"
            );
            assert!(t.as_millis() <= after.as_millis() + 1, "{t:?} > {after:?}");
            std::thread::sleep(Duration::from_millis(7));
        }
    }
}
