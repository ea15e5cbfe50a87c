//! Self-contained HTML pages for the people who act on privagg's output: a
//! release's statistics with their intervals as charts and tables, a fairness
//! panel, the privacy promise in plain words ([`release_page`]), and a budget
//! page ([`budget_page`]).
//!
//! Every page is one file: inline CSS and SVG (charts rendered by `plotters`'
//! SVG backend), no script, font or image from anywhere. The markup is
//! well-formed XML (so tests parse it), readable at 320 px and when printed,
//! in the Okabe–Ito colour-blind-safe palette. Only released values, their
//! intervals and public parameters (the release metadata, the catalog's
//! limits, the ledger) go into a page: never the number of groups withheld
//! or anything else computed on raw data.

mod budget;
mod chart;
mod release;

pub use budget::budget_page;
pub use release::{Intro, ReleaseSection, release_page};

/// Why a page could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("drawing a chart: {0}")]
pub struct HtmlError(pub String);

/// Okabe–Ito blue: reliable values.
const BLUE: (u8, u8, u8) = (0x00, 0x72, 0xB2);
/// Okabe–Ito vermillion: values too noisy to act on.
const VERMILLION: (u8, u8, u8) = (0xD5, 0x5E, 0x00);
/// Okabe–Ito bluish green, orange, reddish purple, sky blue: further series.
const SERIES: [(u8, u8, u8); 5] = [
    BLUE,
    (0x00, 0x9E, 0x73),
    (0xE6, 0x9F, 0x00),
    (0xCC, 0x79, 0xA7),
    (0x56, 0xB4, 0xE9),
];

const CSS: &str = "
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; line-height: 1.45;
  max-width: 60rem; margin: 0 auto; padding: 1rem; color: #1a1a1a; background: #fff; }
h1 { font-size: 1.6rem; margin: 0.2rem 0 0.4rem; }
h2 { font-size: 1.3rem; margin-top: 2rem; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.1rem; }
.sub { color: #444; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f4f4f4; padding: 0.6rem; }
figure { margin: 1rem 0; break-inside: avoid; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { font-size: 0.9rem; color: #444; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.92rem; }
th, td { text-align: left; padding: 0.25rem 0.5rem; border-bottom: 1px solid #ddd; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.noisy td { color: #8a3a00; }
.flag { font-weight: 600; color: #8a3a00; }
.key { display: inline-block; width: 0.8rem; height: 0.8rem; margin-right: 0.3rem; vertical-align: middle; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; }
dt { font-weight: 600; }
dd { margin: 0; }
@media (max-width: 480px) { body { padding: 0.5rem; } dl { grid-template-columns: 1fr; } }
@media print { .scroll { overflow: visible; } a { color: inherit; } }
";

/// Text for HTML (element content and attribute values).
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

/// `rgb(r, g, b)` of a palette colour.
fn css_colour((r, g, b): (u8, u8, u8)) -> String {
    format!("rgb({r}, {g}, {b})")
}

/// A whole page: `title` in `<title>` and the first heading's words, `body`
/// already HTML.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n",
        escape(title)
    )
}
