//! Minimal SVG line plots for the verification report (no plotting dependency): linear x,
//! linear or base-10 logarithmic y, solid or dashed series, a legend.

use std::fmt::Write;

/// One line of a plot.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// `(x, y)` points; on a log-scale plot, points with `y ≤ 0` or non-finite are left out.
    pub points: Vec<(f64, f64)>,
    /// An SVG colour.
    pub color: &'static str,
    /// Dashed lines mark theoretical bounds.
    pub dashed: bool,
}

/// A plot with axes, ticks, a title and a legend.
#[derive(Clone, Debug)]
pub struct Plot {
    /// Title above the plot.
    pub title: String,
    /// Label under the x axis.
    pub x_label: String,
    /// Label beside the y axis.
    pub y_label: String,
    /// Base-10 logarithmic y axis.
    pub log_y: bool,
    /// The lines.
    pub series: Vec<Series>,
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Plot {
    fn y_value(&self, y: f64) -> Option<f64> {
        if !y.is_finite() {
            return None;
        }
        if self.log_y {
            (y > 0.0).then(|| y.log10())
        } else {
            Some(y)
        }
    }

    /// The plot as an SVG document.
    pub fn to_svg(&self) -> String {
        let points: Vec<(f64, f64)> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().filter_map(|&(x, y)| Some((x, self.y_value(y)?))))
            .filter(|(x, _)| x.is_finite())
            .collect();
        let (mut x0, mut x1) = points
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                (a.min(p.0), b.max(p.0))
            });
        let (mut y0, mut y1) = points
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                (a.min(p.1), b.max(p.1))
            });
        if !x0.is_finite() {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        if self.log_y {
            y0 = y0.floor();
            y1 = y1.ceil();
        }
        if y1 <= y0 {
            y1 = y0 + 1.0;
        }
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * plot_w;
        let sy = |y: f64| TOP + (1.0 - (y - y0) / (y1 - y0)) * plot_h;
        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"#
        );
        let _ = write!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = write!(
            svg,
            r#"<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
            LEFT + plot_w / 2.0,
            escape(&self.title)
        );
        let _ = write!(
            svg,
            r#"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>"#
        );
        // y ticks: decades on a log axis, 5 divisions otherwise.
        let y_ticks: Vec<f64> = if self.log_y {
            let step = ((y1 - y0) / 10.0).ceil().max(1.0);
            let mut t = y0;
            let mut v = Vec::new();
            while t <= y1 + 1e-9 {
                v.push(t);
                t += step;
            }
            v
        } else {
            nice_ticks(y0, y1)
        };
        for t in y_ticks {
            let y = sy(t);
            let label = if self.log_y {
                format!("1e{}", t.round() as i64)
            } else {
                format_tick(t)
            };
            let _ = write!(
                svg,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/>"##,
                LEFT + plot_w
            );
            let _ = write!(
                svg,
                r#"<text x="{}" y="{:.1}" text-anchor="end">{label}</text>"#,
                LEFT - 6.0,
                y + 4.0
            );
        }
        for t in nice_ticks(x0, x1) {
            let x = sx(t);
            let _ = write!(
                svg,
                r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{}" stroke="#eee"/>"##,
                TOP + plot_h
            );
            let _ = write!(
                svg,
                r#"<text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
                TOP + plot_h + 16.0,
                format_tick(t)
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            LEFT + plot_w / 2.0,
            HEIGHT - 18.0,
            escape(&self.x_label)
        );
        let _ = write!(
            svg,
            r#"<text x="18" y="{}" text-anchor="middle" transform="rotate(-90 18 {})">{}</text>"#,
            TOP + plot_h / 2.0,
            TOP + plot_h / 2.0,
            escape(&self.y_label)
        );
        for (index, series) in self.series.iter().enumerate() {
            let path: Vec<String> = series
                .points
                .iter()
                .filter_map(|&(x, y)| Some((x, self.y_value(y)?)))
                .map(|(x, y)| format!("{:.2},{:.2}", sx(x), sy(y)))
                .collect();
            let dash = if series.dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            };
            if !path.is_empty() {
                let _ = write!(
                    svg,
                    r#"<polyline fill="none" stroke="{}" stroke-width="1.8"{dash} points="{}"/>"#,
                    series.color,
                    path.join(" ")
                );
            }
            let ly = TOP + 14.0 + 18.0 * index as f64;
            let lx = WIDTH - RIGHT + 12.0;
            let _ = write!(
                svg,
                r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{}" stroke-width="2"{dash}/>"#,
                lx + 24.0,
                series.color
            );
            let _ = write!(
                svg,
                r#"<text x="{}" y="{}">{}</text>"#,
                lx + 30.0,
                ly + 4.0,
                escape(&series.name)
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}

/// Ticks at multiples of 1, 2 or 5 times a power of ten, about five of them, inside `[low, high]`.
fn nice_ticks(low: f64, high: f64) -> Vec<f64> {
    let raw = (high - low) / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(raw);
    let mut t = (low / step).ceil() * step;
    let mut ticks = Vec::new();
    while t <= high + step * 1e-9 && ticks.len() < 50 {
        ticks.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    ticks
}

fn format_tick(t: f64) -> String {
    if (t - t.round()).abs() < 1e-9 {
        format!("{}", t.round() as i64)
    } else {
        let text = format!("{t:.4}");
        text.trim_end_matches('0').to_owned()
    }
}
