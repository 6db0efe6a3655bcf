//! Where a report table's header and data are, from its cells as text (a workbook sheet or a
//! web page table laid out on a grid): title rows to skip, how many header rows, section
//! rows inside the data, notes after a blank row. No IO; the reader's own options then say it.

/// The layout options a pipeline needs for one table (`None`/`false`: the readers' default
/// finds it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableLayout {
    /// A regex matching a cell of the first header row and of no row above it.
    pub skip_until: Option<String>,
    /// Non-blank rows to skip before the header, when no cell of it is unique enough.
    pub skip_rows: Option<usize>,
    /// More than one header row (a merged group above the years, say).
    pub header_rows: Option<usize>,
    /// Rows with a single text cell inside the data (`OPERATIONS DE FONCTIONNEMENT`).
    pub sections: bool,
    /// The data ends at a blank row, followed only by notes.
    pub stop_blank: bool,
    /// The data ends at the row whose first cell matches (notes after a blank row, when
    /// blank rows also separate blocks of data).
    pub stop_at: Option<String>,
    /// Why, for the pipeline's comments.
    pub notes: Vec<String>,
}

pub(crate) fn filled(row: &[String]) -> usize {
    row.iter().filter(|c| !c.trim().is_empty()).count()
}

/// A number as the readers accept it (French or English marks, space-grouped thousands).
fn is_number(cell: &str) -> bool {
    let c = cell.trim();
    let body = c.strip_prefix(['-', '+']).unwrap_or(c);
    let body = body.strip_suffix('%').unwrap_or(body).trim_end();
    !body.is_empty()
        && body.bytes().any(|b| b.is_ascii_digit())
        && body
            .chars()
            .all(|ch| ch.is_ascii_digit() || matches!(ch, '.' | ',' | ' ' | '\u{a0}' | '\u{202f}'))
}

/// A year as a column header writes it: `2023`, `2023 (p)`, `2021*`.
fn is_year(cell: &str) -> bool {
    let (y, _) = crate::rows::strip_markers(cell.trim());
    y.len() == 4 && y.parse::<u16>().is_ok_and(|y| (1900..=2100).contains(&y))
}

/// A NULL marker of a typed column (`s`, `n.c`, `-`): it stands where a number would.
fn is_marker(cell: &str) -> bool {
    let c = cell.trim();
    !c.is_empty()
        && crate::conform::DEFAULT_NULL_VALUES
            .iter()
            .any(|m| m.eq_ignore_ascii_case(c))
}

/// A row of values: a number that is not a year (`Ain | | 800`), or two numbers or markers
/// that are not all years (a row of years is a header).
fn is_data(row: &[String]) -> bool {
    let numbers: Vec<&String> = row.iter().filter(|c| is_number(c)).collect();
    let markers = row.iter().filter(|c| is_marker(c)).count();
    numbers.iter().any(|c| !is_year(c)) || (numbers.len() == 1 && markers >= 1)
}

