//! Workbooks through calamine: the real DGCL/DGFiP files of `../shared/fixtures/real`, the
//! committed synthetic publication, and a publication-style workbook written by another tool
//! (openpyxl). The real-file tests need `../shared` and fail without it.

mod common;

use common::{Proj, fixture, python_with_duckdb, run_ok, shared};

/// A pipeline of `tests/fixtures/pipelines/workbooks`, reading from the real fixtures.
fn pipeline(name: &str) -> String {
    let real = shared().to_string_lossy().into_owned();
    fixture(&format!("workbooks/{name}"), &[("REAL", &real)])
}

#[test]
fn epcicom_2023_siren_stored_as_numbers_and_member_counts() {
    let p = Proj::empty(&["ref"]);
    p.write("pipelines/epcicom.yaml", pipeline("epcicom.yaml"));
    let out = p.ok(&["refresh"]);
    assert!(
        out.contains("34941 read, 34941 written, 0 rejected"),
        "{out}"
    );
    assert_eq!(
        p.value("SELECT count(DISTINCT siren) FROM ref.epcicom"),
        "1255"
    );
    // SIREN stored as floats come out as 9-character codes.
    assert_eq!(
        p.value(
            "SELECT count(*) FROM ref.epcicom WHERE length(siren) <> 9 OR length(siren_membre) <> 9 \
             OR siren LIKE '%.%' OR siren_membre LIKE '%.%'"
        ),
        "0"
    );
    assert_eq!(
        p.value("SELECT raison_sociale FROM ref.epcicom WHERE siren = '200029999' LIMIT 1"),
        "CC Rives de l'Ain - Pays du Cerdon"
    );
    // nb_membres and total_pop_tot are the members' count and sum, for every EPCI.
    assert_eq!(
        p.value(
            "SELECT count(*) FROM (SELECT siren, max(nb_membres) AS n, max(total_pop_tot) AS pop, \
             count(*) AS members, sum(ptot) AS s, count(DISTINCT nb_membres) AS k \
             FROM ref.epcicom GROUP BY siren) WHERE n <> members OR pop <> s OR k <> 1"
        ),
        "0"
    );
}

#[test]
fn projets_dotations_long_sheet_name_and_lying_dimension() {
    let p = Proj::empty(&["dgcl"]);
    p.write("pipelines/projets.yaml", pipeline("projets_2019.yaml"));
    // The first sheet's variable list: a table in the middle of a title block.
    p.write(
        "pipelines/variables.yaml",
        pipeline("projets_2019_variables.yaml"),
    );
    let out = p.ok(&["refresh"]);
    assert!(
        out.contains("24811 read, 24811 written, 0 rejected"),
        "{out}"
    );
    assert_eq!(
        p.value("SELECT count(*) FROM dgcl.projets_2019 WHERE id_projet IS NULL"),
        "0"
    );
    assert_eq!(
        p.rows("SELECT id_projet, id_dep, cout_total, montant_sub FROM dgcl.projets_2019 WHERE id_projet IN ('di19_dep000001', 'di19_com20253') ORDER BY 1"),
        vec!["di19_com20253,69,585237.44,87786.00", "di19_dep000001,01,4000000.00,1000000.00"]
    );
    // The documented variables are exactly the data sheet's columns.
    let vars = p.rows("SELECT variable FROM dgcl.projets_2019_variables");
    assert_eq!(
        vars,
        vec![
            "id_projet",
            "id_dep",
            "id_terr",
            "nom_terr",
            "pop19",
            "dotation",
            "echelon",
            "categorie",
            "description",
            "cout_total",
            "montant_sub",
            "pct_sub",
            "lat",
            "long"
        ]
    );
}

#[test]
fn aspic_xlsx_and_csv_give_identical_tables() {
    let p = Proj::empty(&["dgcl"]);
    // The two pipelines differ only by their name and source: they declare the same columns.
    p.write("pipelines/aspic_csv.yaml", pipeline("aspic_csv.yaml"));
    p.write("pipelines/aspic_xlsx.yaml", pipeline("aspic_xlsx.yaml"));
    let out = p.ok(&["refresh"]);
    assert_eq!(
        out.matches("12 read, 12 written, 0 rejected").count(),
        2,
        "{out}"
    );
    for (a, b) in [("aspic_csv", "aspic_xlsx"), ("aspic_xlsx", "aspic_csv")] {
        assert_eq!(
            p.value(&format!(
                "SELECT count(*) FROM (SELECT * FROM dgcl.{a} EXCEPT SELECT * FROM dgcl.{b})"
            )),
            "0"
        );
    }
    assert_eq!(
        p.rows("SELECT code, siren, tel, tcam FROM dgcl.aspic_xlsx WHERE code = '01001'"),
        vec!["01001,210100012,0474240308,0.104085575397717"]
    );
}

