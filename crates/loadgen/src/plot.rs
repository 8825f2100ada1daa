//! The latency percentile spectrum as a standalone SVG, drawn by hand.
//!
//! As HdrHistogram's plots: the x axis is the percentile on a log scale of 1/(1-p), so that
//! 0%, 90%, 99%, 99.9%, ... are evenly spaced and the tail gets the room; the y axis is the
//! latency in milliseconds, linear from zero.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

/// The spectrum of `histogram` (latencies in nanoseconds) as an SVG document, titled `title`.
pub fn svg(histogram: &Histogram<u64>, title: &str) -> String {
    let count = histogram.len();
    // As many nines as the sample can tell apart (1,000 latencies: up to 99.9%), 1 to 6.
    let decades = ((count.max(1) as f64).log10().ceil() as u32).clamp(1, 6);
    let mut points: Vec<(f64, f64)> = Vec::new();
    if count > 0 {
        for v in histogram.iter_quantiles(5) {
            let q = v.quantile_iterated_to();
            let x = if q >= 1.0 {
                f64::from(decades)
            } else {
                (1.0 / (1.0 - q)).log10().min(f64::from(decades))
            };
            points.push((x, v.value_iterated_to() as f64 / 1e6));
        }
        points.push((f64::from(decades), histogram.max() as f64 / 1e6));
    }
    let top_ms = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let (step, ticks) = nice_ticks(top_ms);
    let y_max = step * ticks as f64;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let px = |x: f64| LEFT + x / f64::from(decades) * plot_w;
    let py = |y: f64| TOP + plot_h - y / y_max * plot_h;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="14">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    // Grid, ticks and labels.
    for d in 0..=decades {
        let x = px(f64::from(d));
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/>"##,
            TOP + plot_h
        );
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            TOP + plot_h + 18.0,
            percentile_label(d)
        );
    }
    for t in 0..=ticks {
        let v = step * t as f64;
        let y = py(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/>"##,
            LEFT + plot_w
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            y + 4.0,
            trim_number(v)
        );
    }
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="black"/>"#,
        TOP + plot_h
    );
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/>"#,
        TOP + plot_h,
        LEFT + plot_w,
        TOP + plot_h
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 14.0
    );
    let _ = writeln!(
        s,
        r#"<text x="20" y="{:.1}" text-anchor="middle" transform="rotate(-90 20 {:.1})">latency (ms)</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    );
    let coords: Vec<String> = points
        .iter()
        .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
        .collect();
    let _ = writeln!(
        s,
        r##"<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{}"/>"##,
        coords.join(" ")
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{count} samples</text>"#,
        LEFT + plot_w,
        TOP - 6.0
    );
    s.push_str("</svg>\n");
    s
}

/// `0%`, `90%`, `99%`, `99.9%`, ... for decade `d` of 1/(1-p).
fn percentile_label(d: u32) -> String {
    match d {
        0 => "0%".to_string(),
        1 => "90%".to_string(),
        d => format!("99.{}%", "9".repeat(d as usize - 2)).replace("99.%", "99%"),
    }
}

/// A step of 1, 2 or 5 times a power of ten, and how many steps reach above `max`.
fn nice_ticks(max: f64) -> (f64, u32) {
    if max <= 0.0 {
        return (1.0, 1);
    }
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    ((step), ((max / step).ceil() as u32).max(1))
}

/// A tick value without trailing zeros.
fn trim_number(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_ticks() {
        assert_eq!(percentile_label(0), "0%");
        assert_eq!(percentile_label(1), "90%");
        assert_eq!(percentile_label(2), "99%");
        assert_eq!(percentile_label(3), "99.9%");
        assert_eq!(percentile_label(5), "99.999%");
        assert_eq!(nice_ticks(7.3), (2.0, 4));
        assert_eq!(nice_ticks(1000.0), (200.0, 5));
        assert_eq!(trim_number(0.5), "0.5");
    }

    #[test]
    fn draws_a_polyline() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).unwrap();
        for i in 1..=1000u64 {
            h.record(i * 1000).unwrap();
        }
        let svg = svg(&h, "a <test> & more");
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("<polyline"));
        assert!(svg.contains("a &lt;test&gt; &amp; more"));
        assert!(svg.contains("99.9%"));
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
