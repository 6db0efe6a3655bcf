//! End to end on the committed samples: refresh, query, refresh again, row accounting.

mod common;

use common::Proj;

#[test]
fn refresh_samples_query_and_refresh_again_gives_identical_results() {
    let p = Proj::samples();
    let out = p.ok(&["refresh"]);
    for name in [
        "ref.communes",
        "ref.epci_membres",
        "ref.departements",
        "ref.regions",
        "finances.balances_communes",
    ] {
        assert!(out.contains(&format!("ok      {name}")), "{out}");
    }
    assert!(!out.contains("FAILED"), "{out}");

    // The figures of the "done when".
    assert_eq!(
        p.value(
            "SELECT count(*) FROM ref.communes WHERE millesime = 2026 AND type_commune = 'COM'"
        ),
        "34969"
    );
    assert_eq!(
        p.value(
            "SELECT count(*) FROM ref.communes WHERE millesime = 2021 AND type_commune = 'COM'"
        ),
        "35059"
    );
    // Every object of the packages is kept: 37 590 (2026) and 37 836 (2021).
    assert_eq!(
        p.rows("SELECT millesime, count(*) FROM ref.communes GROUP BY 1 ORDER BY 1"),
        vec!["2021,37836", "2026,37590"]
    );
    // The communes of the collectivités d'outre-mer are there, with their zone.
    assert_eq!(
        p.value("SELECT count(*) FROM ref.communes WHERE millesime = 2021 AND zone = 'com'"),
        "94"
    );
    // A code can be a commune and a commune déléguée in the same vintage.
    assert_eq!(
        p.rows("SELECT type_commune, nom, siren FROM ref.communes WHERE millesime = 2026 AND code = '85223' ORDER BY 1"),
        vec!["COM,Saint-Jean-d'Hermine,931949739", "COMD,Sainte-Hermine,"]
    );
    // Codes keep leading zeros and Corsican letters.
    assert_eq!(
        p.value("SELECT nom FROM ref.communes WHERE millesime = 2026 AND code = '01001'"),
        "L'Abergement-Clémenciat"
    );
    assert_eq!(p.value("SELECT nom FROM ref.communes WHERE millesime = 2026 AND code = '2A004' AND type_commune = 'COM'"), "Ajaccio");

    // Balances: every sample row is in, codes recomposed, the DGFiP identity holds on every row.
    assert_eq!(
        p.value("SELECT count(*) FROM finances.balances_communes"),
        "19500"
    );
    assert_eq!(
        p.value("SELECT count(*) FROM finances.balances_communes WHERE sd - sc <> (bedeb - becre) + (obnetdeb - obnetcre) + (onbdeb - onbcre)"),
        "0"
    );
    assert_eq!(
        p.rows("SELECT DISTINCT ndept, code_insee FROM finances.balances_communes WHERE code_insee IN ('2A004', '97101', '90010') ORDER BY 2"),
        vec!["02A,2A004", "090,90010", "101,97101"]
    );
    // Every balance row maps to a 2026 commune.
    assert_eq!(
        p.value("SELECT count(*) FROM finances.balances_communes b LEFT JOIN ref.communes c ON c.millesime = 2026 AND c.type_commune = 'COM' AND c.code = b.code_insee WHERE c.code IS NULL"),
        "0"
    );
    // Money is Decimal128(18,2), codes are strings (Utf8 or Utf8View as DataFusion reads them).
    let types = p.rows("SELECT arrow_typeof(sd), arrow_typeof(code_insee) LIKE 'Utf8%', arrow_typeof(exercice) FROM finances.balances_communes LIMIT 1");
    assert_eq!(types, vec!["\"Decimal128(18, 2)\",true,Int16"]);

    // The view: one row per commune's budget principal and exercice, sums equal to the table's.
    assert_eq!(
        p.value("SELECT count(*) FROM finances.charges_produits_communes"),
        "514"
    );
    assert_eq!(
        p.value("SELECT sum(charges) = (SELECT sum(obnetdeb - obnetcre) FROM finances.balances_communes WHERE cbudg = '1' AND compte LIKE '6%') FROM finances.charges_produits_communes"),
        "true"
    );
    assert_eq!(p.value("SELECT count(*) FROM finances.charges_produits_communes WHERE nom IS NULL OR population IS NULL"), "0");

    // Geography: every commune of COG 2021 maps to communes of COG 2026 (the 102 codes that
    // disappeared included), weights sum to 1, and the de-merged Neussargues-en-Pinatelle
    // (15141) is split between itself and the re-established Celles (15031) and three others.
    assert_eq!(
        p.value("SELECT count(*) FROM ref.communes c WHERE millesime = 2021 AND type_commune = 'COM' AND NOT EXISTS (SELECT 1 FROM ref.passage_communes p WHERE p.millesime_from = 2021 AND p.millesime_to = 2026 AND p.code_from = c.code)"),
        "0"
    );
    assert_eq!(
        p.value(
            "SELECT count(DISTINCT code_from) FROM ref.passage_communes WHERE evenement = 'fusion'"
        ),
        "102"
    );
    assert_eq!(p.value("SELECT count(*) FROM (SELECT code_from FROM ref.passage_communes GROUP BY code_from HAVING abs(sum(poids) - 1) > 1e-9)"), "0");
    assert_eq!(
        p.rows("SELECT code_to, evenement FROM ref.passage_communes WHERE code_from = '15141' ORDER BY code_to"),
        vec!["15031,rétablissement", "15035,rétablissement", "15047,rétablissement", "15141,identique", "15171,rétablissement"]
    );
    assert_eq!(
        p.value("SELECT code_to FROM ref.passage_communes WHERE code_from = '93059'"),
        "93066"
    );
    // Re-mapped populations keep the 2021 total (up to the rounding of split communes).
    assert_eq!(
        p.value("SELECT abs((SELECT sum(population_from) FROM ref.population_communes_remappee) - (SELECT sum(population) FROM ref.communes WHERE millesime = 2021 AND type_commune = 'COM')) <= 7"),
        "true"
    );
    // No double counting: Neussargues' 2021 population is spread, not copied, over its 5 parts.
    assert_eq!(
        // (each of the five parts is rounded to a whole inhabitant)
        p.value("SELECT abs(sum(r.population_from) - (SELECT population FROM ref.communes WHERE millesime = 2021 AND type_commune = 'COM' AND code = '15141')) <= 2 FROM ref.population_communes_remappee r WHERE r.code IN ('15031', '15035', '15047', '15141', '15171')"),
        "true"
    );

    // Agrégats computed from the balances: one recomputed here by hand, identities on all budgets.
    let rf = p.value(
        "SELECT sum((obnetcre - oobcre) - (obnetdeb - oobdeb)) FROM finances.balances_communes \
         WHERE exercice = 2024 AND ident = '21200001200014' AND compte LIKE '7%' \
         AND compte NOT LIKE '775%' AND compte NOT LIKE '776%' AND compte NOT LIKE '777%' AND compte NOT LIKE '78%'",
    );
    assert_eq!(
        p.value("SELECT montant FROM finances.agregats_dgfip WHERE exercice = 2024 AND ident = '21200001200014' AND agregat = 'Recettes de fonctionnement'"),
        rf
    );
    assert_eq!(
        p.value(
            "SELECT count(*) FROM (SELECT ident, exercice, \
               sum(CASE agregat WHEN 'Recettes de fonctionnement' THEN montant WHEN 'Dépenses de fonctionnement' THEN -montant ELSE 0 END) AS rf_df, \
               sum(CASE WHEN agregat = 'Epargne brute' THEN montant ELSE 0 END) AS eb \
             FROM finances.agregats_dgfip GROUP BY ident, exercice) WHERE rf_df <> eb"
        ),
        "0"
    );
    assert_eq!(
        p.value("SELECT count(DISTINCT agregat) FROM finances.agregats_dgfip"),
        "22"
    );

    // Harmonised finance model: DGFiP-computed and OFGL-published agrégats agree on every
    // collectivité of every level, per budget and consolidated.
    assert_eq!(
        p.value("SELECT count(*) FROM finances.reconciliation WHERE statut <> 'ok'"),
        "0"
    );
    assert_eq!(
        p.rows(
            "SELECT niveau, count(*) FROM finances.reconciliation GROUP BY niveau ORDER BY niveau"
        ),
        vec!["COM,4796", "DEP,168", "GFP,1408", "REG,252"]
    );
    assert_eq!(
        p.value("SELECT count(*) FROM finances.agregats WHERE nom IS NULL OR population IS NULL"),
        "0"
    );
    assert_eq!(
        p.value("SELECT count(DISTINCT niveau) FROM finances.fiche"),
        "4"
    );
    let out = p.ok(&["test"]);
    assert!(out.contains(" 0 failed"), "{out}");

    // Operational tables: one successful run per pipeline (17) and per materialized view
    // (finances.fiche), rows read = written + rejected.
    assert_eq!(
        p.value("SELECT count(*) FROM _ops.runs WHERE status = 'success'"),
        "18"
    );
    // The mergers (derived from seven vintages of the package) agree with the two vintages of
    // ref.communes: a code merged after 1 January 2021 is a commune of the COG 2021, and no
    // merged code is a commune of the COG 2026.
    assert_eq!(
        p.value("SELECT count(*) FROM ref.fusions_communes f WHERE f.dernier_cog >= 2021 AND NOT EXISTS (SELECT 1 FROM ref.communes c WHERE c.millesime = 2021 AND c.type_commune = 'COM' AND c.code = f.ancien_code)"),
        "0"
    );
    assert_eq!(
        p.value("SELECT count(*) FROM ref.fusions_communes f JOIN ref.communes c ON c.code = f.ancien_code AND c.millesime = 2026 AND c.type_commune = 'COM'"),
        "0"
    );
    assert_eq!(p.value("SELECT count(*) FROM _ops.runs WHERE rows_read <> rows_written + rows_rejected + rows_filtered"), "0");
    assert_eq!(p.value("SELECT count(*) FROM _ops.rejects"), "0");

    let snapshot = |p: &Proj| {
        (
            p.rows(
                "SELECT * FROM finances.charges_produits_communes ORDER BY exercice, code_insee",
            ),
            p.rows("SELECT * FROM ref.communes ORDER BY millesime, type_commune, code"),
            p.rows("SELECT * FROM ref.epci_membres ORDER BY millesime, siren_epci, code_membre"),
        )
    };
    let before = snapshot(&p);
    // Nothing changed: every pipeline (and the materialized view) is skipped.
    let out = p.ok(&["refresh"]);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("skip ")).count(),
        18,
        "{out}"
    );
    // Forced: every pipeline (and the materialized view) runs again and gives identical tables.
    let out = p.ok(&["refresh", "--full"]);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("ok ")).count(),
        18,
        "{out}"
    );
    assert_eq!(
        snapshot(&p),
        before,
        "a second refresh must give identical tables"
    );
    assert_eq!(
        p.value("SELECT max(table_version) FROM _ops.runs WHERE pipeline = 'ref.communes'"),
        "1"
    );

    // Catalog for machines: tables and views with row counts and column docs.
    let cat: serde_json::Value =
        serde_json::from_str(&p.ok(&["catalog", "--format", "json"])).unwrap();
    let communes = cat
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "ref.communes")
        .unwrap();
    assert_eq!(communes["rows"], 75426);
    assert!(communes["last_refresh"].is_string());
    let view = cat
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "finances.charges_produits_communes")
        .unwrap();
    assert_eq!(view["kind"], "view");
    assert!(
        view["columns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "charges" && c["type"] == "Decimal128(18, 2)")
    );

    // JSON output keeps codes as strings.
    let json: serde_json::Value = serde_json::from_str(&p.ok(&[
        "sql",
        "--format",
        "json",
        "SELECT code FROM ref.communes WHERE code = '01001' AND millesime = 2026",
    ]))
    .unwrap();
    assert_eq!(json[0]["code"], "01001");
}

