//! The page of one or more releases (a query, or an export job): the promise
//! in plain words, then per query its SQL, charge, mechanism and bounds, a
//! chart and a table per released statistic, and the fairness panel.

use std::fmt::Write;

use privagg_sql::{CellAccuracy, ReleaseMetadata, TOO_NOISY_RELATIVE_HALF_WIDTH};

use super::chart::{Bar, SizePoint, fairness_scatter, interval_chart};
use super::{BLUE, HtmlError, VERMILLION, css_colour, escape, page};
use crate::export::text::number;
use crate::export::wording;

/// What the page is about, above the releases.
#[derive(Clone, Debug)]
pub struct Intro {
    /// The page's `<title>` and first heading ("Privacy and accuracy report: …").
    pub title: String,
    /// "export" or "page": how the promise names the whole.
    pub what: String,
    /// Facts about the run, label → value (analyst, request, time, catalog).
    pub facts: Vec<(String, String)>,
    /// ε charged in all.
    pub epsilon: String,
    /// δ charged in all.
    pub delta: String,
    /// The confidence of the intervals (0.95).
    pub confidence: f64,
    /// Budget left after the run, per scope.
    pub remaining: Vec<String>,
}

/// One release on the page.
#[derive(Clone, Copy, Debug)]
pub struct ReleaseSection<'a> {
    /// Its name (an export query's name, or "query").
    pub name: &'a str,
    /// Its metadata: everything the section shows comes from here.
    pub release: &'a ReleaseMetadata,
}

/// Backtick spans of `text` as `<code>`, the rest escaped.
fn inline(text: &str) -> String {
    escape(text)
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_string()
            }
        })
        .collect()
}

