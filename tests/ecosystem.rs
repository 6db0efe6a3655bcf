//! The lake read by the engines analysts already use, installed by scripts/ecosystem-tools.sh:
//! the Delta tables (on disk and on an S3 server) by delta-rs's Python bindings, Polars and
//! DuckDB's delta extension; a release by PySpark. Each engine must find the figures that
//! `opencoll sql` computes in the same test: row counts, exact sums of money, distinct codes,
//! codes with their leading zero.
//!
//! The readers are tests/fixtures/ecosystem/delta_readers.py and spark_release.py; they print
//! `ENGINE<TAB>CHECK<TAB>VALUE` lines, several figures of a check joined with `|`.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{Proj, count_files, repo};

/// The checks of delta_readers.py, as `opencoll sql` computes them.
const DELTA_CHECKS: &[(&str, &str)] = &[
    ("communes_rows", "SELECT count(*) FROM ref.communes"),
    (
        "communes_2026",
        "SELECT count(*) || '|' || count(DISTINCT code) || '|' || sum(population) || '|' || min(code) \
         FROM ref.communes WHERE millesime = 2026 AND type_commune = 'COM'",
    ),
    (
        "commune_01001",
        "SELECT nom || '|' || departement FROM ref.communes \
         WHERE millesime = 2026 AND type_commune = 'COM' AND code = '01001'",
    ),
    (
        "balances",
        "SELECT count(*) || '|' || sum(sd) || '|' || sum(sc) || '|' || count(DISTINCT code_insee) \
         || '|' || min(ndept) FROM finances.balances_communes",
    ),
    (
        "departements",
        "SELECT count(*) || '|' || count(DISTINCT code) || '|' || min(code) FROM ref.departements",
    ),
];

/// `(check, value)` per engine, from the readers' output; `_version` lines are kept apart.
type Figures = BTreeMap<String, BTreeMap<String, String>>;

fn parse(out: &str) -> (Figures, Vec<String>) {
    let mut figures = Figures::new();
    let mut versions = Vec::new();
    for line in out.lines() {
        let mut parts = line.splitn(3, '\t');
        let (Some(engine), Some(check), Some(value)) = (parts.next(), parts.next(), parts.next())
        else {
            panic!("unexpected reader output line: {line:?}\n{out}");
        };
        if check == "_version" {
            versions.push(format!("{engine} {value}"));
        } else {
            figures
                .entry(engine.to_string())
                .or_default()
                .insert(check.to_string(), value.to_string());
        }
    }
    (figures, versions)
}

