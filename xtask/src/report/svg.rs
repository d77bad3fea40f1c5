//! store-latency.svg: horizontal bars, one block per operation, one bar per store, on a
//! log-scaled time axis, with the interval as a whisker. Hand-written SVG.

use std::fmt::Write as _;

use super::Report;
use super::figure::{Figure, latency_groups, main_figure, stores};
use super::format::ns;

/// Horizontal bars, one block per operation, one bar per store, log-scaled time axis, with the
/// confidence interval as a whisker. Hand-written SVG.
impl Report {
    /// store-latency.svg.
    pub(crate) fn svg(&self) -> String {
        let d = self;
        let groups = latency_groups(&d.figures);
        let stores = stores(&d.figures);
        let rows: Vec<(String, Vec<(usize, &Figure)>)> = groups
            .iter()
            .map(|g| {
                let bars = stores
                    .iter()
                    .enumerate()
                    .filter_map(|(i, st)| main_figure(&d.figures, g, st).map(|f| (i, f)))
                    .collect();
                (g.clone(), bars)
            })
            .filter(|(_, b): &(String, Vec<_>)| !b.is_empty())
            .collect();
        let values: Vec<f64> = rows
            .iter()
            .flat_map(|(_, b)| b.iter().map(|(_, f)| f.per_op()))
            .filter(|v| *v > 0.0)
            .collect();
        let lo = values
            .iter()
            .cloned()
            .fold(f64::INFINITY, f64::min)
            .max(0.1);
        let hi = values.iter().cloned().fold(0.0, f64::max).max(lo * 10.0);
        let (dmin, dmax) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        let (left, plot_w, bar_h, gap, top) = (190.0, 560.0, 14.0, 3.0, 40.0);
        let x = |v: f64| {
            let v = v.max(10f64.powi(dmin)).log10();
            left + (v - dmin as f64) / (dmax - dmin) as f64 * plot_w
        };
        let palette = [
            "#4e79a7", "#e15759", "#76b7b2", "#f28e2b", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
            "#9c755f", "#bab0ac",
        ];
        let mut body = String::new();
        let mut y = top;
        for (g, bars) in &rows {
            let _ = writeln!(
                body,
                r#"<text x="8" y="{:.1}" font-weight="bold">{}</text>"#,
                y + 11.0,
                esc(g)
            );
            y += 16.0;
            for (i, f) in bars {
                let color = palette[i % palette.len()];
                let w = (x(f.per_op()) - left).max(1.0);
                let _ = writeln!(
                    body,
                    r##"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{}</text><rect x="{left}" y="{y:.1}" width="{w:.1}" height="{bar_h}" fill="{color}"><title>{}: {}</title></rect><line x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#333"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text>"##,
                    left - 6.0,
                    y + 11.0,
                    esc(&stores[*i]),
                    esc(&f.full_id),
                    f.with_spread(),
                    x(f.low / f.elements as f64),
                    x(f.high / f.elements as f64),
                    y + bar_h / 2.0,
                    y + bar_h / 2.0,
                    left + w + 6.0,
                    y + 11.0,
                    esc(&ns(f.per_op()))
                );
                y += bar_h + gap;
            }
            y += 8.0;
        }
        let height = y + 30.0;
        let mut axis = String::new();
        for k in dmin..=dmax {
            let v = 10f64.powi(k);
            let xv = x(v);
            let _ = writeln!(
                axis,
                r##"<line x1="{xv:.1}" x2="{xv:.1}" y1="{top}" y2="{:.1}" stroke="#ddd"/><text x="{xv:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text>"##,
                y,
                y + 16.0,
                esc(&decade(k))
            );
        }
        let width = left + plot_w + 90.0;
        format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="8" y="20" font-size="14" font-weight="bold">Median latency per operation (log scale; whisker: 95% interval){}</text>
{axis}{body}</svg>
"##,
            if d.run.quick { " — quick run" } else { "" }
        )
    }
}

/// `1 ns`, `10 ns`, `100 ns`, `1 µs`, ... for 10^k ns.
fn decade(k: i32) -> String {
    let units = ["ns", "µs", "ms", "s"];
    let i = (k.max(0) / 3).min(3);
    format!(
        "{} {}",
        10u64.pow((k.max(0) - 3 * i) as u32),
        units[i as usize]
    )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
