//! Tables of web pages (`format: html`), such as the DGFiP "comptes individuels" fiches.
//!
//! The page is decoded from its declared encoding (`decode.rs`), parsed by html5ever (through
//! `scraper`, the way a browser builds its tree, broken markup included), the table chosen by
//! position, title or CSS selector (`select.rs`) and laid out on a grid (`grid.rs`). From
//! there it is a report table like a workbook sheet: header rows, `skip_until`, `stop_at`,
//! notes, hierarchy and sections are the workbook reader's (`crate::xlsx::table`), so both
//! formats behave alike. Values captured from the page's text (`capture:`) become vars.

pub mod decode;
pub mod grid;
pub mod select;

use std::borrow::Cow;
use std::io::Read;

use oc_spec::Encoding;
use scraper::Html;

use crate::sink::{ExtractError, FileStats, Sink};
use crate::spec::{ReadSpec, SourceFile};
use crate::xlsx::cells::Value;
use crate::xlsx::rows::{Row, RowSource};
use crate::xlsx::table::read_table;

pub use select::{TableInfo, TableRef};

/// A page's bytes decoded (see `decode.rs`) and parsed, for tools that look at a page
/// outside a pipeline (`opencoll html tables`).
pub fn parse_page(
    bytes: &[u8],
    content_type: Option<&str>,
    encoding: Option<Encoding>,
) -> Result<(Html, &'static str), String> {
    let (text, enc) = decode::decode_page(bytes, content_type, encoding)?;
    too_deep(&text)?;
    Ok((Html::parse_document(&text), enc))
}

fn too_deep(text: &str) -> Result<(), String> {
    let depth = nesting_depth(text);
    if depth > MAX_DEPTH {
        return Err(format!(
            "the page nests elements about {depth} levels deep (more than {MAX_DEPTH}): it is not read, as parsing it would take minutes"
        ));
    }
    Ok(())
}

/// A page is parsed whole; larger files are refused rather than exhausting memory (the DOM
/// takes several times the text's size).
pub const MAX_PAGE_BYTES: u64 = 64 << 20;

/// Deeper nesting is refused before parsing: html5ever's tree builder takes time quadratic in
/// the depth (200 000 nested `<div>`, a 2 MB page, took four minutes). Browsers stop nesting
/// far earlier (Chromium at 512 levels); real pages stay in the tens.
pub const MAX_DEPTH: usize = 2048;

/// An upper bound of how deep the page's elements nest, from its tags alone: start tags of
/// elements that are neither void nor closed implicitly by their next sibling (`p`, `li`,
/// `td`, `tr`… whose end tags pages omit) minus end tags; comments, scripts and styles
/// skipped.
pub fn nesting_depth(text: &str) -> usize {
    const NOT_NESTING: &[&str] = &[
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr", "p", "li", "td", "th", "tr", "dt", "dd", "option", "optgroup",
        "thead", "tbody", "tfoot", "colgroup", "rb", "rt", "rp", "html", "head", "body",
    ];
    let b = text.as_bytes();
    let (mut depth, mut max, mut i) = (0usize, 0usize, 0usize);
    let skip_to = |from: usize, end: &[u8]| {
        b[from..]
            .windows(end.len())
            .position(|w| w.eq_ignore_ascii_case(end))
            .map_or(b.len(), |p| from + p + end.len())
    };
    while let Some(p) = memchr::memchr(b'<', &b[i..]) {
        i += p + 1;
        if b[i..].starts_with(b"!--") {
            i = skip_to(i, b"-->");
            continue;
        }
        let closing = b.get(i) == Some(&b'/');
        let start = i + usize::from(closing);
        let len = b[start..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        if len == 0 {
            continue;
        }
        let name = text[start..start + len].to_ascii_lowercase();
        let self_closing = !closing
            && b[start + len..]
                .iter()
                .position(|c| *c == b'>')
                .is_some_and(|e| e > 0 && b[start + len + e - 1] == b'/');
        if !closing && (name == "script" || name == "style") {
            // raw text up to the end tag: its `<` are not tags
            i = skip_to(start + len, format!("</{name}").as_bytes());
            continue;
        }
        if NOT_NESTING.contains(&name.as_str()) || self_closing {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
        } else {
            depth += 1;
            max = max.max(depth);
        }
    }
    max
}

/// The rows of a laid-out table.
struct GridRows(std::iter::Enumerate<std::vec::IntoIter<grid::GridRow>>);

impl RowSource<'static> for GridRows {
    fn next_row(&mut self) -> Result<Option<Row<'static>>, String> {
        Ok(self.0.next().map(|(i, r)| {
            // dense one row at a time (a row is at most grid::MAX_COLUMNS wide)
            let mut cells = vec![Value::Empty; r.width];
            for (col, text) in r.cells {
                cells[col] = Value::Text(Cow::Owned(text));
            }
            Row {
                index: i as u32,
                indent: vec![0; cells.len()],
                cells,
            }
        }))
    }
}

