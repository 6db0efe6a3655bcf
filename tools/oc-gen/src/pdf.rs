//! `oc-gen pdf`: a SYNTHETIC two-page PDF report built from the OFGL-format samples, so the
//! `format: pdf` source can be tested against the figures it was printed from.
//!
//! Page 1: a ruled table (agrégats × régions, amounts with NBSP thousands) and the start of an
//! unruled table (départements, long format, plain-space thousands); page 2: the unruled table
//! continues under a "(suite)" line and its repeated header. Hand-written PDF 1.4 with the
//! standard Helvetica font (WinAnsiEncoding): no font files, byte-deterministic.

use std::collections::BTreeMap;
use std::path::Path;

/// Helvetica advance widths (1/1000 em) of the glyphs amounts are made of.
fn width(c: char) -> f32 {
    match c {
        '0'..='9' => 556.0,
        ' ' | '\u{a0}' | ',' | '.' => 278.0,
        '-' => 333.0,
        _ => 556.0,
    }
}

fn text_width(s: &str, size: f32) -> f32 {
    s.chars().map(width).sum::<f32>() * size / 1000.0
}

/// `-11056428.70` → `-11 056 428,70` with `sep` between thousands groups.
pub fn french_amount(raw: &str, sep: char) -> Result<String, String> {
    let (neg, digits) = match raw.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, raw),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "00"));
    if int.is_empty()
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(format!("not an amount: {raw}"));
    }
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(sep);
        }
        grouped.push(c);
    }
    let frac = format!("{frac:0<2}");
    Ok(format!(
        "{}{grouped},{}",
        if neg { "-" } else { "" },
        &frac[..2]
    ))
}

/// WinAnsi bytes of a PDF string literal (Latin-1 covers the French text used here).
fn pdf_string(s: &str) -> Result<String, String> {
    let mut out = String::from("(");
    for c in s.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            '\u{a0}'..='\u{ff}' => out.push_str(&format!("\\{:03o}", c as u32)),
            '\u{2019}' => out.push('\''),
            '€' => out.push_str("\\200"),
            _ => return Err(format!("character {c:?} is not in WinAnsiEncoding")),
        }
    }
    out.push(')');
    Ok(out)
}

struct Page {
    ops: String,
}

impl Page {
    fn text(&mut self, x: f32, y: f32, size: f32, s: &str) -> Result<(), String> {
        self.ops.push_str(&format!(
            "BT /F1 {size} Tf {x:.2} {y:.2} Td {} Tj ET\n",
            pdf_string(s)?
        ));
        Ok(())
    }
    fn right(&mut self, x_right: f32, y: f32, size: f32, s: &str) -> Result<(), String> {
        self.text(x_right - text_width(s, size), y, size, s)
    }
    fn line(&mut self, x0: f32, y0: f32, x1: f32, y1: f32) {
        self.ops
            .push_str(&format!("{x0:.2} {y0:.2} m {x1:.2} {y1:.2} l S\n"));
    }
}

/// Rows of an OFGL-format file: (code, name, agrégat, amount as written in the CSV).
fn read_rows(path: &Path, code: &str, name: &str) -> Result<Vec<[String; 4]>, String> {
    let mut r = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_path(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let headers: Vec<String> = r
        .headers()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    let col = |h: &str| {
        headers
            .iter()
            .position(|x| x == h)
            .ok_or(format!("{}: no column {h}", path.display()))
    };
    let (c, n, a, m) = (col(code)?, col(name)?, col("Agrégat")?, col("Montant")?);
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        out.push([
            rec[c].to_string(),
            rec[n].to_string(),
            rec[a].to_string(),
            rec[m].to_string(),
        ]);
    }
    Ok(out)
}

const SIZE: f32 = 8.0;
const ROW: f32 = 12.0;

