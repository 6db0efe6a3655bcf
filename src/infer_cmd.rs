//! `opencoll infer FILE`: a first pipeline for a CSV file, written to stdout — the dialect
//! sniffed from its first bytes, one column per source column with a snake_case name and a type
//! chosen so that every value of the file converts (the model is `oc_extract::infer`).

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use oc_extract::infer::{ColumnStats, propose, snake_case, sniff};
use oc_spec::Encoding;

#[derive(Args)]
pub struct InferArgs {
    /// A CSV, TSV or TXT file (`.gz` and single-member `.zip` too)
    file: PathBuf,
    /// The table's name, `<domain>.<table>` (default: `raw.<file name>`)
    #[arg(long)]
    name: Option<String>,
    /// Override the sniffed encoding: utf-8, windows-1252 or iso-8859-1
    #[arg(long)]
    encoding: Option<String>,
    /// Override the sniffed delimiter (one character, or `tab`)
    #[arg(long)]
    delimiter: Option<String>,
}

/// YAML double-quoted text (JSON's escapes are YAML's).
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("a string")
}

pub fn run(a: InferArgs) -> Result<()> {
    let shown = a.file.to_string_lossy().into_owned();
    let lower = shown.to_ascii_lowercase();
    let lower = lower.strip_suffix(".gz").unwrap_or(&lower);
    if !(lower.ends_with(".csv")
        || lower.ends_with(".tsv")
        || lower.ends_with(".txt")
        || lower.ends_with(".zip"))
    {
        bail!(
            "{shown}: `opencoll infer` reads CSV, TSV and TXT files (workbooks, web pages and PDF tables: see `opencoll html tables` and `opencoll pdf tables` to look at them, then write the pipeline)"
        );
    }
    let read_all =
        |f: &mut dyn FnMut(&mut dyn std::io::BufRead) -> Result<(), oc_extract::ExtractError>| {
            oc_extract::input::with_reader(&a.file, &shown, None, None, |r| f(r)).map(|_| ())
        };
    // The dialect, from the first 64 KiB.
    let mut head = Vec::new();
    read_all(&mut |r| {
        r.take(64 * 1024)
            .read_to_end(&mut head)
            .map(|_| ())
            .map_err(|e| oc_extract::ExtractError::new(&shown, None, e.to_string()))
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let head = head
        .strip_prefix(oc_extract::encoding::UTF8_BOM)
        .unwrap_or(&head);
    let mut dialect = sniff(head);
    if let Some(e) = &a.encoding {
        dialect.encoding = match e.as_str() {
            "utf-8" | "utf8" => Encoding::Utf8,
            "windows-1252" | "cp1252" => Encoding::Windows1252,
            "iso-8859-1" | "latin1" | "latin-1" => Encoding::Latin1,
            other => bail!("unknown encoding `{other}`: utf-8, windows-1252 or iso-8859-1"),
        };
    }
    if let Some(d) = &a.delimiter {
        dialect.delimiter =
            oc_spec::syntax::delimiter_byte(d).with_context(|| format!("bad delimiter `{d}`"))?;
    }
    // Every record: the header, then each column's values.
    let mut headers: Vec<String> = Vec::new();
    let mut stats: Vec<ColumnStats> = Vec::new();
    let mut rows = 0u64;
    let enc = dialect.encoding;
    read_all(&mut |r| {
        let err = |m: String| oc_extract::ExtractError::new(&shown, None, m);
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(dialect.delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(r);
        let mut rec = csv::ByteRecord::new();
        while csv
            .read_byte_record(&mut rec)
            .map_err(|e| err(e.to_string()))?
        {
            let first = headers.is_empty();
            let line = rows + 2;
            let cell = |i: usize, f: &[u8]| -> Result<String, oc_extract::ExtractError> {
                let f = if i == 0 && first {
                    f.strip_prefix(oc_extract::encoding::UTF8_BOM).unwrap_or(f)
                } else {
                    f
                };
                oc_extract::encoding::decode(enc, f)
                    .map(|t| t.into_owned())
                    .map_err(|m| err(format!("line {line}: {m}")))
            };
            if first {
                headers = rec
                    .iter()
                    .enumerate()
                    .map(|(i, f)| cell(i, f))
                    .collect::<Result<_, _>>()?;
                stats = vec![ColumnStats::new(); headers.len()];
                continue;
            }
            rows += 1;
            for (i, f) in rec.iter().enumerate().take(stats.len()) {
                let v = cell(i, f)?;
                stats[i].add(&v);
            }
        }
        Ok(())
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if headers.is_empty() {
        bail!("{shown}: the file is empty");
    }
    // One decimal mark for the file: `,` when its numbers use it and none uses `.`.
    let comma =
        stats.iter().any(ColumnStats::decimal_comma) && !stats.iter().any(ColumnStats::decimal_dot);
    let spaced = comma && stats.iter().any(ColumnStats::spaced);
    let stem = a
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = stem.split('.').next().unwrap_or("table");
    let name = a
        .name
        .unwrap_or_else(|| format!("raw.{}", snake_case(stem)));

    let mut out = String::new();
    out.push_str(&format!(
        "# Written by `opencoll infer {shown}` from {rows} rows: check each type, then refresh.\n"
    ));
    out.push_str(&format!(
        "name: {name}\nsource:\n  path: {}\n  csv:\n",
        q(&shown)
    ));
    let delim = match dialect.delimiter {
        b'\t' => "tab".to_string(),
        d => (d as char).to_string(),
    };
    out.push_str(&format!("    delimiter: {}\n", q(&delim)));
    let enc_name = match dialect.encoding {
        Encoding::Utf8 => "utf-8",
        Encoding::Windows1252 => "windows-1252",
        Encoding::Latin1 => "iso-8859-1",
    };
    out.push_str(&format!("    encoding: {enc_name}"));
    out.push_str(
        &dialect
            .notes
            .iter()
            .map(|n| format!("   # {n}"))
            .collect::<String>(),
    );
    out.push('\n');
    if comma {
        out.push_str("    decimal: \",\"\n");
    }
    if spaced {
        out.push_str("    thousands: \" \"\n");
    }
    out.push_str("columns:\n");
    let mut used: Vec<String> = Vec::new();
    for (h, s) in headers.iter().zip(&stats) {
        if h.trim().is_empty() {
            out.push_str(&format!(
                "  # a column without a header ({} values) is left out\n",
                s.values
            ));
            continue;
        }
        if headers.iter().filter(|x| *x == h).count() > 1 {
            out.push_str(&format!("  # `{h}` is repeated in the header: left out (name the one to read with a position or a regex)\n"));
            continue;
        }
        let mut col = snake_case(h);
        let base = col.clone();
        let mut n = 1;
        while used.contains(&col) {
            n += 1;
            col = format!("{base}_{n}");
        }
        used.push(col.clone());
        let p = propose(h, s, comma, spaced);
        let mut fields = vec![format!("from: {}", q(h)), format!("type: {}", q(&p.ty))];
        if let Some(w) = p.width {
            fields.push(format!("width: {w}"));
        }
        if let Some(f) = &p.format {
            fields.push(format!("format: {}", q(f)));
        }
        let markers = if s.markers.is_empty() {
            String::new()
        } else {
            format!("; NULL markers seen: {}", s.markers.join(", "))
        };
        out.push_str(&format!(
            "  {col}: {{ {} }}   # {}{markers}\n",
            fields.join(", "),
            p.comment
        ));
    }
    print!("{out}");
    Ok(())
}