/// The layout of one table. `rows`: its cells as text, blank rows included.
pub fn table_layout(rows: &[Vec<String>]) -> TableLayout {
    let mut out = TableLayout::default();
    // The readers' default header: the first row with two filled cells.
    let default_header = rows.iter().position(|r| filled(r) >= 2);
    let Some(first_data) = rows.iter().position(|r| is_data(r)).filter(|i| *i > 0) else {
        return out;
    };
    // Up from the first row of values: section rows (one cell), then the header block.
    let mut i = first_data;
    while i > 0 && filled(&rows[i - 1]) <= 1 && !rows[i - 1].iter().all(|c| c.trim().is_empty()) {
        i -= 1;
    }
    let mut top = i;
    while top > 0 && filled(&rows[top - 1]) >= 2 && i - (top - 1) <= 3 {
        top -= 1;
    }
    if top == i {
        // no header above the values: the default reading is as good a guess as any
        return out;
    }
    let header_rows = i - top;
    if header_rows > 1 {
        out.header_rows = Some(header_rows);
        out.notes.push(format!(
            "{header_rows} header rows (the rows above the first values), joined per column"
        ));
    }
    if default_header != Some(top) {
        let above = &rows[..top];
        let unique = rows[top]
            .iter()
            .map(|c| c.trim())
            .filter(|c| !c.is_empty() && !is_number(c))
            .find(|c| !above.iter().flatten().any(|a| a.trim() == *c));
        match unique {
            Some(c) => {
                out.skip_until = Some(format!("^{}$", regex::escape(c)));
                out.notes.push(format!(
                    "the header is the row of « {c} »: the rows above it are titles"
                ));
            }
            None => {
                let skip = above.iter().filter(|r| filled(r) > 0).count();
                out.skip_rows = Some(skip);
                out.notes
                    .push(format!("the header follows {skip} title rows"));
            }
        }
    }
    // After the data: a blank row, then only one-cell rows → notes.
    let last_value = rows.iter().rposition(|r| is_data(r));
    if let Some(last) = last_value {
        let tail = &rows[last + 1..];
        if let Some(gap) = tail.iter().position(|r| filled(r) == 0) {
            let after = &tail[gap..];
            if after.iter().any(|r| filled(r) > 0) && after.iter().all(|r| filled(r) <= 1) {
                // the reader stops at the first blank row after values: when blank rows
                // also separate blocks of values, stop at the first note instead
                let blank_inside = rows[first_data..=last].iter().any(|r| filled(r) == 0);
                let first_note = after
                    .iter()
                    .find_map(|r| r.iter().map(|c| c.trim()).find(|c| !c.is_empty()));
                match (blank_inside, first_note) {
                    (false, _) => out.stop_blank = true,
                    (true, Some(note)) => {
                        out.stop_at = Some(format!("^{}$", regex::escape(note)));
                    }
                    (true, None) => {}
                }
                out.notes
                    .push("the rows after the last values and a blank row are notes".into());
            }
        }
        // (one label without values is a row of the table; two or more make sections)
        let sections = rows[i..=last]
            .iter()
            .filter(|r| filled(r) == 1 && !r.iter().any(|c| is_number(c)))
            .count();
        if sections >= 2 {
            out.sections = true;
            out.notes.push(format!(
                "{sections} rows with a single text cell among the values: section titles, kept in the column `section`"
            ));
        }
    }
    out
}

/// A `sheet:` regex that reads every sheet when their names differ only by numbers
/// (`Édition 2024`, `Édition 2025` → `/^Édition (?<n>\d+)$/`, the number a var).
pub fn sheet_pattern(names: &[String]) -> Option<String> {
    let shape = |n: &str| {
        let mut out = String::new();
        let mut digits = false;
        for c in n.chars() {
            if c.is_ascii_digit() {
                if !digits {
                    out.push_str("(?<n>\\d+)");
                }
                digits = true;
            } else {
                digits = false;
                out.push_str(&regex::escape(&c.to_string()));
            }
        }
        out
    };
    let first = shape(names.first()?);
    (names.len() >= 2
        && first.matches("(?<n>").count() == 1
        && names.iter().all(|n| shape(n) == first))
    .then(|| format!("/^{first}$/"))
}

