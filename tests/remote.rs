//! Remote sources and an S3 lake, against servers started by the test on loopback: moto's S3
//! server and Python's HTTP server (both installed by scripts/python-tools.sh).

mod common;

use std::process::{Command, Stdio};

use common::{Proj, Server, fixture, free_port, wait_port};

#[test]
fn an_s3_lake_and_an_s3_source_on_an_s3_compatible_server() {
    let s3 = common::S3::start();
    s3.python(
        "s3.put_object(Bucket='lake', Key='sources/a.csv', Body=b'code,n\\n01001,1\\n2A004,2\\n')",
    );
    let env = s3.env();
    let p = Proj::empty(&["ref"]);
    p.write(
        "pipelines/a.yaml",
        "name: ref.a\nsource: { path: \"s3://lake/sources/a.csv\" }\ncolumns:\n  code: { from: code, type: code }\n  n: { from: n, type: int64 }\nchecks:\n  - { unique: [code] }\n",
    );
    let run = p.run_env(&env, &["refresh"]);
    let out = common::stdout(&run);
    // A table not created yet is not an error worth a log line (delta-rs logs one when asked
    // to open it).
    assert!(
        run.status.success() && !common::stderr(&run).contains("ERROR"),
        "{}",
        common::stderr(&run)
    );
    assert!(
        out.contains("ok      ref.a: 2 read, 2 written, 0 rejected")
            && out.contains("checks: 1/1 passed"),
        "{out}"
    );
    let out = p.ok_env(
        &env,
        &[
            "sql",
            "--format",
            "csv",
            "SELECT code, n FROM ref.a ORDER BY code",
        ],
    );
    assert_eq!(out, "code,n\n01001,1\n2A004,2\n");
    // Nothing changed: skipped (the source answered 304 / same ETag).
    let out = p.ok_env(&env, &["refresh"]);
    assert!(out.contains("skip    ref.a: unchanged"), "{out}");
    // A new object version is fetched and loaded.
    s3.python("s3.put_object(Bucket='lake', Key='sources/a.csv', Body=b'code,n\\n01001,5\\n')");
    let out = p.ok_env(&env, &["refresh"]);
    assert!(out.contains("ok      ref.a: 1 read, 1 written"), "{out}");
    let out = p.ok_env(
        &env,
        &[
            "sql",
            "--format",
            "csv",
            "SELECT count(*) AS c, max(table_version) AS v FROM _ops.runs WHERE status = 'success'",
        ],
    );
    assert_eq!(out, "c,v\n2,1\n");
    // Nothing was written locally: the lake is in the bucket.
    assert!(!p.path().join("data/lake").exists());
}

