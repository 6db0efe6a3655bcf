//! Choosing the table of a page: by position, by a regex on its caption or on the last
//! heading before it, or by a CSS selector. A miss lists the page's tables so that the user
//! can pick the right one.

use scraper::{ElementRef, Html};

use super::grid::{cell_text, own_rows};

pub use oc_spec::resolve::TableRef;

/// Each table of the page in document order, with its caption and the heading before it.
fn tables(doc: &Html) -> Vec<(ElementRef<'_>, Option<String>, Option<String>)> {
    let mut out = Vec::new();
    let mut heading: Option<String> = None;
    for node in doc.root_element().descendants() {
        let Some(e) = ElementRef::wrap(node) else {
            continue;
        };
        match e.value().name() {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => heading = Some(cell_text(e)),
            "table" => {
                let caption = e
                    .children()
                    .filter_map(ElementRef::wrap)
                    .find(|c| c.value().name() == "caption")
                    .map(cell_text);
                out.push((e, caption, heading.clone()));
            }
            _ => {}
        }
    }
    out
}

/// The chosen table and its 1-based position.
pub fn find<'d>(doc: &'d Html, which: &TableRef) -> Result<(ElementRef<'d>, usize), String> {
    let all = tables(doc);
    let pos = |t: ElementRef| {
        all.iter()
            .position(|(e, _, _)| e.id() == t.id())
            .map(|i| i + 1)
    };
    let found = match which {
        TableRef::Position(n) => all.get(n - 1).map(|(e, _, _)| (*e, *n)),
        TableRef::Title(re) => all
            .iter()
            .enumerate()
            .find_map(|(i, (e, caption, heading))| {
                let hit = caption.as_deref().is_some_and(|c| re.is_match(c))
                    || heading.as_deref().is_some_and(|h| re.is_match(h));
                hit.then_some((*e, i + 1))
            }),
        TableRef::Css(sel) => doc
            .select(sel)
            .find(|e| e.value().name() == "table")
            .and_then(|e| pos(e).map(|p| (e, p))),
    };
    found.ok_or_else(|| {
        let what = match which {
            TableRef::Position(n) => format!("there is no table {n}"),
            TableRef::Title(re) => format!(
                "no table has a caption or a heading before it that matches /{}/",
                re.as_str()
            ),
            TableRef::Css(_) => "no table matches the CSS selector".to_string(),
        };
        format!("{what}; {}", inventory(&all))
    })
}

/// One table of a page, as `opencoll html tables` lists it.
pub struct TableInfo {
    /// 1-based, as `html.table` counts.
    pub position: usize,
    /// Its caption, else the heading before it.
    pub title: Option<String>,
    pub rows: usize,
    /// Columns once spans are laid out.
    pub width: usize,
    /// Its first rows, laid out.
    pub preview: Vec<Vec<String>>,
}

/// Every table of the page, in the order `html.table` counts them.
pub fn list(doc: &Html, preview_rows: usize) -> Vec<TableInfo> {
    tables(doc)
        .into_iter()
        .enumerate()
        .map(|(i, (e, caption, heading))| {
            let (rows, width, preview) = match super::grid::lay_out(e) {
                Ok((rows, _)) => (
                    rows.len(),
                    rows.iter().map(|r| r.width).max().unwrap_or(0),
                    rows.into_iter()
                        .take(preview_rows)
                        .map(super::grid::GridRow::texts)
                        .collect(),
                ),
                Err(_) => (own_rows(e).count(), 0, Vec::new()),
            };
            TableInfo {
                position: i + 1,
                title: caption.or(heading),
                rows,
                width,
                preview,
            }
        })
        .collect()
}

/// "the page has 3 tables: 1 (2 rows) « ANALYSE DES … », 2 …", at most ten listed.
fn inventory(all: &[(ElementRef, Option<String>, Option<String>)]) -> String {
    if all.is_empty() {
        return "the page has no table".into();
    }
    let listed: Vec<String> = all
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, (e, caption, heading))| {
            let rows = own_rows(*e).count();
            let first = own_rows(*e)
                .map(cell_text)
                .find(|t| !t.is_empty())
                .unwrap_or_default();
            let title = caption.clone().or(heading.clone()).unwrap_or(first);
            let title: String = title.chars().take(60).collect();
            format!("{} ({rows} rows) « {title} »", i + 1)
        })
        .collect();
    let more = if all.len() > 10 { ", …" } else { "" };
    format!(
        "the page has {} tables: {}{more}",
        all.len(),
        listed.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::Selector;

    const PAGE: &str = "<h2>Population</h2><table><tr><td>a</td></tr></table>\
        <h2>Comptes 2014</h2><table class=fiche><caption>Équilibres</caption>\
        <tr><td><table><tr><td>nested</td></tr></table></td></tr></table>";

    #[test]
    fn by_position_title_and_css() {
        let doc = Html::parse_document(PAGE);
        assert_eq!(find(&doc, &TableRef::Position(3)).unwrap().1, 3);
        let re = |s| TableRef::Title(regex::Regex::new(s).unwrap());
        assert_eq!(find(&doc, &re("^Comptes")).unwrap().1, 2);
        assert_eq!(find(&doc, &re("Équilibres")).unwrap().1, 2);
        let css = TableRef::Css(Selector::parse("table.fiche table").unwrap());
        assert_eq!(find(&doc, &css).unwrap().1, 3);
    }

    #[test]
    fn a_miss_lists_the_tables() {
        let doc = Html::parse_document(PAGE);
        let e = find(&doc, &TableRef::Position(9)).unwrap_err();
        assert!(
            e.starts_with("there is no table 9; the page has 3 tables: 1 (1 rows) « Population »"),
            "{e}"
        );
        let none = Html::parse_document("<p>nothing</p>");
        let e = find(&none, &TableRef::Position(1)).unwrap_err();
        assert!(e.ends_with("the page has no table"), "{e}");
    }
}
