//! `pdf.strategy`: where a PDF table's columns and rows come from. Written as a name
//! (`lattice`, `stream`, `auto`), the CLI form `columns=lines,rows=text`, or a map
//! `{ columns: lines|text, rows: lines|text }`; resolved here, once, into a typed value (each
//! error located in the file), which readers map onto `oc_pdf::Strategy` without parsing again.

use std::path::Path;

use crate::diag::{Diagnostic, Diagnostics, did_you_mean};
use crate::pipeline::PdfStrategy;
use crate::span::Spanned;
use crate::yaml::locate_key;

/// Where one axis takes its boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundaries {
    /// Ruling lines.
    Lines,
    /// Text alignment (columns) or text lines (rows).
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    Lattice,
    Stream,
    #[default]
    Auto,
    Axes {
        columns: Boundaries,
        rows: Boundaries,
    },
}

/// Resolves a written strategy; `None` (with diagnostics pushed) when it is not valid.
/// `separators`: the source also gives explicit column separators.
pub fn resolve(
    file: &Path,
    text: &str,
    s: &Spanned<PdfStrategy>,
    separators: bool,
    diags: &mut Diagnostics,
) -> Option<Strategy> {
    const NAMES: [&str; 3] = ["lattice", "stream", "auto"];
    const AXES: [&str; 2] = ["columns", "rows"];
    const SOURCES: [&str; 2] = ["lines", "text"];
    const FORMS: &str = "use lattice, stream, auto or { columns: lines|text, rows: lines|text }";
    let whole = match (s.referenced.line(), s.referenced.column()) {
        (0, _) => locate_key(text, "strategy"),
        lc => lc,
    };
    let mut push = |(l, c): (u64, u64), msg: String, hint: String| {
        diags.push(Diagnostic::new(file, l, c, msg).with_hint(hint));
    };
    let hint = |word: &str, among: &[&'static str], other: &str| match did_you_mean(
        word,
        among.iter().copied(),
    ) {
        Some(m) => format!("did you mean `{m}`?"),
        None => other.to_string(),
    };
    // (axis, source, where the axis is written, where the source is written) of both forms
    type Entry = (String, String, (u64, u64), (u64, u64));
    let entries: Vec<Entry> = match &s.value {
        PdfStrategy::Name(n) if n == "lattice" => return Some(Strategy::Lattice),
        PdfStrategy::Name(n) if n == "stream" => return Some(Strategy::Stream),
        PdfStrategy::Name(n) if n == "auto" => return Some(Strategy::Auto),
        PdfStrategy::Name(n) if n.contains('=') => n
            .split(',')
            .map(|part| {
                let (k, v) = part.split_once('=').unwrap_or((part, ""));
                (k.trim().to_string(), v.trim().to_string(), whole, whole)
            })
            .collect(),
        PdfStrategy::Name(n) => {
            push(
                whole,
                format!("unknown strategy `{n}`"),
                hint(n, &NAMES, FORMS),
            );
            return None;
        }
        PdfStrategy::Axes(kv) => kv
            .iter()
            .map(|(k, v)| {
                let at = |x: &Spanned<String>| match x.referenced.line() {
                    0 => whole,
                    l => (l, x.referenced.column()),
                };
                (k.value.clone(), v.value.clone(), at(k), at(v))
            })
            .collect(),
    };
    let mut seen: Vec<&str> = Vec::new();
    let mut columns_from_lines = false;
    let (mut columns, mut rows) = (None, None);
    let mut ok = true;
    for (k, v, k_at, v_at) in &entries {
        if !AXES.contains(&k.as_str()) {
            push(
                *k_at,
                format!("unknown strategy axis `{k}`"),
                hint(k, &AXES, "the axes are columns and rows"),
            );
            ok = false;
            continue;
        }
        if seen.contains(&k.as_str()) {
            push(
                *k_at,
                format!("strategy axis `{k}` is given twice"),
                FORMS.into(),
            );
            ok = false;
            continue;
        }
        seen.push(k);
        let source = match v.as_str() {
            "lines" => Some(Boundaries::Lines),
            "text" => Some(Boundaries::Text),
            _ => None,
        };
        if k == "columns" {
            columns = source;
        } else {
            rows = source;
        }
        if source.is_none() {
            ok = false;
            push(
                *v_at,
                format!("unknown boundaries `{v}` for {k}"),
                hint(
                    v,
                    &SOURCES,
                    "use lines (ruling lines) or text (text alignment)",
                ),
            );
        }
        columns_from_lines |= k == "columns" && v == "lines";
    }
    let missing: Vec<&str> = AXES.iter().copied().filter(|a| !seen.contains(a)).collect();
    if !missing.is_empty() {
        push(
            whole,
            format!("strategy misses {}", missing.join(" and ")),
            "give both axes, e.g. { columns: text, rows: lines }".into(),
        );
    }
    if columns_from_lines && separators {
        push(
            whole,
            "column separators (`columns: [x, …]`) cannot be used when columns come from lines"
                .into(),
            "drop the separators, or take columns from text".into(),
        );
        ok = false;
    }
    match (columns, rows) {
        (Some(columns), Some(rows)) if ok => Some(Strategy::Axes { columns, rows }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_text(yaml: &str) -> (Option<Strategy>, String) {
        #[derive(serde::Deserialize)]
        struct W {
            strategy: Spanned<PdfStrategy>,
        }
        let w: W = crate::yaml::parse(Path::new("p.yaml"), yaml).unwrap();
        let mut d = Diagnostics::default();
        let s = resolve(Path::new("p.yaml"), yaml, &w.strategy, false, &mut d);
        (s, d.to_string())
    }

    #[test]
    fn every_form_resolves_to_the_same_value() {
        let axes = Some(Strategy::Axes {
            columns: Boundaries::Text,
            rows: Boundaries::Lines,
        });
        for yaml in [
            "strategy: { columns: text, rows: lines }\n",
            "strategy: { rows: lines, columns: text }\n",
            "strategy: \"columns=text,rows=lines\"\n",
            "strategy:\n  columns: text\n  rows: lines\n",
        ] {
            assert_eq!(resolve_text(yaml), (axes, String::new()), "{yaml}");
        }
        assert_eq!(resolve_text("strategy: stream\n").0, Some(Strategy::Stream));
        let (s, d) = resolve_text("strategy: { columns: text, rows: pixels }\n");
        assert_eq!(s, None);
        assert!(d.contains("unknown boundaries `pixels` for rows"), "{d}");
    }
}
