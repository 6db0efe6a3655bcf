//! Materialized views (`materialize: table` in catalog.yaml): computed by `refresh` after the
//! pipelines, read instead of the view, recomputed only when their SQL or inputs change.

mod common;

use common::Proj;

/// `finances.fiche` is materialized in the repository's catalog.yaml.
#[test]
fn a_materialized_view_is_a_table_recomputed_only_when_its_sql_or_inputs_change() {
    let p = Proj::samples();
    let out = p.ok(&["refresh"]);
    assert!(
        out.contains("ok      finances.fiche: 556 read, 556 written"),
        "{out}"
    );
    // The table holds exactly what the view's SQL computes now.
    let sql = std::fs::read_to_string(p.path().join("sql/finances/fiche.sql")).unwrap();
    let summary =
        "count(*), sum(epargne_brute), sum(encours_dette), max(capacite_desendettement_annees)";
    let from_table = p.value(&format!("SELECT {summary} FROM finances.fiche"));
    let from_view = p.value(&format!("SELECT {summary} FROM ({sql}) v"));
    assert_eq!(from_table, from_view);
    assert!(from_table.starts_with("556,"), "{from_table}");
    let runs = p.rows(
        "SELECT status, rows_written, table_version FROM _ops.runs WHERE pipeline = 'finances.fiche'",
    );
    assert_eq!(runs, vec!["success,556,0"]);
    // Sorted for lookups by collectivité (cluster_by: [niveau, code, exercice]).
    let first = p.rows("SELECT niveau, code FROM finances.fiche LIMIT 3");
    assert!(first.iter().all(|r| r.starts_with("COM,")), "{first:?}");

    // Nothing changed: skipped.
    let out = p.ok(&["refresh"]);
    assert!(
        out.contains("skip    finances.fiche: unchanged since run"),
        "{out}"
    );

    // An input has a new version: recomputed, and the decision says which.
    let out = p.ok(&["refresh", "--full", "finances.ofgl_regions"]);
    assert!(!out.contains("finances.fiche"), "not selected: {out}");
    let plan = p.ok(&["plan"]);
    assert!(
        plan.contains("finances.fiche: inputs changed: finances.ofgl_regions v0 → v1"),
        "{plan}"
    );
    let out = p.ok(&["refresh", "finances.fiche"]);
    assert!(out.contains("ok      finances.fiche: 556 read"), "{out}");

    // A plain view it reads through changed: recomputed too.
    let agregats = p.path().join("sql/finances/agregats.sql");
    let text = std::fs::read_to_string(&agregats).unwrap();
    std::fs::write(&agregats, format!("{text}\n-- edited\n")).unwrap();
    let plan = p.ok(&["plan"]);
    assert!(
        plan.contains("finances.fiche: its SQL, cluster_by or a view it reads changed"),
        "{plan}"
    );
    p.ok(&["refresh"]);

    // Its SQL changed: recomputed with the new columns (the table is replaced whole).
    std::fs::write(
        p.path().join("sql/finances/fiche.sql"),
        format!("SELECT *, 1 AS nouvelle FROM ({sql}) f"),
    )
    .unwrap();
    let plan = p.ok(&["plan"]);
    assert!(
        plan.contains("finances.fiche: its SQL, cluster_by or a view it reads changed"),
        "{plan}"
    );
    p.ok(&["refresh"]);
    assert_eq!(p.value("SELECT sum(nouvelle) FROM finances.fiche"), "556");

    // Releases publish the table.
    let out = p.ok(&["publish", "--release", "m1"]);
    assert!(out.contains("published finances.fiche: 556 rows"), "{out}");
}

#[test]
fn materialize_is_refused_on_a_pipeline_table() {
    let p = Proj::samples();
    let cat = std::fs::read_to_string(p.path().join("catalog.yaml")).unwrap();
    let cat = cat.replacen(
        "  ref.departements:\n    publish: true\n",
        "  ref.departements:\n    publish: true\n    materialize: table\n",
        1,
    );
    p.write("catalog.yaml", cat);
    let out = p.run(&["validate"]);
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    assert!(
        err.contains("`ref.departements` is a pipeline's table: `materialize` and `cluster_by` are for views of sql/"),
        "{err}"
    );
}