/// Headers holding a year (`2023`, `Montants 2024 (p)`): a wide table, one column per year.
pub fn year_columns(headers: &[&str]) -> usize {
    let year = regex::Regex::new(r"(^|\D)(19|20)\d\d(\D|$)").expect("a regex");
    headers.iter().filter(|h| year.is_match(h)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(rows: &[&[&str]]) -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect()
    }

    #[test]
    fn sheets_and_years() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            sheet_pattern(&names(&["Édition 2024", "Édition 2025"])).as_deref(),
            Some(r"/^Édition (?<n>\d+)$/")
        );
        assert_eq!(sheet_pattern(&names(&["infos", "data"])), None);
        assert_eq!(sheet_pattern(&names(&["Édition 2024"])), None);
        assert_eq!(sheet_pattern(&names(&["t1 2024", "t2 2024"])), None);
        assert_eq!(
            year_columns(&[
                "Code",
                "Montants en euros 2023",
                "2024 (p)",
                "12345",
                "code 120234"
            ]),
            2
        );
    }

    #[test]
    fn a_flat_table_needs_nothing() {
        let g = grid(&[
            &["dept", "siren", "raison_sociale"],
            &["01", "200000172", "CC Faucigny"],
            &["01", "200029999", "CC Bugey"],
        ]);
        assert_eq!(table_layout(&g), TableLayout::default());
    }

    #[test]
    fn the_dgfip_fiche_table() {
        // table 3 of a DGFiP fiche (Orléans 2013), cells as `html tables` shows them
        let g = grid(&[
            &["", "ANALYSE DES EQUILIBRES FINANCIERS", "", "", "", "2013"],
            &["DEPARTEMENT : LOIRET", "", "ORLEANS", "", "", ""],
            &["Population légale en vigueur", "", "", "", "", ""],
            &[
                "En milliers d'Euros",
                "Euros par habitant",
                "Moyenne de la strate",
                "communes de plus de 100 000",
                "Ratios de structure",
                "Moyenne de la strate",
            ],
            &["", "", "", "OPERATIONS DE FONCTIONNEMENT", "", ""],
            &[
                "180 447",
                "1 531",
                "1 434",
                "TOTAL DES PRODUITS",
                "en % des produits",
                "",
            ],
            &[
                "77 686",
                "659",
                "586",
                "dont : Impôts Locaux",
                "43,05",
                "40,86",
            ],
            &["", "", "", "AUTOFINANCEMENT", "", ""],
            &["32 501", "276", "211", "Excédent brut", "18,01", "14,72"],
        ]);
        let l = table_layout(&g);
        assert_eq!(l.skip_until.as_deref(), Some("^En milliers d'Euros$"));
        assert_eq!((l.header_rows, l.skip_rows), (None, None));
        assert!(l.sections && !l.stop_blank, "{l:?}");
    }

    #[test]
    fn a_publication_sheet() {
        // title, a two-row header whose second row is years, footnotes after a blank row
        let g = grid(&[
            &["Comptes des régions", "", "", ""],
            &["", "", "", ""],
            &["Code", "Région", "Montants en euros", ""],
            &["", "", "2022", "2023 (p)"],
            &["84", "Auvergne-Rhône-Alpes", "1234,5", "1300"],
            &["27", "Bourgogne-Franche-Comté", "s", "800"],
            &["", "", "", ""],
            &["(p) provisoire", "", "", ""],
            &["Source : DGCL", "", "", ""],
        ]);
        let l = table_layout(&g);
        assert_eq!(l.header_rows, Some(2));
        // the default (first row with two cells) is the header already
        assert_eq!((l.skip_until, l.skip_rows), (None, None));
        assert!(l.stop_blank && !l.sections, "{:?}", l.notes);
    }

    #[test]
    fn a_first_row_of_values_with_gaps_is_not_a_header() {
        // `Ain | | 800`: one number under year columns, a marker beside it
        let g = grid(&[
            &["Région", "2022", "2023"],
            &["Ain", "", "800"],
            &["Aisne", "s", "900"],
        ]);
        assert_eq!(table_layout(&g), TableLayout::default());
    }

    #[test]
    fn blocks_of_values_separated_by_blank_rows_are_all_read() {
        let g = grid(&[
            &["Code", "Montant"],
            &["01", "12"],
            &["", ""],
            &["02", "13"],
            &["", ""],
            &["Source : DGCL", ""],
        ]);
        let l = table_layout(&g);
        assert!(!l.stop_blank, "{l:?}");
        assert_eq!(l.stop_at.as_deref(), Some("^Source : DGCL$"));
        // one label row without values is a row, not a section
        let g = grid(&[
            &["Code", "Libellé", "Montant"],
            &["01", "Ain", "12"],
            &["", "Total", ""],
        ]);
        assert!(!table_layout(&g).sections);
    }

    #[test]
    fn a_header_text_seen_above_is_skipped_by_count() {
        let g = grid(&[
            &["Code", "note"],
            &["x"],
            &["Code", "Montant"],
            &["01", "12"],
        ]);
        // `Code` is above; `Montant` is not
        assert_eq!(table_layout(&g).skip_until.as_deref(), Some("^Montant$"));
        let g = grid(&[
            &["Code", "Montant"],
            &["x"],
            &["Code", "Montant"],
            &["01", "12"],
        ]);
        assert_eq!(table_layout(&g).skip_rows, Some(2));
    }
}
