//! Real public files from `../shared/fixtures/real` (see its MANIFEST.md), read by pipelines
//! the way a user would write them. These tests need the folder and fail without it.

mod common;

use common::{Proj, shared};

fn fixture(rel: &str) -> String {
    shared().join(rel).to_string_lossy().into_owned()
}

#[test]
fn legacy_cog_2017_tab_windows_1252_crlf() {
    let p = Proj::empty(&["ref"]);
    p.write(
        "pipelines/cog2017.yaml",
        format!(
            r#"name: ref.cog_2017
source:
  path: {}
  csv: {{ delimiter: tab, encoding: windows-1252 }}
columns:
  actual: {{ from: ACTUAL, type: int16 }}
  dep: {{ from: DEP, type: code }}
  com: {{ from: COM, type: code, width: 3 }}
  code: {{ sql: "dep || com" }}
  nccenr: {{ from: NCCENR }}
  artmin: {{ from: ARTMIN }}
"#,
            fixture("insee-cog/France2017.txt")
        ),
    );
    let out = p.ok(&["refresh"]);
    assert!(
        out.contains("39929 read, 39929 written, 0 rejected"),
        "{out}"
    );
    assert_eq!(p.value("SELECT count(*) FROM ref.cog_2017"), "39929");
    // Œ is 0x8C in windows-1252 (it does not exist in ISO-8859-1).
    assert_eq!(
        p.rows(
            "SELECT code FROM ref.cog_2017 WHERE nccenr = 'Œuilly' AND actual = 1 ORDER BY code"
        ),
        vec!["02565", "51410"]
    );
    assert_eq!(
        p.value("SELECT nccenr FROM ref.cog_2017 WHERE code = '01001'"),
        "Abergement-Clémenciat"
    );
    assert_eq!(
        p.value("SELECT count(*) FROM ref.cog_2017 WHERE nccenr LIKE '%\r%' OR artmin LIKE '%\r%'"),
        "0"
    );
    assert_eq!(
        p.value("SELECT count(*) FROM ref.cog_2017 WHERE code = '2A004' AND actual = 1"),
        "1"
    );
}

#[test]
fn ofgl_guadeloupe_export_bom_and_year_in_headers() {
    let p = Proj::empty(&["ofgl"]);
    p.write(
        "pipelines/ofgl.yaml",
        format!(
            r#"name: ofgl.agregats_communes
source:
  path: {}
  csv: {{ delimiter: ";" }}
columns:
  exercice: {{ from: Exercice, type: int16 }}
  code_insee: {{ from: "/^Code Insee \\d{{4}} Commune$/", type: code, width: 5 }}
  nom: {{ from: "/^Nom \\d{{4}} Commune$/" }}
  siren: {{ from: Code Siren Collectivité, type: code, width: 9 }}
  siret_budget: {{ from: Siret Budget, type: code, width: 14 }}
  type_budget: {{ from: Type de budget }}
  agregat: {{ from: Agrégat }}
  montant: {{ from: Montant, type: "decimal(18,2)" }}
  population: {{ from: Population totale, type: int64 }}
  euros_par_habitant: {{ from: Montant en € par habitant, type: float64 }}
  outre_mer: {{ from: Outre-mer, type: bool }}
"#,
            fixture("ofgl/ofgl-base-communes_2024_dep971.csv")
        ),
    );
    let out = p.ok(&["refresh"]);
    assert!(out.contains("2505 read, 2505 written, 0 rejected"), "{out}");
    assert_eq!(
        p.value("SELECT count(DISTINCT code_insee) FROM ofgl.agregats_communes"),
        "32"
    );
    assert_eq!(p.value("SELECT count(*) FROM ofgl.agregats_communes WHERE code_insee NOT LIKE '971__' OR NOT outre_mer"), "0");
    assert_eq!(
        p.value("SELECT nom FROM ofgl.agregats_communes WHERE code_insee = '97101' LIMIT 1"),
        "Les Abymes"
    );
    assert_eq!(
        p.value("SELECT count(DISTINCT agregat) FROM ofgl.agregats_communes"),
        "50"
    );
    // The BOM is not part of the first header: `Exercice` was found and typed.
    assert_eq!(
        p.value("SELECT min(exercice) || '-' || max(exercice) FROM ofgl.agregats_communes"),
        "2024-2024"
    );
}

#[test]
fn dgfip_2024_balance_sample_identity_holds() {
    let p = Proj::empty(&["finances"]);
    p.write(
        "pipelines/bal.yaml",
        format!(
            r#"name: finances.balances_2024_sample
source:
  path: {}
  csv: {{ delimiter: ";" }}
columns:
  exercice: {{ from: exer, type: int16 }}
  ndept: {{ from: ndept, type: code, width: 3 }}
  insee: {{ from: insee, type: code, width: 3 }}
  code_insee: {{ sql: "insee_from_dgfip(ndept, insee)" }}
  lbudg: {{ from: lbudg }}
  siren: {{ from: siren, type: code, width: 9 }}
  compte: {{ from: compte, type: code }}
  bedeb: {{ from: bedeb, type: "decimal(18,2)" }}
  becre: {{ from: becre, type: "decimal(18,2)" }}
  obnetdeb: {{ from: obnetdeb, type: "decimal(18,2)" }}
  obnetcre: {{ from: obnetcre, type: "decimal(18,2)" }}
  onbdeb: {{ from: onbdeb, type: "decimal(18,2)" }}
  onbcre: {{ from: onbcre, type: "decimal(18,2)" }}
  sd: {{ from: sd, type: "decimal(18,2)" }}
  sc: {{ from: sc, type: "decimal(18,2)" }}
"#,
            fixture("dgfip/balances-comptables-communes-2024_sample.csv")
        ),
    );
    p.ok(&["refresh"]);
    assert_eq!(
        p.value("SELECT count(*) FROM finances.balances_2024_sample"),
        "20"
    );
    assert_eq!(
        p.value("SELECT count(*) FROM finances.balances_2024_sample WHERE sd - sc = (bedeb - becre) + (obnetdeb - obnetcre) + (onbdeb - onbcre)"),
        "20"
    );
    assert_eq!(
        p.value(
            "SELECT DISTINCT code_insee FROM finances.balances_2024_sample WHERE lbudg = 'GRENOBLE'"
        ),
        "38185"
    );
    assert_eq!(
        p.value("SELECT count(*) FROM finances.balances_2024_sample WHERE code_insee IS NULL"),
        "0"
    );
}

