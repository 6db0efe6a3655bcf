//! Report tables, the layout workbooks and web pages share: a workbook's sheet and cell
//! range, the regexes that find a table's start, end, notes and sections; and which table of
//! a web page is meant, with the regexes that capture values from its text.

use std::path::Path;

use indexmap::IndexMap;
use regex::Regex;

use crate::diag::{Diagnostic, Diagnostics};
use crate::pipeline::{CellRange, Encoding, HtmlOptions, SheetRef, XlsxOptions, parse_range};
use crate::syntax::regex_of;
use crate::template;
use crate::yaml::locate_key;

/// Where a report table ends.
#[derive(Debug, Clone)]
pub enum Stop {
    /// At the first empty row.
    Blank,
    /// Before the first row whose first non-empty cell matches.
    At(Regex),
}

/// The layout options of a workbook or page table that need parsing.
#[derive(Debug, Clone, Default)]
pub struct TableLayout {
    pub range: Option<CellRange>,
    /// `sheet: /regex/` (a workbook's sheets whose names match; named groups become vars).
    pub sheet: Option<Regex>,
    pub skip_until: Option<Regex>,
    pub notes: Option<Regex>,
    pub stop: Option<Stop>,
    /// `sections.match`.
    pub section: Option<Regex>,
}

/// `html.table`, resolved.
#[derive(Debug, Clone)]
pub enum TableRef {
    /// 1-based, in document order (nested tables included).
    Position(usize),
    /// On the caption, else on the last heading (`h1`…`h6`) before the table.
    Title(Regex),
    Css(scraper::Selector),
}

/// `html:` resolved: which table, how the page is decoded, what its text gives as vars.
#[derive(Debug, Clone)]
pub struct PageTable {
    pub table: TableRef,
    pub encoding: Option<Encoding>,
    pub capture: Vec<Regex>,
}

fn compile(
    file: &Path,
    text: &str,
    key: &str,
    v: &str,
    hint: &str,
    diags: &mut Diagnostics,
) -> Option<Regex> {
    match Regex::new(regex_of(v).unwrap_or(v)) {
        Ok(re) => Some(re),
        Err(e) => {
            let (l, c) = locate_key(text, key);
            diags.push(
                Diagnostic::new(file, l, c, format!("bad regex in `{key}`: {e}"))
                    .with_hint(hint.to_string()),
            );
            None
        }
    }
}

