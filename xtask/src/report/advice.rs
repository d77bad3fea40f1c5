//! Advice: sentences made of measured figures.

use super::Report;
use super::figure::{
    FLOOR, at_tasks, group_label, latency_groups, main_figure, ours_for, throughput_groups,
};
use super::format::{ns, rate, times};

/// "1 round trip", "3 round trips".
fn round_trips(n: u64) -> String {
    format!("{n} round trip{}", if n == 1 { "" } else { "s" })
}

impl Report {
    /// What the figures mean for someone choosing a store, one sentence each.
    pub(crate) fn advice(&self) -> Vec<String> {
        let figures = &self.figures[..];
        let main = |g: &str, f: &str| main_figure(figures, g, f);
        let mut out = Vec::new();
        let mem_get = main("Get", "memory");
        let redis_get = main("Get", "redis");
        let floor_get = main("Get", FLOOR);
        if let (Some(m), Some(r)) = (mem_get, redis_get) {
            out.push(format!(
                "A Redis get costs {} a memory get here ({} against {}).",
                times(r.per_op() / m.per_op()),
                ns(r.per_op()),
                ns(m.per_op())
            ));
        }
        if let (Some(r), Some(f)) = (redis_get, floor_get) {
            let over = r.per_op() - f.per_op();
            out.push(format!(
                "Most of a Redis get is the round trip: a raw GET of the same bytes takes {} and \
                 the store's get {} ({} the floor; the store's own work adds {}).",
                ns(f.per_op()),
                ns(r.per_op()),
                times(r.per_op() / f.per_op()),
                if over >= 0.0 {
                    ns(over)
                } else {
                    format!("-{}", ns(-over))
                }
            ));
        }
        // Every operation both stores have.
        let ratios: Vec<String> = latency_groups(figures)
            .iter()
            .filter_map(|g| {
                let (m, r) = (main(g, "memory")?, main(g, "redis")?);
                Some(format!("{g} {}", times(r.per_op() / m.per_op())))
            })
            .collect();
        if !ratios.is_empty() {
            out.push(format!(
                "Redis against memory, operation by operation: {}.",
                ratios.join(", ")
            ));
        }
        if let (Some(m), Some(f)) = (mem_get, floor_get) {
            out.push(format!(
                "Use the memory store when one process owns the sessions and a lookup must cost \
                 nanoseconds: one Redis round trip here ({}) is the time of {:.0} memory gets. \
                 It loses everything on restart and is not shared between instances.",
                ns(f.per_op()),
                f.per_op() / m.per_op()
            ));
        }
        if let Some(r) = redis_get {
            out.push(format!(
                "Use the Redis store when several instances share sessions or they must survive \
                 a restart: a get costs {}{} here, so a request that reads its session once pays \
                 about that.",
                ns(r.per_op()),
                self.run
                    .round_trip("get")
                    .map(|o| format!(" in {}", round_trips(o.round_trips)))
                    .unwrap_or_default()
            ));
        }
        if let Some(a) = self.hybrid_advice() {
            out.push(a);
        }
        if let (Some(m), Some(r)) = (
            main("GetByUserID(10)", "memory"),
            main("GetByUserID(10)", "redis"),
        ) {
            out.push(format!(
                "Finding a user's 10 sessions costs {} in memory and {} in Redis ({} per \
                 session{}), where the Go original paid one round trip per session.",
                ns(m.per_op()),
                ns(r.per_op()),
                ns(r.per_op() / 10.0),
                self.run
                    .round_trip("get_by_user_id(10)")
                    .map(|o| format!(", {} in all", round_trips(o.round_trips)))
                    .unwrap_or_default()
            ));
        }
        for g in throughput_groups(figures) {
            // At the highest concurrency measured in the group.
            let Some(r) = at_tasks(figures, &g, "redis", None) else {
                continue;
            };
            let floor = at_tasks(figures, &g, FLOOR, None).filter(|f| f.elements == r.elements);
            let hybrid = at_tasks(figures, &g, "hybrid", None).filter(|f| f.elements == r.elements);
            out.push(format!(
                "{g}, {} tasks on one store: Redis {}{}{}.",
                r.elements,
                rate(r.ops_per_sec()),
                hybrid
                    .map(|h| format!(", hybrid {}", rate(h.ops_per_sec())))
                    .unwrap_or_default(),
                floor
                    .map(|f| format!(
                        ", raw GETs {} (the Redis store reaches {:.0}% of the floor)",
                        rate(f.ops_per_sec()),
                        100.0 * r.ops_per_sec() / f.ops_per_sec()
                    ))
                    .unwrap_or_default()
            ));
        }
        // Peers: any other function id in a group where ours is.
        for g in latency_groups(figures) {
            for f in figures.iter().filter(|f| f.group == g && f.is_peer()) {
                if let Some(o) = ours_for(figures, f) {
                    out.push(format!(
                        "{}: {} takes {} against our {} store's {} ({}).",
                        group_label(f),
                        f.function,
                        ns(f.per_op()),
                        f.ours(),
                        ns(o.per_op()),
                        times(f.per_op() / o.per_op())
                    ));
                }
            }
        }
        out
    }

    /// The hybrid store: measured if the hybrid ids exist, else estimated from the memory and
    /// Redis figures.
    fn hybrid_advice(&self) -> Option<String> {
        let main = |g: &str, f: &str| main_figure(&self.figures, g, f);
        let mem_get = main("Get", "memory");
        let redis_get = main("Get", "redis");
        match (
            main("Get", "hybrid hit"),
            main("Get", "hybrid miss"),
            redis_get,
        ) {
            (Some(h), Some(m), Some(r)) if m.per_op() > h.per_op() => {
                let pays = if m.per_op() <= r.per_op() {
                    "a miss costs no more than the Redis store's get here, so it pays off at any \
                     hit rate"
                        .to_owned()
                } else {
                    let breakeven = (m.per_op() - r.per_op()) / (m.per_op() - h.per_op());
                    format!(
                        "it pays off above a hit rate of {:.1}%",
                        (breakeven * 100.0).clamp(0.0, 100.0)
                    )
                };
                Some(format!(
                    "The hybrid store serves a hit in {} ({} the memory store's get) and a miss \
                     in {} (the Redis store's get: {}); {pays}. At 90% hits a read averages {}, \
                     at 99% {}.",
                    ns(h.per_op()),
                    mem_get.map_or("?".into(), |mg| times(h.per_op() / mg.per_op())),
                    ns(m.per_op()),
                    ns(r.per_op()),
                    ns(0.9 * h.per_op() + 0.1 * m.per_op()),
                    ns(0.99 * h.per_op() + 0.01 * m.per_op())
                ))
            }
            _ => {
                let (m, r, i) = (
                    mem_get?.per_op(),
                    redis_get?.per_op(),
                    main("Update", "memory")?.per_op(),
                );
                let breakeven = (m + i) / (r + i);
                Some(format!(
                    "An L1 memory cache in front of Redis (the hybrid store; not measured in \
                     this run) would pay off above a hit rate of about {:.2}%: a hit costs a \
                     memory get ({}), a miss a memory get, a Redis get and an insert ({} for a \
                     memory update). At 90% hits a read would average about {}, at 99% {}.",
                    breakeven * 100.0,
                    ns(m),
                    ns(i),
                    ns(m + 0.1 * (r + i)),
                    ns(m + 0.01 * (r + i))
                ))
            }
        }
    }
}
