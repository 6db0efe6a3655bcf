//! PDFs made by other generators than ours — reportlab (ruled table over two pages), fpdf2
//! (every word placed on its own, embedded and core fonts) and LibreOffice Calc (horizontal
//! rules only) — written by `tests/pdf_generators/make_pdfs.py` with SYNTHETIC figures. Each
//! extracts, cell by cell, to the table printed on it; two go through `format: pdf` pipelines
//! with typed columns. Needs the venv of scripts/python-tools.sh and, for LibreOffice,
//! scripts/libreoffice.sh (installs it from Debian when missing, as root).

mod common;

use common::{Proj, python_with_duckdb, repo, run_ok, tool};
use std::path::Path;
use std::process::Command;

/// Runs make_pdfs.py for `only` (comma-separated generators) into `dir`.
fn make_pdfs(dir: &Path, only: &str) {
    let mut cmd = Command::new(python_with_duckdb());
    cmd.arg(repo().join("tests/pdf_generators/make_pdfs.py"))
        .arg(dir)
        .args(["--only", only]);
    if only.contains("libreoffice") {
        cmd.args(["--soffice", &soffice()]);
    }
    run_ok(&mut cmd);
}

/// soffice, installed by the project's own script when missing.
fn soffice() -> String {
    tool("libreoffice.sh").display().to_string()
}