/// A page's bytes (a page over [`MAX_PAGE_BYTES`] is refused), their hash and size.
pub fn load(
    path: &std::path::Path,
    name: &str,
    member: Option<&str>,
    progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
) -> Result<(Vec<u8>, String, u64), ExtractError> {
    let err = |msg: String| ExtractError::new(name, None, msg);
    crate::input::with_reader(path, name, member, progress, |r| {
        let mut bytes = Vec::new();
        r.take(MAX_PAGE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| err(format!("cannot read: {e}")))?;
        if bytes.len() as u64 > MAX_PAGE_BYTES {
            return Err(err(format!(
                "the page is larger than {} MiB; is it really a web page?",
                MAX_PAGE_BYTES >> 20
            )));
        }
        Ok(bytes)
    })
}

/// Reads the chosen table of one page.
pub fn read_page(
    spec: &ReadSpec,
    file: &SourceFile,
    sink: &mut dyn Sink,
) -> Result<FileStats, ExtractError> {
    let name = file.display.as_str();
    let err = |msg: String| ExtractError::new(name, None, msg);
    let page = spec
        .html
        .as_ref()
        .ok_or_else(|| err("internal: html source without html options".into()))?;
    let (bytes, sha256, size) = load(
        &file.path,
        name,
        spec.member.as_deref(),
        file.bytes_read.clone(),
    )?;
    let (text, _) = decode::decode_page(&bytes, file.content_type.as_deref(), page.encoding)
        .map_err(|m| {
            let (line, msg) = split_line(&m);
            ExtractError::new(name, line, msg)
        })?;
    drop(bytes);
    too_deep(&text).map_err(err)?;
    let doc = Html::parse_document(&text);
    drop(text);
    let mut file = file.clone();
    if !page.capture.is_empty() {
        let page_text = grid::page_text(doc.root_element());
        for re in &page.capture {
            let caps = re.captures(&page_text).ok_or_else(|| {
                err(format!("capture /{}/ matches nothing in the page", re.as_str())).with_hint(
                    "the page's text is matched as a browser shows it: a tab between table cells, a line break between rows, white space collapsed; a layout that changed between years needs an alternative (a|b)",
                )
            })?;
            for group in re.capture_names().flatten() {
                if let Some(m) = caps.name(group) {
                    file.vars
                        .insert(group.to_string(), m.as_str().trim().to_string());
                }
            }
        }
    }
    let (table, position) = select::find(&doc, &page.table)
        .map_err(|m| err(m).with_hint("choose the table with html.table"))?;
    file.display = format!("{name}[table {position}]");
    let (rows, spans) =
        grid::lay_out(table).map_err(|m| ExtractError::new(&file.display, None, m))?;
    drop(doc);
    let merged: Vec<calamine::Dimensions> = spans
        .into_iter()
        .map(|(r0, c0, r1, c1)| calamine::Dimensions::new((r0, c0), (r1, c1)))
        .collect();
    let mut merged_of = || Ok(merged.clone());
    let mut source = GridRows(rows.into_iter().enumerate());
    let (rows_read, rows_rejected, notes) =
        read_table(spec, &file, &mut merged_of, &mut source, sink)?;
    Ok(FileStats {
        rows_read,
        rows_rejected,
        sha256,
        bytes: size,
        mtime: None,
        notes,
        cursor: None,
    })
}

/// "line 12: …" → (Some(12), "…").
fn split_line(m: &str) -> (Option<u64>, String) {
    m.strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
        .and_then(|(n, msg)| Some((Some(n.parse().ok()?), msg.to_string())))
        .unwrap_or((None, m.to_string()))
}

#[cfg(test)]
mod tests {
    use crate::testutil::{run, spec};

    const PIPELINE: &str = r#"
name: t.fiche
source:
  path: x.html
  html:
    table: "/Comptes/"
    header_rows: 2
    capture: ['/Population : (?<population>[0-9 ]+)/']
    sections: { column: section }
columns:
  population: { var: population, type: int64 }
  section: { from: section }
  poste: { from: Poste }
  keur: { from: "2014 En k€", type: "decimal(18,2)" }
  ratio: { from: 2014 Ratio, type: "decimal(9,2)", status: true, null_values: ["", "-", "en % des produits"] }
"#;

    /// A windows-1252 page declaring its charset, a layout table before the data, a header
    /// spanning two rows, a section row, an amount the ratio column explains in words.
    fn page(body: &str) -> Vec<u8> {
        let html = format!(
            "<html><head><meta http-equiv=Content-Type content='text/html; charset=windows-1252'>\
             </head><body><table><tr><td>Retour</td><td>Imprimer</td></tr></table>\
             <p>Population : 6&nbsp;897 habitants</p><h2>Comptes 2014</h2>{body}</body></html>"
        );
        encoding_rs::WINDOWS_1252.encode(&html).0.into_owned()
    }

