//! The HTML pages: an export's `report.html`, `query --format html`,
//! `budget --html` and the demo's pages. Structure (they parse as XML; every
//! released cell has one error bar and one table row, and they agree with the
//! release metadata; nothing is loaded from the network), then a real browser
//! (Debian's chromium, headless) renders each to a PNG that must not be blank.

use std::path::{Path, PathBuf};

use crate::common::{generated, ok, run};

/// An export job over the generated shop: public tiers with a count and an
/// average, and private cities (partition selection).
const JOB: &str = "analyst = \"alice\"\nconfidence = 0.95\n\
    [[queries]]\nname = \"tiers\"\nsql = \"SELECT segment, COUNT(*) AS n, AVG(spend) AS avg_spend FROM purchases GROUP BY segment\"\nepsilon = 0.5\nformat = \"csv\"\n\
    [[queries]]\nname = \"cities\"\nsql = \"SELECT city, COUNT(DISTINCT customer_id) AS customers, MEDIAN(spend) AS median_spend FROM purchases GROUP BY city\"\nepsilon = 0.3\nformat = \"json\"\n";

fn parse(text: &str) -> roxmltree::Document<'_> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    roxmltree::Document::parse_with_options(text, options).expect("the page is well-formed XML")
}

/// Nothing is fetched: no script, stylesheet link, image, frame, or
/// `http(s)://` in an attribute other than SVG's namespace.
fn assert_self_contained(text: &str) {
    let doc = parse(text);
    for node in doc.descendants().filter(|n| n.is_element()) {
        let tag = node.tag_name().name();
        assert!(
            !["script", "link", "img", "iframe", "object", "embed"].contains(&tag),
            "<{tag}> in the page"
        );
        for a in node.attributes() {
            if a.name() == "xmlns" {
                continue;
            }
            let v = a.value().to_ascii_lowercase();
            assert!(
                !v.contains("http://") && !v.contains("https://") && !v.contains("url("),
                "{}={} loads something",
                a.name(),
                a.value()
            );
        }
    }
    assert!(
        !text.contains("@import") && !text.contains("url("),
        "CSS loads something"
    );
}

/// For one release section and its metadata cells: one table row and one
/// error bar (`<circle>`) per cell, values as released, bars in value order.
fn assert_cells_match(text: &str, section: &str, release: &serde_json::Value) {
    let doc = parse(text);
    let root = doc
        .descendants()
        .find(|n| n.attribute("id") == Some(&format!("release-{section}")))
        .unwrap_or_else(|| panic!("section {section}"));
    let cells = release["accuracy"].as_array().expect("accuracy");
    assert!(!cells.is_empty(), "{section}: cells");
    let mut columns: Vec<&str> = cells
        .iter()
        .map(|c| c["column"].as_str().expect("column"))
        .collect();
    columns.dedup();
    for column in columns {
        let expected: Vec<(u64, f64)> = cells
            .iter()
            .filter(|c| c["column"] == column)
            .map(|c| {
                (
                    c["row"].as_u64().expect("row"),
                    c["value"].as_f64().expect("value"),
                )
            })
            .collect();
        let table = root
            .descendants()
            .find(|n| n.has_tag_name("table") && n.attribute("data-column") == Some(column))
            .unwrap_or_else(|| panic!("{section}: table of {column}"));
        let rows: Vec<(u64, f64)> = table
            .descendants()
            .filter(|n| n.has_tag_name("tr") && n.attribute("data-cell").is_some())
            .map(|n| {
                (
                    n.attribute("data-cell")
                        .and_then(|v| v.parse().ok())
                        .expect("row"),
                    n.attribute("data-value")
                        .and_then(|v| v.parse().ok())
                        .expect("value"),
                )
            })
            .collect();
        // serde_json's float parsing may be off by an ulp: equal up to 1e-12.
        assert_eq!(
            rows.len(),
            expected.len(),
            "{section}/{column}: one row per cell"
        );
        for (r, e) in rows.iter().zip(&expected) {
            assert!(
                r.0 == e.0 && (r.1 - e.1).abs() <= 1e-12 * e.1.abs().max(1.0),
                "{section}/{column}: row {r:?} vs released {e:?}"
            );
        }
        let id: String = column
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let figure = root
            .descendants()
            .find(|n| n.attribute("id") == Some(&format!("chart-{section}-{id}")))
            .unwrap_or_else(|| panic!("{section}: chart of {column}"));
        let dots: Vec<(f64, f64)> = figure
            .descendants()
            .filter(|n| n.has_tag_name("circle"))
            .map(|n| {
                let at = |a: &str| n.attribute(a).and_then(|v| v.parse::<f64>().ok()).expect(a);
                (at("cx"), at("cy"))
            })
            .collect();
        assert_eq!(
            dots.len(),
            expected.len(),
            "{section}/{column}: one error bar per cell"
        );
        // Bars left to right in table order; a larger value sits higher
        // (smaller y; SVG pixels are whole, so near-equal values may tie).
        for (i, a) in expected.iter().enumerate() {
            for (j, b) in expected.iter().enumerate() {
                if a.1 > b.1 + 1e-9 {
                    assert!(dots[i].1 <= dots[j].1, "{section}/{column}: bar {i} vs {j}");
                }
            }
            if i > 0 {
                assert!(
                    dots[i].0 > dots[i - 1].0,
                    "{section}/{column}: bars in table order"
                );
            }
        }
    }
    let flagged = cells.iter().filter(|c| c["too_noisy"] == true).count();
    let sentences = root
        .descendants()
        .filter(|n| n.has_tag_name("ul") && n.attribute("class") == Some("flagged"))
        .flat_map(|ul| ul.children().filter(|c| c.has_tag_name("li")))
        .count();
    assert_eq!(
        sentences, flagged,
        "{section}: one sentence per flagged cell"
    );
}

