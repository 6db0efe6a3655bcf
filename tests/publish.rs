//! Releases for portals, read back by another engine (DuckDB) and compared with `opencoll sql`.

mod common;

use common::Proj;

#[test]
fn a_release_is_complete_immutable_and_readable_by_duckdb() {
    let p = Proj::samples();
    p.ok(&["refresh"]);
    let out = p.ok(&["publish", "--release", "2026-11"]);
    assert!(out.contains("published ref.communes: 75426 rows"), "{out}");
    let root = p.path().join("data/published");
    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("latest.json")).unwrap()).unwrap();
    assert_eq!(latest["release"], "2026-11");
    let catalog: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("2026-11/catalog.json")).unwrap()).unwrap();
    let communes = catalog["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "ref.communes")
        .unwrap();
    assert_eq!(communes["rows"], 75426);
    assert_eq!(
        communes["vintages"]["millesime"],
        serde_json::json!(["2021", "2026"])
    );
    assert_eq!(communes["licence"], "Licence Ouverte 2.0");
    // Every file listed exists with its sha256.
    for f in communes["files"].as_array().unwrap() {
        let bytes = std::fs::read(root.join("2026-11").join(f["path"].as_str().unwrap())).unwrap();
        assert_eq!(bytes.len() as u64, f["bytes"].as_u64().unwrap());
    }
    let schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join("2026-11/ref.communes.tableschema.json")).unwrap(),
    )
    .unwrap();
    let code = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "code")
        .unwrap();
    assert_eq!(code["type"], "string");
    assert_eq!(
        schema["primaryKey"],
        serde_json::json!(["millesime", "type_commune", "code"])
    );

    // A release is immutable.
    let again = p.run(&["publish", "--release", "2026-11"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(common::stderr(&again).contains("releases are immutable"));

    // DuckDB reads the hive-partitioned Parquet and finds the same figures as opencoll sql.
    let python = common::python_with_duckdb();
    let script = format!(
        r#"
import duckdb
r = "{root}/2026-11"
c = duckdb.sql(f"SELECT count(*), count(DISTINCT code), sum(population) FROM read_parquet('{{r}}/ref.communes/**/*.parquet', hive_partitioning=true) WHERE millesime = 2026 AND type_commune = 'COM'").fetchone()
v = duckdb.sql(f"SELECT count(*), sum(charges), min(code_insee) FROM read_parquet('{{r}}/finances.charges_produits_communes/*.parquet')").fetchone()
print(f"{{c[0]}}|{{c[1]}}|{{c[2]}}")
print(f"{{v[0]}}|{{v[1]}}|{{v[2]}}")
"#,
        root = root.display()
    );
    let duck: Vec<String> =
        common::run_ok(std::process::Command::new(python).arg("-c").arg(script))
            .lines()
            .map(str::to_string)
            .collect();
    let ours = p.value("SELECT count(*) || '|' || count(DISTINCT code) || '|' || sum(population) FROM ref.communes WHERE millesime = 2026 AND type_commune = 'COM'");
    assert_eq!(duck[0], ours);
    let ours = p.value("SELECT count(*) || '|' || sum(charges) || '|' || min(code_insee) FROM finances.charges_produits_communes");
    assert_eq!(duck[1], ours);
}
