//! SYNTHETIC workbooks: a DGCL-style publication (title block, 2-row merged header, years as
//! columns with a provisional year, footnotes, a secret cell, subtotal rows, one sheet per
//! edition) built from the synthetic OFGL regional exports, and a large flat sheet for the
//! spreadsheet benchmark.

use std::collections::BTreeMap;
use std::path::Path;

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, FormatAlign, Workbook, XlsxError};

/// Agrégats of the publication, in order; `dont` rows are details of the row above.
const LIGNES: &[(&str, &str)] = &[
    ("Dépenses de fonctionnement", "Dépenses de fonctionnement"),
    ("dont frais de personnel", "Frais de personnel"),
    ("dont charges financières", "Charges financières"),
    ("Recettes de fonctionnement", "Recettes de fonctionnement"),
    ("Epargne brute", "Epargne brute"),
];

/// (région, agrégat, exercice) kept as statistical secret in every edition.
const SECRET: (&str, &str, u16) = ("94", "Charges financières", 2023);

/// One région's amounts in cents: (code, name) → agrégat → exercice → cents.
type Figures = BTreeMap<(String, String), BTreeMap<String, BTreeMap<u16, i64>>>;

fn err(e: XlsxError) -> String {
    format!("xlsx: {e}")
}

/// Reads `ofgl-base-regions-consolidee_<year>.csv` for each year.
fn read_regions(ofgl: &Path, years: &[u16]) -> Result<Figures, String> {
    let mut out = Figures::new();
    for y in years {
        let path = ofgl.join(format!("ofgl-base-regions-consolidee_{y}.csv"));
        let mut r = csv::ReaderBuilder::new()
            .delimiter(b';')
            .from_path(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let h = r.headers().map_err(|e| e.to_string())?.clone();
        let col = |name: &str| {
            h.iter()
                .position(|x| x.trim_start_matches('\u{feff}') == name)
                .ok_or_else(|| format!("{}: no column {name}", path.display()))
        };
        let (code, nom, agregat, montant) = (
            col(&format!("Code Insee {y} Région"))?,
            col(&format!("Nom {y} Région"))?,
            col("Agrégat")?,
            col("Montant")?,
        );
        for rec in r.records() {
            let rec = rec.map_err(|e| e.to_string())?;
            let cents = parse_cents(&rec[montant])
                .ok_or_else(|| format!("{}: bad amount {}", path.display(), &rec[montant]))?;
            out.entry((rec[code].to_string(), rec[nom].to_string()))
                .or_default()
                .entry(rec[agregat].to_string())
                .or_default()
                .insert(*y, cents);
        }
    }
    Ok(out)
}

/// `106893446.80` → 10689344680.
fn parse_cents(s: &str) -> Option<i64> {
    let (i, f) = s.split_once('.').unwrap_or((s, "0"));
    let f = format!("{f:0<2}");
    let neg = i.starts_with('-');
    let v = i.trim_start_matches('-').parse::<i64>().ok()? * 100 + f[..2].parse::<i64>().ok()?;
    Some(if neg { -v } else { v })
}

/// Provisional figures of an earlier edition: 0.5 % below the final ones, to the cent.
fn provisional(cents: i64) -> i64 {
    (cents * 995 + 500).div_euclid(1000)
}

/// Writes the publication: sheet `Édition 2024` (2023 provisional) and `Édition 2025`
/// (2023 final, 2024 provisional).
pub fn write_publication(ofgl: &Path, out: &Path) -> Result<usize, String> {
    let figures = read_regions(ofgl, &[2023, 2024])?;
    let mut wb = Workbook::new();
    // Fixed metadata: the same input gives the same bytes.
    let props = DocProperties::new()
        .set_author("oc-gen (SYNTHETIC data)")
        .set_creation_datetime(&ExcelDateTime::from_ymd(2026, 1, 1).map_err(err)?);
    wb.set_properties(&props);
    let title = Format::new().set_bold().set_font_size(13);
    let head = Format::new()
        .set_bold()
        .set_align(FormatAlign::Center)
        .set_border(rust_xlsxwriter::FormatBorder::Thin);
    let money = Format::new().set_num_format("# ##0.00");
    let indent = Format::new().set_indent(1);
    let total = Format::new().set_bold();
    let mut rows = 0;
    for (edition, years) in [
        (2024u16, vec![(2023u16, true)]),
        (2025, vec![(2023, false), (2024, true)]),
    ] {
        let ws = wb.add_worksheet();
        ws.set_name(format!("Édition {edition}")).map_err(err)?;
        let last_col = 2 + years.len() as u16;
        ws.merge_range(
            0,
            0,
            0,
            last_col,
            &format!("Comptes des régions : principaux agrégats (édition {edition})"),
            &title,
        )
        .map_err(err)?;
        ws.write_string(
            1,
            0,
            "Montants consolidés (budget principal et budgets annexes), en euros",
        )
        .map_err(err)?;
        for (c, label) in ["Code", "Région", "Libellé"].iter().enumerate() {
            ws.merge_range(3, c as u16, 4, c as u16, label, &head)
                .map_err(err)?;
        }
        if years.len() > 1 {
            ws.merge_range(3, 3, 3, last_col, "Montants en euros", &head)
                .map_err(err)?;
        } else {
            ws.write_string_with_format(3, 3, "Montants en euros", &head)
                .map_err(err)?;
        }
        for (i, (y, prov)) in years.iter().enumerate() {
            let c = 3 + i as u16;
            if *prov {
                ws.write_string_with_format(4, c, format!("{y} (p)"), &head)
                    .map_err(err)?;
            } else {
                // A year stored as a number, as spreadsheets do.
                ws.write_number_with_format(4, c, f64::from(*y), &head)
                    .map_err(err)?;
            }
        }
        let mut r = 5u32;
        let mut sums: BTreeMap<(&str, u16), i64> = BTreeMap::new();
        for ((code, nom), agregats) in &figures {
            let label = if code == "94" {
                format!("{nom} (1)")
            } else {
                nom.clone()
            };
            for (libelle, agregat) in LIGNES {
                ws.write_string(r, 0, code).map_err(err)?;
                ws.write_string(r, 1, &label).map_err(err)?;
                if libelle.starts_with("dont") {
                    ws.write_string_with_format(r, 2, *libelle, &indent)
                        .map_err(err)?;
                } else {
                    ws.write_string(r, 2, *libelle).map_err(err)?;
                }
                for (i, (y, prov)) in years.iter().enumerate() {
                    let c = 3 + i as u16;
                    let cents = agregats.get(*agregat).and_then(|m| m.get(y)).copied();
                    let Some(mut cents) = cents else { continue };
                    if *prov && edition < 2025 {
                        cents = provisional(cents);
                    }
                    *sums.entry((agregat, *y)).or_default() += cents;
                    if (code.as_str(), *agregat, *y) == SECRET {
                        ws.write_string(r, c, "s").map_err(err)?;
                    } else {
                        ws.write_number_with_format(r, c, cents as f64 / 100.0, &money)
                            .map_err(err)?;
                    }
                }
                r += 1;
                rows += 1;
            }
        }
        // Subtotal rows, as publications print them.
        for (libelle, agregat) in LIGNES {
            ws.write_string_with_format(r, 1, "Ensemble des régions", &total)
                .map_err(err)?;
            ws.write_string_with_format(r, 2, *libelle, &total)
                .map_err(err)?;
            for (i, (y, _)) in years.iter().enumerate() {
                let v = sums.get(&(*agregat, *y)).copied().unwrap_or(0);
                ws.write_number_with_format(r, 3 + i as u16, v as f64 / 100.0, &money)
                    .map_err(err)?;
            }
            r += 1;
            rows += 1;
        }
        r += 1;
        for note in [
            "(p) Données provisoires.",
            "(1) Collectivité de Corse, collectivité à statut particulier.",
            "s : secret statistique.",
            "Source : OFGL, comptes consolidés des régions. Données SYNTHÉTIQUES générées par tools/oc-gen.",
        ] {
            ws.write_string(r, 0, note).map_err(err)?;
            r += 1;
        }
        ws.set_column_width(1, 28).map_err(err)?;
        ws.set_column_width(2, 30).map_err(err)?;
    }
    wb.save(out).map_err(err)?;
    Ok(rows)
}

/// A flat sheet of `rows` × 15 columns (codes as text, SIREN as numbers, amounts), streamed
/// to disk in constant memory: the spreadsheet benchmark's input.
pub fn write_flat(rows: u32, out: &Path) -> Result<(), String> {
    let mut wb = Workbook::new();
    let props = DocProperties::new()
        .set_creation_datetime(&ExcelDateTime::from_ymd(2026, 1, 1).map_err(err)?);
    wb.set_properties(&props);
    let ws = wb.add_worksheet_with_constant_memory().map_err(err)?;
    ws.set_name("Comptes").map_err(err)?;
    let head = [
        "exercice",
        "code_insee",
        "siren",
        "nom",
        "compte",
        "bedeb",
        "becre",
        "obnetdeb",
        "obnetcre",
        "onbdeb",
        "onbcre",
        "oobdeb",
        "oobcre",
        "sd",
        "sc",
    ];
    for (c, h) in head.iter().enumerate() {
        ws.write_string(0, c as u16, *h).map_err(err)?;
    }
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        // xorshift64*: deterministic and fast.
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    for r in 1..=rows {
        let commune = (r - 1) / 300;
        ws.write_number(r, 0, 2024.0).map_err(err)?;
        ws.write_string(r, 1, format!("{:05}", 1001 + commune % 95000))
            .map_err(err)?;
        ws.write_number(r, 2, f64::from(210_000_000 + commune))
            .map_err(err)?;
        ws.write_string(r, 3, format!("COMMUNE {commune}"))
            .map_err(err)?;
        ws.write_string(r, 4, format!("{}", 60000 + (r % 300) * 7))
            .map_err(err)?;
        for c in 5..15u16 {
            let cents = (next() % 100_000_000) as f64;
            ws.write_number(r, c, cents / 100.0).map_err(err)?;
        }
    }
    wb.save(out).map_err(err)?;
    Ok(())
}
