//! Tables continued over pages become one logical table.

use crate::model::Table;
use crate::text::collapse_ws;

fn norm(r: &[String]) -> Vec<String> {
    r.iter().map(|c| collapse_ws(c).to_lowercase()).collect()
}

/// A "(suite)" / "(continued)" line: one non-empty cell that announces the continuation.
fn is_continuation_note(r: &[String]) -> bool {
    let filled: Vec<&String> = r.iter().filter(|c| !c.trim().is_empty()).collect();
    filled.len() == 1 && {
        let t = filled[0].to_lowercase();
        t.contains("(suite)")
            || t.contains("(continued)")
            || t.trim() == "suite"
            || t.contains("(cont.)")
    }
}

/// Joins each table with the first table of the next page when they have the same number of
/// columns; on the continuation, the repeated header rows (the first `header_rows` rows of
/// the first part) and "(suite)" lines are dropped. The result is numbered 1.. in order.
pub fn stitch(tables: &[Table], header_rows: usize) -> Vec<Table> {
    let mut out: Vec<Table> = Vec::new();
    for t in tables {
        if let Some(prev) = out.last_mut()
            && t.page == prev.last_page + 1
            && t.index == 1
            && t.n_cols() == prev.n_cols()
        {
            let header: Vec<Vec<String>> = prev
                .rows
                .iter()
                .take(header_rows)
                .map(|r| norm(r))
                .collect();
            let mut rows = t.rows.iter().peekable();
            // leading "(suite)" notes and repeated header rows, in any order
            while let Some(r) = rows.peek() {
                if is_continuation_note(r) || header.contains(&norm(r)) {
                    rows.next();
                } else {
                    break;
                }
            }
            prev.rows
                .extend(rows.filter(|r| !is_continuation_note(r)).cloned());
            prev.last_page = t.page;
            continue;
        }
        let mut t = t.clone();
        t.rows.retain(|r| !is_continuation_note(r));
        out.push(t);
    }
    for (i, t) in out.iter_mut().enumerate() {
        t.index = i + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(page: usize, index: usize, rows: &[&[&str]]) -> Table {
        Table::of_rows(page, index, rows)
    }

    #[test]
    fn repeated_header_and_suite_dropped() {
        let a = t(1, 1, &[&["Commune", "Montant"], &["Arles", "1"]]);
        let b = t(
            2,
            1,
            &[
                &["Tableau 1 (suite)", ""],
                &["Commune", "Montant"],
                &["Nîmes", "2"],
            ],
        );
        let c = t(3, 1, &[&["x", "y", "z"]]);
        let s = stitch(&[a, b, c], 1);
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[0].rows,
            vec![
                vec!["Commune", "Montant"],
                vec!["Arles", "1"],
                vec!["Nîmes", "2"]
            ]
        );
        assert_eq!((s[0].page, s[0].last_page, s[1].index), (1, 2, 2));
    }
}
