//! The options of each source format: CSV dialect and number marks, workbook sheet, range,
//! regexes and header search, PDF pages, area, strategy and quality.

use std::path::Path;

use crate::diag::{Diagnostic, Diagnostics};
use crate::pipeline::CsvOptions;
use crate::syntax::{delimiter_byte, quote_byte, regex_of};
use crate::template;
use crate::yaml::locate_key;

pub(super) fn check_csv(file: &Path, text: &str, csv: &CsvOptions, diags: &mut Diagnostics) {
    let mut bad = |key: &str, msg: String, hint: &str| {
        let (l, c) = locate_key(text, key);
        diags.push(Diagnostic::new(file, l, c, msg).with_hint(hint.to_string()));
    };
    if let Some(d) = &csv.delimiter
        && delimiter_byte(d).is_none()
    {
        bad(
            "delimiter",
            format!("delimiter `{d}` must be one ASCII character"),
            "e.g. \";\", \",\" or tab",
        );
    }
    if let Some(Err(msg)) = csv.quote.as_deref().map(quote_byte) {
        bad("quote", msg, "e.g. '\"'");
    }
    if let Some(d) = &csv.decimal
        && d != "."
        && d != ","
    {
        bad(
            "decimal",
            format!("decimal mark `{d}` must be `.` or `,`"),
            "French files use \",\"",
        );
    }
    if let Some(t) = &csv.thousands {
        if ![" ", ".", ",", "'", "\u{a0}", "\u{202f}"].contains(&t.as_str()) {
            bad(
                "thousands",
                format!("thousands separator `{t}` is not supported"),
                "use \" \", \".\", \",\" or \"'\"",
            );
        } else if csv.decimal.as_deref().unwrap_or(".") == t {
            bad(
                "thousands",
                "thousands separator and decimal mark are the same".into(),
                "French numbers: decimal \",\" and thousands \" \"",
            );
        }
    }
}

pub(super) fn check_xlsx(
    file: &Path,
    text: &str,
    x: &crate::XlsxOptions,
    vars: &indexmap::IndexMap<String, Vec<String>>,
    diags: &mut Diagnostics,
) {
    let mut bad = |key: &str, msg: String, hint: &str| {
        let (l, c) = locate_key(text, key);
        diags.push(Diagnostic::new(file, l, c, msg).with_hint(hint.to_string()));
    };
    match &x.sheet {
        Some(crate::SheetRef::Index(0)) => bad(
            "sheet",
            "sheet positions start at 1".into(),
            "`sheet: 1` is the first sheet",
        ),
        Some(crate::SheetRef::Name(n)) => {
            if let Some(re) = regex_of(n) {
                if let Err(e) = regex::Regex::new(re) {
                    bad(
                        "sheet",
                        format!("bad regex in `sheet`: {e}"),
                        "e.g. /^définitions_(?<exercice>\\d{4})$/",
                    );
                }
            } else {
                for u in template::placeholders(n) {
                    if !vars.contains_key(&u) {
                        bad(
                            "sheet",
                            format!("`{{{u}}}` is used in sheet but not declared"),
                            "declare it under source.vars",
                        );
                    }
                }
            }
        }
        _ => {}
    }
    if let Some(r) = &x.range
        && crate::parse_range(r).is_none()
    {
        bad(
            "range",
            format!("range `{r}` is not a cell range"),
            "e.g. A5:K120, or A5:K to read to the last row",
        );
    }
    check_layout(file, text, x, diags);
}

/// The report-table options workbooks and web pages share.
fn check_layout(file: &Path, text: &str, x: &crate::XlsxOptions, diags: &mut Diagnostics) {
    let mut bad = |key: &str, msg: String, hint: &str| {
        let (l, c) = locate_key(text, key);
        diags.push(Diagnostic::new(file, l, c, msg).with_hint(hint.to_string()));
    };
    let section_match = x.sections.as_ref().and_then(|s| s.matches.clone());
    for (key, v) in [
        ("skip_until", &x.skip_until),
        ("notes", &x.notes),
        ("stop_at", &x.stop_at),
        ("match", &section_match),
    ] {
        if let Some(v) = v
            && !(key == "stop_at" && v == "blank")
            && let Err(e) = regex::Regex::new(regex_of(v).unwrap_or(v))
        {
            bad(
                key,
                format!("bad regex in `{key}`: {e}"),
                "a regular expression, e.g. ^Source",
            );
        }
    }
    if x.skip_rows.is_some() && x.skip_until.is_some() {
        bad(
            "skip_until",
            "`skip_rows` and `skip_until` are exclusive".into(),
            "keep one",
        );
    }
    check_csv(
        file,
        text,
        &CsvOptions {
            decimal: x.decimal.clone(),
            thousands: x.thousands.clone(),
            ..Default::default()
        },
        diags,
    );
}

