//! `format: database`: a SQLite file and a real PostgreSQL server (Debian's, installed by
//! scripts/postgres.sh and started here on 127.0.0.1 with a temporary data directory). Codes
//! keep their zeros, `numeric` stays exact, NULLs stay NULL, the incremental cursor loads only
//! new rows, a large table streams, and a connection lost mid-read commits nothing.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Proj, fixture, free_port, run_ok};

/// A throw-away PostgreSQL server; stopped (immediately) when dropped.
struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// Root may not run the server: it runs as Debian's `postgres` user then.
    as_user: Option<&'static str>,
}

const PASSWORD: &str = "s3cret-desl";

impl Postgres {
    fn start() -> Postgres {
        let bin = common::tool("postgres.sh");
        let dir = tempfile::tempdir().unwrap();
        let root = run_ok(Command::new("id").arg("-u")).trim() == "0";
        let as_user = root.then_some("postgres");
        std::fs::write(dir.path().join("pw"), PASSWORD).unwrap();
        if let Some(u) = as_user {
            run_ok(Command::new("chown").args(["-R", u]).arg(dir.path()));
        }
        let pg = Postgres {
            dir,
            bin,
            port: free_port(),
            as_user,
        };
        let data = pg.dir.path().join("data");
        let pw = pg.dir.path().join("pw");
        pg.server(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "opencoll",
                "--auth=scram-sha-256",
                &format!("--pwfile={}", pw.display()),
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            pg.port,
            pg.dir.path().display()
        );
        let log = pg.dir.path().join("log");
        pg.server(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        pg
    }

    /// A server program, run as the server's user.
    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        match self.as_user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(exe);
                c
            }
            None => Command::new(exe),
        }
    }

    fn server(&self, program: &str, args: &[&str]) {
        run_ok(self.command(program).args(args));
    }

    /// Runs SQL with psql as the test's user.
    fn psql(&self, sql: &str) -> String {
        run_ok(
            Command::new(common::tool("psql.sh"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", "opencoll", "-d", "postgres", "-X", "-q", "-A", "-t"])
                .args(["-v", "ON_ERROR_STOP=1", "-c", sql])
                .env("PGPASSWORD", PASSWORD),
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self
            .command("pg_ctl")
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
    }
}

fn login() -> Vec<(&'static str, String)> {
    vec![("DESL_PASSWORD", PASSWORD.to_string())]
}

const COMPTES: &str = "SELECT code, siren, montant, exercice, ouverture, libelle, maj FROM comptes";

#[test]
fn postgres_types_incremental_cursor_and_full_reload() {
    let pg = Postgres::start();
    pg.psql(
        "CREATE TABLE comptes (code text, siren bigint, montant numeric(20,2), exercice int,
                               ouverture date, libelle text, maj timestamp);
         INSERT INTO comptes VALUES
           ('01001', 210100012, 1234567890123.45, 2024, '2024-01-31', 'Abergement-Clémenciat', '2024-02-01 10:00:00'),
           ('2A004', 212000046, -0.05, 2024, NULL, 'Ajaccio', '2024-02-02 10:00:00'),
           ('97101', NULL, NULL, NULL, NULL, NULL, '2024-02-03 10:00:00');",
    );
    let p = Proj::empty(&["ref"]);
    let port = pg.port.to_string();
    p.write(
        "pipelines/comptes.yaml",
        fixture(
            "database/comptes_postgres.yaml",
            &[("PORT", &port), ("QUERY", COMPTES)],
        ),
    );
    // the password is not in the pipeline: without it, the server refuses, clearly
    let out = p.run(&["refresh"]);
    assert_eq!(out.status.code(), Some(1));
    let text = common::stdout(&out);
    assert!(
        text.contains("FAILED  ref.comptes")
            && text.contains("cannot connect to postgres://opencoll@127.0.0.1:")
            && text.contains("password"),
        "{text}"
    );
    let out = p.ok_env(&login(), &["refresh"]);
    assert!(
        out.contains("ok      ref.comptes: 3 read, 3 written, 0 rejected"),
        "{out}"
    );
    assert_eq!(
        p.rows(
            "SELECT code || ' ' || coalesce(siren, '-') || ' ' || coalesce(CAST(montant AS VARCHAR), '-')
                    || ' ' || coalesce(CAST(ouverture AS VARCHAR), '-') || ' ' || coalesce(libelle, '-')
             FROM ref.comptes ORDER BY code"
        ),
        vec![
            "01001 210100012 1234567890123.45 2024-01-31 Abergement-Clémenciat",
            "2A004 212000046 -0.05 - Ajaccio",
            "97101 - - - -",
        ]
    );
    // Two new rows and one changed: only rows past the cursor are read, and appended.
    pg.psql(
        "INSERT INTO comptes VALUES ('01002', 210100020, 10.10, 2025, NULL, 'Abergement-de-Varey', '2024-03-01 00:00:00'),
                                    ('01004', 210100046, 20.20, 2025, NULL, 'Ambérieu-en-Bugey', '2024-03-02 00:00:00');
         UPDATE comptes SET montant = 99.99, maj = '2024-03-03 00:00:00' WHERE code = '2A004';",
    );
    let out = p.ok_env(&login(), &["refresh"]);
    assert!(
        out.contains("ok      ref.comptes: 3 read, 3 written, 0 rejected"),
        "{out}"
    );
    assert_eq!(p.value("SELECT count(*) FROM ref.comptes"), "6");
    // nothing new: no rows, no new version
    let versions = p.value("SELECT count(*) FROM _ops.runs WHERE pipeline = 'ref.comptes'");
    let out = p.ok_env(&login(), &["refresh"]);
    assert!(
        out.contains("ok      ref.comptes: 0 read, 0 written"),
        "{out}"
    );
    assert_eq!(p.value("SELECT count(*) FROM ref.comptes"), "6");
    assert_ne!(
        versions,
        p.value("SELECT count(*) FROM _ops.runs WHERE pipeline = 'ref.comptes'")
    );
    // --full reads everything again and replaces the table
    let out = p.ok_env(&login(), &["refresh", "--full"]);
    assert!(
        out.contains("ok      ref.comptes: 5 read, 5 written, 0 rejected"),
        "{out}"
    );
    assert_eq!(
        p.value("SELECT CAST(montant AS VARCHAR) FROM ref.comptes WHERE code = '2A004'"),
        "99.99"
    );
}

#[test]
fn postgres_a_million_rows_stream_and_a_lost_connection_commits_nothing() {
    let pg = Postgres::start();
    pg.psql(
        "CREATE TABLE big AS SELECT g AS id, lpad((g % 100000)::text, 5, '0') AS code,
                                    (g * 1.01)::numeric(18,2) AS montant
         FROM generate_series(1, 1000000) g;",
    );
    let p = Proj::empty(&["ref"]);
    let port = pg.port.to_string();
    let pipeline = |query: &str| {
        fixture(
            "database/big_postgres.yaml",
            &[("PORT", &port), ("QUERY", query)],
        )
    };
    p.write(
        "pipelines/big.yaml",
        pipeline("SELECT id, code, montant FROM big"),
    );
    // the whole refresh, under /usr/bin/time for its peak memory
    let out = Command::new("/usr/bin/time")
        .args(["-f", "peak-rss-kib %M"])
        .arg(env!("CARGO_BIN_EXE_opencoll"))
        .arg("--project")
        .arg(p.path())
        .arg("refresh")
        .env("DESL_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    let stdout = common::stdout(&out);
    assert!(
        stdout.contains("ok      ref.big: 1000000 read, 1000000 written, 0 rejected"),
        "{stdout}\n{}",
        common::stderr(&out)
    );
    let rss_kib: u64 = common::stderr(&out)
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kib "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // 1M rows are ~40 MB as Arrow; streaming keeps the process far below holding them twice
    // over (the bound leaves room for DataFusion and the Parquet writer)
    assert!(rss_kib < 400 * 1024, "peak RSS {rss_kib} KiB");
    assert_eq!(
        p.value("SELECT CAST(sum(montant) AS VARCHAR) || ' ' || min(code) || ' ' || max(id) FROM ref.big"),
        "505000505000.00 00000 1000000"
    );
    // The server ends the connection after 300 000 rows: the run fails, nothing is committed.
    p.write(
        "pipelines/big.yaml",
        pipeline(
            "SELECT g AS id, '00001' AS code, CASE WHEN g = 300000 THEN pg_terminate_backend(pg_backend_pid())::int ELSE 1 END AS montant FROM generate_series(1, 1000000) g",
        ),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_opencoll"))
        .arg("--project")
        .arg(p.path())
        .arg("refresh")
        .env("DESL_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = common::stdout(&out);
    assert!(
        text.contains("FAILED  ref.big") && text.contains("terminating connection"),
        "{text}"
    );
    assert!(text.contains("nothing was committed"), "{text}");
    assert_eq!(p.value("SELECT count(*) FROM ref.big"), "1000000");
}

/// Runs SQL statements on a SQLite file (made if missing), with Python's sqlite3.
fn sqlite(db: &std::path::Path, statements: &str) -> String {
    run_ok(
        Command::new(common::python_with_duckdb())
            .arg("-c")
            .arg("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()")
            .arg(db)
            .arg(statements),
    )
}

#[test]
fn sqlite_types_and_incremental_cursor() {
    let p = Proj::empty(&["ref"]);
    std::fs::create_dir_all(p.path().join("data")).unwrap();
    let db = p.path().join("data/comptes.db");
    let sql = |statements: &str| sqlite(&db, statements);
    // codes as text and as an integer (lost zero), an amount as REAL (binary noise) and as
    // text, a date, NULLs
    sql("CREATE TABLE comptes (code TEXT, siren INTEGER, montant, exercice INTEGER, ouverture TEXT, libelle TEXT, maj TEXT);
         INSERT INTO comptes VALUES ('01001', 210100012, 0.1 + 0.2, 2024, '2024-01-31', 'Abergement-Clémenciat', '2024-02-01T10:00:00');
         INSERT INTO comptes VALUES (1002, 210100020, '1234567.89', 2024, NULL, NULL, '2024-02-02T10:00:00');
         INSERT INTO comptes VALUES ('2A004', NULL, 'n.c', NULL, NULL, 'Ajaccio', '2024-02-03T10:00:00');");
    p.write(
        "pipelines/comptes.yaml",
        fixture("database/comptes_sqlite.yaml", &[]),
    );
    let out = p.ok(&["refresh"]);
    assert!(
        out.contains("ok      ref.comptes: 3 read, 3 written, 0 rejected"),
        "{out}"
    );
    assert_eq!(
        p.rows(
            "SELECT code || ' ' || coalesce(siren, '-') || ' ' || coalesce(CAST(montant AS VARCHAR), '-')
                    || ' ' || coalesce(CAST(ouverture AS VARCHAR), '-')
             FROM ref.comptes ORDER BY code"
        ),
        vec![
            "01001 210100012 0.30 2024-01-31",
            "01002 210100020 1234567.89 -",
            "2A004 - - -",
        ]
    );
    // a file unchanged is not read again; new rows past the cursor are appended
    assert!(
        p.ok(&["refresh"])
            .contains("skip    ref.comptes: unchanged")
    );
    sql(
        "INSERT INTO comptes VALUES ('01004', 210100046, 5, 2025, NULL, 'Ambérieu-en-Bugey', '2024-03-01T00:00:00');",
    );
    let out = p.ok(&["refresh"]);
    assert!(
        out.contains("ok      ref.comptes: 1 read, 1 written, 0 rejected"),
        "{out}"
    );
    assert_eq!(p.value("SELECT count(*) FROM ref.comptes"), "4");
    // a query naming a column the table lacks: a clear error, the table unchanged
    p.write(
        "pipelines/comptes.yaml",
        fixture("database/comptes_sqlite.yaml", &[])
            .replace("ouverture, libelle", "ouvertur, libelle"),
    );
    let out = p.run(&["refresh"]);
    assert_eq!(out.status.code(), Some(1));
    let text = common::stdout(&out);
    assert!(
        text.contains("sqlite:data/comptes.db: the query fails: no such column: ouvertur"),
        "{text}"
    );
    assert_eq!(p.value("SELECT count(*) FROM ref.comptes"), "4");
}

/// An incremental source appends one file per refresh: after 50 appends the table is
/// compacted (an OPTIMIZE commit), every row stays, the next refresh sees the table as its
/// last run left it (skipped: nothing changed), and the cursor survives the compaction (only
/// the new row is read, not the whole table again).
#[test]
fn incremental_appends_are_compacted_and_the_cursor_survives() {
    let p = Proj::empty(&["ref"]);
    std::fs::create_dir_all(p.path().join("data")).unwrap();
    let db = p.path().join("data/comptes.db");
    let insert = |i: usize| {
        sqlite(
            &db,
            &format!(
                "CREATE TABLE IF NOT EXISTS comptes (code TEXT, siren INTEGER, montant, exercice INTEGER, ouverture TEXT, libelle TEXT, maj TEXT);
                 INSERT INTO comptes VALUES ('{:05}', NULL, {i}, 2024, NULL, NULL, '2024-01-01T00:00:{:02}.{:03}');",
                i + 1000,
                i / 1000,
                i % 1000
            ),
        )
    };
    p.write(
        "pipelines/comptes.yaml",
        fixture("database/comptes_sqlite.yaml", &[]),
    );
    // version 0 (the first, full load), then appends as versions 1 to 50: the 50th is compacted
    for i in 0..=50 {
        insert(i);
        let out = p.ok(&["refresh"]);
        assert!(
            out.contains("ok      ref.comptes: 1 read, 1 written, 0 rejected"),
            "refresh {i}: {out}"
        );
    }
    let log = p.path().join("data/lake/ref/comptes/_delta_log");
    let optimize = std::fs::read_to_string(log.join(format!("{:020}.json", 51))).unwrap();
    assert!(
        optimize.contains("\"operation\":\"OPTIMIZE\""),
        "{optimize}"
    );
    assert_eq!(p.value("SELECT count(*) FROM ref.comptes"), "51");
    assert_eq!(
        p.value("SELECT sum(CAST(montant AS BIGINT)) FROM ref.comptes"),
        (0..=50).sum::<i64>().to_string()
    );
    assert!(
        p.ok(&["refresh"])
            .contains("skip    ref.comptes: unchanged")
    );
    insert(51);
    let out = p.ok(&["refresh"]);
    assert!(
        out.contains("ok      ref.comptes: 1 read, 1 written, 0 rejected"),
        "{out}"
    );
    assert_eq!(p.value("SELECT count(*) FROM ref.comptes"), "52");
}