/// A publication-style workbook written by openpyxl (not by our generator): title block,
/// 2-row merged header, years as columns (numbers and `2023 (p)`), an indented `dont` row, a
/// number stored as French text, a code stored as a number, secret and missing cells, a total
/// row and footnotes. It must load into exactly the long table the pipeline declares.
#[test]
fn a_publication_written_by_openpyxl_loads_into_the_declared_long_table() {
    let p = Proj::empty(&["publications"]);
    let book = p.path().join("tableau3.xlsx");
    let script = r#"
import sys, openpyxl
from openpyxl.styles import Alignment
wb = openpyxl.Workbook()
ws = wb.active
ws.title = "Tableau 3"
ws["A1"] = "Tableau 3 – Dotations de l'État aux départements"
ws.merge_cells("A1:E1")
ws["A2"] = "En euros"
ws["A4"] = "Département"; ws.merge_cells("A4:A5")
ws["B4"] = "Code"; ws.merge_cells("B4:B5")
ws["C4"] = "Dotations"; ws.merge_cells("C4:E4")
ws["C5"] = 2021; ws["D5"] = 2022; ws["E5"] = "2023 (p)"
rows = [
    ("Ain", "01", 1234.5, "12\u00a0345,6", 7),
    ("dont DGF", "01", 1000, 1100, "s"),
    ("Aisne", 2, "n.d.", 5, 6.25),
    ("Total", None, 2234.5, 13450.6, 13.25),
]
for i, row in enumerate(rows):
    for j, v in enumerate(row):
        ws.cell(row=6 + i, column=1 + j, value=v)
ws["A7"].alignment = Alignment(indent=1)
ws["A11"] = "(p) Données provisoires. s : secret statistique ; n.d. : non disponible."
ws["A12"] = "Source : DGCL (exemple)."
wb.save(sys.argv[1])
"#;
    run_ok(
        std::process::Command::new(python_with_duckdb())
            .args(["-c", script])
            .arg(&book),
    );
    p.write(
        "pipelines/tableau3.yaml",
        r#"name: publications.tableau3
source:
  path: tableau3.xlsx
  xlsx:
    sheet: 1
    header_rows: 2
    stop_at: blank
    decimal: ","
    thousands: " "
    hierarchy: { label: Département, by: indent }
transform:
  - unpivot: { columns: "/\\d{4}/", name: annee, value: montant, flag: marque }
columns:
  departement: { from: Département }
  code:        { from: Code, type: code, width: 2 }
  parent:      { from: parent }
  annee:       { from: annee, type: int16 }
  marque:      { from: marque }
  montant:     { from: montant, type: "decimal(18,2)", status: true }
"#,
    );
    let out = p.ok(&["refresh"]);
    assert!(out.contains("12 read, 12 written, 0 rejected"), "{out}");
    assert_eq!(
        p.rows(
            "SELECT departement, code, parent, annee, marque, montant, montant_status \
             FROM publications.tableau3 ORDER BY departement, annee"
        ),
        vec![
            "Ain,01,,2021,,1234.50,",
            "Ain,01,,2022,,12345.60,",
            "Ain,01,,2023,p,7.00,",
            "Aisne,02,,2021,,,n.d.",
            "Aisne,02,,2022,,5.00,",
            "Aisne,02,,2023,p,6.25,",
            "Total,,,2021,,2234.50,",
            "Total,,,2022,,13450.60,",
            "Total,,,2023,p,13.25,",
            "dont DGF,01,Ain,2021,,1000.00,",
            "dont DGF,01,Ain,2022,,1100.00,",
            "dont DGF,01,Ain,2023,p,,s",
        ]
    );
    // The footnotes are kept with the commit, not loaded as rows.
    let log = std::fs::read_dir(p.path().join("data/lake/publications/tableau3/_delta_log"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect::<String>();
    assert!(log.contains("Source : DGCL (exemple)."), "{log}");
}

/// The committed synthetic publication (tools/oc-gen) loads into its long table, and every
/// figure that is not secret equals the harmonised OFGL amount it was generated from.
#[test]
fn sample_publication_matches_the_finance_views() {
    let p = Proj::samples();
    p.ok(&["refresh"]);
    assert_eq!(
        p.rows(
            "SELECT edition, count(*), count(montant), count(montant_status) \
             FROM publications.comptes_regions GROUP BY edition ORDER BY edition"
        ),
        // Édition 2024: 3 régions × 5 lines × 1 year + 5 totals; 2025: two years.
        vec!["2024,20,19,1", "2025,40,39,1"]
    );
    assert_eq!(
        p.rows(
            "SELECT edition, statut, count(*) FROM publications.comparaison_ofgl \
             GROUP BY edition, statut ORDER BY edition, statut"
        ),
        vec![
            "2024,provisoire révisé,14",
            "2024,secret,1",
            "2025,identique,29",
            "2025,secret,1",
        ]
    );
    // `dont` rows carry their parent; the secret cell is the one the generator hid.
    assert_eq!(
        p.rows(
            "SELECT DISTINCT parent FROM publications.comptes_regions WHERE libelle LIKE 'dont %'"
        ),
        vec!["Dépenses de fonctionnement"]
    );
    assert_eq!(
        p.rows(
            "SELECT edition, code, libelle, exercice FROM publications.comptes_regions \
             WHERE montant_status = 's' ORDER BY edition"
        ),
        vec![
            "2024,94,dont charges financières,2023",
            "2025,94,dont charges financières,2023"
        ]
    );
}

/// Legacy BIFF `.xls`, one sheet per year, free layout: the definitions table (agrégat label in
/// column A, formula text in a merged block starting in column E) for 2011–2013.
#[test]
fn collocgouv_xls_definitions_one_sheet_per_year() {
    let p = Proj::empty(&["dgfip"]);
    p.write(
        "pipelines/definitions.yaml",
        pipeline("definitions_communes.yaml"),
    );
    p.ok(&["refresh"]);
    assert_eq!(
        p.rows("SELECT exercice, count(*) FROM dgfip.definitions_communes GROUP BY 1 ORDER BY 1"),
        vec!["2011,26", "2012,26", "2013,26"]
    );
    assert_eq!(
        p.value(
            "SELECT formule FROM dgfip.definitions_communes \
             WHERE exercice = 2012 AND agregat = 'Total des produits de fonctionnement (A)'"
        ),
        "\"Crédits nets des comptes de la classe 7 (y compris 70389, 739 et 7419).\""
    );
    assert_eq!(
        p.value(
            "SELECT formule FROM dgfip.definitions_communes \
             WHERE exercice = 2013 AND agregat = '- charges financières'"
        ),
        "Débits nets du compte 66."
    );
}

/// A workbook whose second data row is numbered past u32 (4294967299): calamine's arithmetic
/// on the reference overflowed. Release builds used to wrap it to row 3, so the file read as
/// two good rows; now every build checks calamine's arithmetic (Cargo.toml) and the file is an
/// error naming it, with where the reader stopped, and no panic message before it.
#[test]
fn a_row_numbered_past_u32_is_the_files_error_in_every_build_without_a_panic_message() {
    use std::io::Write;
    let p = Proj::empty(&["raw"]);
    let sheet = |row: u64| {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>code</t></is></c><c r="B1" t="inlineStr"><is><t>nom</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>01001</t></is></c><c r="B2" t="inlineStr"><is><t>A</t></is></c></row><row r="{row}"><c r="A{row}" t="inlineStr"><is><t>01002</t></is></c><c r="B{row}" t="inlineStr"><is><t>B</t></is></c></row></sheetData></worksheet>"#
        )
    };
    let book = |row: u64, name: &str| {
        let path = p.dir.path().join(name);
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        for (part, xml) in [
            ("[Content_Types].xml", r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_string()),
            ("_rels/.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_string()),
            ("xl/workbook.xml", r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Feuil1" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_string()),
            ("xl/_rels/workbook.xml.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.to_string()),
            ("xl/worksheets/sheet1.xml", sheet(row)),
        ] {
            zip.start_file(part, options).unwrap();
            zip.write_all(xml.as_bytes()).unwrap();
        }
        zip.finish().unwrap();
        path
    };
    let infer = |path: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_opencoll"))
            .arg("infer")
            .arg(path)
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap()
    };
    let good = infer(&book(3, "good.xlsx"));
    assert!(good.status.success(), "{}", common::stderr(&good));
    assert!(
        common::stdout(&good).contains("from 2 rows"),
        "{}",
        common::stdout(&good)
    );

    let bad = infer(&book(4_294_967_299, "bad.xlsx"));
    let e = common::stderr(&bad);
    assert_eq!(bad.status.code(), Some(1), "{e}");
    assert!(
        e.contains("bad.xlsx: the file is damaged: the reader stopped on it (attempt to add with overflow, at calamine-"),
        "{e}"
    );
    assert!(!e.contains("panicked") && !e.contains("backtrace"), "{e}");

    // the same through a refresh: the run fails on the file, nothing is written
    p.write(
        "pipelines/bad.yaml",
        "name: raw.bad\nsource: { path: bad.xlsx, xlsx: { sheet: Feuil1 } }\ncolumns:\n  code: { from: code, type: code, width: 5 }\n  nom: { from: nom }\n",
    );
    let out = p.run_env(&[("RUST_BACKTRACE", "1".into())], &["refresh"]);
    let e = format!("{}{}", common::stdout(&out), common::stderr(&out));
    assert!(!out.status.success(), "{e}");
    assert!(e.contains("bad.xlsx") && e.contains("overflow"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}