pub(super) fn check_html(file: &Path, text: &str, h: &crate::HtmlOptions, diags: &mut Diagnostics) {
    let mut bad = |key: &str, msg: String, hint: &str| {
        let (l, c) = locate_key(text, key);
        diags.push(Diagnostic::new(file, l, c, msg).with_hint(hint.to_string()));
    };
    match &h.table {
        Some(crate::SheetRef::Index(0)) => bad(
            "table",
            "table positions start at 1".into(),
            "`table: 1` is the first table of the page",
        ),
        Some(crate::SheetRef::Name(n)) => {
            if let Some(css) = n.strip_prefix("css:") {
                if let Err(e) = scraper::Selector::parse(css.trim()) {
                    bad(
                        "table",
                        format!("bad CSS selector `{css}`: {e}"),
                        "e.g. css:table.fiche or css:#comptes > table",
                    );
                }
            } else if let Some(re) = regex_of(n) {
                if let Err(e) = regex::Regex::new(re) {
                    bad(
                        "table",
                        format!("bad regex in `table`: {e}"),
                        "e.g. /équilibres financiers/",
                    );
                }
            } else {
                bad(
                    "table",
                    format!("table `{n}` is neither a position, a /regex/ nor css:SELECTOR"),
                    "e.g. `table: 2`, `table: /ANALYSE DES EQUILIBRES/` or `table: css:table.fiche`",
                );
            }
        }
        _ => {}
    }
    for c in &h.capture {
        let re = regex_of(&c.value).unwrap_or(&c.value);
        let fail = |msg: String| {
            Diagnostic::new(file, c.referenced.line(), c.referenced.column(), msg)
                .with_hint("e.g. \"/Population[^:]*: (?<population>[0-9 ]+) habitants/\"")
        };
        match regex::Regex::new(re) {
            Err(e) => diags.push(fail(format!("bad regex in `capture`: {e}"))),
            Ok(r) if r.capture_names().flatten().next().is_none() => diags.push(fail(
                "a `capture` regex needs a named group: (?<name>…) becomes the var `name`".into(),
            )),
            Ok(_) => {}
        }
    }
    check_layout(file, text, &h.layout(), diags);
}

pub(super) fn check_pdf(
    file: &Path,
    text: &str,
    pdf: &crate::pipeline::PdfOptions,
    diags: &mut Diagnostics,
) {
    if let Some(s) = &pdf.strategy {
        crate::pdf_strategy::resolve(file, text, s, pdf.columns.is_some(), diags);
    }
    let mut bad = |key: &str, msg: String, hint: &str| {
        let (l, c) = locate_key(text, key);
        diags.push(Diagnostic::new(file, l, c, msg).with_hint(hint.to_string()));
    };
    if let Some(p) = &pdf.pages {
        let ok = p.value.split(',').all(|part| {
            let part = part.trim();
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            a.trim().parse::<usize>().is_ok_and(|a| a >= 1)
                && (b.trim().is_empty()
                    || b.trim()
                        .parse::<usize>()
                        .is_ok_and(|b| b >= a.trim().parse().unwrap_or(1)))
        });
        if !ok {
            bad(
                "pages",
                format!("page list `{}` is not valid", p.value),
                "write pages from 1 and ranges, e.g. \"1,3-5\"",
            );
        }
    }
    if let Some(a) = &pdf.area
        && (a.len() != 4 || a.iter().any(|x| !x.is_finite()))
    {
        bad(
            "area",
            "area must be four numbers [x1, y1, x2, y2]".into(),
            "points from the top-left corner of the page",
        );
    }
    if let Some(q) = pdf.min_quality
        && !(0.0..=1.0).contains(&q)
    {
        bad(
            "min_quality",
            format!("min_quality {q} is not between 0 and 1"),
            "e.g. 0.9",
        );
    }
    if let Some(d) = &pdf.decimal
        && d != "."
        && d != ","
    {
        bad(
            "decimal",
            format!("decimal mark `{d}` must be `.` or `,`"),
            "French reports use \",\"",
        );
    }
}
