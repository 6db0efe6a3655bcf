//! `pdf:` resolved: the typed strategy (see `pdf_strategy`), the page list as spans (the
//! document's page count is only known when it is read), the area as a box, the quality bar.

use std::path::Path;

use crate::diag::{Diagnostic, Diagnostics};
use crate::pdf_strategy::{self, Strategy};
use crate::pipeline::PdfOptions;
use crate::yaml::locate_key;

/// `3` or `3-5`, 1-based; `last` None: to the last page of the document (`3-`). Checked
/// against the document when it is read (`oc_pdf::PageRange`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSpan {
    pub first: usize,
    pub last: Option<usize>,
}

/// The parts of `pdf:` that need parsing.
#[derive(Debug, Clone, Default)]
pub struct PdfPlan {
    pub strategy: Strategy,
    /// None: every page.
    pub pages: Option<Vec<PageSpan>>,
    /// `[x0, top, x1, bottom]` in points from the top-left corner, ordered.
    pub area: Option<[f32; 4]>,
}

pub(super) fn plan(file: &Path, text: &str, pdf: &PdfOptions, diags: &mut Diagnostics) -> PdfPlan {
    let strategy = match &pdf.strategy {
        Some(s) => {
            pdf_strategy::resolve(file, text, s, pdf.columns.is_some(), diags).unwrap_or_default()
        }
        None => Strategy::Auto,
    };
    let mut bad = |key: &str, msg: String, hint: &str| {
        let (l, c) = locate_key(text, key);
        diags.push(Diagnostic::new(file, l, c, msg).with_hint(hint.to_string()));
    };
    let pages = pdf.pages.as_ref().and_then(|p| {
        let spans = page_spans(&p.value);
        if spans.is_none() {
            bad(
                "pages",
                format!("page list `{}` is not valid", p.value),
                "write pages from 1 and ranges, e.g. \"1,3-5\"",
            );
        }
        spans
    });
    let area = match pdf.area.as_deref() {
        None => None,
        Some(&[x0, y0, x1, y1]) if [x0, y0, x1, y1].iter().all(|x| x.is_finite()) => {
            Some([x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1)])
        }
        Some(_) => {
            bad(
                "area",
                "area must be four numbers [x1, y1, x2, y2]".into(),
                "points from the top-left corner of the page",
            );
            None
        }
    };
    if let Some(q) = pdf.min_quality
        && !(0.0..=1.0).contains(&q)
    {
        bad(
            "min_quality",
            format!("min_quality {q} is not between 0 and 1"),
            "e.g. 0.9",
        );
    }
    PdfPlan {
        strategy,
        pages,
        area,
    }
}

/// `1,3-5,8-` → spans; None when a part is not a page or an upward range from 1.
fn page_spans(list: &str) -> Option<Vec<PageSpan>> {
    list.split(',')
        .map(|part| {
            let part = part.trim();
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let first: usize = a.trim().parse().ok().filter(|a| *a >= 1)?;
            let last = match b.trim() {
                "" => None,
                b => Some(b.parse::<usize>().ok().filter(|b| *b >= first)?),
            };
            Some(PageSpan { first, last })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_lists_are_spans_open_ended_or_not() {
        let span = |first, last| PageSpan { first, last };
        assert_eq!(
            page_spans("1, 3-4,6-").unwrap(),
            [span(1, Some(1)), span(3, Some(4)), span(6, None)]
        );
        assert_eq!(page_spans("2-9").unwrap(), [span(2, Some(9))]);
        for bad in ["", "0", "3-2", "a", "1,,2", "-3"] {
            assert_eq!(page_spans(bad), None, "{bad}");
        }
    }
}
