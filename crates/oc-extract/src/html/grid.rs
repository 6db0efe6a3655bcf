//! A `<table>` laid out on a grid the way a browser does (the HTML table model): each cell at
//! the first column its row leaves free, `rowspan` cells reserving their columns in the rows
//! below. A spanning cell's text is in its top-left slot only, the span is reported like a
//! merged workbook range, so headers fill across and down and data cells are never copied.
//!
//! Only the table's own rows count: a table nested in a cell is part of that cell's text.

use ego_tree::iter::Edge;
use scraper::{ElementRef, Node};

/// `colspan` above this is clamped (the HTML standard's limit).
const MAX_COLSPAN: usize = 1000;
/// `rowspan` above this is clamped (the HTML standard's limit).
const MAX_ROWSPAN: usize = 65534;
/// A row wider than this is refused: a hostile page could otherwise ask for millions of cells.
pub use crate::xlsx::rows::MAX_COLUMNS;

/// One laid-out row: the texts of its cells that have one, each at its first slot (in
/// column order), and its width in slots. Empty slots are not stored: a page of rows of 16
/// cells each spanning 1,000 columns (380 bytes a row) asked for 384 KB a row when they were,
/// gigabytes for a page of a few MB.
#[derive(Debug)]
pub struct GridRow {
    pub cells: Vec<(usize, String)>,
    pub width: usize,
}

/// A cell that spans several slots: (first row, first col, last row, last col), 0-based.
pub type Span = (u32, u32, u32, u32);

/// The table's rows and spans. Errors name the row (1-based).
pub fn lay_out(table: ElementRef) -> Result<(Vec<GridRow>, Vec<Span>), String> {
    let mut rows: Vec<GridRow> = Vec::new();
    let mut spans = Vec::new();
    // Columns reserved by a rowspan from above: (col, width, rows left after this one).
    let mut reserved: Vec<(usize, usize, usize)> = Vec::new();
    for tr in own_rows(table) {
        let r = rows.len();
        let mut cells: Vec<(usize, String)> = Vec::new();
        let mut taken: Vec<bool> = Vec::new();
        for &(col, width, _) in &reserved {
            let end = col + width;
            if taken.len() < end {
                taken.resize(end, false);
            }
            taken[col..end].fill(true);
        }
        let (mut col, mut width) = (0usize, 0usize);
        for cell in tr.children().filter_map(ElementRef::wrap) {
            let name = cell.value().name();
            if name != "td" && name != "th" {
                continue;
            }
            while taken.get(col).copied().unwrap_or(false) {
                col += 1;
            }
            let colspan = span_attr(cell, "colspan", MAX_COLSPAN);
            let rowspan = span_attr(cell, "rowspan", MAX_ROWSPAN);
            let end = col + colspan;
            if end > MAX_COLUMNS {
                return Err(format!(
                    "row {}: more than {MAX_COLUMNS} columns (colspan too large?)",
                    r + 1
                ));
            }
            width = end;
            if taken.len() < end {
                taken.resize(end, false);
            }
            let text = cell_text(cell);
            if !text.is_empty() {
                cells.push((col, text));
            }
            taken[col..end].fill(true);
            if colspan > 1 || rowspan > 1 {
                spans.push((
                    r as u32,
                    col as u32,
                    (r + rowspan - 1) as u32,
                    (end - 1) as u32,
                ));
            }
            if rowspan > 1 {
                reserved.push((col, colspan, rowspan));
            }
            col = end;
        }
        // Rowspans count down; the one just added covers its own row too.
        for slot in reserved.iter_mut() {
            slot.2 -= 1;
        }
        reserved.retain(|s| s.2 > 0);
        rows.push(GridRow { cells, width });
    }
    Ok((rows, spans))
}

impl GridRow {
    /// The row's texts, one per slot of its width (empty for an empty slot).
    pub fn texts(self) -> Vec<String> {
        let mut v = vec![String::new(); self.width];
        for (col, text) in self.cells {
            v[col] = text;
        }
        v
    }
}

fn span_attr(cell: ElementRef, name: &str, max: usize) -> usize {
    cell.value()
        .attr(name)
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(1)
        .min(max)
}