    const TABLE: &str = "<table><tr><th rowspan=2>Poste</th><th colspan=2>2014</th></tr>\
        <tr><th>En k€</th><th>Ratio</th></tr>\
        <tr><td></td><th>OPÉRATIONS DE FONCTIONNEMENT</th><td></td></tr>\
        <tr><td>TOTAL DES PRODUITS = A</td><td>177 973&nbsp;</td><td>en % des produits</td></tr>\
        <tr><td>dont : Impôts locaux</td><td>-78 960&nbsp;</td><td>44,37&nbsp;</td></tr>\
        <tr><td>Œuvres</td><td>n.c</td><td>-</td></tr></table>";

    #[test]
    fn a_report_table_of_a_legacy_page() {
        let s = spec(PIPELINE);
        let (sink, r) = run(&s, "fiche.html", &page(TABLE));
        let stats = r.unwrap();
        assert_eq!((stats.rows_read, stats.rows_rejected), (3, 0));
        assert_eq!(
            sink.triples("poste", "keur", "ratio"),
            [
                (
                    "TOTAL DES PRODUITS = A".into(),
                    "177973.00".into(),
                    "".into()
                ),
                (
                    "dont : Impôts locaux".into(),
                    "-78960.00".into(),
                    "44.37".into()
                ),
                ("Œuvres".into(), "".into(), "".into()),
            ]
        );
        assert_eq!(sink.column("ratio_status"), ["en % des produits", "", "-"]);
        assert_eq!(sink.column("section"), ["OPÉRATIONS DE FONCTIONNEMENT"; 3]);
        assert_eq!(sink.column("population"), ["6897"; 3]);
    }

    #[test]
    fn bad_pages_fail_with_the_file_and_a_way_out() {
        let s = spec(PIPELINE);
        // no table after a heading "Comptes…": the tables of the page are listed
        let (_, r) = run(&s, "fiche.html", &page("<p>plus de données</p>"));
        let e = r.unwrap_err().to_string();
        assert!(e.starts_with("fiche.html: no table has a caption or a heading before it that matches /Comptes/; the page has 1 tables: 1 (1 rows) « Retour Imprimer »"), "{e}");
        // the capture is not on the page
        let mut bytes = page(TABLE);
        let at = bytes
            .windows(12)
            .position(|w| w == b"Population :")
            .unwrap();
        bytes[at] = b'X';
        let e = run(&s, "fiche.html", &bytes).1.unwrap_err().to_string();
        assert!(
            e.contains("capture /Population : (?<population>[0-9 ]+)/ matches nothing"),
            "{e}"
        );
        // a page declared UTF-8 that is not
        let utf8 = String::from_utf8_lossy(&page(TABLE)).replace("windows-1252", "utf-8");
        let mut bytes = utf8.into_bytes();
        bytes.extend(b"<p>Orl\xE9ans</p>");
        let e = run(&s, "fiche.html", &bytes).1.unwrap_err().to_string();
        assert!(e.starts_with("fiche.html:1: byte 0xE9 is not UTF-8, the encoding given by the page's <meta charset>"), "{e}");
        // an amount that is not a number is a reject naming the table, row and column
        let bad = TABLE.replace("177 973&nbsp;", "cent");
        let (sink, r) = run(&s, "fiche.html", &page(&bad));
        assert_eq!(r.unwrap().rows_rejected, 1);
        let rej = &sink.rejects[0];
        assert_eq!(rej.file, "fiche.html[table 2]");
        assert_eq!((rej.line, rej.column.as_deref()), (4, Some("2014 En k€")));
    }

    #[test]
    fn hostile_nesting_is_refused_before_parsing() {
        use super::nesting_depth;
        assert_eq!(
            nesting_depth("<div><p>a<p>b<br><img src=x/><div>c</div></div>"),
            2
        );
        // omitted end tags of cells and rows do not count, comments and scripts are skipped
        let cells = "<table><tr><td>1<td>2".repeat(3000);
        assert_eq!(nesting_depth(&cells), 3000);
        assert_eq!(
            nesting_depth("<div><!-- <div><div> --><script>if (a<b) '<div>'</script></div>"),
            1
        );
        let s = spec(PIPELINE);
        let deep = format!("{}{}{}", "<div>".repeat(5000), TABLE, "</div>".repeat(5000));
        let e = run(&s, "fiche.html", &page(&deep))
            .1
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("nests elements about 5001 levels deep (more than 2048)"),
            "{e}"
        );
    }

    #[test]
    fn broken_markup_is_read_as_a_browser_reads_it() {
        // unclosed cells and rows, a stray </th>, an unclosed <p>, entities
        let s = spec(PIPELINE);
        let table = "<table><tr><th>Poste<th>2014<th>2014</th></th>\
            <tr><th><th>En k€<th>Ratio\
            <tr><td>Charges &eacute;tat<td>1 000<td>2,5\
            <tr><td>Fonds<td>-0&nbsp;<td COLSPAN=\"2\"></table><p>fin";
        let (sink, r) = run(&s, "fiche.html", &page(table));
        assert_eq!(r.unwrap().rows_rejected, 0);
        assert_eq!(sink.column("poste"), ["Charges état", "Fonds"]);
        assert_eq!(sink.column("keur"), ["1000.00", "0.00"]);
        assert_eq!(sink.column("ratio"), ["2.50", ""]);
    }
}