/// Writes the report for `exercice` from `<ofgl>/ofgl-base-{regions,departements}-consolidee_<exercice>.csv`.
pub fn write_report(ofgl: &Path, exercice: &str, out: &Path) -> Result<(), String> {
    let regions = read_rows(
        &ofgl.join(format!("ofgl-base-regions-consolidee_{exercice}.csv")),
        &format!("Code Insee {exercice} Région"),
        &format!("Nom {exercice} Région"),
    )?;
    let deps = read_rows(
        &ofgl.join(format!("ofgl-base-departements-consolidee_{exercice}.csv")),
        &format!("Code Insee {exercice} Département"),
        &format!("Nom {exercice} Département"),
    )?;
    // table 1: agrégats (rows, in file order) × régions (columns, by code)
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut agregats: Vec<String> = Vec::new();
    let mut amounts: BTreeMap<(String, String), String> = BTreeMap::new();
    for [code, name, ag, m] in &regions {
        names.insert(code.clone(), name.clone());
        if !agregats.contains(ag) {
            agregats.push(ag.clone());
        }
        amounts.insert((ag.clone(), code.clone()), m.clone());
    }
    let codes: Vec<String> = names.keys().cloned().collect();

    let mut pages = vec![Page { ops: String::new() }, Page { ops: String::new() }];
    let p = &mut pages[0];
    p.ops.push_str("0.5 w\n");
    p.text(
        40.0,
        800.0,
        12.0,
        &format!("Finances des collectivités {exercice} : données SYNTHÉTIQUES"),
    )?;
    p.text(
        40.0,
        786.0,
        SIZE,
        "Rapport de test généré par oc-gen ; aucun montant n'est réel.",
    )?;
    p.text(
        40.0,
        764.0,
        10.0,
        "Tableau 1 - Agrégats des régions (en euros)",
    )?;
    let xs = [40.0, 235.0, 355.0, 475.0, 555.0];
    let top = 756.0;
    let n_rows = agregats.len() + 1;
    for i in 0..=n_rows {
        let y = top - ROW * i as f32;
        p.line(xs[0], y, xs[4], y);
    }
    for x in xs {
        p.line(x, top, x, top - ROW * n_rows as f32);
    }
    let base = |i: usize| top - ROW * i as f32 - 8.5;
    p.text(xs[0] + 3.0, base(0), SIZE, "Agrégat")?;
    for (k, c) in codes.iter().enumerate() {
        p.text(xs[k + 1] + 3.0, base(0), SIZE, &names[c])?;
    }
    // amounts end 10 pt before the rule: readers that do not know the standard font's
    // metrics place the glyphs slightly wider than drawn
    for (i, ag) in agregats.iter().enumerate() {
        p.text(xs[0] + 3.0, base(i + 1), SIZE, ag)?;
        for (k, c) in codes.iter().enumerate() {
            if let Some(m) = amounts.get(&(ag.clone(), c.clone())) {
                p.right(
                    xs[k + 2] - 10.0,
                    base(i + 1),
                    SIZE,
                    &french_amount(m, '\u{a0}')?,
                )?;
            }
        }
    }
    // table 2: départements, long format, no rules, continued on page 2
    let header = ["Code", "Département", "Agrégat", "Montant (€)"];
    let cols = [40.0, 80.0, 200.0, 460.0]; // the amount column is right-aligned at 460
    let draw_header = |p: &mut Page, y: f32| -> Result<(), String> {
        p.text(cols[0], y, SIZE, header[0])?;
        p.text(cols[1], y, SIZE, header[1])?;
        p.text(cols[2], y, SIZE, header[2])?;
        p.right(cols[3], y, SIZE, header[3])
    };
    let t2_top = top - ROW * n_rows as f32 - 30.0;
    pages[0].text(
        40.0,
        t2_top,
        10.0,
        "Tableau 2 - Agrégats des départements (en euros)",
    )?;
    let mut y = t2_top - 18.0;
    draw_header(&mut pages[0], y)?;
    y -= ROW;
    let mut page = 0;
    for [code, name, ag, m] in &deps {
        if y < 60.0 && page == 0 {
            page = 1;
            pages[1].text(40.0, 800.0, 10.0, "Tableau 2 (suite)")?;
            y = 780.0;
            draw_header(&mut pages[1], y)?;
            y -= ROW;
        }
        let p = &mut pages[page];
        p.text(cols[0], y, SIZE, code)?;
        p.text(cols[1], y, SIZE, name)?;
        p.text(cols[2], y, SIZE, ag)?;
        p.right(cols[3], y, SIZE, &french_amount(m, ' ')?)?;
        y -= ROW;
    }
    if page == 0 {
        return Err("the départements table fits on one page: nothing to stitch".into());
    }
    for (i, p) in pages.iter_mut().enumerate() {
        p.text(290.0, 30.0, SIZE, &format!("Page {}/2", i + 1))?;
    }
    std::fs::write(out, assemble(&pages)).map_err(|e| format!("{}: {e}", out.display()))
}

/// Objects: 1 catalog, 2 pages, 3 font, then (page, content) pairs.
fn assemble(pages: &[Page]) -> Vec<u8> {
    let mut objs: Vec<String> = Vec::new();
    let kids: Vec<String> = (0..pages.len())
        .map(|i| format!("{} 0 R", 4 + 2 * i))
        .collect();
    objs.push("<< /Type /Catalog /Pages 2 0 R >>".into());
    objs.push(format!(
        "<< /Type /Pages /Kids [{}] /Count {} >>",
        kids.join(" "),
        pages.len()
    ));
    objs.push(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".into(),
    );
    for (i, p) in pages.iter().enumerate() {
        objs.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            5 + 2 * i
        ));
        objs.push(format!(
            "<< /Length {} >>\nstream\n{}endstream",
            p.ops.len(),
            p.ops
        ));
    }
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_written_the_french_way() {
        assert_eq!(
            french_amount("106893446.80", ' ').unwrap(),
            "106 893 446,80"
        );
        assert_eq!(
            french_amount("-11056428.7", '\u{a0}').unwrap(),
            "-11\u{a0}056\u{a0}428,70"
        );
        assert_eq!(french_amount("0.00", ' ').unwrap(), "0,00");
        assert!(french_amount("1e5", ' ').is_err());
    }

    /// The committed sample is exactly what the documented command writes.
    #[test]
    fn committed_report_is_reproducible() {
        let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let tmp = std::env::temp_dir().join(format!("oc-gen-pdf-{}.pdf", std::process::id()));
        write_report(&repo.join("data/samples/ofgl"), "2024", &tmp).unwrap();
        let fresh = std::fs::read(&tmp).unwrap();
        let _ = std::fs::remove_file(&tmp);
        let committed =
            std::fs::read(repo.join("data/samples/publications/rapport_finances_2024.pdf"))
                .unwrap();
        assert!(
            fresh == committed,
            "regenerate with: cargo run -p oc-gen -- pdf --ofgl data/samples/ofgl --exercice 2024 --out data/samples/publications/rapport_finances_2024.pdf"
        );
    }
}
