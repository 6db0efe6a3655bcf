//! Output columns: names, exactly one of `from`/`var`/`sql`, types and the options that only
//! apply to some types.

use crate::diag::{Diagnostic, Diagnostics, did_you_mean};
use crate::project::PipelineFile;
use crate::span::Spanned;
use crate::syntax::regex_of;
use crate::types::ColumnType;
use crate::yaml::locate_key;

pub(super) fn check(pf: &PipelineFile, diags: &mut Diagnostics) {
    let p = &pf.pipeline;
    let file = &pf.path;
    let at = |s: &Spanned<String>| (s.referenced.line(), s.referenced.column());
    let vars = p.vars();
    // Named groups of a `sheet: /regex/` are vars too (one value per matching sheet).
    let mut sheet_groups: Vec<String> = match p.source.xlsx.as_ref().and_then(|x| x.sheet.as_ref())
    {
        Some(crate::SheetRef::Name(n)) => regex_of(n)
            .and_then(|re| regex::Regex::new(re).ok())
            .map(|re| re.capture_names().flatten().map(str::to_string).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    // … and so are the named groups of a web page's `capture` regexes.
    if let Some(h) = &p.source.html {
        sheet_groups.extend(h.capture_names());
    }
    // … and so are the vars a query on the lake gives.
    sheet_groups.extend(p.var_queries().map(|(k, _)| k.to_string()));
    // Columns.
    if p.columns.is_empty() {
        let (l, c) = locate_key(&pf.text, "columns");
        diags.push(Diagnostic::new(
            file,
            l.max(1),
            c,
            "declare at least one column under `columns:`",
        ));
    }
    for (out, spec) in &p.columns {
        let (kl, kc) = locate_key(&pf.text, out);
        if !crate::is_ident(out) {
            diags.push(
                Diagnostic::new(
                    file,
                    kl,
                    kc,
                    format!("column name `{out}` is not a lowercase identifier"),
                )
                .with_hint("use letters, digits and _; map the source header with `from:`"),
            );
        }
        let sources = [spec.from.is_some(), spec.var.is_some(), spec.sql.is_some()];
        if sources.iter().filter(|x| **x).count() != 1 {
            diags.push(
                Diagnostic::new(
                    file,
                    kl,
                    kc,
                    format!("column `{out}` needs exactly one of `from`, `var` or `sql`"),
                )
                .with_hint("`from: HEADER` reads a source column; `sql: expr` computes one"),
            );
        }
        if let Some(var) = &spec.var
            && !vars.contains_key(&var.value)
            && !sheet_groups.contains(&var.value)
        {
            let (l, c) = at(var);
            let mut d = Diagnostic::new(file, l, c, format!("unknown var `{}`", var.value));
            if let Some(s) = did_you_mean(&var.value, vars.keys().map(String::as_str)) {
                d = d.with_hint(format!("did you mean `{s}`?"));
            }
            diags.push(d);
        }
        let ty = match &spec.ty {
            Some(t) => match t.value.parse::<ColumnType>() {
                Ok(ty) => Some(ty),
                Err(e) => {
                    let (l, c) = at(t);
                    diags.push(
                        Diagnostic::new(file, l, c, e)
                            .with_hint(format!("types: {}", ColumnType::NAMES.join(", "))),
                    );
                    None
                }
            },
            None => Some(ColumnType::String),
        };
        if let (Some(_), Some(t)) = (&spec.sql, &spec.ty) {
            let (l, c) = at(t);
            diags.push(
                Diagnostic::new(
                    file,
                    l,
                    c,
                    format!("column `{out}`: a `sql` column takes its type from the expression"),
                )
                .with_hint("cast in SQL instead, e.g. CAST(x AS DECIMAL(18,2))"),
            );
        }
        if spec.width.is_some() && ty != Some(ColumnType::Code) {
            diags.push(Diagnostic::new(
                file,
                kl,
                kc,
                format!("column `{out}`: `width` applies to type code only"),
            ));
        }
        if spec.status && (spec.sql.is_some() || ty.is_some_and(|t| t.is_text())) {
            diags.push(
                Diagnostic::new(
                    file,
                    kl,
                    kc,
                    format!("column `{out}`: `status` applies to typed source columns"),
                )
                .with_hint("a text column keeps its placeholders as they are"),
            );
        }
        if spec.status && p.columns.contains_key(&format!("{out}_status")) {
            diags.push(Diagnostic::new(
                file,
                kl,
                kc,
                format!("column `{out}_status` is declared and also added by `status: true`"),
            ));
        }
        if spec.format.is_some() && ty != Some(ColumnType::Date) {
            diags.push(Diagnostic::new(
                file,
                kl,
                kc,
                format!("column `{out}`: `format` applies to type date only"),
            ));
        }
    }
}
