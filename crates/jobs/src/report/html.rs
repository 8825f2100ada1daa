//! The report as one HTML page: inline CSS, inline SVG charts, no script and nothing fetched
//! from anywhere, so it opens the same from a mail attachment, a file share or offline.

use std::fmt::Write as _;

use super::Report;

/// `&`, `<`, `>`, `"` and `'` as entities.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.3}"))
}

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;\
color:#1d2433;padding:0 1rem}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}\
.cards{display:flex;flex-wrap:wrap;gap:.75rem}.card{border:1px solid #d6dae3;border-radius:8px;\
padding:.6rem .9rem;min-width:8rem}.card b{display:block;font-size:1.4rem}table{border-collapse:\
collapse;width:100%}td,th{padding:.3rem .5rem;border-bottom:1px solid #e4e7ee;text-align:right}\
td:first-child,th:first-child{text-align:left}svg text{font:11px system-ui,sans-serif;\
fill:#4a5468}.ok{fill:#3b82c4}.c4{fill:#e0a030}.c5{fill:#d0453a}.p50{fill:#3b82c4}\
.p99{fill:#9cc3e6}.legend span{margin-right:1rem}";

/// The page.
pub(super) fn render(report: &Report) -> String {
    let mut page = String::with_capacity(16 * 1024);
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>Switchboard report {day}</title><style>{STYLE}</style></head><body>\n\
         <h1>Switchboard, {day}</h1>\n<p>From {from} to {to}; made {made}.</p>\n",
        day = escape(&report.day),
        from = escape(&report.from),
        to = escape(&report.to),
        made = escape(&report.generated_at),
    );
    page.push_str("<div class=\"cards\">");
    for (label, value) in [
        ("new users", report.new_users),
        ("sign-ins", report.sign_ins),
        ("failed sign-ins", report.sign_in_failures),
        ("throttled sign-ins", report.sign_ins_throttled),
        ("requests", report.requests),
        ("4xx", report.client_errors),
        ("5xx", report.server_errors),
    ] {
        let _ = write!(page, "<div class=\"card\"><b>{value}</b>{label}</div>");
    }
    page.push_str("</div>\n<h2>Requests per hour (UTC)</h2>\n");
    page.push_str(&hours_chart(report));
    page.push_str(
        "<p class=\"legend\"><span>■ <i>2xx/3xx</i></span><span style=\"color:#e0a030\">■ \
         4xx</span><span style=\"color:#d0453a\">■ 5xx</span></p>\n<h2>Response times per \
         route (ms)</h2>\n",
    );
    page.push_str(&latency_chart(report));
    page.push_str(
        "<p class=\"legend\"><span style=\"color:#3b82c4\">■ p50</span><span \
         style=\"color:#9cc3e6\">■ p99</span></p>\n<h2>Routes</h2>\n<table><tr><th>route</th>\
         <th>requests</th><th>4xx</th><th>5xx</th><th>p50 ms</th><th>p99 ms</th></tr>\n",
    );
    for r in &report.routes {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.route),
            r.requests,
            r.client_errors,
            r.server_errors,
            ms(r.p50_ms),
            ms(r.p99_ms)
        );
    }
    page.push_str(
        "</table>\n<h2>Statuses</h2>\n<table><tr><th>status</th><th>requests</th></tr>\n",
    );
    for (status, n) in &report.statuses {
        let _ = writeln!(page, "<tr><td>{status}</td><td>{n}</td></tr>");
    }
    page.push_str("</table>\n</body></html>\n");
    page
}

/// 24 stacked bars: requests answered 2xx/3xx, 4xx and 5xx in each hour.
fn hours_chart(report: &Report) -> String {
    let (width, height, left, bottom) = (720.0, 200.0, 44.0, 20.0);
    let top = report
        .hours
        .iter()
        .map(|h| h.requests)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let slot = (width - left) / 24.0;
    let scale = (height - bottom - 10.0) / top;
    let mut svg = format!(
        "<svg viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\" \
         aria-label=\"requests per hour\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    let base = height - bottom;
    let _ = write!(
        svg,
        "<text x=\"0\" y=\"14\">{}</text><text x=\"0\" y=\"{base}\">0</text>",
        top as u64
    );
    for (i, h) in report.hours.iter().enumerate() {
        let x = left + i as f64 * slot + 2.0;
        let w = slot - 4.0;
        let ok = h.requests - h.client_errors - h.server_errors;
        let mut y = base;
        for (class, n) in [("ok", ok), ("c4", h.client_errors), ("c5", h.server_errors)] {
            if n == 0 {
                continue;
            }
            let bar = n as f64 * scale;
            y -= bar;
            let _ = write!(
                svg,
                "<rect class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" \
                 height=\"{bar:.1}\"><title>{n}</title></rect>"
            );
        }
        if i % 3 == 0 {
            let _ = write!(
                svg,
                "<text x=\"{x:.1}\" y=\"{}\">{i:02}</text>",
                height - 4.0
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// A pair of horizontal bars per route: p50 and p99.
fn latency_chart(report: &Report) -> String {
    let routes: Vec<_> = report
        .routes
        .iter()
        .filter(|r| r.p99_ms.is_some())
        .collect();
    if routes.is_empty() {
        return "<p>No requests.</p>\n".to_owned();
    }
    let (width, left, row) = (720.0, 170.0, 26.0);
    let height = row * routes.len() as f64 + 10.0;
    let top = routes
        .iter()
        .filter_map(|r| r.p99_ms)
        .fold(0.0f64, f64::max)
        .max(0.001);
    let scale = (width - left - 70.0) / top;
    let mut svg = format!(
        "<svg viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\" \
         aria-label=\"response times per route\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for (i, r) in routes.iter().enumerate() {
        let y = i as f64 * row + 4.0;
        let p50 = r.p50_ms.unwrap_or(0.0);
        let p99 = r.p99_ms.unwrap_or(0.0);
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{:.1}\">{}</text>\
             <rect class=\"p99\" x=\"{left}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"9\"></rect>\
             <rect class=\"p50\" x=\"{left}\" y=\"{:.1}\" width=\"{:.1}\" height=\"9\"></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\">{} / {}</text>",
            y + 13.0,
            escape(&r.route),
            (p99 * scale).max(1.0),
            y + 10.0,
            (p50 * scale).max(1.0),
            left + p99 * scale + 6.0,
            y + 13.0,
            ms(r.p50_ms),
            ms(r.p99_ms),
        );
    }
    svg.push_str("</svg>\n");
    svg
}