/// An `id` made of letters, digits and '-'.
fn ident(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn segment_label(c: &CellAccuracy) -> String {
    if c.segment.is_empty() {
        "(all)".into()
    } else {
        c.segment.replace('/', " / ")
    }
}

/// The page.
///
/// # Errors
/// [`HtmlError`] if a chart cannot be drawn.
pub fn release_page(intro: &Intro, sections: &[ReleaseSection<'_>]) -> Result<String, HtmlError> {
    let mut b = String::new();
    let _ = writeln!(b, "<header>\n<h1>{}</h1>", escape(&intro.title));
    let _ = writeln!(b, "<dl class=\"facts\">");
    for (k, v) in &intro.facts {
        let _ = writeln!(b, "<dt>{}</dt><dd>{}</dd>", escape(k), inline(v));
    }
    let _ = writeln!(b, "</dl>\n</header>");
    let units = wording::units(sections.iter().map(|s| s.release));
    let _ = writeln!(
        b,
        "<section id=\"guarantee\">\n<h2>The privacy promise</h2>\n<p>{}</p>\n<p>{}</p>",
        inline(&wording::guarantee(
            &intro.what,
            &units,
            &intro.epsilon,
            &intro.delta
        )),
        inline(wording::HOW_ACHIEVED)
    );
    if !intro.remaining.is_empty() {
        let _ = writeln!(
            b,
            "<p>Budget left afterwards: {}.</p>",
            escape(&intro.remaining.join("; "))
        );
    }
    let _ = writeln!(
        b,
        "</section>\n<section id=\"reading\">\n<h2>How to read the numbers</h2>\n<p>{}</p>\n\
         <p><span class=\"key\" style=\"background: {}\"></span>reliable \
         <span class=\"key\" style=\"background: {}\"></span>too noisy to act on (labelled, with \
         the reason in the table)</p>\n</section>",
        inline(&wording::reliability(intro.confidence * 100.0, "")),
        css_colour(BLUE),
        css_colour(VERMILLION)
    );
    for s in sections {
        release_section(&mut b, s, intro.confidence)?;
    }
    let _ = writeln!(
        b,
        "<section id=\"what-appears\">\n<h2>What this page shows, and what it does not</h2>\n<p>{}</p>\n<ul>",
        inline(wording::ONLY_RELEASED)
    );
    for line in wording::LIMITATIONS {
        let _ = writeln!(b, "<li>{}</li>", inline(line));
    }
    let _ = writeln!(b, "</ul>\n</section>");
    Ok(page(&intro.title, &b))
}

fn release_section(
    b: &mut String,
    s: &ReleaseSection<'_>,
    confidence: f64,
) -> Result<(), HtmlError> {
    let r = s.release;
    let id = ident(s.name);
    let _ = writeln!(
        b,
        "<section class=\"release\" id=\"release-{id}\">\n<h2>{}</h2>\n<pre><code>{}</code></pre>",
        escape(s.name),
        escape(r.sql.trim())
    );
    let _ = writeln!(
        b,
        "<dl>\n<dt>Charged</dt><dd>ε {}, δ {}</dd>\n<dt>Noise</dt><dd>{}</dd>\n\
         <dt>Privacy unit</dt><dd><code>{}</code>: at most {} segment(s) each, at most {} row(s) per segment</dd>\n\
         <dt>Segments</dt><dd>{}</dd>\n</dl>",
        escape(&r.epsilon.to_string()),
        escape(&r.delta.to_string()),
        escape(&mechanisms(r)),
        escape(&r.privacy_unit),
        r.max_groups_contributed,
        r.max_rows_contributed,
        inline(&wording::segments(r))
    );
    if !r.bounding.is_empty() {
        let _ = writeln!(b, "<p>What bounding does to the numbers:</p>\n<ul>");
        for line in &r.bounding {
            let _ = writeln!(b, "<li>{}</li>", escape(line));
        }
        let _ = writeln!(b, "</ul>");
    }
    if r.accuracy.is_empty() {
        let _ = writeln!(
            b,
            "<p>No segment was released, so there is no value to show.</p>\n</section>"
        );
        return Ok(());
    }
    for column in columns(&r.accuracy) {
        let cells: Vec<&CellAccuracy> = r.accuracy.iter().filter(|c| c.column == column).collect();
        statistic(b, &id, &column, &cells, confidence)?;
    }
    fairness(b, &id, r)?;
    let _ = writeln!(b, "</section>");
    Ok(())
}

/// The mechanisms of a release's components, each once.
fn mechanisms(r: &ReleaseMetadata) -> String {
    let mut names: Vec<&str> = r.columns.iter().map(|c| c.mechanism).collect();
    names.dedup();
    names.join(", ")
}

/// The released statistic columns, in order of first appearance.
fn columns(cells: &[CellAccuracy]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in cells {
        if !out.contains(&c.column) {
            out.push(c.column.clone());
        }
    }
    out
}

/// A flag's reason, short enough to sit above a bar.
fn short_reason(c: &CellAccuracy) -> String {
    if c.value == 0.0 {
        "too noisy: value 0".into()
    } else if c.relative_half_width > TOO_NOISY_RELATIVE_HALF_WIDTH {
        format!("too noisy: ±{:.0}%", c.relative_half_width * 100.0)
    } else {
        "too noisy: spans the range".into()
    }
}

/// One statistic: its chart, then the same numbers as a table.
fn statistic(
    b: &mut String,
    release: &str,
    column: &str,
    cells: &[&CellAccuracy],
    confidence: f64,
) -> Result<(), HtmlError> {
    let aggregate = cells
        .first()
        .map(|c| c.aggregate.as_str())
        .unwrap_or_default();
    let bars: Vec<Bar> = cells
        .iter()
        .map(|c| Bar {
            label: segment_label(c),
            value: c.value,
            low: c.ci_low,
            high: c.ci_high,
            flag: c.too_noisy.then(|| short_reason(c)),
        })
        .collect();
    let flagged = cells.iter().filter(|c| c.too_noisy).count();
    let _ = writeln!(
        b,
        "<h3>{}</h3>\n<figure class=\"chart\" id=\"chart-{release}-{}\">\n{}\n<figcaption>{} per \
         segment ({}), each with its {:.0}% interval; {} of {} too noisy to act on.</figcaption>\n</figure>",
        escape(column),
        ident(column),
        interval_chart(aggregate, &bars)?,
        escape(column),
        escape(aggregate),
        confidence * 100.0,
        flagged,
        cells.len()
    );
    let _ = writeln!(
        b,
        "<div class=\"scroll\"><table class=\"cells\" data-column=\"{}\">\n<thead><tr><th>segment</th>\
         <th class=\"num\">value</th><th class=\"num\">{:.0}% interval</th><th class=\"num\">± relative</th>\
         <th>reliable</th></tr></thead>\n<tbody>",
        escape(column),
        confidence * 100.0
    );
    for c in cells {
        let relative = if c.relative_half_width.is_finite() {
            format!("{:.1}%", c.relative_half_width * 100.0)
        } else {
            "∞".into()
        };
        let verdict = match &c.reason {
            Some(why) => format!("<span class=\"flag\">no</span>: {}", escape(why)),
            None => "yes".into(),
        };
        let _ = writeln!(
            b,
            "<tr data-cell=\"{}\" data-value=\"{:?}\"{}><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">[{}, {}]</td><td class=\"num\">{relative}</td><td>{verdict}</td></tr>",
            c.row,
            c.value,
            if c.too_noisy { " class=\"noisy\"" } else { "" },
            escape(&segment_label(c)),
            number(c.value),
            number(c.ci_low),
            number(c.ci_high),
        );
    }
    let _ = writeln!(b, "</tbody></table></div>");
    Ok(())
}

/// Relative interval width against released segment size, and one sentence
/// per flagged cell: personalising small segments on noise is a bias risk.
fn fairness(b: &mut String, release: &str, r: &ReleaseMetadata) -> Result<(), HtmlError> {
    let _ = writeln!(
        b,
        "<section class=\"fairness\" id=\"fairness-{release}\">\n<h3>Fairness: are small segments \
         judged on noise?</h3>\n<p>Small segments get relatively wider intervals: acting on them \
         treats their customers on noise rather than on data.</p>"
    );
    // A segment's size is a count released in the same row (the first one).
    let size = |row: usize| {
        r.accuracy
            .iter()
            .find(|c| c.row == row && c.is_count)
            .map(|c| c.value)
    };
    let points: Vec<SizePoint> = r
        .accuracy
        .iter()
        .filter_map(|c| {
            Some(SizePoint {
                size: size(c.row)?,
                relative: c.relative_half_width * 100.0,
                flagged: c.too_noisy,
            })
        })
        .filter(|p| p.relative.is_finite())
        .collect();
    if points.is_empty() {
        let _ = writeln!(
            b,
            "<p>This query releases no count, so segment sizes are not known here: add \
             <code>COUNT(*)</code> to the query to see them.</p>"
        );
    } else {
        let _ = writeln!(
            b,
            "<figure class=\"scatter\" id=\"fairness-chart-{release}\">\n{}\n<figcaption>Each \
             released statistic: its ± relative to the value against its segment's released size; \
             the line is the {:.0}% rule.</figcaption>\n</figure>",
            fairness_scatter(&points, TOO_NOISY_RELATIVE_HALF_WIDTH * 100.0)?,
            TOO_NOISY_RELATIVE_HALF_WIDTH * 100.0
        );
    }
    let flagged: Vec<&CellAccuracy> = r.accuracy.iter().filter(|c| c.too_noisy).collect();
    if flagged.is_empty() {
        let _ = writeln!(b, "<p>No released value is too noisy to act on.</p>");
    } else {
        let _ = writeln!(b, "<ul class=\"flagged\">");
        for c in flagged {
            let relative = if c.relative_half_width.is_finite() {
                format!("±{:.0} %", c.relative_half_width * 100.0)
            } else {
                "value 0".into()
            };
            let _ = writeln!(
                b,
                "<li>{} / {}: {relative}: too noisy to act on at ε {} ({}); a larger ε or a \
                 coarser segment would help.</li>",
                escape(&segment_label(c)),
                escape(&c.column),
                escape(&r.epsilon.to_string()),
                escape(c.reason.as_deref().unwrap_or("too noisy"))
            );
        }
        let _ = writeln!(b, "</ul>");
    }
    let _ = writeln!(b, "</section>");
    Ok(())
}
