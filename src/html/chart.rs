//! The charts of the HTML pages, drawn with `plotters`' SVG backend: one
//! error bar per released cell, a fairness scatter, budget bars and a spend
//! line. Each returns the `<svg>` element as text.

use plotters::coord::ranged1d::SegmentValue;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{BLUE, HtmlError, SERIES, VERMILLION};

const WIDTH: u32 = 760;
const HEIGHT: u32 = 380;

fn colour((r, g, b): (u8, u8, u8)) -> RGBColor {
    RGBColor(r, g, b)
}

fn failed(e: impl std::fmt::Display) -> HtmlError {
    HtmlError(e.to_string())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// An SVG of `size` pixels, `draw` on a white ground.
fn svg(
    size: (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> Result<(), HtmlError>,
) -> Result<String, HtmlError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        draw(&root)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// A numeric chart over `[0, max_x] × [0, max_y]`, its axes described.
fn xy_chart<'a, 'b>(
    root: &'a Area<'b>,
    (max_x, max_y): (f64, f64),
    x_desc: &str,
    y_desc: &str,
) -> Result<ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>, HtmlError>
{
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..max_x, 0.0..max_y)
        .map_err(failed)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(failed)?;
    Ok(chart)
}

/// One released cell of a statistic: its segment, value and interval.
#[derive(Clone, Debug)]
pub(super) struct Bar {
    /// The segment's label.
    pub label: String,
    /// The released value.
    pub value: f64,
    /// Interval low end.
    pub low: f64,
    /// Interval high end.
    pub high: f64,
    /// Too noisy to act on: the label drawn above the bar, with its reason.
    pub flag: Option<String>,
}

/// `[lo, hi]` widened by 5% on each side (and around a single value).
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) };
    (lo - 0.05 * span, hi + 0.05 * span)
}

/// A segment label short enough for the axis.
fn short(label: &str) -> String {
    if label.chars().count() <= 14 {
        label.to_string()
    } else {
        let mut s: String = label.chars().take(13).collect();
        s.push('…');
        s
    }
}

/// One error bar per cell (its value a dot, its interval the bar); cells too
/// noisy to act on in vermillion and labelled with the reason, the others in blue.
/// Every cell draws exactly one `<circle>`, and nothing else does.
pub(super) fn interval_chart(y_label: &str, bars: &[Bar]) -> Result<String, HtmlError> {
    svg((WIDTH, HEIGHT), |root| {
        let lo = bars
            .iter()
            .map(|b| b.low.min(b.value))
            .fold(f64::INFINITY, f64::min);
        let hi = bars
            .iter()
            .map(|b| b.high.max(b.value))
            .fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = padded(lo, hi);
        let n = bars.len().max(1);
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(72)
            // A usize range is inclusive in plotters: 0..n−1 holds n segments.
            .build_cartesian_2d((0..n - 1).into_segmented(), lo..hi)
            .map_err(failed)?;
        let labels: Vec<String> = bars.iter().map(|b| short(&b.label)).collect();
        let every = n.div_ceil(16);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .x_labels(n)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) if i % every == 0 => {
                    labels.get(*i).cloned().unwrap_or_default()
                }
                _ => String::new(),
            })
            .y_desc(y_label)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(failed)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                let c = colour(if b.flag.is_some() { VERMILLION } else { BLUE });
                ErrorBar::new_vertical(
                    SegmentValue::CenterOf(i),
                    b.low,
                    b.value,
                    b.high,
                    c.filled().stroke_width(2),
                    12,
                )
            }))
            .map_err(failed)?;
        chart
            .draw_series(bars.iter().enumerate().filter_map(|(i, b)| {
                Some(Text::new(
                    b.flag.clone()?,
                    (SegmentValue::CenterOf(i), b.high),
                    ("sans-serif", 13).into_font().color(&colour(VERMILLION)),
                ))
            }))
            .map_err(failed)?;
        Ok(())
    })
}

/// One point of the fairness panel.
#[derive(Clone, Debug)]
pub(super) struct SizePoint {
    /// The segment's released size (a released count).
    pub size: f64,
    /// The statistic's relative half-width, in percent.
    pub relative: f64,
    /// Too noisy to act on.
    pub flagged: bool,
}

/// Relative interval width against released segment size, with the 50%
/// line: small segments personalised on noise stand out top left.
pub(super) fn fairness_scatter(points: &[SizePoint], threshold: f64) -> Result<String, HtmlError> {
    svg((WIDTH, HEIGHT), |root| {
        let max_x = points.iter().map(|p| p.size).fold(1.0, f64::max) * 1.05;
        let max_y = points
            .iter()
            .map(|p| p.relative.min(400.0))
            .fold(threshold * 1.5, f64::max)
            * 1.05;
        let mut chart = xy_chart(
            root,
            (max_x, max_y),
            "released segment size (count)",
            "± relative to the value (%)",
        )?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, threshold), (max_x, threshold)],
                colour(VERMILLION).stroke_width(1),
            ))
            .map_err(failed)?;
        chart
            .draw_series(points.iter().map(|p| {
                let at = (p.size, p.relative.min(max_y));
                if p.flagged {
                    TriangleMarker::new(at, 7, colour(VERMILLION).filled()).into_dyn()
                } else {
                    Circle::new(at, 5, colour(BLUE).filled()).into_dyn()
                }
            }))
            .map_err(failed)?;
        Ok(())
    })
}

/// Spent and remaining per scope, as horizontal bars in percent of the limit.
pub(super) fn budget_bars(rows: &[(String, f64)]) -> Result<String, HtmlError> {
    let height = (60 + 44 * rows.len().max(1)) as u32;
    svg((WIDTH, height), |root| {
        let n = rows.len().max(1);
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(160)
            .build_cartesian_2d(0.0..100.0, (0..n - 1).into_segmented())
            .map_err(failed)?;
        let labels: Vec<String> = rows.iter().map(|(s, _)| short(s)).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE)
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .x_desc("% of the limit spent")
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(failed)?;
        chart
            .draw_series(rows.iter().enumerate().map(|(i, (_, spent))| {
                let c = colour(if *spent >= 90.0 { VERMILLION } else { BLUE });
                Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(i)),
                        (spent.clamp(0.0, 100.0), SegmentValue::Exact(i + 1)),
                    ],
                    c.filled(),
                )
            }))
            .map_err(failed)?;
        Ok(())
    })
}

/// Cumulative spend over the ledger's charges, one line per scope (`(charge
/// number, cumulative amount)` points).
pub(super) fn spend_lines(
    series: &[(String, Vec<(f64, f64)>)],
    y_label: &str,
) -> Result<String, HtmlError> {
    svg((WIDTH, HEIGHT), |root| {
        let max_x = series
            .iter()
            .flat_map(|(_, p)| p.iter().map(|(x, _)| *x))
            .fold(1.0, f64::max);
        let max_y = series
            .iter()
            .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
            .fold(0.0, f64::max);
        let (_, max_y) = padded(0.0, max_y.max(1e-9));
        let mut chart = xy_chart(
            root,
            (max_x, max_y),
            "ledger entries, oldest first",
            y_label,
        )?;
        for (i, (_, points)) in series.iter().enumerate() {
            let c = colour(SERIES[i % SERIES.len()]);
            chart
                .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(3)))
                .map_err(failed)?;
        }
        Ok(())
    })
}
