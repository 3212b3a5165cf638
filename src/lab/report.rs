//! Self-contained HTML report of lab runs: a before/after table and inline SVG charts of the
//! symptom rate per sampling step (before vs after, and per CPU where the symptom is per CPU).

use super::{Outcome, Sample};
use std::fmt::Write;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const COLORS: [&str; 8] = [
    "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

/// One line chart: `series` = (label, values); x in seconds at `step`.
fn chart(title: &str, unit: &str, step: f64, series: &[(String, Vec<f64>)]) -> String {
    let (w, h, l, r, t, b) = (640.0, 260.0, 70.0, 150.0, 30.0, 40.0);
    let n = series.iter().map(|s| s.1.len()).max().unwrap_or(0).max(1);
    let ymax = series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let ymax = if ymax <= 0.0 { 1.0 } else { ymax * 1.1 };
    let pw = w - l - r;
    let ph = h - t - b;
    let x = |i: usize| l + pw * (i as f64 + 1.0) / n as f64;
    let y = |v: f64| t + ph - ph * (v.max(0.0) / ymax);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img"><title>{}</title>"#,
        esc(title)
    );
    let _ = write!(
        s,
        r#"<text x="{l}" y="18" font-size="14" font-family="sans-serif">{}</text>"#,
        esc(title)
    );
    let _ = write!(
        s,
        r##"<line x1="{l}" y1="{}" x2="{}" y2="{}" stroke="#333"/><line x1="{l}" y1="{t}" x2="{l}" y2="{}" stroke="#333"/>"##,
        t + ph,
        l + pw,
        t + ph,
        t + ph
    );
    for k in 0..=4 {
        let v = ymax * k as f64 / 4.0;
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" font-size="11" text-anchor="end" font-family="sans-serif">{:.0}</text><line x1="{l}" y1="{y0}" x2="{}" y2="{y0}" stroke="#ddd"/>"##,
            l - 6.0,
            y(v) + 4.0,
            v,
            l + pw,
            y0 = y(v)
        );
    }
    for i in 0..n {
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" font-size="11" text-anchor="middle" font-family="sans-serif">{:.1}s</text>"#,
            x(i),
            t + ph + 16.0,
            step * (i as f64 + 1.0)
        );
    }
    let _ = write!(
        s,
        r#"<text x="14" y="{}" font-size="11" font-family="sans-serif" transform="rotate(-90 14 {})">{}</text>"#,
        t + ph / 2.0,
        t + ph / 2.0,
        esc(unit)
    );
    for (k, (label, vals)) in series.iter().enumerate() {
        let c = COLORS[k % COLORS.len()];
        let pts: Vec<String> = vals
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{c}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
        for p in &pts {
            if let Some((px, py)) = p.split_once(',') {
                let _ = write!(s, r#"<circle cx="{px}" cy="{py}" r="3" fill="{c}"/>"#);
            }
        }
        let ly = t + 14.0 + 18.0 * k as f64;
        let _ = write!(
            s,
            r#"<rect x="{}" y="{}" width="12" height="12" fill="{c}"/><text x="{}" y="{}" font-size="12" font-family="sans-serif">{}</text>"#,
            l + pw + 12.0,
            ly - 10.0,
            l + pw + 28.0,
            ly,
            esc(label)
        );
    }
    s.push_str("</svg>");
    s
}

fn totals(v: &[Sample]) -> Vec<f64> {
    v.iter().map(|s| s.total).collect()
}

fn per_cpu(v: &[Sample], cpu: usize) -> Vec<f64> {
    v.iter()
        .map(|s| s.per_cpu.get(cpu).copied().unwrap_or(0.0))
        .collect()
}

/// The HTML page for `outcomes`.
pub fn render(outcomes: &[Outcome]) -> String {
    let mut h = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>nettune lab</title>\
         <style>body{font-family:sans-serif;margin:2em;max-width:1000px}table{border-collapse:collapse;margin:.5em 0}\
         td,th{border:1px solid #bbb;padding:3px 8px;text-align:left}.pass{color:#080}.fail{color:#b00}\
         section{margin-bottom:2.5em}</style></head><body><h1>nettune lab</h1>",
    );
    for o in outcomes {
        let verdict = if o.passed {
            "<span class=\"pass\">PASSED</span>"
        } else {
            "<span class=\"fail\">FAILED</span>"
        };
        let _ = write!(
            h,
            "<section><h2>{} — {verdict}</h2><table><tr><th>expected finding</th><td>{} ({})</td></tr>\
             <tr><th>symptom</th><td>{}</td></tr><tr><th>before</th><td>{:.1} {}</td></tr>\
             <tr><th>after</th><td>{:.1} {}</td></tr><tr><th>threshold</th><td>{:.1}</td></tr>\
             <tr><th>run time</th><td>{:.1} s</td></tr></table>",
            esc(&o.scenario),
            esc(&o.expected_finding),
            if o.found { "found" } else { "not found" },
            esc(&o.symptom),
            o.before,
            esc(&o.unit),
            o.after,
            esc(&o.unit),
            o.threshold,
            o.seconds
        );
        if let Some(e) = &o.error {
            let _ = write!(h, "<p class=\"fail\">error: {}</p>", esc(e));
        }
        if !o.changes.is_empty() {
            h.push_str("<table><tr><th>kind</th><th>target</th><th>current</th><th>proposed</th><th>applied</th></tr>");
            for c in &o.changes {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    c.kind,
                    esc(&c.target),
                    esc(c.current.as_deref().unwrap_or("")),
                    esc(&c.proposed),
                    if c.applied { "yes" } else { "no" }
                );
            }
            h.push_str("</table>");
        }
        h.push_str(&chart(
            &format!("{} ({}), before vs after tuning", o.symptom, o.unit),
            &o.unit,
            o.step_seconds,
            &[
                ("before".into(), totals(&o.series_before)),
                ("after".into(), totals(&o.series_after)),
            ],
        ));
        let ncpu = o
            .series_before
            .iter()
            .chain(&o.series_after)
            .map(|s| s.per_cpu.len())
            .max()
            .unwrap_or(0);
        if ncpu > 0 {
            for (phase, series) in [("before", &o.series_before), ("after", &o.series_after)] {
                let lines: Vec<(String, Vec<f64>)> = (0..ncpu)
                    .map(|c| (format!("cpu{c}"), per_cpu(series, c)))
                    .collect();
                h.push_str(&chart(
                    &format!("{} per CPU, {phase}", o.symptom),
                    &o.unit,
                    o.step_seconds,
                    &lines,
                ));
            }
        }
        for n in &o.notes {
            let _ = write!(h, "<p>note: {}</p>", esc(n));
        }
        h.push_str("</section>");
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_and_scale() {
        let svg = chart(
            "a<b & \"c\"",
            "1/s",
            0.5,
            &[
                ("before".into(), vec![0.0, 10.0]),
                ("after".into(), vec![0.0, 0.0]),
            ],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("a&lt;b &amp; &quot;c&quot;"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        // The highest value is drawn at the top of the plot (y = 30 + 190 - 190/1.1).
        assert!(svg.contains(",47.3"), "{svg}");
        // No data at all still draws a valid chart.
        let empty = chart("x", "1/s", 1.0, &[]);
        assert!(empty.ends_with("</svg>"));
    }
}
