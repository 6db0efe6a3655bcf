//! The SQL command line the way psql and DuckDB users work: results without rows keep their
//! header, queries from a file, from standard input or starting with a comment, `--timing`.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{Proj, stderr, stdout};

#[test]
fn a_result_without_rows_still_shows_its_columns() {
    let p = Proj::empty(&["ref"]);
    let q = "SELECT 1 AS a, 'x' AS b WHERE false";
    assert_eq!(p.ok(&["sql", "--format", "csv", q]), "a,b\n");
    assert_eq!(p.ok(&["sql", "--format", "json", q]), "[]\n");
    let table = p.ok(&["sql", q]);
    assert!(table.contains("| a | b |"), "{table}");
    assert!(table.trim_end().ends_with("(0 rows)"), "{table}");
    // with rows, no count line
    let table = p.ok(&["sql", "SELECT 1 AS a"]);
    assert!(!table.contains("rows)"), "{table}");
}

#[test]
fn queries_from_a_file_from_stdin_and_starting_with_a_comment() {
    let p = Proj::empty(&["ref"]);
    p.write("q.sql", "-- the answer\nSELECT 6 * 7 AS answer\n");
    // (a relative path is relative to the current folder, as in psql)
    let file = p.path().join("q.sql");
    assert_eq!(
        p.ok(&["sql", "--format", "csv", "-f", file.to_str().unwrap()]),
        "answer\n42\n"
    );
    assert_eq!(
        p.ok(&["sql", "--format", "csv", "--file", file.to_str().unwrap()]),
        "answer\n42\n"
    );
    assert_eq!(
        p.ok(&[
            "sql",
            "--format",
            "csv",
            "-- a comment first\nSELECT 1 AS one"
        ]),
        "one\n1\n"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_opencoll"))
        .arg("--project")
        .arg(p.path())
        .args(["sql", "--format", "csv", "-"])
        .env_remove("OPENCOLL_LAKE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT 'stdin' AS source")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "source\nstdin\n");
    // a missing file says which
    let out = p.run(&["sql", "-f", "nowhere.sql"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nowhere.sql"), "{}", stderr(&out));
}

/// A planning error is said once: DataFusion's message used to come three times on one line
/// ("table … not found: table … not found: table … not found"), and in the lake's words.
#[test]
fn an_error_is_said_once() {
    let p = Proj::empty(&["ref"]);
    let out = p.run(&["sql", "SELECT * FROM ref.nothing"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.matches("ref.nothing").count(), 1, "{err}");
    assert!(
        err.contains("no table or view ref.nothing in the lake"),
        "{err}"
    );
}

#[test]
fn timing_goes_to_stderr_and_leaves_the_result_clean() {
    let p = Proj::empty(&["ref"]);
    let out = p.run(&["sql", "--format", "csv", "--timing", "SELECT 1 AS a"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "a\n1\n");
    let err = stderr(&out);
    let ms: f64 = err
        .trim()
        .strip_prefix("Time: ")
        .and_then(|t| t.strip_suffix(" ms"))
        .unwrap_or_else(|| panic!("{err}"))
        .parse()
        .unwrap();
    assert!(ms > 0.0 && ms < 60_000.0, "{err}");
}

/// Two pipelines of a wave appending to `_ops` at once make delta-rs check for conflicts and
/// log a warning each time (four in a full refresh of the samples before it was filtered):
/// expected and handled, so not in the default output.
#[test]
fn library_warnings_stay_out_of_a_plain_refresh() {
    let p = Proj::samples();
    let out = p.run(&["refresh"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("WARN"), "{}", stderr(&out));
    let out = p.run(&["refresh", "--full"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("WARN"), "{}", stderr(&out));
}

/// On a lake where views' inputs are not refreshed yet, a query warns about the views it uses
/// only, and `catalog` lists every unavailable one with the reason.
#[test]
fn unavailable_views_are_warned_about_when_used_and_listed_in_the_catalog() {
    let p = Proj::samples();
    p.ok(&["refresh", "ref.*"]);
    let out = p.run(&["sql", "--format", "csv", "SELECT 1 AS one"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "",
        "no warning for views the query does not use"
    );
    let out = p.run(&["sql", "SELECT count(*) FROM finances.fiche"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.matches("warning: ").count(), 1, "{err}");
    assert!(
        err.contains("warning: view finances.fiche (sql/finances/fiche.sql) is unavailable"),
        "{err}"
    );
    // views over loaded tables work, silently
    let out = p.run(&[
        "sql",
        "--format",
        "csv",
        "SELECT count(*) AS n FROM ref.passage_communes",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let catalog = p.ok(&["catalog"]);
    assert!(
        catalog.contains("finances.fiche (view) unavailable: "),
        "{catalog}"
    );
    assert!(catalog.contains("ref.communes (table)"), "{catalog}");
    let json: serde_json::Value =
        serde_json::from_str(&p.ok(&["catalog", "--format", "json"])).unwrap();
    let fiche = json
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "finances.fiche")
        .unwrap();
    assert!(fiche["unavailable"].as_str().unwrap().len() > 5, "{fiche}");
}

/// `opencoll catalog | head -1`: the reader goes away; the command ends quietly, no panic.
#[test]
fn output_cut_short_by_a_closed_pipe_ends_without_a_panic() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let p = Proj::samples();
    p.ok(&["refresh", "ref.communes"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_opencoll"))
        .arg("--project")
        .arg(p.path())
        .args(["sql", "SELECT code, nom FROM ref.communes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // stdout is dropped here: the pipe is closed with 75,000 rows still to print.
    let out = child.wait_with_output().unwrap();
    assert!(first.starts_with('+'), "{first}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
}

/// `--output FILE` (format from the extension) and `--format` for every result format:
/// French CSV for Excel, TSV, NDJSON, Markdown, Parquet and Arrow keeping the types.
#[test]
fn results_export_to_files_and_formats_with_types_kept() {
    let p = Proj::empty(&["ref"]);
    let q = "SELECT '01001' AS code, CAST(1234.5 AS DECIMAL(18, 2)) AS montant, 0.25 AS taux, 'a;b' AS texte";
    // French CSV: BOM, semicolons, decimal comma in numbers only, quoted text with a `;`.
    let fr = p.ok(&["sql", "--format", "csv-fr", q]);
    assert_eq!(
        fr,
        "\u{feff}code;montant;taux;texte\n01001;1234,50;0,25;\"a;b\"\n"
    );
    assert_eq!(
        p.ok(&["sql", "--format", "tsv", q]),
        "code\tmontant\ttaux\ttexte\n01001\t1234.50\t0.25\ta;b\n"
    );
    let md = p.ok(&["sql", "--format", "markdown", q]);
    assert!(
        md.starts_with(
            "| code | montant | taux | texte |\n|---|---:|---:|---|\n| 01001 | 1234.50 |"
        ),
        "{md}"
    );
    let nd = p.ok(&[
        "sql",
        "--format",
        "ndjson",
        "SELECT 1 AS a UNION ALL SELECT 2",
    ]);
    assert_eq!(nd.lines().count(), 2, "{nd}");

    // Files: the format follows the extension; Parquet keeps codes as text and money exact.
    let dir = p.path();
    let out = p.run(&[
        "sql",
        "--output",
        dir.join("r.parquet").to_str().unwrap(),
        q,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 rows written to"),
        "{}",
        stderr(&out)
    );
    let bytes = bytes::Bytes::from(std::fs::read(dir.join("r.parquet")).unwrap());
    let mut r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap();
    let b = r.next().unwrap().unwrap();
    assert_eq!(
        b.schema().field(1).data_type(),
        &arrow::datatypes::DataType::Decimal128(18, 2)
    );
    assert_eq!(
        b.schema().field(0).data_type(),
        &arrow::datatypes::DataType::Utf8
    );
    p.ok(&["sql", "-o", dir.join("r.arrow").to_str().unwrap(), q]);
    let f = std::fs::File::open(dir.join("r.arrow")).unwrap();
    let mut ipc = arrow::ipc::reader::FileReader::try_new(f, None).unwrap();
    assert_eq!(ipc.next().unwrap().unwrap().num_rows(), 1);
    p.ok(&["sql", "-o", dir.join("r.csv").to_str().unwrap(), q]);
    assert!(
        std::fs::read_to_string(dir.join("r.csv"))
            .unwrap()
            .starts_with("code,montant")
    );

    // An unknown extension says what to do; a failed export leaves no file behind.
    let out = p.run(&["sql", "-o", dir.join("r.xyz").to_str().unwrap(), q]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("add --format"), "{}", stderr(&out));
    let out = p.run(&[
        "sql",
        "-o",
        dir.join("r2.csv").to_str().unwrap(),
        "SELECT * FROM nulle.part",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!dir.join("r2.csv").exists());
    let out = p.run(&["sql", "-o", dir.join("absent/r.csv").to_str().unwrap(), q]);
    assert!(stderr(&out).contains("no folder"), "{}", stderr(&out));
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

/// `refresh --json`: one JSON object per event for schedulers, a failure with its error and
/// whether it is worth retrying, then a summary.
#[test]
fn refresh_json_event_stream() {
    let p = Proj::empty(&["ref"]);
    p.write("data/a.csv", "code;n\n01;1\n02;2\n");
    p.write("data/b.csv", "code;n\n01;1\n02;x\n");
    let pipeline = |name: &str, file: &str| {
        format!(
            "name: {name}\nsource: {{ path: {file}, csv: {{ delimiter: \";\" }} }}\ncolumns:\n  code: {{ from: code, type: code }}\n  n: {{ from: n, type: int64 }}\nmax_rejects: 0\n"
        )
    };
    p.write("pipelines/a.yaml", pipeline("ref.a", "data/a.csv"));
    p.write("pipelines/b.yaml", pipeline("ref.b", "data/b.csv"));
    let out = p.run(&["refresh", "--json"]);
    assert_eq!(out.status.code(), Some(1), "ref.b fails");
    let events: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(events.iter().all(|e| e["at"].is_string()));
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"decided") && kinds.contains(&"started"),
        "{kinds:?}"
    );
    let committed = events.iter().find(|e| e["event"] == "committed").unwrap();
    assert_eq!(committed["pipeline"], "ref.a");
    assert_eq!(committed["rows_written"], 2);
    assert_eq!(committed["table_version"], 0);
    let failed = events.iter().find(|e| e["event"] == "failed").unwrap();
    assert_eq!(failed["pipeline"], "ref.b");
    assert_eq!(failed["rows_rejected"], 1);
    assert_eq!(failed["transient"], false);
    assert!(
        failed["error"].as_str().unwrap().contains("max_rejects"),
        "{failed}"
    );
    let last = events.last().unwrap();
    assert_eq!(last["event"], "summary");
    assert_eq!(last["committed"], serde_json::json!(["ref.a"]));
    assert_eq!(last["failed"], serde_json::json!(["ref.b"]));

    // Next time ref.a is skipped, with the reason, and plan --json says the same.
    let plan = p.run(&["plan", "--json"]);
    let decided: Vec<serde_json::Value> = stdout(&plan)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["event"] == "decided")
        .collect();
    let a = decided.iter().find(|e| e["pipeline"] == "ref.a").unwrap();
    assert_eq!(a["action"], "skip");
    assert!(
        a["reason"]
            .as_str()
            .unwrap()
            .starts_with("unchanged since run")
    );
    let b = decided.iter().find(|e| e["pipeline"] == "ref.b").unwrap();
    assert_eq!(b["action"], "run");
}

/// The shell's meta-commands (`\d NAME`, `.mode`, `.timer`, `\i`), and Ctrl-C cancelling the
/// running query, not the shell.
#[test]
fn shell_meta_commands_and_ctrl_c_cancels_the_query_not_the_shell() {
    let p = Proj::empty(&["ref"]);
    p.write("q.sql", "SELECT 7 AS sept;\nSELECT 'x;y' AS t;\n");
    let mut child = Command::new(env!("CARGO_BIN_EXE_opencoll"))
        .arg("--project")
        .arg(p.path())
        .arg("shell")
        .current_dir(p.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(
        stdin,
        ".mode csv\nSELECT 1 AS a,\n  2 AS b;\n\\d _ops.runs\n.timer on\n\\i q.sql\n.mode xlsx\n.timer off\nSELECT count(*) AS n FROM generate_series(1, 50000000000);"
    )
    .unwrap();
    stdin.flush().unwrap();
    // Once the file's statements have printed, the long query is next: interrupt it as
    // Ctrl-C would, then go on.
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut o = String::new();
    while !o.contains("x;y\n") {
        let mut line = String::new();
        assert!(
            std::io::BufRead::read_line(&mut reader, &mut line).unwrap() > 0,
            "{o}"
        );
        o.push_str(&line);
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    writeln!(stdin, "SELECT 5 AS apres;\n\\q").unwrap();
    drop(stdin);
    std::io::Read::read_to_string(&mut reader, &mut o).unwrap();
    let out = child.wait_with_output().unwrap();
    let e = stderr(&out);
    assert!(out.status.success(), "{o}\n{e}");
    assert!(o.contains("a,b\n1,2\n"), "{o}");
    assert!(o.contains("table _ops.runs") && o.contains("run_id"), "{o}");
    assert!(o.contains("sept\n7\n") && o.contains("t\nx;y\n"), "{o}");
    assert!(o.contains("Run Time: "), "{o}");
    assert!(e.contains("unknown mode `xlsx`"), "{e}");
    assert!(e.contains("query cancelled"), "{e}");
    assert!(o.contains("apres\n5\n"), "the shell went on: {o}");
}

/// Issue 22: the shell at a real terminal (a pseudo-terminal driven by
/// tests/fixtures/tty/shell.py): Tab completes a table, a column and a keyword (the query only
/// answers if all three were completed), and Ctrl-C typed during a long query cancels it, not
/// the shell.
#[test]
fn shell_tab_completion_and_ctrl_c_at_a_terminal() {
    let p = Proj::empty(&["ref"]);
    p.write(
        "pipelines/d.yaml",
        "name: ref.departements\nsource: { path: data/d.csv }\ncolumns:\n  code: { from: code, type: code }\n  libelle: { from: libelle }\n",
    );
    p.write(
        "data/d.csv",
        "code,libelle\n01,Ain\n2A,Corse-du-Sud\n971,Guadeloupe\n",
    );
    p.ok(&["refresh"]);
    let out = Command::new(common::python_with_duckdb())
        .arg(common::repo().join("tests/fixtures/tty/shell.py"))
        .arg(env!("CARGO_BIN_EXE_opencoll"))
        .arg(p.path())
        .arg("completion")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("3,Guadeloupe"), "{text}");
}

/// Issue 22: results wider or taller than the terminal, as psql shows them: a table wider than
/// the terminal record by record (`\x auto`, the default), a result taller than it through
/// `$PAGER`; `\pset pager off` and `\x off` turn each off (tests/fixtures/tty/shell.py).
#[test]
fn shell_wide_results_by_record_and_long_ones_through_the_pager() {
    let p = Proj::empty(&["ref"]);
    let out = Command::new(common::python_with_duckdb())
        .arg(common::repo().join("tests/fixtures/tty/shell.py"))
        .arg(env!("CARGO_BIN_EXE_opencoll"))
        .arg(p.path())
        .arg("wide")
        // a pager that marks its lines, so that the test sees it was used
        .env("PAGER", "sed 's/^/PAGED /'")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    // the wide result: one `column | value` line per column, no table border
    assert!(
        text.contains("premiere | aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        "{text}"
    );
    assert!(text.contains("\n| court |"), "{text}");
    assert!(
        !text.contains("PAGED | court"),
        "a short result is not paged: {text}"
    );
    assert!(text.contains("PAGED | 40 |"), "{text}");
    // pager off: the same rows on the terminal; `\x off`: a table even when wider
    assert!(text.contains("\n| 40 |"), "{text}");
    assert!(text.contains(&format!("| {} |", "c".repeat(70))), "{text}");
}

/// Issue 22: a refresh at a terminal draws a bar per running pipeline, with the bytes of its
/// sources read out of their total, the speed and the time left; `--json` reports the same
/// bytes for schedulers.
#[test]
fn refresh_progress_bars_with_bytes_and_time_left_at_a_terminal() {
    let p = Proj::empty(&["ref"]);
    p.write(
        "pipelines/big.yaml",
        "name: ref.big\nsource: { path: data/big.csv }\ncolumns:\n  code: { from: code, type: code }\n  n: { from: n, type: int64 }\n",
    );
    let mut csv = String::from("code,n\n");
    for i in 0..1_500_000u32 {
        csv.push_str(&format!("{:05},{i}\n", i % 100_000));
    }
    p.write("data/big.csv", &csv);
    let out = Command::new(common::python_with_duckdb())
        .arg(common::repo().join("tests/fixtures/tty/run.py"))
        .arg(env!("CARGO_BIN_EXE_opencoll"))
        .arg("--project")
        .arg(p.path())
        .arg("refresh")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok      ref.big: 1500000 read"), "{text}");
    // The bar: total size, time left, rows so far.
    let total = format!("{:.2} MiB", csv.len() as f64 / 1024.0 / 1024.0);
    assert!(
        text.contains(&total) && text.contains("ETA") && text.contains("ref.big"),
        "{text}"
    );

    // Not a terminal: no bar drawn, the plain line instead; --json carries the bytes.
    let plain = p.run(&["refresh", "--full"]);
    assert!(!stderr(&plain).contains("ETA"), "{}", stderr(&plain));
    assert!(stderr(&plain).contains("refreshing ref.big"));
    let json = p.ok(&["refresh", "--full", "--json"]);
    let progress: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "progress")
        .collect();
    assert!(!progress.is_empty(), "{json}");
    for v in &progress {
        assert_eq!(v["bytes_total"], csv.len() as u64, "{v}");
        assert!(v["bytes_read"].as_u64().unwrap() <= csv.len() as u64, "{v}");
    }

    // A publish of the table: at a terminal a bar of the rows written out of the table's
    // rows, with the time left; the line of each dataset with its rows and size.
    let catalog = std::fs::read_to_string(p.path().join("catalog.yaml")).unwrap();
    p.write(
        "catalog.yaml",
        format!("{catalog}datasets:\n  ref.big: {{ publish: true }}\n"),
    );
    let out = Command::new(common::python_with_duckdb())
        .arg(common::repo().join("tests/fixtures/tty/run.py"))
        .arg(env!("CARGO_BIN_EXE_opencoll"))
        .arg("--project")
        .arg(p.path())
        .args(["publish", "--release", "r1"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("/1500000 rows") && text.contains("ETA"),
        "{text}"
    );
    assert!(text.contains("published ref.big: 1500000 rows ("), "{text}");
    // --json: started with the rows to write, progress, written, then the release
    let json = p.ok(&["publish", "--release", "r2", "--json"]);
    let events: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"started"), "{json}");
    assert_eq!(events[0]["rows_total"], 1_500_000, "{json}");
    assert_eq!(
        &kinds[kinds.len() - 2..],
        ["written", "published"],
        "{json}"
    );
    let written = &events[events.len() - 2];
    assert_eq!(written["rows"], 1_500_000, "{json}");
    assert!(written["bytes"].as_u64().unwrap() > 1000, "{json}");
    for e in events.iter().filter(|e| e["event"] == "progress") {
        assert!(e["rows_written"].as_u64().unwrap() <= 1_500_000, "{e}");
    }
}

/// A file as wide as a workbook's widest row (16,384 columns) gets a pipeline that a refresh
/// reads back; one column more is refused with what to do. Finding each column by a pass
/// over the header, and naming each against every name before it, once took `infer` 33 s at
/// 20,000 columns and 135 s at 40,000; at 80,000 the pipeline it wrote was past the YAML
/// parser's node budget.
#[test]
fn infer_reads_a_file_as_wide_as_a_workbook_and_refuses_a_wider_one() {
    let p = Proj::empty(&["raw"]);
    let wide = |n: usize| {
        let head: Vec<String> = (0..n).map(|i| format!("Col {i}!")).collect();
        let row: Vec<String> = (0..n).map(|i| format!("{}", i % 7 + 10)).collect();
        format!("{}\n{}\n", head.join(";"), row.join(";"))
    };
    p.write("data/w.csv", wide(16_384));
    p.write("data/w2.csv", wide(16_385));
    let infer = |file: &str| {
        Command::new(env!("CARGO_BIN_EXE_opencoll"))
            .current_dir(p.path())
            .args(["infer", file, "--name", "raw.w"])
            .output()
            .unwrap()
    };
    let out = infer("data/w.csv");
    assert!(out.status.success(), "{}", stderr(&out));
    // from a subfolder, or with --project, the path is written as refresh reads it: from
    // the project folder
    std::fs::create_dir_all(p.path().join("pipelines")).unwrap();
    for (dir, args) in [
        (p.path().join("pipelines"), vec!["infer", "../data/w.csv"]),
        (
            std::env::temp_dir(),
            vec![
                "--project",
                p.path().to_str().unwrap(),
                "infer",
                p.path().join("data/w.csv").to_str().unwrap(),
            ],
        ),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_opencoll"))
            .current_dir(&dir)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            stdout(&o).contains("  path: \"data/w.csv\"\n"),
            "{args:?}: {}",
            stdout(&o)
        );
    }
    p.write("pipelines/w.yaml", stdout(&out));
    let done = p.ok(&["refresh"]);
    assert!(
        done.contains("ok      raw.w: 1 read, 1 written, 0 rejected"),
        "{done}"
    );
    assert_eq!(
        p.value("SELECT CAST(col_0 AS VARCHAR) || '/' || CAST(col_16383 AS VARCHAR) FROM raw.w"),
        "10/13"
    );
    let out = infer("data/w2.csv");
    let e = stderr(&out);
    assert!(
        !out.status.success()
            && e.contains("the header has 16385 columns, more than infer proposes (16384")
            && e.contains("a refresh reads a file of up to 1,048,576 columns"),
        "{e}"
    );
    // As the hint says: a pipeline written by hand reads the wider file.
    p.write(
        "pipelines/w.yaml",
        "name: raw.w\nsource: { path: data/w2.csv, csv: { delimiter: \";\" } }\ncolumns:\n  last: { from: \"Col 16384!\", type: int32 }\n",
    );
    p.ok(&["refresh"]);
    assert_eq!(p.value("SELECT last FROM raw.w"), "14");
}

#[test]
fn infer_reads_each_format_and_says_what_does_not_apply() {
    // The committed samples: a report workbook, a PDF report, a JSON reference file; each
    // pipeline infer writes is refreshed without a reject.
    let p = Proj::empty(&["raw"]);
    let samples = common::repo().join("data/samples");
    let infer = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_opencoll"))
            .arg("infer")
            .args(args)
            .output()
            .unwrap()
    };
    let book = samples.join("publications/comptes_regions.xlsx");
    let pdf = samples.join("publications/rapport_finances_2024.pdf");
    let json = samples.join("geo/regions_2026.json.gz");
    for (name, args) in [
        (
            "raw.book",
            vec![book.to_str().unwrap(), "--sheet", "Édition 2024"],
        ),
        ("raw.pdf", vec![pdf.to_str().unwrap(), "--table", "1"]),
        ("raw.regions", vec![json.to_str().unwrap()]),
    ] {
        let out = infer(&[args.as_slice(), &["--name", name]].concat());
        assert!(out.status.success(), "{}", stderr(&out));
        p.write(&format!("pipelines/{name}.yaml"), stdout(&out));
    }
    let out = p.ok(&["refresh"]);
    for name in ["raw.book", "raw.pdf", "raw.regions"] {
        let line = out.lines().find(|l| l.contains(name)).unwrap_or("");
        assert!(
            line.starts_with("ok") && line.contains(" written, 0 rejected"),
            "{out}"
        );
    }
    // table 1 of the PDF is the ruled one, agrégats by région
    assert_eq!(
        p.value("SELECT count(*) FROM raw.pdf WHERE agregat IS NOT NULL"),
        p.value("SELECT count(*) FROM raw.pdf")
    );
    // the package's regions file: 13 of metropolitan France, 5 overseas, 8 COM entries
    assert_eq!(
        p.value("SELECT count(*) FROM raw.regions WHERE zone IN ('metro', 'drom')"),
        "18"
    );
    assert_eq!(p.value("SELECT count(*) FROM raw.regions"), "26");

    // What does not apply is said, with the choices there are.
    let err = |args: &[&str]| {
        let out = infer(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        stderr(&out)
    };
    let csv = samples.join("ofgl/ofgl-base-communes_2024.csv");
    let e = err(&[csv.to_str().unwrap(), "--sheet", "1"]);
    assert!(
        e.contains("--sheet does not apply to a CSV or text export"),
        "{e}"
    );
    let e = err(&[pdf.to_str().unwrap(), "--table", "9"]);
    assert!(
        e.contains("there is no table 9: 1 (page 1, table 1)")
            && e.contains("2 (pages 1-2, table 2)"),
        "{e}"
    );
    let e = err(&[book.to_str().unwrap(), "--sheet", "Édition 1999"]);
    assert!(
        e.contains("no sheet `Édition 1999`: the sheets are `Édition 2024`"),
        "{e}"
    );
    let e = err(&[csv.to_str().unwrap(), "--name", "Finances.Essai"]);
    assert!(
        e.contains("--name `Finances.Essai` must be `<domain>.<table>`"),
        "{e}"
    );
    let e = err(&["notes.docx"]);
    assert!(e.contains("infer reads .csv"), "{e}");
}