/// The `<tr>` of this table, in order: its direct rows and those of its row groups
/// (`thead`, `tbody`, `tfoot`), not those of nested tables.
pub fn own_rows(table: ElementRef) -> impl Iterator<Item = ElementRef> {
    table
        .children()
        .filter_map(ElementRef::wrap)
        .flat_map(|child| {
            let name = child.value().name();
            let group: Vec<ElementRef> = if name == "tr" {
                vec![child]
            } else if matches!(name, "thead" | "tbody" | "tfoot") {
                child
                    .children()
                    .filter_map(ElementRef::wrap)
                    .filter(|e| e.value().name() == "tr")
                    .collect()
            } else {
                Vec::new()
            };
            group
        })
}

/// Elements whose boundaries separate words (`<br>`, blocks, cells).
fn breaks_words(name: &str) -> bool {
    matches!(
        name,
        "br" | "p"
            | "div"
            | "li"
            | "tr"
            | "td"
            | "th"
            | "table"
            | "caption"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "ul"
            | "ol"
            | "dt"
            | "dd"
    )
}

/// An element's text as a reader sees it: words separated where the page breaks them,
/// runs of white space (NBSP included) collapsed to one space, scripts and styles left out.
/// Walked without recursion: a hostile page can nest elements deeper than any stack.
pub fn cell_text(e: ElementRef) -> String {
    let mut raw = String::new();
    let mut hidden = 0usize;
    for edge in e.traverse() {
        match edge {
            Edge::Open(n) => match n.value() {
                Node::Text(t) if hidden == 0 => raw.push_str(t),
                Node::Element(el) if matches!(el.name(), "script" | "style" | "template") => {
                    hidden += 1
                }
                Node::Element(el) if hidden == 0 && breaks_words(el.name()) => raw.push(' '),
                _ => {}
            },
            Edge::Close(n) => match n.value() {
                Node::Element(el) if matches!(el.name(), "script" | "style" | "template") => {
                    hidden -= 1
                }
                Node::Element(el) if hidden == 0 && breaks_words(el.name()) => raw.push(' '),
                _ => {}
            },
        }
    }
    collapse(&raw)
}

/// A page's text the way a browser's `innerText` lays it out: a tab between table cells, a
/// line break between rows, paragraphs and other blocks (a `<br>` is a space), white space
/// collapsed inside each
/// cell and line; empty cells and lines dropped. `capture:` regexes match this text, so a
/// cell boundary is `\t` and a row boundary `\n`.
pub fn page_text(e: ElementRef) -> String {
    let mut raw = String::new();
    let mut hidden = 0usize;
    let is_hidden = |name: &str| matches!(name, "script" | "style" | "template" | "head");
    for edge in e.traverse() {
        match edge {
            Edge::Open(n) => match n.value() {
                // the markup's own line breaks and tabs are white space, not rows and cells
                Node::Text(t) if hidden == 0 => {
                    raw.extend(t.chars().map(|c| if c.is_whitespace() { ' ' } else { c }))
                }
                Node::Element(el) if is_hidden(el.name()) => hidden += 1,
                // a line break inside a cell (a long header) is not a new row
                Node::Element(el) if hidden == 0 && el.name() == "br" => raw.push(' '),
                _ => {}
            },
            Edge::Close(n) => match n.value() {
                Node::Element(el) if is_hidden(el.name()) => hidden -= 1,
                Node::Element(el) if hidden == 0 => match el.name() {
                    "td" | "th" => raw.push('\t'),
                    "br" => {}
                    name if breaks_words(name) => raw.push('\n'),
                    _ => {}
                },
                _ => {}
            },
        }
    }
    let mut out = String::with_capacity(raw.len());
    for line in raw.split('\n') {
        let cells: Vec<String> = line
            .split('\t')
            .map(collapse)
            .filter(|c| !c.is_empty())
            .collect();
        if !cells.is_empty() {
            out.push_str(&cells.join("\t"));
            out.push('\n');
        }
    }
    out
}