#[test]
fn epci_compositions_2016_and_2017() {
    let p = Proj::empty(&["ref"]);
    let dir = fixture("dgcl");
    p.write(
        "pipelines/epci.yaml",
        format!(
            r#"name: ref.epci_composition
source:
  path: {dir}/epci_composition_{{annee}}.csv
  vars: {{ annee: [2016, 2017] }}
  csv: {{ delimiter: ";" }}
columns:
  annee: {{ var: annee, type: int16 }}
  siren: {{ from: siren, type: code, width: 9 }}
  nom: {{ from: nom }}
  nature: {{ from: nature }}
  nb_com: {{ from: nb_com, type: int32 }}
  ptot: {{ from: ptot, type: int64 }}
  insee: {{ from: insee, type: code, width: 5 }}
  siren_com: {{ from: siren_com, type: code, width: 9 }}
  ptot_com: {{ from: ptot_com, type: int64 }}
target: {{ partition_by: [annee] }}
"#
        ),
    );
    p.ok(&["refresh"]);
    assert_eq!(
        p.rows("SELECT annee, count(DISTINCT siren), count(*) FROM ref.epci_composition GROUP BY annee ORDER BY annee"),
        vec!["2016,2063,35858", "2017,1267,35411"]
    );
    // Each EPCI's declared member count and population match its member rows.
    assert_eq!(
        p.value(
            "SELECT count(*) FROM (SELECT annee, siren, max(nb_com) AS nb, count(*) AS n, max(ptot) AS ptot, sum(ptot_com) AS s \
             FROM ref.epci_composition GROUP BY annee, siren) WHERE nb <> n OR ptot <> s"
        ),
        "0"
    );
}

#[test]
fn ofgl_identities_hold_on_the_guadeloupe_2024_export() {
    // Declared as data tests, the way an analyst would: row-level on the table, per budget on a view.
    let p = Proj::empty(&["ofgl"]);
    p.write(
        "pipelines/ofgl.yaml",
        format!(
            r#"name: ofgl.communes
source:
  path: {}
  csv: {{ delimiter: ";" }}
columns:
  exercice: {{ from: Exercice, type: int16 }}
  code_insee: {{ from: "/^Code Insee \\d{{4}} Commune$/", type: code, width: 5 }}
  siret_budget: {{ from: Siret Budget, type: code, width: 14 }}
  agregat: {{ from: Agrégat }}
  montant: {{ from: Montant, type: "decimal(18,2)" }}
  montant_millions: {{ from: Montant en millions, type: float64 }}
  population: {{ from: Population totale, type: int64 }}
  euros_par_habitant: {{ from: Montant en € par habitant, type: float64 }}
checks:
  - {{ unique: [siret_budget, agregat] }}
  - name: €/hab = montant / population
    identity: {{ left: euros_par_habitant, right: "CAST(montant AS DOUBLE) / population", tolerance: 0.01 }}
  - name: montant en millions = montant / 1e6
    identity: {{ left: montant_millions, right: "CAST(montant AS DOUBLE) / 1e6", tolerance: 0.000001 }}
"#,
            fixture("ofgl/ofgl-base-communes_2024_dep971.csv")
        ),
    );
    p.write(
        "sql/ofgl/budgets.sql",
        "SELECT siret_budget,
           sum(CASE WHEN agregat = 'Recettes totales' THEN montant END) AS recettes_totales,
           sum(CASE WHEN agregat = 'Recettes de fonctionnement' THEN montant END) AS rf,
           sum(CASE WHEN agregat = 'Recettes d''investissement' THEN montant END) AS ri,
           sum(CASE WHEN agregat = 'Dépenses de fonctionnement' THEN montant END) AS df,
           sum(CASE WHEN agregat = 'Epargne brute' THEN montant END) AS epargne_brute
         FROM ofgl.communes GROUP BY siret_budget",
    );
    let catalog = std::fs::read_to_string(p.path().join("catalog.yaml")).unwrap();
    p.write(
        "catalog.yaml",
        catalog
            + "datasets:\n  ofgl.budgets:\n    checks:\n      - { row_count: { min: 56, max: 56 } }\n      - name: Recettes totales = RF + RI\n        identity: { left: recettes_totales, right: rf + ri, tolerance: 0.02 }\n      - name: Epargne brute = RF - DF\n        identity: { left: epargne_brute, right: rf - df, tolerance: 0.02 }\n",
    );
    let out = p.ok(&["refresh"]);
    assert!(
        out.contains("2505 read, 2505 written, 0 rejected") && out.contains("checks: 3/3 passed"),
        "{out}"
    );
    let out = p.ok(&["test"]);
    assert!(
        out.contains("6 checks: 6 passed, 0 warned, 0 failed"),
        "{out}"
    );
    assert!(
        out.contains("pass    Recettes totales = RF + RI on ofgl.budgets: 0 of 56 rows fail"),
        "{out}"
    );
}