/// Every engine found every expected figure, and nothing else; on failure, the whole table.
fn assert_same(what: &str, expected: &BTreeMap<String, String>, engines: &[&str], out: &str) {
    let (figures, versions) = parse(out);
    println!("{what}: {}", versions.join(", "));
    let mut wrong = Vec::new();
    for engine in engines {
        let got = figures.get(*engine).cloned().unwrap_or_default();
        for (check, want) in expected {
            match got.get(check) {
                Some(v) if v == want => {}
                Some(v) => wrong.push(format!("{engine} {check}: {v} (opencoll sql: {want})")),
                None => wrong.push(format!("{engine} {check}: missing (opencoll sql: {want})")),
            }
        }
        for check in got.keys().filter(|c| !expected.contains_key(*c)) {
            wrong.push(format!("{engine} {check}: not checked against opencoll"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{what}: the engines disagree with opencoll sql:\n  {}\nreaders' output:\n{out}",
        wrong.join("\n  ")
    );
}

/// The tables of the lake, as `opencoll catalog` lists them (views left out).
fn tables(catalog: &str) -> Vec<String> {
    let tables: Vec<String> = catalog
        .lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_once(" (table)").map(|(name, _)| name.to_string()))
        .collect();
    assert!(
        tables.len() > 10 && tables.iter().any(|t| t == "_ops.runs"),
        "{catalog}"
    );
    tables
}

/// The value of each `(check, query)` (every query gives one value), computed by one `opencoll
/// sql` run with the environment `env` (an S3 lake's settings, or nothing).
fn opencoll_values(
    p: &Proj,
    env: &[(&str, String)],
    checks: &[(String, String)],
) -> BTreeMap<String, String> {
    let sql = checks
        .iter()
        .map(|(check, query)| format!("SELECT '{check}' AS c, CAST(({query}) AS VARCHAR) AS v"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let out = p.ok_env(env, &["sql", "--format", "csv", &sql]);
    let values: BTreeMap<String, String> = out
        .lines()
        .skip(1)
        .map(|line| {
            let (check, value) = line.split_once(',').unwrap();
            assert!(!value.contains('"'), "a value CSV had to quote: {line}");
            (check.to_string(), value.to_string())
        })
        .collect();
    assert_eq!(values.len(), checks.len(), "{out}");
    values
}

/// The figures of DELTA_CHECKS, and the row count of every table (`rows:domain.name`), as
/// `opencoll sql` computes them with the environment `env`; and the tables.
fn opencoll_figures(p: &Proj, env: &[(&str, String)]) -> (BTreeMap<String, String>, Vec<String>) {
    let tables = tables(&p.ok_env(env, &["catalog"]));
    let checks: Vec<(String, String)> = DELTA_CHECKS
        .iter()
        .map(|(check, sql)| (check.to_string(), sql.to_string()))
        .chain(
            tables
                .iter()
                .map(|t| (format!("rows:{t}"), format!("SELECT count(*) FROM {t}"))),
        )
        .collect();
    let expected = opencoll_values(p, env, &checks);
    // Sanity: the checks say what they mean to (a commune code and a département code that
    // start with 0, cents in the sums).
    assert!(
        expected["communes_2026"].ends_with("|01001"),
        "{expected:?}"
    );
    assert!(expected["commune_01001"].ends_with("|01"), "{expected:?}");
    assert!(expected["departements"].ends_with("|01"), "{expected:?}");
    assert!(
        expected["balances"]
            .split('|')
            .nth(1)
            .unwrap()
            .contains('.'),
        "{expected:?}"
    );
    (expected, tables)
}

fn reader(script: &str) -> Command {
    let mut cmd = Command::new(common::python_with_ecosystem());
    cmd.arg(repo().join("tests/fixtures/ecosystem").join(script));
    cmd
}

#[test]
fn the_delta_tables_read_by_deltalake_polars_and_duckdb_give_the_figures_of_opencoll_sql() {
    let p = Proj::samples();
    p.ok(&["refresh"]);
    // Ten more versions of one table: a checkpoint to read, and files on disk that the log has
    // removed (a reader that globbed the Parquet files would count every row eleven times).
    for _ in 0..10 {
        p.ok(&["refresh", "--full", "ref.departements"]);
    }
    let departements = p.path().join("data/lake/ref/departements");
    assert_eq!(
        count_files(&departements.join("_delta_log"), ".checkpoint.parquet"),
        1
    );
    // Two live files (one per millésime) and the checkpoint; the rest were removed by the log.
    let files = count_files(&departements, ".parquet");
    assert!(files > 2 + 1, "{files} Parquet files");

    let (expected, tables) = opencoll_figures(&p, &[]);
    let engines = ["deltalake", "polars", "duckdb"];
    let out = common::run_ok(
        reader("delta_readers.py")
            .arg(p.path().join("data/lake"))
            .arg(tables.join(","))
            .args(engines),
    );
    assert_same("local lake", &expected, &engines, &out);
}

#[test]
fn a_lake_on_s3_read_by_deltalake_polars_and_duckdb_gives_the_figures_of_opencoll_sql() {
    let s3 = common::S3::start();
    let env = s3.env();
    let p = Proj::samples();
    p.ok_env(&env, &["refresh"]);
    assert!(!p.path().join("data/lake").exists());

    let (expected, tables) = opencoll_figures(&p, &env);
    let engines = ["deltalake", "polars", "duckdb"];
    let out = common::run_ok(
        reader("delta_readers.py")
            .arg("s3://lake/opencoll")
            .arg(tables.join(","))
            .args(engines)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str()))),
    );
    assert_same("S3 lake", &expected, &engines, &out);
}

#[test]
fn a_release_read_by_pyspark_gives_the_figures_of_opencoll_sql() {
    let p = Proj::samples();
    p.ok(&["refresh"]);
    p.ok(&["publish", "--release", "2026-11"]);
    let release = p.path().join("data/published/2026-11");

    // The release's datasets are the lake's tables and views: opencoll sql computes the figures
    // on the lake, Spark on the release's Parquet files.
    let mut checks: Vec<(String, String)> = DELTA_CHECKS
        .iter()
        .filter(|(check, _)| *check != "balances")
        .map(|(check, sql)| (check.to_string(), sql.to_string()))
        .collect();
    for niveau in ["COM", "GFP", "DEP", "REG"] {
        checks.push((
            format!("agregats_{niveau}"),
            format!(
                "SELECT count(*) || '|' || sum(montant) || '|' || count(DISTINCT code) || '|' || \
                 min(code) FROM finances.agregats WHERE niveau = '{niveau}'"
            ),
        ));
    }
    let mut expected = opencoll_values(&p, &[], &checks);
    assert!(expected["agregats_REG"].ends_with("|01"), "{expected:?}");
    // Spark's own types (not figures): the millésime partition stays a string, as the codes.
    expected.insert(
        "communes_types".to_string(),
        "string|string|string|bigint".to_string(),
    );

    let scratch = tempfile::tempdir().unwrap();
    let out = common::run_ok(
        reader("spark_release.py")
            .arg(&release)
            .arg(scratch.path())
            .current_dir(scratch.path()),
    );
    assert_same("release", &expected, &["spark"], &out);
}