/// `xlsx:`: the sheet, the range and the report layout. `vars`: the pipeline's listed vars,
/// which a sheet name may use as `{placeholders}`.
pub(super) fn workbook(
    file: &Path,
    text: &str,
    x: &XlsxOptions,
    vars: &IndexMap<String, Vec<String>>,
    diags: &mut Diagnostics,
) -> TableLayout {
    let mut bad = |key: &str, msg: String, hint: &str| {
        let (l, c) = locate_key(text, key);
        diags.push(Diagnostic::new(file, l, c, msg).with_hint(hint.to_string()));
    };
    let mut sheet = None;
    match &x.sheet {
        Some(SheetRef::Index(0)) => bad(
            "sheet",
            "sheet positions start at 1".into(),
            "`sheet: 1` is the first sheet",
        ),
        Some(SheetRef::Name(n)) => {
            if regex_of(n).is_some() {
                sheet = compile(
                    file,
                    text,
                    "sheet",
                    n,
                    "e.g. /^définitions_(?<exercice>\\d{4})$/",
                    diags,
                );
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
    let range = x.range.as_ref().and_then(|r| {
        let parsed = parse_range(r);
        if parsed.is_none() {
            let (l, c) = locate_key(text, "range");
            diags.push(
                Diagnostic::new(file, l, c, format!("range `{r}` is not a cell range"))
                    .with_hint("e.g. A5:K120, or A5:K to read to the last row"),
            );
        }
        parsed
    });
    TableLayout {
        range,
        sheet,
        ..layout(file, text, x, diags)
    }
}

/// The report-table options workbooks and web pages share.
pub(super) fn layout(
    file: &Path,
    text: &str,
    x: &XlsxOptions,
    diags: &mut Diagnostics,
) -> TableLayout {
    const HINT: &str = "a regular expression, e.g. ^Source";
    let mut re = |key: &str, v: &Option<String>| {
        v.as_deref()
            .and_then(|v| compile(file, text, key, v, HINT, diags))
    };
    let skip_until = re("skip_until", &x.skip_until);
    let notes = re("notes", &x.notes);
    let stop = match x.stop_at.as_deref() {
        None => None,
        Some("blank") => Some(Stop::Blank),
        Some(_) => re("stop_at", &x.stop_at).map(Stop::At),
    };
    let section = re(
        "match",
        &x.sections.as_ref().and_then(|s| s.matches.clone()),
    );
    if x.skip_rows.is_some() && x.skip_until.is_some() {
        let (l, c) = locate_key(text, "skip_until");
        diags.push(
            Diagnostic::new(file, l, c, "`skip_rows` and `skip_until` are exclusive")
                .with_hint("keep one"),
        );
    }
    TableLayout {
        range: None,
        sheet: None,
        skip_until,
        notes,
        stop,
        section,
    }
}

/// `html:`: the table of the page and the captures (the layout is resolved by [`layout`]).
pub(super) fn page(
    file: &Path,
    text: &str,
    h: &HtmlOptions,
    diags: &mut Diagnostics,
) -> Option<PageTable> {
    let before = diags.len();
    let mut bad = |msg: String, hint: &str| {
        let (l, c) = locate_key(text, "table");
        diags.push(Diagnostic::new(file, l, c, msg).with_hint(hint.to_string()));
    };
    let table = match &h.table {
        None => Some(TableRef::Position(1)),
        Some(SheetRef::Index(0)) => {
            bad(
                "table positions start at 1".into(),
                "`table: 1` is the first table of the page",
            );
            None
        }
        Some(SheetRef::Index(n)) => Some(TableRef::Position(*n as usize)),
        Some(SheetRef::Name(n)) => match (n.strip_prefix("css:"), regex_of(n)) {
            (Some(css), _) => match scraper::Selector::parse(css.trim()) {
                Ok(s) => Some(TableRef::Css(s)),
                Err(e) => {
                    bad(
                        format!("bad CSS selector `{css}`: {e}"),
                        "e.g. css:table.fiche or css:#comptes > table",
                    );
                    None
                }
            },
            (None, Some(_)) => compile(
                file,
                text,
                "table",
                n,
                "e.g. /équilibres financiers/",
                diags,
            )
            .map(TableRef::Title),
            (None, None) => {
                bad(
                    format!("table `{n}` is neither a position, a /regex/ nor css:SELECTOR"),
                    "e.g. `table: 2`, `table: /ANALYSE DES EQUILIBRES/` or `table: css:table.fiche`",
                );
                None
            }
        },
    };
    let mut capture = Vec::new();
    for c in &h.capture {
        let fail = |msg: String| {
            Diagnostic::new(file, c.referenced.line(), c.referenced.column(), msg)
                .with_hint("e.g. \"/Population[^:]*: (?<population>[0-9 ]+) habitants/\"")
        };
        match Regex::new(regex_of(&c.value).unwrap_or(&c.value)) {
            Err(e) => diags.push(fail(format!("bad regex in `capture`: {e}"))),
            Ok(r) if r.capture_names().flatten().next().is_none() => diags.push(fail(
                "a `capture` regex needs a named group: (?<name>…) becomes the var `name`".into(),
            )),
            Ok(r) => capture.push(r),
        }
    }
    match table {
        Some(table) if diags.len() == before => Some(PageTable {
            table,
            encoding: h.encoding,
            capture,
        }),
        _ => None,
    }
}
