//! `opencoll serve`: the real binary on the refreshed sample lake, driven by psql, psycopg
//! (installed by scripts/python-tools.sh) and plain HTTP requests.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::{Answer, Server, copy_dir, free_port, http, python_with_duckdb, repo, wait_port};

const USER: &str = "analyste";
const PASSWORD: &str = "mot-de-passe-été";
const TOKEN: &str = "jeton-portail-42";

/// The sample project, refreshed once per test run (in the target's temporary folder).
fn project() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve-project");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(repo().join("catalog.yaml"), dir.join("catalog.yaml")).unwrap();
        for d in ["pipelines", "sql", "data/samples", "data/reference"] {
            copy_dir(&repo().join(d), &dir.join(d));
        }
        let out = opencoll(&dir, &["refresh"], &[]);
        assert!(
            out.status.success(),
            "refresh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

fn opencoll(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_opencoll"))
        .arg("--project")
        .arg(dir)
        .args(args)
        .env_remove("OPENCOLL_LAKE")
        .env_remove("OPENCOLL_SERVE_USERS")
        .env_remove("OPENCOLL_SERVE_TOKENS")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run opencoll")
}

struct Serve {
    server: Server,
    pg: u16,
    http: u16,
    log: PathBuf,
}

impl Serve {
    /// Starts `opencoll serve` on two free loopback ports with one user and one token.
    fn start(extra: &[&str]) -> Serve {
        Serve::start_with(extra, &format!("{USER}:{PASSWORD}"))
    }

    /// The same with the users given (`OPENCOLL_SERVE_USERS`).
    fn start_with(extra: &[&str], users: &str) -> Serve {
        let dir = project();
        let (pg, http) = (free_port(), free_port());
        let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("serve-{pg}.log"));
        let (pg_addr, http_addr) = (format!("127.0.0.1:{pg}"), format!("127.0.0.1:{http}"));
        let child = Command::new(env!("CARGO_BIN_EXE_opencoll"))
            .arg("--project")
            .arg(dir)
            .args(["serve", "--pg", &pg_addr, "--http", &http_addr])
            .args(extra)
            .env_remove("OPENCOLL_LAKE")
            .env("OPENCOLL_SERVE_USERS", users)
            .env("OPENCOLL_SERVE_TOKENS", format!("portail:{TOKEN}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start opencoll serve");
        let mut server = Server(child);
        for port in [pg, http] {
            for _ in 0..300 {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break;
                }
                if let Some(status) = server.0.try_wait().unwrap() {
                    panic!(
                        "opencoll serve exited ({status}): {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            wait_port(port);
        }
        Serve {
            server,
            pg,
            http,
            log,
        }
    }

    fn alive(&mut self) -> bool {
        self.server.0.try_wait().unwrap().is_none()
    }

    fn rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.server.0.id())).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A passing test's server log goes with it (one per server started: they piled up in the
/// target folder, 390 of them); a failing test's stays for its message and for a look.
impl Drop for Serve {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// psql in unaligned mode; `-w`: never prompt, so a missing password fails at once.
fn psql(port: u16, user: &str, password: Option<&str>, command: &str) -> Output {
    psql_env(port, user, password, command, &[])
}

/// psql with libpq settings (PGSSLMODE, PGCHANNELBINDING…).
fn psql_env(
    port: u16,
    user: &str,
    password: Option<&str>,
    command: &str,
    env: &[(&str, &str)],
) -> Output {
    let mut c = Command::new(common::tool("psql.sh"));
    c.args(["-X", "-w", "-A", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
        .args([
            "-p",
            &port.to_string(),
            "-U",
            user,
            "-d",
            "lake",
            "-c",
            command,
        ])
        .env_remove("PGPASSWORD")
        .env("PGCONNECT_TIMEOUT", "10")
        .env("PGCLIENTENCODING", "UTF8")
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    if let Some(p) = password {
        c.env("PGPASSWORD", p);
    }
    c.output().expect("run psql")
}

fn psql_ok(port: u16, command: &str) -> String {
    let out = psql(port, USER, Some(PASSWORD), command);
    assert!(
        out.status.success(),
        "psql -c {command:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a Python script (psycopg) with PGPORT/PGUSER/PGPASSWORD set; asserts it succeeds.
fn python(port: u16, script: &str) -> String {
    common::run_ok(
        Command::new(python_with_duckdb())
            .arg("-c")
            .arg(script)
            .env("PGHOST", "127.0.0.1")
            .env("PGPORT", port.to_string())
            .env("PGUSER", USER)
            .env("PGPASSWORD", PASSWORD)
            .env("PGDATABASE", "lake")
            .env("PYTHONIOENCODING", "utf-8")
            .stdin(Stdio::null()),
    )
}

const AUTH: (&str, &str) = ("Authorization", "Bearer jeton-portail-42");

fn get(port: u16, path: &str) -> Answer {
    http(port, "GET", path, &[AUTH], b"")
}

fn post_sql(port: u16, sql: &str, accept: &str) -> Answer {
    http(
        port,
        "POST",
        "/sql",
        &[AUTH, ("Accept", accept), ("Content-Type", "text/plain")],
        sql.as_bytes(),
    )
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

const AJACCIO_2023: &str = "SELECT exercice, code_insee, nom, charges, produits FROM finances.charges_produits_communes WHERE exercice = 2023 AND code_insee = '2A004'";

#[test]
fn psql_lists_describes_and_queries_the_lake() {
    let s = Serve::start(&[]);
    let dt = psql_ok(s.pg, "\\dt finances.*");
    assert!(dt.contains("finances|balances_communes|table"), "{dt}");
    let dv = psql_ok(s.pg, "\\dv finances.*");
    assert!(
        dv.contains("finances|charges_produits_communes|view"),
        "{dv}"
    );
    let d = psql_ok(s.pg, "\\d finances.balances_communes");
    assert!(d.contains("code_insee"), "{d}");
    assert!(
        d.contains("numeric"),
        "Decimal amounts are numeric for Postgres clients: {d}"
    );
    // A finance view, exact Decimal values and French text (UTF-8).
    let out = psql_ok(s.pg, AJACCIO_2023);
    assert!(
        out.contains("2023|2A004|Ajaccio|29210345.20|65026924.30"),
        "{out}"
    );
    let out = psql_ok(
        s.pg,
        "SELECT code, nom FROM ref.communes WHERE millesime = 2026 AND code = '01152'",
    );
    assert!(out.contains("01152|Échallon"), "{out}");
    // A view's columns as psql sees them: amounts are numeric.
    let out = psql_ok(s.pg, "\\d finances.charges_produits_communes");
    assert!(out.contains("charges|numeric"), "{out}");
    // Several statements in one simple query.
    let out = psql_ok(
        s.pg,
        "SET application_name = 'test'; SELECT 1 AS un; SELECT 'é' AS e",
    );
    assert!(out.contains("un\n1") && out.contains("e\né"), "{out}");
}

#[test]
fn psycopg_prepared_statements_parameters_and_types() {
    let s = Serve::start(&[]);
    let out = python(
        s.pg,
        r#"
import decimal, psycopg
with psycopg.connect(autocommit=True) as conn:
    q = "SELECT exercice, code_insee, nom, charges FROM finances.charges_produits_communes WHERE exercice = %s AND code_insee = %s"
    # Server-side parameters, then the same statement prepared by name and run twice.
    row = conn.execute(q, (2023, "2A004")).fetchone()
    assert row == (2023, "2A004", "Ajaccio", decimal.Decimal("29210345.20")), row
    for args, nom in [((2023, "2A001"), "Afa"), ((2024, "2A004"), "Ajaccio")]:
        r = conn.execute(q, args, prepare=True).fetchone()
        assert r[2] == nom and isinstance(r[3], decimal.Decimal), r
    # Text parameters with accents, LIKE and a row count.
    n = conn.execute("SELECT count(*) FROM ref.communes WHERE millesime = %s AND nom LIKE %s", (2026, "É%")).fetchone()[0]
    assert n > 0, n
    r = conn.execute("SELECT nom FROM ref.communes WHERE millesime = 2026 AND code = %s", ("01152",)).fetchone()
    assert r == ("Échallon",), r
    # Binary results.
    with conn.cursor(binary=True) as cur:
        cur.execute("SELECT code_insee, exercice FROM finances.charges_produits_communes WHERE exercice = %s ORDER BY code_insee LIMIT 2", (2023,))
        rows = cur.fetchall()
        assert rows == [("2A001", 2023), ("2A004", 2023)], rows
    # A failing query does not break the connection.
    try:
        conn.execute("SELECT * FROM nulle_part")
        raise SystemExit("expected an error")
    except psycopg.Error as e:
        pass
    assert conn.execute("SELECT 1").fetchone() == (1,)
    # The finance views.
    for v in ["finances.fiche", "finances.agregats", "finances.reconciliation"]:
        assert conn.execute(f"SELECT count(*) FROM {v}").fetchone()[0] > 0, v
print("ok")
"#,
    );
    assert!(out.contains("ok"), "{out}");
}

/// Start-up queries of DBeaver 25.1 and Metabase 0.55 (the PostgreSQL JDBC driver), as
/// captured from those tools in datafusion-postgres' compatibility tests. They are sent with
/// the extended protocol, as JDBC does.
const CLIENT_STARTUP_QUERIES: &str = r#"[
 "SET extra_float_digits = 3",
 "SET application_name = 'PostgreSQL JDBC Driver'",
 "SET application_name = 'DBeaver 25.1.5 - Main <postgres>'",
 "SELECT current_schema(),session_user",
 "SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass ORDER BY nspname",
 "SELECT n.nspname = ANY(current_schemas(true)), n.nspname, t.typname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid WHERE t.oid = 1034",
 "SHOW search_path",
 "SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE datname='postgres'",
 "SELECT * FROM pg_catalog.pg_settings where name='standard_conforming_strings'",
 "SELECT version()",
 "SELECT * FROM pg_catalog.pg_enum WHERE 1<>1 LIMIT 1",
 "SELECT reltype FROM pg_catalog.pg_class WHERE 1<>1 LIMIT 1",
 "SELECT t.oid,t.*,c.relkind,format_type(nullif(t.typbasetype, 0), t.typtypmod) as base_type_name, d.description FROM pg_catalog.pg_type t LEFT OUTER JOIN pg_catalog.pg_type et ON et.oid=t.typelem LEFT OUTER JOIN pg_catalog.pg_class c ON c.oid=t.typrelid LEFT OUTER JOIN pg_catalog.pg_description d ON t.oid=d.objoid WHERE t.typname IS NOT NULL AND (c.relkind IS NULL OR c.relkind = 'c') AND (et.typcategory IS NULL OR et.typcategory <> 'C')",
 "SELECT c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key FROM pg_catalog.pg_class c LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass WHERE c.relnamespace=11 AND c.relkind not in ('i','I','c')",
 "SET extra_float_digits = 2",
 "SET application_name = 'Metabase v0.55.1 [f8f63fdf-d8f8-4573-86ea-4fe4a9548041]'",
 "SHOW TRANSACTION ISOLATION LEVEL",
 "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED",
 "SELECT nspname AS \"TABLE_SCHEM\", current_database() AS \"TABLE_CATALOG\" FROM pg_catalog.pg_namespace  WHERE nspname <> 'pg_toast' AND (nspname !~ '^pg_temp_'  OR nspname = (pg_catalog.current_schemas(true))[1]) AND (nspname !~ '^pg_toast_temp_'  OR nspname = replace((pg_catalog.current_schemas(true))[1], 'pg_temp_', 'pg_toast_temp_'))  ORDER BY \"TABLE_SCHEM\"",
 "with table_privileges as ( select NULL as role, t.schemaname as schema, t.objectname as table, pg_catalog.has_any_column_privilege(current_user, '\"' || replace(t.schemaname, '\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"',  'update') as update, pg_catalog.has_any_column_privilege(current_user, '\"' || replace(t.schemaname, '\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"',  'select') as select, pg_catalog.has_any_column_privilege(current_user, '\"' || replace(t.schemaname, '\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"',  'insert') as insert, pg_catalog.has_table_privilege(     current_user, '\"' || replace(t.schemaname, '\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"',  'delete') as delete from ( select schemaname, tablename as objectname from pg_catalog.pg_tables union select schemaname, viewname as objectname from pg_catalog.pg_views union select schemaname, matviewname as objectname from pg_catalog.pg_matviews ) t where t.schemaname !~ '^pg_' and t.schemaname <> 'information_schema' and pg_catalog.has_schema_privilege(current_user, t.schemaname, 'usage') ) select t.* from table_privileges t",
 "SELECT \"n\".\"nspname\" AS \"schema\", \"c\".\"relname\" AS \"name\", CASE \"c\".\"relkind\" WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'v' THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END AS \"type\", \"d\".\"description\" AS \"description\", \"stat\".\"n_live_tup\" AS \"estimated_row_count\" FROM \"pg_catalog\".\"pg_class\" AS \"c\" INNER JOIN \"pg_catalog\".\"pg_namespace\" AS \"n\" ON \"c\".\"relnamespace\" = \"n\".\"oid\" LEFT JOIN \"pg_catalog\".\"pg_description\" AS \"d\" ON (\"c\".\"oid\" = \"d\".\"objoid\") AND (\"d\".\"objsubid\" = '0') AND (\"d\".\"classoid\" = 'pg_class'::regclass) LEFT JOIN \"pg_stat_user_tables\" AS \"stat\" ON (\"n\".\"nspname\" = \"stat\".\"schemaname\") AND (\"c\".\"relname\" = \"stat\".\"relname\") WHERE (\"c\".\"relnamespace\" = \"n\".\"oid\") AND (\"n\".\"nspname\" !~ '^pg_') AND (\"n\".\"nspname\" <> 'information_schema') AND c.relkind in ('r', 'p', 'v', 'f', 'm') AND (\"n\".\"nspname\" IN ('finances')) ORDER BY \"type\" ASC, \"schema\" ASC, \"name\" ASC",
 "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
 "show timezone"
]"#;

#[test]
fn dbeaver_and_metabase_startup_queries_run() {
    let s = Serve::start(&[]);
    let script = format!(
        r#"
import json, psycopg
queries = json.loads(r'''{CLIENT_STARTUP_QUERIES}''')
with psycopg.connect(autocommit=True) as conn:
    for q in queries:
        try:
            cur = conn.execute(q)
            if cur.description is not None:
                cur.fetchall()
        except psycopg.Error as e:
            raise SystemExit(f"failed: {{q[:120]}}\n{{e}}")
    # Metabase's table list (the query above, on the finances schema) names our tables.
    rows = conn.execute(queries[-3]).fetchall()
    names = {{r[1] for r in rows}}
    assert "balances_communes" in names and "charges_produits_communes" in names, names
print("ok", len(queries))
"#
    );
    let out = python(s.pg, &script);
    assert!(out.starts_with("ok"), "{out}");
}

const FORBIDDEN: &[&str] = &[
    "COPY (SELECT 1) TO '/tmp/opencoll-serve-copy.csv'",
    "COPY finances.balances_communes FROM '/etc/passwd'",
    "CREATE EXTERNAL TABLE pw STORED AS CSV LOCATION '/etc/passwd'",
    "INSERT INTO finances.balances_communes SELECT * FROM finances.balances_communes",
    "UPDATE finances.balances_communes SET compte = 'x'",
    "DELETE FROM finances.balances_communes",
    "TRUNCATE finances.balances_communes",
    "DROP TABLE finances.balances_communes",
    "DROP VIEW finances.fiche",
    "ALTER TABLE finances.balances_communes ADD COLUMN x INT",
    "CREATE TABLE t AS SELECT 1",
    "CREATE VIEW v AS SELECT 1",
    "CREATE SCHEMA s",
    "SET datafusion.execution.batch_size = 1",
    "SET datafusion.catalog.information_schema = false",
    "SELECT * FROM read_parquet('/etc/passwd')",
    "SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM 'https://example.org/data.parquet'",
];

#[test]
fn forbidden_statements_are_refused_over_postgres_and_http() {
    let mut s = Serve::start(&[]);
    let script = format!(
        r#"
import json, psycopg
forbidden = json.loads(r'''{}''')
with psycopg.connect(autocommit=True) as conn:
    for q in forbidden:
        for how in ("extended", "simple"):
            try:
                if how == "simple":
                    psycopg.ClientCursor(conn).execute(q)
                else:
                    conn.execute(q)
                raise SystemExit(f"not refused ({{how}}): {{q}}")
            except psycopg.Error as e:
                msg = str(e)
                assert "refused" in msg and e.sqlstate == "25006", (q, how, e.sqlstate, msg)
    assert conn.execute("SELECT count(*) FROM finances.balances_communes").fetchone() == (19500,)
print("ok")
"#,
        serde_json::to_string(FORBIDDEN).unwrap()
    );
    assert!(python(s.pg, &script).contains("ok"));
    // psql (simple protocol), with the message the user reads.
    let out = psql(
        s.pg,
        USER,
        Some(PASSWORD),
        "DROP TABLE finances.balances_communes",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DROP/ALTER refused: this server serves the lake read-only"),
        "{err}"
    );
    for q in FORBIDDEN {
        let a = post_sql(s.http, q, "application/json");
        assert_eq!(a.status, 403, "{q}: {}", a.text());
        assert!(
            a.json()["error"].as_str().unwrap().contains("refused"),
            "{q}"
        );
    }
    assert!(!Path::new("/tmp/opencoll-serve-copy.csv").exists());
    assert!(s.alive());
    let a = post_sql(
        s.http,
        "SELECT count(*) AS n FROM finances.balances_communes",
        "application/json",
    );
    assert_eq!(a.json()["rows"][0]["n"], 19500);
}

#[test]
fn credentials_are_required_and_failures_say_nothing_about_users() {
    let s = Serve::start(&[]);
    let wrong = psql(s.pg, USER, Some("faux"), "SELECT 1");
    let unknown = psql(s.pg, "personne", Some(PASSWORD), "SELECT 1");
    let none = psql(s.pg, USER, None, "SELECT 1");
    for o in [&wrong, &unknown, &none] {
        assert!(!o.status.success());
    }
    let msg = |o: &Output, u: &str| String::from_utf8_lossy(&o.stderr).replace(u, "USER");
    assert!(
        msg(&wrong, USER).contains("authentication failed"),
        "{}",
        msg(&wrong, USER)
    );
    // Same answer for a wrong password and an unknown user.
    assert_eq!(
        msg(&wrong, USER).lines().last(),
        msg(&unknown, "personne").lines().last()
    );
    assert!(psql_ok(s.pg, "SELECT 1 AS un").contains('1'));

    for path in [
        "/datasets",
        "/datasets/finances.fiche",
        "/datasets/finances.fiche/rows",
    ] {
        let a = http(s.http, "GET", path, &[], b"");
        assert_eq!(a.status, 401, "{path}");
        assert_eq!(
            a.headers.get("www-authenticate").map(String::as_str),
            Some("Bearer")
        );
        let a = http(
            s.http,
            "GET",
            path,
            &[("Authorization", "Bearer faux")],
            b"",
        );
        assert_eq!(a.status, 401, "{path}");
    }
    let a = http(
        s.http,
        "POST",
        "/sql",
        &[("Content-Type", "text/plain")],
        b"SELECT 1",
    );
    assert_eq!(a.status, 401);
    // Health and the API description are public.
    assert_eq!(http(s.http, "GET", "/health", &[], b"").status, 200);
    assert_eq!(http(s.http, "GET", "/openapi.json", &[], b"").status, 200);
    // Failed attempts are logged, without the secrets.
    let log = s.log();
    assert!(log.contains("postgres authentication failed"), "{log}");
    assert!(log.contains("http authentication failed"), "{log}");
    assert!(!log.contains("faux") && !log.contains(PASSWORD), "{log}");

    // --no-auth only on loopback; without it, credentials must be configured.
    let dir = project();
    let out = opencoll(dir, &["serve", "--http", "0.0.0.0:0", "--no-auth"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    let out = opencoll(dir, &["serve", "--pg", "127.0.0.1:0"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("OPENCOLL_SERVE_USERS"));
}

#[test]
fn no_auth_on_loopback() {
    let dir = project();
    let (pg, http_port) = (free_port(), free_port());
    let _server = common::serve_on(
        Command::new(env!("CARGO_BIN_EXE_opencoll"))
            .arg("--project")
            .arg(dir)
            .args(["serve", "--no-auth", "--pg", &format!("127.0.0.1:{pg}")])
            .args(["--http", &format!("127.0.0.1:{http_port}")])
            .env_remove("OPENCOLL_SERVE_USERS")
            .env_remove("OPENCOLL_SERVE_TOKENS"),
        http_port,
    );
    wait_port(pg);
    let out = psql(pg, "quiconque", None, "SELECT 42 AS x");
    assert!(String::from_utf8_lossy(&out.stdout).contains("42"));
    assert_eq!(http(http_port, "GET", "/datasets", &[], b"").status, 200);
}

#[test]
fn http_endpoints_and_formats() {
    let s = Serve::start(&[]);
    let h = http(s.http, "GET", "/health", &[], b"").json();
    assert_eq!(h["status"], "ok");
    assert!(h["tables"].as_u64().unwrap() >= 10, "{h}");

    let api = http(s.http, "GET", "/openapi.json", &[], b"").json();
    assert!(api["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/health",
        "/datasets",
        "/datasets/{id}",
        "/datasets/{id}/rows",
        "/sql",
        "/openapi.json",
    ] {
        assert!(api["paths"][p].is_object(), "{p}");
    }

    let list = get(s.http, "/datasets").json();
    let ids: Vec<&str> = list["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"finances.balances_communes") && ids.contains(&"finances.fiche"),
        "{ids:?}"
    );
    let bal = list["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "finances.balances_communes")
        .unwrap();
    assert_eq!(bal["title"], "Balances comptables des communes");

    let d = get(s.http, "/datasets/finances.balances_communes").json();
    assert_eq!(d["kind"], "table");
    assert_eq!(d["rows"], 19500);
    let cols = d["columns"].as_array().unwrap();
    let sd = cols
        .iter()
        .find(|c| c["name"] == "obnetdeb")
        .expect("obnetdeb column");
    assert!(
        sd["type"]
            .as_str()
            .unwrap()
            .starts_with("Decimal128(18, 2)"),
        "{sd}"
    );
    assert!(
        d["versions"].as_array().unwrap()[0]["version"]
            .as_i64()
            .unwrap()
            >= 0,
        "{d}"
    );
    assert!(d["freshness"]["finished_at"].is_string(), "{d}");
    let v = get(s.http, "/datasets/finances.charges_produits_communes").json();
    assert_eq!(v["kind"], "view");
    assert_eq!(get(s.http, "/datasets/finances.nulle_part").status, 404);

    // Rows with typed filters; a value of the wrong type is a 400, and quotes are data.
    let path = format!(
        "/datasets/finances.charges_produits_communes/rows?where={}&where={}&order=code_insee",
        enc("exercice:eq:2023"),
        enc("code_insee:in:2A004|2A001")
    );
    let r = get(s.http, &path).json();
    assert_eq!(r["row_count"], 2, "{r}");
    assert_eq!(r["rows"][0]["nom"], "Afa");
    assert_eq!(r["rows"][1]["nom"], "Ajaccio");
    let bad = get(
        s.http,
        &format!(
            "/datasets/finances.fiche/rows?where={}",
            enc("exercice:eq:deux")
        ),
    );
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"].as_str().unwrap().contains("exercice"));
    let inj = get(
        s.http,
        &format!(
            "/datasets/ref.communes/rows?where={}",
            enc("nom:eq:x' OR '1'='1")
        ),
    )
    .json();
    assert_eq!(inj["row_count"], 0, "{inj}");
    let like = get(
        s.http,
        &format!(
            "/datasets/ref.communes/rows?where={}&where={}&columns=code,nom&order=code&limit=2&offset=1",
            enc("nom:like:É%"),
            enc("millesime:eq:2026")
        ),
    )
    .json();
    assert_eq!(like["rows"][0]["code"], "01153", "{like}");
    assert_eq!(like["rows"][0]["nom"], "Échenevex");
    assert_eq!(like["rows"].as_array().unwrap().len(), 2);
    assert_eq!(
        get(s.http, "/datasets/ref.communes/rows?where=nope:eq:1").status,
        400
    );

    // POST /sql in each format.
    let j = post_sql(s.http, AJACCIO_2023, "application/json");
    assert_eq!(j.status, 200, "{}", j.text());
    assert_eq!(j.headers["content-type"], "application/json");
    // Decimals keep their exact digits in JSON.
    assert!(j.text().contains("\"charges\":29210345.20"), "{}", j.text());
    let j = j.json();
    assert_eq!(j["rows"][0]["nom"], "Ajaccio");
    let body = http(
        s.http,
        "POST",
        "/sql",
        &[AUTH, ("Content-Type", "application/json")],
        serde_json::to_vec(&serde_json::json!({ "sql": AJACCIO_2023 }))
            .unwrap()
            .as_slice(),
    );
    assert_eq!(body.json()["rows"][0]["code_insee"], "2A004");

    let csv = post_sql(s.http, AJACCIO_2023, "text/csv");
    assert!(csv.headers["content-type"].starts_with("text/csv"));
    assert_eq!(
        csv.text(),
        "exercice,code_insee,nom,charges,produits\n2023,2A004,Ajaccio,29210345.20,65026924.30\n"
    );

    let all = "SELECT code_insee, exercice, charges FROM finances.charges_produits_communes ORDER BY exercice, code_insee";
    let arrow_ans = post_sql(s.http, all, "application/vnd.apache.arrow.stream");
    assert_eq!(
        arrow_ans.headers["content-type"],
        "application/vnd.apache.arrow.stream"
    );
    let reader =
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(arrow_ans.body), None)
            .unwrap();
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    let n: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(n, 514);
    assert_eq!(
        batches[0].schema().field(2).data_type(),
        &arrow::datatypes::DataType::Decimal128(18, 2)
    );

    let pq = post_sql(s.http, all, "application/vnd.apache.parquet");
    assert_eq!(pq.headers["content-type"], "application/vnd.apache.parquet");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(pq.body),
    )
    .unwrap()
    .build()
    .unwrap();
    let pbatches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    assert_eq!(pbatches.iter().map(|b| b.num_rows()).sum::<usize>(), 514);
    let pretty = arrow::util::pretty::pretty_format_batches(&pbatches)
        .unwrap()
        .to_string();
    assert!(
        pretty.contains("| 2A004      | 2023     | 29210345.20 |"),
        "{pretty}"
    );

    assert_eq!(post_sql(s.http, "SELECT 1", "image/png").status, 406);
    let bad = post_sql(s.http, "SELEC 1", "application/json");
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"].is_string());
}

/// Queries built to exhaust the stack: a 5,000-term sum crashed the whole server (issue 20).
/// Each is answered or refused with a reason, over both protocols, and the server goes on.
#[test]
fn deep_queries_are_answered_or_refused_never_crash_the_server() {
    let mut s = Serve::start(&[]);
    let sum = |n: usize| format!("SELECT {} AS total", vec!["1"; n].join("+"));
    let nest = |n: usize| format!("SELECT {}1{}", "(".repeat(n), ")".repeat(n));
    let subqueries = |n: usize| {
        let mut q = "SELECT 1 AS x".to_string();
        for _ in 0..n {
            q = format!("SELECT x FROM ({q}) t");
        }
        q
    };
    let values: Vec<String> = (0..20_000).map(|i| format!("'{i:05}'")).collect();
    let in_list = format!(
        "SELECT count(*) AS n FROM ref.communes WHERE millesime = 2026 AND code IN ({})",
        values.join(", ")
    );
    // answered
    for (q, want) in [(sum(1000), "1000"), (sum(2000), "2000")] {
        let a = post_sql(s.http, &q, "text/csv");
        assert_eq!((a.status, a.text()), (200, format!("total\n{want}\n")));
        assert!(psql_ok(s.pg, &q).contains(want));
    }
    // the same communes as a range of their (five-character) codes selects
    let range = "SELECT count(*) AS n FROM ref.communes WHERE millesime = 2026 AND code BETWEEN '00000' AND '19999'";
    let want = post_sql(s.http, range, "text/csv").text();
    assert!(
        want.lines().nth(1).unwrap().parse::<u64>().unwrap() > 5_000,
        "{want}"
    );
    let a = post_sql(s.http, &in_list, "text/csv");
    assert_eq!((a.status, a.text()), (200, want.clone()));
    // psql reads the 180 KB query from its standard input (one argument may not exceed 128 KiB)
    let mut c = Command::new(common::tool("psql.sh"));
    c.args([
        "-X",
        "-w",
        "-A",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "127.0.0.1",
        "-U",
        USER,
    ])
    .args(["-d", "lake", "-p", &s.pg.to_string(), "-f", "-"])
    .env("PGPASSWORD", PASSWORD)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(in_list.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), psql_ok(s.pg, range));
    // refused, with what to do instead
    for (q, status, word) in [
        (sum(5000), 413, "IN ("),
        (sum(50_000), 413, "nests"),
        (nest(5000), 413, "nests"),
        (nest(200), 413, "nests parentheses"),
        (subqueries(500), 413, "nests parentheses"),
        (
            format!("SELECT '{}'", "x".repeat(1_100_000)),
            413,
            "bytes long",
        ),
    ] {
        let a = post_sql(s.http, &q, "application/json");
        assert_eq!(a.status, status, "{}: {}", &q[..40], a.text());
        assert!(
            a.json()["error"].as_str().unwrap().contains(word),
            "{}",
            a.text()
        );
        if q.len() < 200_000 {
            let out = psql(s.pg, USER, Some(PASSWORD), &q);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success() && err.contains("ERROR"),
                "{}: {err}",
                &q[..40]
            );
        }
        assert!(s.alive(), "the server died on {}…: {}", &q[..40], s.log());
    }
    // a plan deepened through the rows endpoint: one filter node per where= parameter
    let many = vec!["where=millesime:eq:2026"; 1000].join("&");
    let a = get(
        s.http,
        &format!("/datasets/ref.communes/rows?{many}&limit=1"),
    );
    assert_eq!(a.status, 413, "{}", a.text());
    assert!(
        a.json()["error"]
            .as_str()
            .unwrap()
            .contains("where=column:in:"),
        "{}",
        a.text()
    );
    // (longer addresses are refused by the HTTP layer itself: 414)
    let huge = vec!["where=millesime:eq:2026"; 10_000].join("&");
    let a = get(
        s.http,
        &format!("/datasets/ref.communes/rows?{huge}&limit=1"),
    );
    assert!([413, 414].contains(&a.status), "{}", a.status);
    let some = vec!["where=millesime:eq:2026"; 100].join("&");
    let a = get(
        s.http,
        &format!("/datasets/ref.communes/rows?{some}&limit=1"),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    // still serving everyone
    assert!(psql_ok(s.pg, "SELECT count(*) FROM finances.balances_communes").contains("19500"));
    assert_eq!(post_sql(s.http, "SELECT 1", "text/csv").status, 200);
}

#[test]
fn limits_fail_the_query_not_the_server() {
    let mut s = Serve::start(&[
        "--query-memory",
        "16",
        "--query-timeout",
        "2",
        "--json-rows",
        "100",
    ]);
    // JSON answers stop at the row limit, and say so; CSV carries every row.
    let j = post_sql(s.http, "SELECT * FROM ref.communes", "application/json").json();
    assert_eq!(j["row_count"], 100);
    assert_eq!(j["truncated"], true);
    let csv = post_sql(s.http, "SELECT code FROM ref.communes", "text/csv");
    assert_eq!(csv.text().lines().count(), 75426 + 1);
    // Memory: a sort of 75 000 wide rows does not fit in 16 MiB (spilling is off).
    let big = "SELECT a.*, b.nom AS nom2 FROM ref.communes a JOIN ref.communes b ON a.code = b.code ORDER BY a.nom, b.nom";
    let a = post_sql(s.http, big, "text/csv");
    assert_eq!(a.status, 422, "{}", a.text());
    assert!(a.text().contains("memory"));
    // Time: a long computation is cancelled at the limit.
    let slow = "SELECT count(*) FROM generate_series(1, 10000000000) t(x) WHERE x % 7 = 3";
    let t = std::time::Instant::now();
    let a = post_sql(s.http, slow, "application/json");
    assert_eq!(a.status, 504, "{}", a.text());
    assert!(t.elapsed() < Duration::from_secs(20));
    let out = psql(s.pg, USER, Some(PASSWORD), slow);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("limit"),
        "{out:?}"
    );
    let out = psql(s.pg, USER, Some(PASSWORD), big);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("memory"),
        "{out:?}"
    );
    // Still serving.
    assert!(s.alive());
    assert!(psql_ok(s.pg, "SELECT count(*) FROM finances.balances_communes").contains("19500"));
    assert_eq!(post_sql(s.http, "SELECT 1", "text/csv").status, 200);
}

#[test]
fn load_hundreds_of_concurrent_queries() {
    let mut s = Serve::start(&[]);
    let queries: Vec<String> = (0..6)
        .map(|i| {
            format!(
                "SELECT exercice, count(*) AS n, sum(obnetdeb) AS d FROM finances.balances_communes WHERE exercice = {} AND compte >= '{}' GROUP BY exercice",
                2023 + i % 2,
                i + 1
            )
        })
        .collect();
    let expected: Vec<String> = queries
        .iter()
        .map(|q| post_sql(s.http, q, "text/csv").text())
        .collect();
    for e in &expected {
        assert_eq!(e.lines().count(), 2, "{e}");
    }
    // Warm-up, then the baseline.
    for q in &queries {
        post_sql(s.http, q, "text/csv");
    }
    std::thread::sleep(Duration::from_millis(500));
    let baseline = s.rss_kib();
    let total = 300;
    let port = s.http;
    // Two identical rounds: the first may grow the allocator's pools, the second must not
    // grow them further (no leak), and both stay near the baseline.
    let mut rss = Vec::new();
    for round in 1..=2 {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(total));
        let started = std::time::Instant::now();
        let handles: Vec<_> = (0..total)
            .map(|i| {
                let q = queries[i % queries.len()].clone();
                let b = barrier.clone();
                std::thread::spawn(move || {
                    b.wait();
                    let a = post_sql(port, &q, "text/csv");
                    (i, a.status, a.text())
                })
            })
            .collect();
        // Postgres clients at the same time.
        let pg_script = r#"
import psycopg, concurrent.futures
def one(i):
    with psycopg.connect(autocommit=True) as c:
        return c.execute("SELECT count(*) FROM finances.balances_communes WHERE exercice = %s", (2023 + i % 2,)).fetchone()[0]
with concurrent.futures.ThreadPoolExecutor(50) as ex:
    res = list(ex.map(one, range(100)))
assert res == [9750] * 100, res
print("ok")
"#;
        assert!(python(s.pg, pg_script).contains("ok"));
        let mut wrong = 0;
        for h in handles {
            let (i, status, text) = h.join().unwrap();
            if status != 200 || text != expected[i % expected.len()] {
                wrong += 1;
                eprintln!("query {i}: {status} {text}");
            }
        }
        let elapsed = started.elapsed();
        assert_eq!(wrong, 0, "round {round}");
        assert!(s.alive());
        std::thread::sleep(Duration::from_secs(2));
        let after = s.rss_kib();
        eprintln!(
            "load round {round}: {total} HTTP + 100 Postgres queries in {:.1} s; RSS {} MiB before, {} MiB after",
            elapsed.as_secs_f64(),
            baseline / 1024,
            after / 1024
        );
        rss.push(after);
    }
    assert!(
        rss[0] < baseline + baseline / 2 + 64 * 1024,
        "RSS grew from {baseline} KiB to {} KiB",
        rss[0]
    );
    assert!(
        rss[1] < rss[0] + 48 * 1024,
        "RSS kept growing: {} KiB after round 1, {} KiB after round 2",
        rss[0],
        rss[1]
    );
}

/// Guessing is throttled: after ten failed logins within a minute, an address is refused
/// (429 with Retry-After, or a FATAL Postgres error) before its credentials are even checked.
#[test]
fn repeated_failed_logins_are_refused_for_the_rest_of_the_minute() {
    let s = Serve::start(&[]);
    for i in 0..10 {
        let a = http(
            s.http,
            "GET",
            "/datasets",
            &[("Authorization", "Bearer devine")],
            b"",
        );
        assert_eq!(a.status, 401, "attempt {i}");
    }
    let a = http(
        s.http,
        "GET",
        "/datasets",
        &[("Authorization", "Bearer devine")],
        b"",
    );
    assert_eq!(a.status, 429);
    let wait: u64 = a.headers["retry-after"].parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // Even the right token waits: the address is refused, not the secret.
    assert_eq!(get(s.http, "/datasets").status, 429);
    let out = psql(s.pg, USER, Some(PASSWORD), "SELECT 1");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("too many failed logins from your address"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Public endpoints still answer.
    assert_eq!(http(s.http, "GET", "/health", &[], b"").status, 200);
}

#[test]
fn a_table_refreshed_while_serving_is_served_after_the_next_reload() {
    let p = common::Proj::samples();
    p.ok(&["refresh", "ref.regions"]);
    let http_port = free_port();
    let addr = format!("127.0.0.1:{http_port}");
    let _serve = Server(
        Command::new(env!("CARGO_BIN_EXE_opencoll"))
            .arg("--project")
            .arg(p.path())
            .args(["serve", "--no-auth", "--reload", "1", "--http", &addr])
            .env_remove("OPENCOLL_LAKE")
            .env_remove("OPENCOLL_ENGINE")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port(http_port);
    let sql = "SELECT count(*) AS n, min(code) AS first FROM ref.departements";
    let ask = || {
        http(
            http_port,
            "POST",
            "/sql",
            &[("Accept", "text/csv"), ("Content-Type", "text/plain")],
            sql.as_bytes(),
        )
    };
    assert_ne!(ask().status, 200, "ref.departements is not refreshed yet");
    p.ok(&["refresh", "ref.departements"]);
    let expected = p.ok(&["sql", "--format", "csv", sql]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let a = ask();
        if a.status == 200 {
            assert_eq!(a.text(), expected);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {} after 30 s: {}",
            a.status,
            a.text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// TLS on both listeners and SCRAM-SHA-256 for Postgres passwords (issue 20): psql verifies the
/// server's certificate and binds SCRAM to it (SCRAM-SHA-256-PLUS); a client that does not ask
/// for TLS is refused with what to do; `opencoll password`'s keys log in without the password
/// being stored; a `sha256:` user is asked in clear, so channel binding cannot be required for
/// it; HTTPS answers a client that trusts the authority, and plain HTTP gets no answer.
#[test]
fn tls_on_both_listeners_and_scram_passwords() {
    let tls = repo().join("tests/fixtures/tls");
    let (cert, key, ca) = (
        tls.join("server.crt"),
        tls.join("server.key"),
        tls.join("ca.crt"),
    );
    let mut p = Command::new(env!("CARGO_BIN_EXE_opencoll"))
        .arg("password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    p.stdin
        .take()
        .unwrap()
        .write_all("clé secrète\n".as_bytes())
        .unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(out.status.success());
    let keys = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        keys.starts_with("scram-sha-256:") && !keys.contains("secr"),
        "{keys}"
    );
    // SHA-256 of "ancien-mdp" (`printf ancien-mdp | sha256sum`).
    let digest = "ab699a0f5e325b0b74261bcce97f04e8e2955cd663a88e6ce3769c43e55440f1";
    let users = format!("{USER}:{PASSWORD},cle:{keys},ancien:sha256:{digest}");
    let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());
    let mut s = Serve::start_with(&["--tls-cert", &cert_s, "--tls-key", &key_s], &users);
    let ca_s = ca.display().to_string();
    let verify = [
        ("PGSSLMODE", "verify-full"),
        ("PGSSLROOTCERT", ca_s.as_str()),
    ];
    let bound = [verify[0], verify[1], ("PGCHANNELBINDING", "require")];
    let ok = |user: &str, pw: &str, env: &[(&str, &str)]| {
        let o = psql_env(
            s.pg,
            user,
            Some(pw),
            "SELECT count(*) AS n FROM finances.fiche",
            env,
        );
        assert!(
            o.status.success(),
            "{user}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let plain = ok(USER, PASSWORD, &verify);
    assert!(
        plain.lines().nth(1).unwrap().parse::<u64>().unwrap() > 0,
        "{plain}"
    );
    assert_eq!(ok(USER, PASSWORD, &bound), plain);
    assert_eq!(ok("cle", "clé secrète", &bound), plain);
    assert_eq!(ok("ancien", "ancien-mdp", &verify), plain);
    let refused = |user: &str, pw: &str, env: &[(&str, &str)]| {
        let o = psql_env(s.pg, user, Some(pw), "SELECT 1", env);
        assert!(!o.status.success(), "{user} should be refused");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    // Asked in clear: libpq will not send it when channel binding is required.
    let e = refused("ancien", "ancien-mdp", &bound);
    assert!(e.contains("channel binding"), "{e}");
    let e = refused(USER, PASSWORD, &[("PGSSLMODE", "disable")]);
    assert!(
        e.contains("only accepts TLS") && e.contains("sslmode=require"),
        "{e}"
    );
    let e = refused(USER, "faux", &bound);
    assert!(e.contains("authentication failed"), "{e}");
    let e = refused("cle", "cle secrete", &verify);
    assert!(e.contains("authentication failed"), "{e}");

    // HTTPS: Python's ssl with the test authority; plain HTTP on the same port gets nothing.
    let body = common::run_ok(
        Command::new(python_with_duckdb())
            .arg("-c")
            .arg(format!(
                "import ssl, urllib.request as u\n\
                 c = ssl.create_default_context(cafile={ca:?})\n\
                 r = u.urlopen(u.Request('https://localhost:{port}/datasets', headers={{'Authorization': 'Bearer {TOKEN}'}}), context=c)\n\
                 print(r.status, r.read().decode())",
                ca = ca_s,
                port = s.http
            ))
            .stdin(Stdio::null()),
    );
    assert!(
        body.starts_with("200 ") && body.contains("finances.fiche"),
        "{body}"
    );
    let mut raw = TcpStream::connect(("127.0.0.1", s.http)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    raw.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut raw, &mut answer);
    assert!(
        !answer.starts_with(b"HTTP"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(s.alive());
    assert!(!s.log().contains(PASSWORD) && !s.log().contains("secr"));

    // Without TLS, SCRAM still keeps the password off the wire, but there is nothing to bind to.
    let s2 = Serve::start(&[]);
    let o = psql(s2.pg, USER, Some(PASSWORD), "SELECT 1");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = psql_env(
        s2.pg,
        USER,
        Some(PASSWORD),
        "SELECT 1",
        &[("PGCHANNELBINDING", "require")],
    );
    assert!(!o.status.success());

    // A certificate that cannot be used stops the start, naming the file.
    let serve_tls = |tls: &[&str]| {
        let args = [&["serve", "--no-auth", "--http", "127.0.0.1:0"][..], tls].concat();
        opencoll(project(), &args, &[])
    };
    let out = serve_tls(&["--tls-cert", &key_s, "--tls-key", &key_s]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && e.contains("server.key") && e.contains("no certificate"),
        "{e}"
    );
    let out = serve_tls(&["--tls-cert", &cert_s]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}

/// Issue 20's soak, the 60-second version (`bench/soak.py`; its 10-minute figures are in
/// docs/reliability.md): `serve --schedule` refreshes a table every 2 s while 32 clients query
/// it over Postgres and HTTP. No query fails, every answer is one whole version (never rows of
/// two refreshes), the clients see many versions, and open files do not grow.
#[test]
fn soak_a_minute_of_refreshes_under_32_clients() {
    let out = Command::new(python_with_duckdb())
        .arg(repo().join("bench/soak.py"))
        .args(["--opencoll", env!("CARGO_BIN_EXE_opencoll")])
        .args(["--duration", "60", "--clients", "32"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(s["failed"], 0, "{s}");
    assert_eq!(s["mixed"], 0, "{s}");
    assert!(s["versions_seen"].as_u64().unwrap() >= 10, "{s}");
    assert!(s["queries"].as_u64().unwrap() >= 1000, "{s}");
    let fds = &s["open_fds"];
    assert!(
        fds["end"].as_u64().unwrap() <= fds["baseline"].as_u64().unwrap() + 16,
        "open files grew: {s}"
    );
}

/// What an analyst could send to take the server down, each failing alone (found by trying
/// to break it, issue 20): results of a function larger than memory (16 GiB for one
/// `array_repeat`), an answer held whole past the query's memory limit, a cancelled join that
/// kept both cores busy for a minute; and requests that were refused wrongly (`EXPLAIN` in
/// JSON, a scheme or media type in capitals), or answered with far more than asked (an Arrow
/// answer of one name carried the page it was read from).
#[test]
fn hostile_queries_fail_alone_and_the_server_answers_around_them() {
    let mut s = Serve::start(&["--query-memory", "64", "--query-timeout", "3"]);
    for sql in [
        "SELECT cardinality(array_repeat(1, 2147483647))",
        "SELECT length(lpad('x', 2147483647))",
        "SELECT length(repeat('x', 1000000000))",
        "SELECT levenshtein(repeat('a', 100000), repeat('b', 100000))",
    ] {
        let a = post_sql(s.http, sql, "application/json");
        assert_eq!(a.status, 400, "{sql}: {}", a.text());
        assert!(
            a.text()
                .contains("more than a function may make in one value"),
            "{}",
            a.text()
        );
    }
    // 100 MB of CSV, 64 MiB allowed
    let a = post_sql(
        s.http,
        "SELECT repeat('x', 1000000) AS s FROM generate_series(1, 100)",
        "text/csv",
    );
    assert_eq!(a.status, 422, "{}", a.text());
    assert!(
        a.text()
            .contains("the answer is larger than the server's limit of 64 MiB"),
        "{}",
        a.text()
    );
    // cancelled at the deadline, and the server is idle right after
    let t = std::time::Instant::now();
    let a = post_sql(
        s.http,
        "SELECT c.code, count(*) FROM ref.communes c JOIN finances.balances_communes b ON true GROUP BY c.code",
        "application/json",
    );
    assert_eq!(a.status, 504, "{}", a.text());
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let t = std::time::Instant::now();
    assert_eq!(get(s.http, "/health").status, 200);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());

    let a = post_sql(
        s.http,
        "EXPLAIN SELECT count(*) FROM ref.communes",
        "application/json",
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(a.text().contains("physical_plan"), "{}", a.text());
    let a = get(
        s.http,
        "/datasets/ref.communes/rows?format=arrow&limit=1&columns=nom&where=code:eq:2A004&where=millesime:eq:2026",
    );
    assert_eq!(a.status, 200);
    assert!(a.body.len() < 4096, "{} bytes for one name", a.body.len());
    let a = http(
        s.http,
        "POST",
        "/sql",
        &[
            ("Authorization", &format!("BEARER {TOKEN}")),
            ("Content-Type", "APPLICATION/JSON; charset=utf-8"),
            ("Accept", "text/csv"),
        ],
        br#"{"sql": "SELECT 41 + 1 AS n"}"#,
    );
    assert_eq!((a.status, a.text()), (200, "n\n42\n".to_string()));
    assert!(s.alive());
}