/// Every table and view of the samples gives the same rows through the lake's own scan
/// (`LakeTable`) as through delta-rs' provider, the one it replaced (`OPENCOLL_LAKE_SCAN`).
#[test]
fn every_table_and_view_reads_the_same_through_delta_rs_provider() {
    let p = Proj::samples();
    p.ok(&["refresh"]);
    let names = p.rows(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables \
         WHERE table_schema NOT IN ('information_schema', 'public') ORDER BY 1",
    );
    assert!(names.len() > 25, "{names:?}");
    let delta_rs = [("OPENCOLL_LAKE_SCAN", "delta-rs".to_string())];
    let mut rows = 0;
    for name in &names {
        let sql = format!("SELECT * FROM {name}");
        let sorted = |out: String| {
            let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
            lines.sort();
            lines
        };
        let ours = sorted(p.ok(&["sql", "--format", "csv", &sql]));
        let theirs = sorted(p.ok_env(&delta_rs, &["sql", "--format", "csv", &sql]));
        assert_eq!(ours.len(), theirs.len(), "{name}: row counts differ");
        assert!(ours == theirs, "{name}: rows differ");
        rows += ours.len();
    }
    assert!(rows > 100_000, "only {rows} rows compared");
    // The switch is real: delta-rs' scan shows in its plans, not in ours.
    let explain = [
        "sql",
        "EXPLAIN SELECT count(*) FROM finances.balances_communes WHERE compte = '1641'",
    ];
    assert!(p.ok_env(&delta_rs, &explain).contains("DeltaScan"));
    assert!(!p.ok(&explain).contains("DeltaScan"));
}