/// `opencoll pdf tables PDF --out OUT [extra…]`; returns the names of the CSV files written.
fn pdf_tables(pdf: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let o = Command::new(env!("CARGO_BIN_EXE_opencoll"))
        .args(["pdf", "tables"])
        .arg(pdf)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("run opencoll pdf tables");
    assert!(
        o.status.success(),
        "opencoll pdf tables {} failed:\n{}",
        pdf.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every record of a CSV file (quoted fields may hold commas, quotes and line breaks).
fn read_csv(p: &Path) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect()
}

/// oc-pdf prints NBSP / U+202F as plain spaces and joins the lines of a wrapped cell with
/// `\n`: cells compare with every whitespace run as one space.
fn norm(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Asserts that `got` equals `expected` cell by cell, listing every differing cell.
fn assert_same_table(what: &str, expected: &[Vec<String>], got: &[Vec<String>]) {
    let total: usize = expected.iter().map(Vec::len).sum();
    let mut diffs = Vec::new();
    for (i, e) in expected.iter().enumerate() {
        let g = got.get(i);
        for (j, cell) in e.iter().enumerate() {
            let gc = g.and_then(|r| r.get(j)).map(|s| norm(s));
            if gc.as_deref() != Some(norm(cell).as_str()) {
                diffs.push(format!("row {i} col {j}: expected {cell:?}, got {gc:?}"));
            }
        }
    }
    let width = |t: &[Vec<String>]| t.iter().map(Vec::len).max().unwrap_or(0);
    assert!(
        diffs.is_empty() && got.len() == expected.len() && width(got) == width(expected),
        "{what}: {}/{total} cells match; {} rows × {} columns expected, {} × {} extracted\n{}",
        total - diffs.len(),
        expected.len(),
        width(expected),
        got.len(),
        width(got),
        diffs.join("\n")
    );
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// French amount as printed (`-1 234 567,89`, any space-like grouping) → cents.
fn cents(s: &str) -> i64 {
    let t: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r.to_string()),
        None => (false, t),
    };
    let (int, dec) = t.split_once(',').unwrap_or((&t, "00"));
    let v: i64 = int.parse::<i64>().unwrap() * 100 + dec.parse::<i64>().unwrap();
    if neg { -v } else { v }
}

/// Cents as the SQL CSV output prints a decimal(_, 2): `-12345.00`.
fn decimal(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", c.abs() / 100, c.abs() % 100)
}

/// Sum of a column of printed amounts over `rows`, skipping secret / missing cells.
fn sum(rows: &[Vec<String>], col: usize) -> i64 {
    rows.iter()
        .map(|r| r[col].trim())
        .filter(|c| !["s", "n.d."].contains(c))
        .map(cents)
        .sum()
}

#[test]
fn reportlab_ruled_table_continued_on_page_two() {
    let d = tmp();
    make_pdfs(d.path(), "reportlab");
    let out = d.path().join("out");
    let files = pdf_tables(
        &d.path().join("reportlab_grid.pdf"),
        &out,
        &["--merged", "--header-rows", "2"],
    );
    // one table per page (title, introduction, running header and footnote are not tables),
    // stitched into one
    assert_eq!(
        files,
        vec![
            "reportlab_grid.merged.t1.csv",
            "reportlab_grid.p1.t1.csv",
            "reportlab_grid.p2.t1.csv"
        ]
    );
    let expected = read_csv(&d.path().join("reportlab_grid.expected.csv"));
    assert_same_table(
        "reportlab_grid (stitched)",
        &expected,
        &read_csv(&out.join("reportlab_grid.merged.t1.csv")),
    );
    // page 2 starts with the repeated 2-row header
    let p2 = read_csv(&out.join("reportlab_grid.p2.t1.csv"));
    assert_same_table("reportlab_grid page 2 header", &expected[..2], &p2[..2]);
}

#[test]
fn fpdf_words_placed_one_by_one_align_into_columns() {
    let d = tmp();
    make_pdfs(d.path(), "fpdf");
    for stem in ["fpdf_words", "fpdf_core_words"] {
        let out = d.path().join(format!("out_{stem}"));
        let files = pdf_tables(&d.path().join(format!("{stem}.pdf")), &out, &[]);
        assert_eq!(files, vec![format!("{stem}.p1.t1.csv")], "{stem}");
        assert_same_table(
            stem,
            &read_csv(&d.path().join(format!("{stem}.expected.csv"))),
            &read_csv(&out.join(format!("{stem}.p1.t1.csv"))),
        );
    }
}

/// Rules on one axis only: the strategy is chosen per axis, rows between the rules under each
/// row and columns from the text, or columns between vertical rules and rows from the text
/// (labels wrapped over three lines, centred on their numbers, in the second column).
#[test]
fn rules_on_one_axis_with_the_strategy_chosen_per_axis() {
    let d = tmp();
    make_pdfs(d.path(), "reportlab");
    for (stem, strategy) in [
        ("reportlab_hrules", "columns=text,rows=lines"),
        ("reportlab_vrules", "columns=lines,rows=text"),
    ] {
        let out = d.path().join(stem);
        let files = pdf_tables(
            &d.path().join(format!("{stem}.pdf")),
            &out,
            &["--strategy", strategy],
        );
        assert_eq!(files, vec![format!("{stem}.p1.t1.csv")], "{stem}");
        assert_same_table(
            &format!("{stem} ({strategy})"),
            &read_csv(&d.path().join(format!("{stem}.expected.csv"))),
            &read_csv(&out.join(format!("{stem}.p1.t1.csv"))),
        );
        // lattice needs rules on both axes: it finds no table here
        let none = d.path().join(format!("{stem}-lattice"));
        let files = pdf_tables(
            &d.path().join(format!("{stem}.pdf")),
            &none,
            &["--strategy", "lattice"],
        );
        assert!(files.is_empty(), "{stem}: lattice found {files:?}");
    }
}

#[test]
fn libreoffice_calc_table_with_horizontal_rules_only() {
    let d = tmp();
    make_pdfs(d.path(), "libreoffice");
    let out = d.path().join("out");
    let files = pdf_tables(&d.path().join("libreoffice_calc.pdf"), &out, &[]);
    // Calc's page header ("Tableau 3") and footer ("Page 1") are not tables
    assert_eq!(files, vec!["libreoffice_calc.p1.t1.csv"]);
    assert_same_table(
        "libreoffice_calc",
        &read_csv(&d.path().join("libreoffice_calc.expected.csv")),
        &read_csv(&out.join("libreoffice_calc.p1.t1.csv")),
    );
}

/// The reportlab table (lattice, stitched over two pages, 2-row header with a spanning cell)
/// and the fpdf one (stream, 2-row header) load with codes as strings and amounts as
/// decimals whose sums equal the printed figures.
#[test]
fn generated_pdfs_load_through_pdf_pipelines() {
    let p = Proj::empty(&["publications"]);
    make_pdfs(p.path(), "reportlab,fpdf");
    p.write(
        "pipelines/depenses.yaml",
        r#"name: publications.depenses_communes
source:
  path: reportlab_grid.pdf
  pdf: { header_rows: 2, min_quality: 0.95 }
columns:
  code:      { from: "Code INSEE", type: code, width: 5 }
  commune:   { from: "Commune" }
  drf_2022:  { from: "/^Dépenses réelles de fonctionnement.* 2022$/", type: "decimal(18,2)", status: true }
  drf_2023:  { from: "2023", type: "decimal(18,2)" }
  evolution: { from: "Évolution 2023/2022" }
  epargne:   { from: "Épargne nette 2023 (€)", type: "decimal(18,2)" }
checks:
  - { unique: [code] }
  - { not_null: [code, commune, drf_2023, epargne] }
"#,
    );
    p.write(
        "pipelines/recettes.yaml",
        r#"name: publications.recettes_communes
source:
  path: fpdf_words.pdf
  pdf: { header_rows: 2, min_quality: 0.95 }
columns:
  code:       { from: "Code", type: code, width: 5 }
  commune:    { from: "Commune" }
  population: { from: "Population", type: int64, status: true }
  rec_2022:   { from: "Recettes de fonctionnement 2022", type: "decimal(18,2)" }
  rec_2023:   { from: "2023", type: "decimal(18,2)" }
  epargne:    { from: "Épargne brute 2023", type: "decimal(18,2)", status: true }
  taux:       { from: "Taux d'épargne" }
"#,
    );
    let out = p.ok(&["refresh"]);

    // reportlab: 58 communes over two pages, repeated header dropped
    let rl = read_csv(&p.path().join("reportlab_grid.expected.csv"));
    let body = &rl[2..];
    assert!(
        out.contains(&format!(
            "{n} read, {n} written, 0 rejected",
            n = body.len()
        )),
        "{out}"
    );
    let mut codes: Vec<String> = body.iter().map(|r| r[0].clone()).collect();
    codes.sort();
    assert!(codes.iter().any(|c| c.starts_with("2A")) && codes.contains(&"01001".into()));
    assert_eq!(
        p.rows("SELECT code FROM publications.depenses_communes ORDER BY code"),
        codes
    );
    let secret: Vec<String> = body
        .iter()
        .filter(|r| r[2] == "s")
        .map(|r| format!("{},s", r[0]))
        .collect();
    assert_eq!(secret.len(), 1);
    assert_eq!(
        p.rows(
            "SELECT code, drf_2022_status FROM publications.depenses_communes \
             WHERE drf_2022 IS NULL"
        ),
        secret
    );
    assert_eq!(
        p.value(
            "SELECT count(*), count(drf_2022), sum(drf_2022), sum(drf_2023), sum(epargne), \
             min(epargne) FROM publications.depenses_communes"
        ),
        format!(
            "{},{},{},{},{},{}",
            body.len(),
            body.len() - 1,
            decimal(sum(body, 2)),
            decimal(sum(body, 3)),
            decimal(sum(body, 5)),
            decimal(body.iter().map(|r| cents(&r[5])).min().unwrap())
        )
    );
    // the printed negative round amount and the wrapped commune name
    assert_eq!(
        p.value("SELECT count(*) FROM publications.depenses_communes WHERE epargne = -12345.00"),
        "1"
    );
    assert_eq!(
        p.value(
            "SELECT replace(commune, chr(10), ' ') FROM publications.depenses_communes \
             WHERE commune LIKE 'Saint-Martin-de-Belleville%'"
        ),
        "Saint-Martin-de-Belleville (commune déléguée des Belleville)"
    );

    // fpdf: 26 communes and the total row (no code)
    let fp = read_csv(&p.path().join("fpdf_words.expected.csv"));
    let (communes, total) = fp[2..].split_at(fp.len() - 3);
    assert!(
        out.contains(&format!(
            "{n} read, {n} written, 0 rejected",
            n = communes.len() + 1
        )),
        "{out}"
    );
    assert_eq!(
        p.value(
            "SELECT count(*), sum(rec_2022), sum(rec_2023), sum(epargne), count(population), \
             max(population_status), max(epargne_status) \
             FROM publications.recettes_communes WHERE code IS NOT NULL"
        ),
        format!(
            "{},{},{},{},{},n.d.,s",
            communes.len(),
            decimal(sum(communes, 3)),
            decimal(sum(communes, 4)),
            decimal(sum(communes, 5)),
            communes.len() - 1
        )
    );
    // the printed total is the sum of the printed rows for the fully published columns
    assert_eq!(
        p.value(
            "SELECT commune, rec_2022, rec_2023 FROM publications.recettes_communes \
             WHERE code IS NULL"
        ),
        format!(
            "Ensemble,{},{}",
            decimal(sum(communes, 3)),
            decimal(sum(communes, 4))
        )
    );
    assert_eq!(total[0][1], "Ensemble");
    // percentages stay text as printed (NBSP read as a space)
    let r = communes.iter().find(|r| norm(&r[6]) == "12,5 %").unwrap();
    assert_eq!(
        p.value(&format!(
            "SELECT code, taux FROM publications.recettes_communes WHERE code = '{}'",
            r[0]
        )),
        format!("{},\"12,5 %\"", r[0])
    );
}
