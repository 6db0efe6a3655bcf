//! Extraction on real PDFs from ../shared (OPENCOLL_SHARED overrides); fails when absent.

use oc_pdf::{Error, Options, Strategy};
use std::path::PathBuf;

fn shared() -> PathBuf {
    let p = std::env::var_os("OPENCOLL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    assert!(
        p.join("fixtures/real").is_dir(),
        "shared fixtures not found at {} (set OPENCOLL_SHARED)",
        p.display()
    );
    p
}

fn tables(rel: &str, pages: &[usize], strategy: Strategy, copy_spans: bool) -> Vec<oc_pdf::Table> {
    let pdf = oc_pdf::open(&shared().join(rel)).unwrap();
    let opts = Options {
        pages: Some(pages.iter().map(|p| oc_pdf::PageRange::one(*p)).collect()),
        strategy,
        copy_spans,
        ..Default::default()
    };
    oc_pdf::extract(&pdf, &opts).unwrap()
}

#[test]
fn faq_2011_groupes_de_reference_span_rows() {
    let t = &tables(
        "fixtures/real/dgfip/faq_2011.pdf",
        &[1],
        Strategy::Lattice,
        false,
    )[0];
    // 31 groupes de référence: régime fiscal (spanning) × strate de population, then Paris
    assert_eq!(t.rows.len(), 31);
    assert_eq!(t.n_cols(), 2);
    assert_eq!(
        t.rows[0][0],
        "Communes appartenant à un groupement à fiscalité propre «\nquatre taxes »"
    );
    assert_eq!(t.rows[0][1], "Communes de moins de 250 habitants");
    assert_eq!(t.rows[1], ["", "Communes de 250 à 499 habitants"]);
    assert_eq!(t.rows[30], ["Ville de Paris", ""]);
    // carried down: every strate row names its régime
    let t = &tables(
        "fixtures/real/dgfip/faq_2011.pdf",
        &[1],
        Strategy::Lattice,
        true,
    )[0];
    assert_eq!(t.rows[1][0], t.rows[0][0]);
    // three régimes × ten strates, then Paris
    assert_eq!(t.rows[9][1], "Communes de plus de 100.000 habitants");
    assert_eq!(t.rows[9][0], t.rows[0][0]);
    assert_ne!(t.rows[10][0], t.rows[0][0]);
    assert!(t.rows[10][0].starts_with("Communes appartenant à un groupement à fiscalité propre à"));
    assert_eq!(t.rows[10][1], "Communes de moins de 250 habitants");
    assert_eq!(t.rows[29][0], t.rows[20][0]);
}

#[test]
fn fonts_without_unicode_mapping_are_rejected() {
    let pdf = oc_pdf::open(&shared().join("fixtures/real/dgfip/methodo_commune_2013.pdf")).unwrap();
    let err = oc_pdf::extract(&pdf, &Options::default()).unwrap_err();
    assert!(matches!(err, Error::Unmapped { page: 1, .. }), "{err}");
    assert!(err.to_string().contains("without a Unicode mapping"));
    // a readable report of the same series passes the check
    let pdf =
        oc_pdf::open(&shared().join("fixtures/real/dgfip/methodo_departement_2013.pdf")).unwrap();
    assert!(oc_pdf::extract(&pdf, &Options::default()).is_ok());
}

#[test]
fn spanning_header_cells_and_two_tables_on_a_page() {
    let ts = tables(
        "corpus/pdf-peers/tabula-java/spanning_cells.pdf",
        &[1],
        Strategy::Lattice,
        false,
    );
    assert_eq!(ts.len(), 2);
    let expected = |name| {
        let p = shared().join("corpus/pdf-peers/tabula-java").join(name);
        let mut r = csv_rows(&std::fs::read_to_string(p).unwrap());
        r.retain(|row| row.iter().any(|c| !c.is_empty()));
        r
    };
    assert_eq!(
        csv_rows(&oc_pdf::to_csv(&ts[0])),
        expected("spanning_cells.p1.t1.csv")
    );
    assert_eq!(
        csv_rows(&oc_pdf::to_csv(&ts[1])),
        expected("spanning_cells.p1.t2.csv")
    );
}

#[test]
fn rotated_page_in_displayed_frame() {
    // schools.pdf: /Rotate 90, area given in the displayed frame
    let pdf = oc_pdf::open(&shared().join("corpus/pdf-peers/tabula-java/schools.pdf")).unwrap();
    let opts = Options {
        pages: Some(vec![oc_pdf::PageRange::one(1)]),
        strategy: Strategy::Lattice,
        area: Some(oc_pdf::parse_area("16.97,53.74,762.3,548.74").unwrap()),
        ..Default::default()
    };
    let t = &oc_pdf::extract(&pdf, &opts).unwrap()[0];
    let row = t
        .rows
        .iter()
        .find(|r| r.iter().any(|c| c == "Lidstad"))
        .expect("Lidstad row");
    let cells: Vec<&str> = row
        .iter()
        .map(String::as_str)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        cells,
        [
            "Lidstad",
            "Dick & Peg",
            "62 Mississippi River Blvd N",
            "Saint Paul",
            "MN",
            "55104",
            "retired",
            "10/12/2012",
            "60.00"
        ]
    );
}

/// Minimal RFC 4180 reader for the expected files (quoted cells with commas and newlines).
fn csv_rows(s: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut q = false;
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match (q, c) {
            (true, '"') if it.peek() == Some(&'"') => {
                it.next();
                cell.push('"');
            }
            (true, '"') => q = false,
            (true, c) => cell.push(c),
            (false, '"') => q = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push(row);
    }
    rows
}