/// The export, a query page and a budget page over the generated shop.
fn pages(dir: &Path) -> Vec<PathBuf> {
    let catalog = generated(dir, 4000);
    let c = catalog.to_str().expect("utf-8");
    let job = dir.join("job.toml");
    std::fs::write(&job, JOB).expect("job");
    let out = dir.join("out");
    ok(&[
        "export",
        job.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let query = dir.join("query.html");
    let (code, text, err) = run(&[
        "query",
        "--catalog",
        c,
        "--epsilon",
        "0.4",
        "--confidence",
        "0.9",
        "--out",
        query.to_str().expect("utf-8"),
        "SELECT channel, COUNT(*) AS n, SUM(spend) AS revenue FROM purchases GROUP BY channel",
    ]);
    assert_eq!(code, Some(0), "{text}{err}");
    let budget = dir.join("budget.html");
    ok(&[
        "budget",
        "--catalog",
        c,
        "--html",
        "--out",
        budget.to_str().expect("utf-8"),
    ]);
    vec![out.join("report.html"), query, budget]
}

#[test]
fn pages_hold_one_bar_and_one_row_per_released_cell_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = pages(dir.path());
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/manifest.json")).expect("manifest"),
    )
    .expect("json");
    let report = std::fs::read_to_string(&paths[0]).expect("report.html");
    assert_self_contained(&report);
    for q in manifest["queries"].as_array().expect("queries") {
        assert_cells_match(&report, q["name"].as_str().expect("name"), q);
    }
    assert!(
        report.contains("<title>Privacy and accuracy report: export job"),
        "title"
    );
    assert!(
        report.contains("never the number of"),
        "says what it leaves out"
    );

    let query = std::fs::read_to_string(&paths[1]).expect("query.html");
    assert_self_contained(&query);
    assert!(query.contains("<title>Privacy and accuracy report: one query</title>"));
    let doc = parse(&query);
    let rows = doc
        .descendants()
        .filter(|n| n.has_tag_name("tr") && n.attribute("data-cell").is_some())
        .count();
    // Two statistics over the channels (public values in the catalog).
    assert!(rows >= 4 && rows % 2 == 0, "{rows} rows");
    assert!(
        doc.descendants()
            .any(|n| n.attribute("id") == Some("fairness-chart-query")),
        "the fairness scatter (the query releases a count)"
    );

    let budget = std::fs::read_to_string(&paths[2]).expect("budget.html");
    assert_self_contained(&budget);
    let doc = parse(&budget);
    let scope = doc
        .descendants()
        .find(|n| n.attribute("data-scope") == Some("analyst:alice"))
        .expect("a row for alice");
    let text: String = scope.descendants().filter_map(|n| n.text()).collect();
    // 0.5 + 0.3 for the export, 0.4 for the query.
    assert!(text.contains("epsilon 1.2"), "{text}");
    assert!(
        doc.descendants()
            .any(|n| n.attribute("id") == Some("spend-chart")
                && n.descendants()
                    .any(|d| d.has_tag_name("polyline") || d.has_tag_name("path"))),
        "the spend line"
    );
}

/// `/usr/bin/chromium` (Debian's), or one on the PATH.
fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Renders `page` headless at `width` px to a PNG and returns its pixels' share
/// that is not (nearly) white.
fn render(browser: &Path, page: &Path, width: u32, png: &Path) -> f64 {
    let profile = tempfile::tempdir().expect("profile");
    let status = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={width},1600"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let decoder = png::Decoder::new(std::fs::File::open(png).expect("a PNG was written"));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let inked = pixels
        .chunks(channels)
        .filter(|p| p.iter().take(3).any(|c| *c < 200))
        .count();
    inked as f64 / (pixels.len() / channels) as f64
}

#[test]
fn a_real_browser_renders_every_page() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("PRIVAGG_REQUIRE_BROWSER").is_none(),
            "PRIVAGG_REQUIRE_BROWSER is set but chromium is not installed (apt-get install chromium)"
        );
        eprintln!(
            "skipped: no chromium (apt-get install chromium); .ci/run installs it and requires this test"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut all = pages(dir.path());
    let demo = dir.path().join("demo");
    ok(&[
        "demo",
        "--customers",
        "3000",
        "--dir",
        demo.to_str().expect("utf-8"),
    ]);
    all.push(demo.join("report.html"));
    all.push(demo.join("budget.html"));
    for page in &all {
        for width in [1000, 320] {
            let png = dir.path().join(format!(
                "{}-{width}.png",
                page.file_stem().and_then(|s| s.to_str()).unwrap_or("page")
            ));
            let inked = render(&browser, page, width, &png);
            assert!(
                inked > 0.01,
                "{} at {width} px is blank ({:.4} of pixels inked)",
                page.display(),
                inked
            );
        }
    }
}
