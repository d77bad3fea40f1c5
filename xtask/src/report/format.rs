//! Numbers as the report writes them: three significant digits, a time unit, a rate.

/// `13.4 ns`, `1.88 µs`, `57.4 µs`, `1.20 ms`, `2.41 s`.
pub(crate) fn ns(v: f64) -> String {
    let (value, unit) = scale(v);
    format!("{} {unit}", sig3(value))
}

/// The number only, in the unit `like` would use.
pub(crate) fn ns_bare(v: f64, like: f64) -> String {
    let (_, unit) = scale(like);
    let div = match unit {
        "ns" => 1.0,
        "µs" => 1e3,
        "ms" => 1e6,
        _ => 1e9,
    };
    sig3(v / div)
}

fn scale(v: f64) -> (f64, &'static str) {
    if v < 1e3 {
        (v, "ns")
    } else if v < 1e6 {
        (v / 1e3, "µs")
    } else if v < 1e9 {
        (v / 1e6, "ms")
    } else {
        (v / 1e9, "s")
    }
}

/// Three significant digits.
pub(crate) fn sig3(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// `2.50M/s`, `242k/s`, `12.0/s`.
pub(crate) fn rate(ops: f64) -> String {
    if ops >= 1e6 {
        format!("{}M/s", sig3(ops / 1e6))
    } else if ops >= 1e3 {
        format!("{}k/s", sig3(ops / 1e3))
    } else {
        format!("{}/s", sig3(ops))
    }
}

/// `3000×`, `12.5×`, `1.01×`.
pub(crate) fn times(r: f64) -> String {
    format!("{}×", sig3(r))
}

/// `2.31` or `2.31 [2.28–2.35]`.
pub(crate) fn with_range(value: f64, low: f64, high: f64) -> String {
    if (high - low).abs() < f64::EPSILON {
        sig3(value)
    } else {
        format!("{} [{}–{}]", sig3(value), sig3(low), sig3(high))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times() {
        assert_eq!(ns(13.44), "13.4 ns");
        assert_eq!(ns(1_881.0), "1.88 µs");
        assert_eq!(ns(57_378.0), "57.4 µs");
        assert_eq!(ns(1_200_000.0), "1.20 ms");
        assert_eq!(rate(2_500_000.0), "2.50M/s");
        assert_eq!(times(3000.0), "3000×");
        assert_eq!(times(1.2), "1.20×");
    }
}