/// Runs of white space (Unicode's, so NBSP and U+202F too) → one space; trimmed.
pub fn collapse(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for word in raw.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::{Html, Selector};

    fn grid(html: &str) -> (Vec<Vec<String>>, Vec<Span>) {
        let doc = Html::parse_document(html);
        let sel = Selector::parse("table").unwrap();
        let t = doc.select(&sel).next().unwrap();
        let (rows, spans) = lay_out(t).unwrap();
        (rows.into_iter().map(GridRow::texts).collect(), spans)
    }

    #[test]
    fn spans_reserve_their_slots() {
        let (rows, spans) = grid(
            "<table><tr><th rowspan=2>Code</th><th colspan=2>2023</th></tr>\
             <tr><th>k€</th><th>€/hab</th></tr>\
             <tr><td>01001</td><td>177&nbsp;973&nbsp;</td><td>44,37</td></tr></table>",
        );
        assert_eq!(rows[0], ["Code", "2023", ""]);
        assert_eq!(rows[1], ["", "k€", "€/hab"]);
        assert_eq!(rows[2], ["01001", "177 973", "44,37"]);
        assert_eq!(spans, [(0, 0, 1, 0), (0, 1, 0, 2)]);
    }

    #[test]
    fn nested_tables_are_text_of_their_cell_and_br_separates_words() {
        let (rows, _) = grid(
            "<table><tr><td><table><tr><td>Population : 117 988</td></tr></table></td></tr>\
             <tr><td>plus de 100 000 hab<br>appartenant</td><td><script>x=1</script>1</td></tr></table>",
        );
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], ["Population : 117 988"]);
        assert_eq!(rows[1], ["plus de 100 000 hab appartenant", "1"]);
    }

    #[test]
    fn page_text_separates_cells_and_rows() {
        let doc = Html::parse_document(
            "<title>t</title><p>Les comptes<br>des communes</p><table><tr><td>DEPARTEMENT : LOIRET</td>\n\t\
             <td></td><td>\nORLEANS</td></tr><tr><th>Population : 117&nbsp;988</th></tr></table>",
        );
        assert_eq!(
            page_text(doc.root_element()),
            "Les comptes des communes\nDEPARTEMENT : LOIRET\tORLEANS\nPopulation : 117 988\n"
        );
    }

    #[test]
    fn hostile_spans_are_bounded() {
        let doc = Html::parse_document(
            "<table><tr><td colspan=999999>x</td><td colspan=1000>y</td></tr></table>",
        );
        let t = doc
            .select(&Selector::parse("table").unwrap())
            .next()
            .unwrap();
        let (rows, _) = lay_out(t).unwrap();
        assert_eq!(
            rows[0].cells,
            [(0, "x".to_string()), (1000, "y".to_string())]
        );
        assert_eq!(rows[0].width, 2000);
        let many = format!(
            "<table><tr>{}</tr></table>",
            "<td colspan=1000>x</td>".repeat(17)
        );
        let doc = Html::parse_document(&many);
        let t = doc
            .select(&Selector::parse("table").unwrap())
            .next()
            .unwrap();
        assert!(lay_out(t).unwrap_err().contains("more than 16384 columns"));
        // Rows of wide cells keep their texts, not their slots: 2,000 rows of 16 cells each
        // spanning 1,000 columns (0.8 MB of page) once asked for 768 MB of empty slots.
        let page = format!(
            "<table>{}</table>",
            format!("<tr>{}</tr>", "<td colspan=1000>x</td>".repeat(16)).repeat(2_000)
        );
        let doc = Html::parse_document(&page);
        let t = doc
            .select(&Selector::parse("table").unwrap())
            .next()
            .unwrap();
        let (rows, spans) = lay_out(t).unwrap();
        assert_eq!(rows.len(), 2_000);
        assert!(
            rows.iter()
                .all(|r| r.width == 16_000 && r.cells.len() == 16)
        );
        assert_eq!(rows[1].cells[15], (15_000, "x".to_string()));
        assert_eq!(spans.len(), 32_000);
        // a rowspan far past the end of the table makes no rows of its own
        let (rows, _) = grid("<table><tr><td rowspan=65534>a</td><td>b</td></tr></table>");
        assert_eq!(rows.len(), 1);
    }
}