#[test]
fn https_like_sources_are_fetched_conditionally_and_unreachable_urls_fail_clearly() {
    let py = common::python_with_duckdb();
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.csv"), "code,n\n01001,1\n").unwrap();
    let _server = Server(
        Command::new(py)
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port(port);
    let p = Proj::empty(&["ref"]);
    p.write(
        "pipelines/a.yaml",
        fixture("remote/ref_a_http.yaml", &[("PORT", &port.to_string())]),
    );
    let out = p.ok(&["refresh"]);
    assert!(out.contains("ok      ref.a: 1 read, 1 written"), "{out}");
    assert!(p.ok(&["plan"]).contains("skip    ref.a: unchanged"));
    // The server's file changes (a later Last-Modified): fetched again and loaded.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(dir.path().join("a.csv"), "code,n\n01001,7\n01002,8\n").unwrap();
    assert!(p.ok(&["plan"]).contains("run     ref.a: source changed"));
    p.ok(&["refresh"]);
    assert_eq!(p.value("SELECT sum(n) FROM ref.a"), "15");

    // An unreachable URL: the run fails naming the pipeline and the URL; the table is unchanged.
    p.write(
        "pipelines/a.yaml",
        "name: ref.a\nsource: { path: \"http://127.0.0.1:9/a.csv\" }\ncolumns:\n  code: { from: code, type: code }\n  n: { from: n, type: int64 }\n",
    );
    let out = p.run(&["refresh"]);
    assert_eq!(out.status.code(), Some(1));
    let text = common::stdout(&out);
    assert!(
        text.contains("FAILED  ref.a") && text.contains("http://127.0.0.1:9/a.csv: cannot fetch"),
        "{text}"
    );
    assert_eq!(p.value("SELECT sum(n) FROM ref.a"), "15");
}

/// `fetch.max_mib`: a download larger than the cap fails whether its size is announced
/// (Content-Length) or not (a body without end), naming the size and what to raise; the
/// partial copy is removed and the table keeps its version; a higher cap loads the file.
#[test]
fn downloads_past_max_mib_fail_without_filling_the_disk() {
    // 1.5 MiB announced; the other streams rows until the client goes away.
    let code = "import http.server, sys\n\
        ROWS = b'code,n\\n' + b'01001,1\\n' * 196608\n\
        class H(http.server.BaseHTTPRequestHandler):\n    \
            def log_message(self, *a): pass\n    \
            def do_GET(self):\n        \
                self.send_response(200)\n        \
                if self.path == '/big.csv':\n            \
                    self.send_header('Content-Length', str(len(ROWS)))\n            \
                    self.end_headers()\n            \
                    self.wfile.write(ROWS)\n            \
                    return\n        \
                self.end_headers()\n        \
                self.wfile.write(b'code,n\\n')\n        \
                try:\n            \
                    while True:\n                \
                        self.wfile.write(b'01001,1\\n' * 8192)\n        \
                except OSError:\n            \
                    pass\n\
        http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n";
    let (_server, port) = python_server(&["-c".into(), code.into()]);
    let p = Proj::empty(&["ref"]);
    let pipeline = |file: &str, mib: u32| {
        format!(
            "name: ref.a\nsource:\n  path: \"http://127.0.0.1:{port}/{file}\"\n  fetch: {{ max_mib: {mib}, retries: 0 }}\ncolumns:\n  code: {{ from: code, type: code }}\n  n: {{ from: n, type: int64 }}\n"
        )
    };
    p.write("pipelines/a.yaml", pipeline("big.csv", 2));
    let out = p.ok(&["refresh"]);
    assert!(out.contains("196608 written"), "{out}");
    let cache = p.path().join(".opencoll/cache");
    let files = || {
        let mut f: Vec<String> = std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        f.sort();
        f
    };
    let before = files();
    for (file, says) in [
        ("big.csv", "1572871 bytes announced"),
        ("endless.csv", "received, and more coming"),
    ] {
        p.write("pipelines/a.yaml", pipeline(file, 1));
        let out = p.run(&["refresh", "--full"]);
        assert_eq!(out.status.code(), Some(1));
        let text = common::stdout(&out) + &common::stderr(&out);
        assert!(
            text.contains("too large") && text.contains(says) && text.contains("raise max_mib"),
            "{text}"
        );
        assert_eq!(p.value("SELECT count(*) FROM ref.a"), "196608");
    }
    // Only the finished copy of big.csv and its note: no partial file was left.
    assert_eq!(files(), before);
    p.write("pipelines/a.yaml", pipeline("big.csv", 0));
    let out = p.run(&["validate"]);
    assert!(
        common::stdout(&out).contains("fetch.max_mib")
            || common::stderr(&out).contains("fetch.max_mib")
    );
}

/// Issue 20: a lake on S3 behind a proxy that fails a share of the requests (500, 503
/// SlowDown, resets, slow answers, and answers lost after the store acted: the case where a
/// commit or the table lock is written but the client sees an error). Every refresh either
/// commits whole or not at all, as it reports; readers (straight to the store) always see one
/// whole version; no run is recorded twice; retries carry most refreshes through.
#[test]
fn refreshes_through_a_faulty_object_store_commit_whole_or_not_at_all() {
    let s3 = common::S3::start();
    let (_proxy, proxy) = fault_proxy(&s3, 7, 0.3);
    let p = Proj::empty(&["ref"]);
    p.write(
        "pipelines/a.yaml",
        "name: ref.a\nsource: { path: \"data/a_{part}.csv\", vars: { part: [1, 2] } }\ncolumns:\n  part: { var: part, type: int16 }\n  code: { from: code, type: code }\n  n: { from: n, type: int64 }\ntarget: { partition_by: [part] }\n",
    );
    let data = |value: u32| {
        for part in [1, 2] {
            let mut s = String::from("code,n\n");
            for i in 0..5_000 {
                s.push_str(&format!("{:05},{value}\n", i));
            }
            p.write(&format!("data/a_{part}.csv"), s);
        }
    };
    let direct = s3.env();
    let faulty: Vec<(&str, String)> = direct
        .iter()
        .map(|(k, v)| match *k {
            "AWS_ENDPOINT_URL" => (*k, format!("http://127.0.0.1:{proxy}")),
            _ => (*k, v.clone()),
        })
        .collect();
    let seen = || {
        p.ok_env(
            &direct,
            &[
                "sql",
                "--format",
                "csv",
                "SELECT n, count(*) AS c FROM ref.a GROUP BY n",
            ],
        )
    };
    data(1);
    p.ok_env(&direct, &["refresh"]);
    let mut visible = 1;
    let (mut ok, mut failed) = (0, 0);
    for value in 2..=7 {
        data(value);
        let out = p.run_env(&faulty, &["refresh", "--full"]);
        let text = common::stdout(&out) + &common::stderr(&out);
        assert!(!text.contains("panicked"), "{text}");
        let now = seen();
        let expect = if out.status.success() {
            ok += 1;
            value
        } else {
            failed += 1;
            assert!(
                text.contains("FAILED  ref.a") || text.contains("ref.a"),
                "{text}"
            );
            visible
        };
        assert_eq!(
            now,
            format!("n,c\n{expect},10000\n"),
            "refresh of {value}: {text}"
        );
        visible = expect;
    }
    let stats: serde_json::Value = serde_json::from_str(&run_ok_python(&format!(
        "import urllib.request as u; print(u.urlopen('http://127.0.0.1:{proxy}/__stats').read().decode())"
    )))
    .unwrap();
    for fault in ["pre500", "pre503", "reset", "post500", "postreset", "slow"] {
        assert!(
            stats[fault].as_u64().unwrap_or(0) > 0,
            "{fault} never injected: {stats}"
        );
    }
    assert!(
        ok >= 3,
        "{ok} refreshes of 6 got through (failed {failed}): {stats}"
    );
    // Every run recorded once, whatever was lost on the way.
    let dup = p.ok_env(
        &direct,
        &["sql", "--format", "csv", "SELECT count(*) FROM (SELECT run_id FROM _ops.runs GROUP BY run_id HAVING count(*) > 1)"],
    );
    assert_eq!(dup, "count(*)\n0\n");
    // Without faults the next refresh succeeds.
    run_ok_python(&format!(
        "import urllib.request as u; u.urlopen('http://127.0.0.1:{proxy}/__rate?r=0').read()"
    ));
    data(8);
    p.ok_env(&faulty, &["refresh"]);
    assert_eq!(seen(), "n,c\n8,10000\n");
}

/// tests/fixtures/servers/s3_faults.py in front of `s3`: faults drawn with `seed` for a share
/// `rate` of the requests.
fn fault_proxy(s3: &common::S3, seed: u64, rate: f64) -> (Server, u16) {
    let upstream = s3.endpoint.rsplit(':').next().unwrap().to_string();
    python_server(&[
        common::repo()
            .join("tests/fixtures/servers/s3_faults.py")
            .into(),
        upstream.into(),
        seed.to_string().into(),
        rate.to_string().into(),
    ])
}

fn run_ok_python(code: &str) -> String {
    common::run_ok(Command::new("python3").arg("-c").arg(code))
}

/// Starts a Python server (`args` after the interpreter, the port appended) and waits for it.
fn python_server(args: &[std::ffi::OsString]) -> (Server, u16) {
    let port = free_port();
    let server = Server(
        Command::new(common::python_with_duckdb())
            .args(args)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port(port);
    (server, port)
}

/// Serves `dir` over HTTP with the given `Content-Type` for `.html` files.
fn page_server(dir: &std::path::Path, content_type: &str) -> (Server, u16) {
    let code = format!(
        "import functools, http.server, sys\n\
         class H(http.server.SimpleHTTPRequestHandler):\n    \
             extensions_map = {{'.html': '{content_type}'}}\n    \
             def log_message(self, *a): pass\n\
         http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), functools.partial(H, directory='{}')).serve_forever()\n",
        dir.display()
    );
    python_server(&["-c".into(), code.into()])
}

#[test]
fn a_web_page_is_decoded_with_the_charset_its_server_declares() {
    // A legacy page with no <meta charset>: only the server says windows-1252.
    let dir = tempfile::tempdir().unwrap();
    let page = "<html><body><table><tr><th>Nom</th><th>Montant</th></tr>\
        <tr><td>Orléans</td><td>177 973&nbsp;</td></tr><tr><td>Œuilly</td><td>-5,5</td></tr></table>";
    std::fs::write(
        dir.path().join("fiche.html"),
        encoding_rs::WINDOWS_1252.encode(page).0,
    )
    .unwrap();
    let pipeline = |port: u16| {
        format!(
            "name: ref.pages\nsource: {{ path: \"http://127.0.0.1:{port}/fiche.html\" }}\ncolumns:\n  \
             nom: {{ from: Nom }}\n  montant: {{ from: Montant, type: \"decimal(18,2)\" }}\n"
        )
    };
    let p = Proj::empty(&["ref"]);
    let (server, port) = page_server(dir.path(), "text/html; charset=windows-1252");
    p.write("pipelines/pages.yaml", pipeline(port));
    let out = p.ok(&["refresh"]);
    assert!(
        out.contains("ok      ref.pages: 2 read, 2 written, 0 rejected"),
        "{out}"
    );
    assert_eq!(
        p.rows("SELECT nom || ' ' || montant FROM ref.pages ORDER BY nom"),
        vec!["Orléans 177973.00", "Œuilly -5.50"]
    );
    drop(server);
    // The same bytes served as UTF-8: refused with the line and who declared the encoding,
    // and the table keeps its rows.
    let (_server, port) = page_server(dir.path(), "text/html; charset=UTF-8");
    p.write("pipelines/pages.yaml", pipeline(port));
    let out = p.run(&["refresh"]);
    assert_eq!(out.status.code(), Some(1));
    let text = common::stdout(&out);
    assert!(
        text.contains(
            "fiche.html:1: byte 0xE9 is not UTF-8, the encoding given by the server's Content-Type"
        ),
        "{text}"
    );
    assert_eq!(p.value("SELECT count(*) FROM ref.pages"), "2");
}

/// The fiches server of tests/fixtures/servers/fiches.py, on a free port.
fn fiches_server() -> (Server, u16) {
    python_server(&[
        common::repo()
            .join("tests/fixtures/servers/fiches.py")
            .into(),
        common::shared().join("dgfip/html-fiches-alize2").into(),
    ])
}

/// The statuses the server answered, per path.
fn stats(port: u16) -> serde_json::Value {
    let out = Command::new(common::python_with_duckdb())
        .arg("-c")
        .arg(format!(
            "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{port}/stats').read().decode())"
        ))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn pages_fetched_per_code_from_the_lake_politely_and_failures_recorded() {
    let (_server, port) = fiches_server();
    let p = Proj::empty(&["ref", "fiches"]);
    p.write(
        "pipelines/codes.yaml",
        fixture("remote/ref_codes.yaml", &[]),
    );
    let pages = |max_failed: u64| {
        fixture(
            "remote/fiches_pages.yaml",
            &[
                ("PORT", &port.to_string()),
                ("MAX_FAILED", &max_failed.to_string()),
            ],
        )
    };
    p.write("pipelines/pages.yaml", pages(3));
    // Five codes, two of them answered with a 429 (Retry-After: 1) and two 500s first.
    p.write(
        "data/codes.csv",
        "code\n45001\n45002\n45003\nr429-45004\nr500-45005\n",
    );
    let out = p.ok(&["refresh"]);
    assert!(out.contains("ok      ref.codes"), "{out}");
    assert!(out.contains("ok      fiches.pages"), "{out}");
    assert_eq!(
        p.value("SELECT count(DISTINCT code) || ' ' || count(DISTINCT exercice) FROM fiches.pages"),
        "5 3"
    );
    let seen = stats(port);
    assert_eq!(
        seen["/fiche/r429-45004.html"],
        serde_json::json!([429, 200])
    );
    assert_eq!(
        seen["/fiche/r500-45005.html"],
        serde_json::json!([500, 500, 200])
    );
    // Nothing changed: the plan skips the pipeline after conditional requests only (304).
    let out = p.ok(&["refresh"]);
    assert!(out.contains("skip    fiches.pages: unchanged"), "{out}");
    let seen = stats(port);
    assert_eq!(seen["/fiche/45001.html"], serde_json::json!([200, 304]));
    assert_eq!(
        seen["/fiche/r500-45005.html"],
        serde_json::json!([500, 500, 200, 304])
    );
    // With max_age, copies checked within the hour are taken as current: no request at all.
    p.write(
        "pipelines/pages.yaml",
        pages(3).replace("timeout: 1 }", "timeout: 1, max_age: 3600 }"),
    );
    assert!(p.ok(&["refresh"]).contains("ok      fiches.pages"));
    assert!(
        p.ok(&["refresh"])
            .contains("skip    fiches.pages: unchanged")
    );
    assert_eq!(stats(port), seen);

    // Three more codes whose pages fail for good: a timeout, a body cut short, a page in the
    // wrong encoding. The lake's new codes make the pipeline stale; it goes on without them.
    p.write(
        "data/codes.csv",
        "code\n45001\n45002\n45003\nr429-45004\nr500-45005\nslow-45006\ntrunc-45007\nenc-45008\n",
    );
    let out = p.ok(&["refresh"]);
    assert!(out.contains("ok      fiches.pages"), "{out}");
    assert!(out.contains("left out http://127.0.0.1:"), "{out}");
    assert_eq!(
        p.value("SELECT count(DISTINCT code) FROM fiches.pages"),
        "5"
    );
    let left_out = p.rows(
        "SELECT regexp_replace(source_file, '.*/fiche/', '') || ' ' || reason FROM _ops.rejects
         WHERE pipeline = 'fiches.pages' AND line = 0 ORDER BY source_file",
    );
    assert_eq!(left_out.len(), 3, "{left_out:?}");
    assert!(
        left_out[0].contains("enc-45008.html source left out: http://127.0.0.1:")
            && left_out[0].contains(
                "/fiche/enc-45008.html:41: byte 0xE9 is not UTF-8, the encoding given by the server's Content-Type"
            ),
        "{left_out:?}"
    );
    assert!(
        left_out[1].starts_with(
            "slow-45006.html source left out: cannot fetch: timed out (gave up after 3 attempts)"
        ),
        "{left_out:?}"
    );
    assert!(
        left_out[2]
            .starts_with("trunc-45007.html source left out: cannot fetch: download interrupted"),
        "{left_out:?}"
    );
    // fetched once per run (the decision to run hands its fetches over), three attempts
    assert_eq!(
        stats(port)["/fiche/trunc-45007.html"],
        serde_json::json!([200, 200, 200])
    );

    // One failure more than the pipeline tolerates: the run fails, the table keeps its rows.
    p.write("pipelines/pages.yaml", pages(2));
    let before = p.value("SELECT count(*) FROM fiches.pages");
    let out = p.run(&["refresh"]);
    assert_eq!(out.status.code(), Some(1));
    let text = common::stdout(&out);
    assert!(text.contains("FAILED  fiches.pages"), "{text}");
    assert_eq!(p.value("SELECT count(*) FROM fiches.pages"), before);
}

#[test]
fn a_parquet_export_over_http_is_read_like_a_local_one() {
    use arrow::array::{Float64Array, Int32Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    // A portal's export: codes as integers, amounts as floats.
    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("Code Insee", DataType::Int32, false),
        Field::new("Montant", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int32Array::from(vec![1001, 97101])),
            Arc::new(Float64Array::from(vec![Some(1234.5), None])),
        ],
    )
    .unwrap();
    let file = std::fs::File::create(dir.path().join("export.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let (_server, port) = page_server(dir.path(), "text/html");
    let p = Proj::empty(&["ofgl"]);
    p.write(
        "pipelines/export.yaml",
        format!(
            "name: ofgl.export\nsource: {{ path: \"http://127.0.0.1:{port}/export.parquet\" }}\ncolumns:\n  \
             code: {{ from: Code Insee, type: code, width: 5 }}\n  montant: {{ from: montant, type: \"decimal(18,2)\" }}\n"
        ),
    );
    let out = p.ok(&["refresh"]);
    assert!(
        out.contains("ok      ofgl.export: 2 read, 2 written, 0 rejected"),
        "{out}"
    );
    assert_eq!(
        p.rows("SELECT code || ' ' || coalesce(CAST(montant AS VARCHAR), '-') FROM ofgl.export ORDER BY code"),
        vec!["01001 1234.50", "97101 -"]
    );
}

/// Issue 20: a lake whose object store stops answering (connections accepted, requests read,
/// no answer). A command fails within the limits the environment sets, saying what happened
/// and what to do; a server answers its other requests meanwhile, fails the query that waits
/// on the store (a 5xx, the process alive), and answers it again once the store does.
#[test]
fn a_store_that_stops_answering_fails_in_bounded_time_and_the_server_keeps_serving() {
    use std::time::{Duration, Instant};
    let s3 = common::S3::start();
    let (_proxy, proxy) = fault_proxy(&s3, 1, 0.0);
    let stall = |on: bool| {
        run_ok_python(&format!(
            "import urllib.request as u; u.urlopen('http://127.0.0.1:{proxy}/__stall?on={}').read()",
            u8::from(on)
        ))
    };
    let p = Proj::empty(&["ref"]);
    p.write(
        "pipelines/a.yaml",
        "name: ref.a\nsource: { path: data/a.csv }\ncolumns:\n  code: { from: code, type: code }\n  n: { from: n, type: int64 }\n",
    );
    let mut csv = String::from("code,n\n");
    for i in 0..2_000 {
        csv.push_str(&format!("{i:05},{}\n", i % 7));
    }
    p.write("data/a.csv", csv);
    let mut env: Vec<(&str, String)> = s3
        .env()
        .into_iter()
        .map(|(k, v)| match k {
            "AWS_ENDPOINT_URL" => (k, format!("http://127.0.0.1:{proxy}")),
            _ => (k, v),
        })
        .collect();
    env.extend([
        ("OPENCOLL_S3_TIMEOUT", "1".to_string()),
        ("OPENCOLL_S3_RETRIES", "1".to_string()),
        ("OPENCOLL_S3_RETRY_TIMEOUT", "2".to_string()),
    ]);
    p.ok_env(&env, &["refresh"]);
    let query = "SELECT sum(n) AS s, count(DISTINCT code) AS c FROM ref.a";
    let expected = format!("s,c\n{},2000\n", (0..2_000).map(|i| i % 7).sum::<u32>());
    assert_eq!(p.ok_env(&env, &["sql", "--format", "csv", query]), expected);
    let expected = expected.as_str();

    // A command: fails in bounded time, and says why and what to do.
    stall(true);
    let t = Instant::now();
    let out = p.run_env(&env, &["sql", "--format", "csv", query]);
    let took = t.elapsed();
    let err = common::stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(took < Duration::from_secs(30), "{took:?}: {err}");
    assert!(err.contains("did not answer"), "{err}");
    assert!(err.contains("OPENCOLL_S3_TIMEOUT"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    stall(false);

    // A server: started while the store answers.
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_opencoll"));
    cmd.arg("--project")
        .arg(p.path())
        .args(["serve", "--no-auth", "--http", &format!("127.0.0.1:{port}")])
        .env_remove("OPENCOLL_SERVE_USERS")
        .env_remove("OPENCOLL_SERVE_TOKENS")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    let _server = common::serve_on(&mut cmd, port);
    let sql = move || common::http(port, "POST", "/sql?format=csv", &[], query.as_bytes());
    let ok = sql();
    assert_eq!((ok.status, ok.text()), (200, expected.to_string()));
    stall(true);
    let waiting = std::thread::spawn(move || {
        let t = Instant::now();
        (sql(), t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    // Its other requests are answered meanwhile.
    let t = Instant::now();
    let health = common::http(port, "GET", "/health", &[], b"");
    assert_eq!(health.status, 200, "{}", health.text());
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let (failed, took) = waiting.join().unwrap();
    assert_eq!(failed.status, 503, "{}", failed.text());
    assert_eq!(
        failed.headers.get("retry-after").map(String::as_str),
        Some("5")
    );
    assert!(
        failed.text().contains("did not answer"),
        "{}",
        failed.text()
    );
    assert!(!failed.text().contains("127.0.0.1"), "{}", failed.text());
    assert!(took < Duration::from_secs(30), "{took:?}");
    stall(false);
    let again = sql();
    assert_eq!((again.status, again.text()), (200, expected.to_string()));
}
