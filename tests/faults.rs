//! Breaking things on purpose: a refresh killed (SIGKILL) at many points leaves the lake at the
//! previous version or the new one, never a mix, and the next refresh succeeds; bad inputs give
//! errors that name the file (and line where it makes sense), never a panic, and change nothing.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Proj, fixture, stderr, stdout};

fn pipeline(p: &Proj) {
    p.write(
        "pipelines/a.yaml",
        "name: ref.a\nsource: { path: \"data/a_{part}.csv\", vars: { part: [1, 2] } }\ncolumns:\n  part: { var: part, type: int16 }\n  code: { from: code, type: code }\n  n: { from: n, type: int64 }\ntarget: { partition_by: [part] }\n",
    );
}

fn data(p: &Proj, rows: usize, value: i64) {
    for part in [1, 2] {
        let mut s = String::with_capacity(rows * 12);
        s.push_str("code,n\n");
        for i in 0..rows {
            s.push_str(&format!("{:05},{value}\n", i % 100_000));
        }
        p.write(&format!("data/a_{part}.csv"), s);
    }
}

#[test]
fn sigkill_at_any_point_leaves_the_old_or_the_new_version() {
    let p = Proj::empty(&["ref"]);
    pipeline(&p);
    let rows = 150_000;
    data(&p, rows, 1);
    p.ok(&["refresh"]);
    // Time one full run, then kill runs at delays spread over it: while reading, while writing
    // files, around the commit.
    // The faster of two runs: one slowed by a busy machine would put the later kills past
    // the end of the runs that follow (found on a loaded machine: 19 kills of 26).
    data(&p, rows, 2);
    let full_ms = (0..2)
        .map(|_| {
            let t = std::time::Instant::now();
            p.ok(&["refresh", "--full"]);
            t.elapsed().as_millis() as usize
        })
        .min()
        .unwrap();
    let mut version_value = 2;
    let mut killed = 0;
    for (k, delay_ms) in (0..26)
        .map(|k| (k, 5 + k * full_ms * 80 / 100 / 26))
        .collect::<Vec<_>>()
    {
        let next = version_value + 1;
        data(&p, rows, next);
        let mut child = Command::new(env!("CARGO_BIN_EXE_opencoll"))
            .arg("--project")
            .arg(p.path())
            .args(["refresh", "--full"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms as u64));
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            child.kill().unwrap();
            killed += 1;
        }
        let _ = child.wait();
        // Readers see exactly one version: all rows with the old value or all with the new.
        let seen = p.rows("SELECT n, count(*) FROM ref.a GROUP BY n");
        assert_eq!(
            seen.len(),
            1,
            "kill #{k} after {delay_ms} ms: mixed versions {seen:?}"
        );
        let (n, count) = seen[0].split_once(',').unwrap();
        assert_eq!(count, (2 * rows).to_string(), "kill #{k}: partial table");
        assert!(
            n == version_value.to_string() || n == next.to_string(),
            "kill #{k}: unexpected value {n}"
        );
        version_value = n.parse().unwrap();
        // The next refresh succeeds (a lock left by the killed process is taken over).
        if version_value != next {
            p.ok(&["refresh", "--full"]);
            assert_eq!(p.value("SELECT DISTINCT n FROM ref.a"), next.to_string());
            version_value = next;
        }
    }
    assert!(
        killed >= 20,
        "only {killed} runs were killed before finishing (a full run took {full_ms} ms)"
    );
    // No file referenced by the table is missing, and the table reads fully.
    assert_eq!(
        p.value("SELECT count(*) FROM ref.a"),
        (2 * rows).to_string()
    );
}

fn expect_failure(p: &Proj, needle: &[&str]) {
    let before = p.rows("SELECT count(*) FROM ref.a");
    let out = p.run(&["refresh", "--full"]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    for n in needle {
        assert!(text.contains(n), "expected {n:?} in:\n{text}");
    }
    assert_eq!(
        p.rows("SELECT count(*) FROM ref.a"),
        before,
        "the lake changed"
    );
}

#[test]
fn bad_inputs_fail_clearly_and_change_nothing() {
    let p = Proj::empty(&["ref"]);
    let yaml =
        |path: &str, extra: &str| fixture("faults/ref_a.yaml", &[("PATH", path), ("EXTRA", extra)]);
    p.write("data/a.csv", "code,n\n01001,1\n");
    p.write("pipelines/a.yaml", yaml("data/a.csv", ""));
    p.ok(&["refresh"]);

    // Truncated gzip.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for i in 0..50_000 {
        writeln!(gz, "{i:05},{i}").unwrap();
    }
    let bytes = gz.finish().unwrap();
    p.write("data/t.csv.gz", &bytes[..bytes.len() / 2]);
    p.write("pipelines/a.yaml", yaml("data/t.csv.gz", ""));
    expect_failure(&p, &["data/t.csv.gz"]);

    // Truncated zip.
    let zip = zip_of(&[("a.csv", b"code,n\n01001,1\n")]);
    p.write("data/t.zip", &zip[..zip.len() - 30]);
    p.write("pipelines/a.yaml", yaml("data/t.zip", ", format: csv"));
    expect_failure(&p, &["data/t.zip", "zip"]);

    // A file that claims CSV but is an XLSX (a ZIP).
    p.write(
        "data/x.csv",
        b"PK\x03\x04\x14\x00\x06\x00rest of a workbook",
    );
    p.write("pipelines/a.yaml", yaml("data/x.csv", ""));
    expect_failure(&p, &["data/x.csv", "ZIP archive"]);

    // Wrong encoding: windows-1252 bytes in a file declared UTF-8 (rejected rows, max_rejects 0).
    p.write("data/e.csv", b"code,n\n\x8Cuilly,1\n");
    p.write("pipelines/a.yaml", yaml("data/e.csv", ""));
    expect_failure(&p, &["data/e.csv:2", "windows-1252"]);

    // Header drift: a declared column is gone.
    p.write("data/h.csv", "code,nombre\n01001,1\n");
    p.write("pipelines/a.yaml", yaml("data/h.csv", ""));
    expect_failure(&p, &["data/h.csv:1", "no column `n`"]);

    // A line with too many fields.
    p.write("data/f.csv", "code,n\n01001,1\n01002,2,3\n");
    p.write("pipelines/a.yaml", yaml("data/f.csv", ""));
    expect_failure(&p, &["data/f.csv:3", "3 fields, the header has 2"]);

    // An empty file.
    p.write("data/empty.csv", "");
    p.write("pipelines/a.yaml", yaml("data/empty.csv", ""));
    expect_failure(&p, &["data/empty.csv", "empty"]);

    // A 100 MB single line (no newline): no record ends within the bound of one record, so it
    // is refused there rather than read whole as one huge header field.
    p.write("data/big.csv", vec![b'x'; 100 * 1024 * 1024]);
    p.write("pipelines/a.yaml", yaml("data/big.csv", ""));
    expect_failure(
        &p,
        &[
            "data/big.csv:1",
            "no record ends within 64 MiB from here",
            "not a delimited text file",
        ],
    );

    // A missing file: validation names the pipeline file, the line and the path.
    p.write("pipelines/a.yaml", yaml("data/missing.csv", ""));
    expect_failure(
        &p,
        &[
            "pipelines/a.yaml:2:",
            "source file not found: data/missing.csv",
        ],
    );

    // Row accounting held on every committed run: read = written + rejected + filtered; a
    // failed run wrote nothing, whatever its writer had taken.
    assert_eq!(p.value("SELECT count(*) FROM _ops.runs WHERE status = 'success' AND rows_read <> rows_written + rows_rejected + rows_filtered"), "0");
    assert_eq!(
        p.value("SELECT count(*) FROM _ops.runs WHERE status <> 'success' AND rows_written <> 0"),
        "0"
    );
    assert_ne!(
        p.value("SELECT count(*) FROM _ops.runs WHERE status <> 'success'"),
        "0"
    );
}

/// A tmpfs mounted over a project's lake, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// Needs root (CI runs as root); a test that cannot mount fails, it does not skip.
    fn mount(dir: &std::path::Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs and needs root: {}",
            stderr(&out)
        );
        Tmpfs(dir.to_path_buf())
    }

    fn resize(&self, size: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Rows whose labels do not compress (64 hex digits from a fixed generator).
fn incompressible(p: &Proj, rows: u64) {
    let mut s = String::from("code,label,n\n");
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..rows {
        s.push_str(&format!("{:05},", i % 100_000));
        for _ in 0..4 {
            // splitmix64
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            s.push_str(&format!("{:016x}", z ^ (z >> 31)));
        }
        s.push_str(&format!(",{i}\n"));
    }
    p.write("data/a.csv", s);
}

/// Issue 20: the lake's disk fills up during a refresh. The run fails saying so and what to do
/// (no panic, no backtrace), the table keeps its version and reads whole, the half-written
/// file is gone (vacuum finds nothing to remove), and with space the next refresh succeeds.
#[test]
fn a_full_disk_fails_the_refresh_clearly_and_the_next_one_with_space_succeeds() {
    let p = Proj::empty(&["ref"]);
    p.write(
        "pipelines/a.yaml",
        "name: ref.a\nsource: { path: \"data/a.csv\" }\ncolumns:\n  code: { from: code, type: code }\n  label: { from: label, type: string }\n  n: { from: n, type: int64 }\n",
    );
    let lake = p.path().join("data/lake");
    let fs = Tmpfs::mount(&lake, "3m");
    incompressible(&p, 2_000);
    p.ok(&["refresh"]);
    let table = lake.join("ref/a");
    let files = || {
        let mut f: Vec<String> = std::fs::read_dir(&table)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "_delta_log")
            .collect();
        f.sort();
        f
    };
    let before = files();
    assert_eq!(before.len(), 1, "{before:?}");

    incompressible(&p, 100_000);
    let out = p.run(&["refresh"]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAILED  ref.a")
            && text.contains("the lake's storage is full")
            && text.contains("keeps its version")
            && text.contains("No space left on device"),
        "{text}"
    );
    assert!(
        !text.contains("panicked") && !text.contains("stack backtrace"),
        "{text}"
    );
    assert_eq!(p.value("SELECT count(*) FROM ref.a"), "2000");
    assert_eq!(files(), before, "a partial file was left beside the table");
    assert!(
        p.ok(&["vacuum", "--retain", "0s", "--dry-run"])
            .contains("would remove 0 file(s) in all")
    );
    // The failed run is on record (it fit in what was left).
    assert!(
        p.value("SELECT count(*) FROM _ops.runs WHERE status <> 'ok'") != "0",
        "{}",
        p.ok(&["history"])
    );

    fs.resize("64m");
    let out = p.ok(&["refresh"]);
    assert!(out.contains("100000 written"), "{out}");
    assert_eq!(p.value("SELECT count(*) FROM ref.a"), "100000");
}

/// A one-page PDF drawing `content`, whose page dictionary also holds `extra` (raw PDF).
fn pdf_with_page(content: &[u8], extra: &str) -> Vec<u8> {
    pdf_of_objects(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R {extra} >>")
            .into_bytes(),
        [
            format!("<< /Length {} >>\nstream\n", content.len()).as_bytes(),
            content,
            b"\nendstream",
        ]
        .concat(),
    ])
}

/// `opencoll pdf tables` on the project's `file`, into its `out` folder, with `env`: the
/// command, to run or spawn.
fn pdf_tables(p: &Proj, file: &str, env: &[(&str, &std::ffi::OsStr)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_opencoll"));
    c.args(["pdf", "tables", "--out"])
        .arg(p.path().join("out"))
        .arg(p.path().join(file))
        .envs(env.iter().copied());
    c
}

/// Adds a sound CSV table `pub.ok` to the project, refreshes with `env`, and returns what the
/// refresh printed once it failed (for the project's other table) and wrote `pub.ok`.
fn refresh_beside_a_sound_table(p: &Proj, env: &[(&str, String)]) -> String {
    p.write("data/ok.csv", "a\n1\n2\n");
    p.write(
        "pipelines/ok.yaml",
        "name: pub.ok\nsource: { path: data/ok.csv }\ncolumns: { a: { from: a } }\n",
    );
    let out = p.run_env(env, &["refresh"]);
    let all = stdout(&out) + &stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert_eq!(p.value("SELECT count(*) FROM pub.ok"), "2", "{all}");
    all
}

/// The processes still running with `OPENCOLL_TEST_MARK=mark` in their environment.
fn marked_processes(mark: &str) -> Vec<String> {
    let needle = format!("OPENCOLL_TEST_MARK={mark}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        if environ.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push(String::from_utf8_lossy(&cmdline).replace('\0', " "));
        }
    }
    found
}

/// Issue 20: a PDF whose page dictionary nests arrays 200,000 levels deep overflows the stack
/// of pdf_oxide's recursive parser, which aborts the process that parses it (no panic to
/// catch). It is read in a reader process: its abort is this file's error, in `pdf tables` as
/// in a refresh, whose other tables are written.
#[test]
fn a_pdf_that_aborts_the_parser_is_the_files_error_not_the_end_of_the_process() {
    let p = Proj::empty(&["pub"]);
    let deep = format!("/Deep {}{}", "[".repeat(200_000), "]".repeat(200_000));
    p.write(
        "data/deep.pdf",
        pdf_with_page(b"BT /F1 12 Tf 72 720 Td (A) Tj ET", &deep),
    );
    let out = pdf_tables(&p, "data/deep.pdf", &[]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "deep.pdf: the PDF reader stopped on this file (stack overflow; aborted (SIGABRT))"
        ),
        "{err}"
    );
    p.write(
        "pipelines/t.yaml",
        "name: pub.t\nsource: { path: data/deep.pdf, format: pdf }\ncolumns: { a: { from: A } }\n",
    );
    let all = refresh_beside_a_sound_table(&p, &[]);
    assert!(
        all.contains("FAILED  pub.t")
            && all.contains("data/deep.pdf: the PDF reader stopped on this file")
            && all.contains("download or export it again"),
        "{all}"
    );
    // A reader that cannot start (no temporary folder for its request) says so.
    let missing = p.path().join("no-such-folder");
    let out = pdf_tables(&p, "data/deep.pdf", &[("TMPDIR", missing.as_os_str())])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(
        err.contains("deep.pdf: the PDF reader could not run: No such file or directory"),
        "{err}"
    );
}

/// A page of text followed by 200 KB of `(a`, a string that never closes: pdf_oxide 0.3's
/// parser scans to the end of the stream from each `(` (20 s in an optimised build; the time
/// grows with the square of the stream).
fn slow_pdf() -> Vec<u8> {
    let content = [
        b"BT /F1 10 Tf 50 800 Td (A) Tj ET BT 50 780 Td ".as_slice(),
        &b"(a".repeat(100_000),
        b" ET",
    ]
    .concat();
    pdf_with_page(
        &content,
        "/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >>",
    )
}

/// Issue 20: a PDF whose reading outlives OPENCOLL_PDF_TIMEOUT fails with the limit, and its
/// reader is stopped with it, not left running on a core as a thread would be; a reader
/// whose parent is killed dies with it.
#[test]
fn a_pdf_read_past_its_time_limit_is_stopped_with_its_reader() {
    let p = Proj::empty(&["pub"]);
    p.write("data/slow.pdf", slow_pdf());
    p.write(
        "pipelines/t.yaml",
        "name: pub.t\nsource: { path: data/slow.pdf, format: pdf }\ncolumns: { a: { from: A } }\n",
    );
    let mark = format!("{}-limit", std::process::id());
    let t = std::time::Instant::now();
    let out = p.run_env(
        &[
            ("OPENCOLL_PDF_TIMEOUT", "0.5".into()),
            ("OPENCOLL_TEST_MARK", mark.clone()),
        ],
        &["refresh"],
    );
    let all = stdout(&out) + &stderr(&out);
    assert!(
        all.contains("FAILED  pub.t")
            && all.contains("data/slow.pdf: reading it took longer than the time limit (0.5 s)")
            && all.contains("OPENCOLL_PDF_TIMEOUT=SECONDS (now 0.5)"),
        "{all}"
    );
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    assert_eq!(marked_processes(&mark), Vec::<String>::new());

    // `pdf tables` has no time limit; its reader is killed with it.
    let mark = format!("{}-killed", std::process::id());
    let mut parent = pdf_tables(
        &p,
        "data/slow.pdf",
        &[("OPENCOLL_TEST_MARK", mark.as_ref())],
    )
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let reader_seen = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        marked_processes(&mark)
            .iter()
            .any(|c| c.contains("__reader"))
    });
    assert!(reader_seen, "no reader process started");
    parent.kill().unwrap();
    parent.wait().unwrap();
    let gone = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        marked_processes(&mark).is_empty()
    });
    assert!(gone, "{:?}", marked_processes(&mark));
}

/// A 250 KB PDF whose one page draws the same compressed stream 200 times: each inflates to
/// 2.5 MB, under pdf_oxide's caps per stream (100 MB, 100:1), and the page to 500 MB of
/// operators, which took 4 GB in the reader before its memory limit.
fn inflating_pdf() -> Vec<u8> {
    let mut content = Vec::new();
    // Operators with varying numbers: deflate packs them about 20:1, not past pdf_oxide's
    // 100:1 bomb guard.
    let mut n: u32 = 1;
    while content.len() < 2_500_000 {
        n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        writeln!(content, "BT /F1 1 Tf 1 0 0 1 {} 700 Tm (a) Tj ET", n >> 23).unwrap();
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&content).unwrap();
    let packed = z.finish().unwrap();
    let contents = vec!["5 0 R"; 200].join(" ");
    pdf_of_objects(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents [{contents}] \
             /Resources << /Font << /F1 4 0 R >> >> >>"
        )
        .into_bytes(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
        [
            format!(
                "<< /Length {} /Filter /FlateDecode >>\nstream\n",
                packed.len()
            )
            .as_bytes(),
            &packed,
            b"\nendstream",
        ]
        .concat(),
    ])
}

/// Issue 20: a small PDF that unpacks to gigabytes fails with the reader's memory limit
/// (OPENCOLL_READER_MEMORY), in a refresh that writes its other tables as in `pdf tables`,
/// instead of taking the machine's memory.
#[test]
fn a_pdf_that_needs_more_than_the_memory_limit_is_the_files_error() {
    let p = Proj::empty(&["pub"]);
    let pdf = inflating_pdf();
    assert!(pdf.len() < 400_000, "{}", pdf.len());
    p.write("data/big.pdf", pdf);
    p.write(
        "pipelines/t.yaml",
        "name: pub.t\nsource: { path: data/big.pdf, format: pdf }\ncolumns: { a: { from: A } }\n",
    );
    let all = refresh_beside_a_sound_table(&p, &[("OPENCOLL_READER_MEMORY", "256".into())]);
    assert!(
        all.contains("FAILED  pub.t")
            && all.contains("data/big.pdf: reading it needed more than the memory limit (256 MiB)")
            && all.contains("OPENCOLL_READER_MEMORY=MIB (now 256)"),
        "{all}"
    );

    let out = pdf_tables(
        &p,
        "data/big.pdf",
        &[("OPENCOLL_READER_MEMORY", "300".as_ref())],
    )
    .output()
    .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("big.pdf: reading it needed more than the memory limit (300 MiB)"),
        "{err}"
    );
    // A limit that is not one is refused before any file is read.
    let out = p.run_env(
        &[("OPENCOLL_READER_MEMORY", "2G".into())],
        &["refresh", "--full"],
    );
    let all = stdout(&out) + &stderr(&out);
    assert!(
        all.contains("OPENCOLL_READER_MEMORY=\"2G\" is not a number of MiB of at least 256"),
        "{all}"
    );
}

/// An `.xlsb` workbook (BIFF12 records in a zip) with one sheet, `Feuil1`, of number `cells`
/// (row, column, value), all in the file's order.
fn xlsb_with_cells(cells: &[(u32, u32, f64)]) -> Vec<u8> {
    fn record(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut r = if kind < 0x80 {
            vec![kind as u8]
        } else {
            vec![(kind & 0x7F) as u8 | 0x80, (kind >> 7) as u8]
        };
        let mut len = body.len();
        loop {
            let low = (len & 0x7F) as u8;
            len >>= 7;
            r.push(if len > 0 { low | 0x80 } else { low });
            if len == 0 {
                break;
            }
        }
        r.extend_from_slice(body);
        r
    }
    fn wide(s: &str) -> Vec<u8> {
        let mut w = (s.len() as u32).to_le_bytes().to_vec();
        w.extend(s.encode_utf16().flat_map(u16::to_le_bytes));
        w
    }
    let u32s = |v: &[u32]| v.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
    // BrtBundleSh (the sheet and its relationship), BrtEndBundleShs, BrtCalcProp.
    let workbook = [
        record(
            0x9C,
            &[u32s(&[0, 1]), wide("rId1"), wide("Feuil1")].concat(),
        ),
        record(0x90, &[]),
        record(0x9D, &[]),
    ]
    .concat();
    let (last_row, last_col) = cells
        .iter()
        .fold((0, 0), |(r, c), x| (r.max(x.0), c.max(x.1)));
    // BrtBeginSheet, BrtWsDim, BrtBeginSheetData, then a BrtRowHdr before each row's
    // BrtCellReal records, BrtEndSheetData.
    let mut sheet = [
        record(0x81, &[]),
        record(0x94, &u32s(&[0, last_row, 0, last_col])),
        record(0x91, &[]),
    ]
    .concat();
    let mut row = None;
    for &(r, c, v) in cells {
        if row != Some(r) {
            sheet.extend(record(0x00, &[u32s(&[r]), vec![0; 8]].concat()));
            row = Some(r);
        }
        sheet.extend(record(
            0x05,
            &[u32s(&[c, 0]), v.to_le_bytes().to_vec()].concat(),
        ));
    }
    sheet.extend(record(0x92, &[]));
    let rels = r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.bin"/></Relationships>"#;
    zip_of(&[
        ("xl/workbook.bin", &workbook),
        ("xl/_rels/workbook.bin.rels", rels.as_bytes()),
        ("xl/worksheets/sheet1.bin", &sheet),
    ])
}

/// A legacy `.xls` workbook (BIFF8 records in the `Workbook` stream of a compound file) with
/// one sheet, `Feuil1`, of number `cells` (row, column, value), all in the file's order.
fn xls_with_cells(cells: &[(u16, u16, f64)]) -> Vec<u8> {
    fn record(kind: u16, body: &[u8]) -> Vec<u8> {
        [
            &kind.to_le_bytes()[..],
            &(body.len() as u16).to_le_bytes(),
            body,
        ]
        .concat()
    }
    // BOF: BIFF8, of the workbook globals (5) or of a worksheet (0x10).
    let bof = |dt: u16| {
        record(
            0x0809,
            &[0x0600u16, dt, 0, 0, 0, 0, 0, 0]
                .map(u16::to_le_bytes)
                .concat(),
        )
    };
    let name = b"Feuil1";
    // BoundSheet8: the sheet's BOF offset in the stream, visible worksheet, its name (8-bit).
    let bound_sheet = |at: u32| {
        record(
            0x0085,
            &[&at.to_le_bytes()[..], &[0, 0, name.len() as u8, 0], name].concat(),
        )
    };
    let globals_len = (bof(5).len() + bound_sheet(0).len() + record(0x000A, &[]).len()) as u32;
    let mut stream = [bof(5), bound_sheet(globals_len), record(0x000A, &[])].concat();
    let (last_row, last_col) = cells
        .iter()
        .fold((0, 0), |(r, c), x| (r.max(x.0), c.max(x.1)));
    // DIMENSION (first row, row past the last, first column, column past the last) within
    // BIFF8's 256 columns: a cell past them is the forgery, so what calamine fails to allocate
    // is the dense range of the cells (`Range::from_sparse`), not a reservation this claims.
    let col_end = (u32::from(last_col) + 1).min(256) as u16;
    stream.extend(bof(0x10));
    stream.extend(record(
        0x0200,
        &[
            &0u32.to_le_bytes()[..],
            &(u32::from(last_row) + 1).to_le_bytes(),
            &0u16.to_le_bytes(),
            &col_end.to_le_bytes(),
            &[0, 0],
        ]
        .concat(),
    ));
    // NUMBER: row, column, XF 0 (no format), the value.
    for &(r, c, v) in cells {
        stream.extend(record(
            0x0203,
            &[
                &r.to_le_bytes()[..],
                &c.to_le_bytes(),
                &[0, 0],
                &v.to_le_bytes(),
            ]
            .concat(),
        ));
    }
    stream.extend(record(0x000A, &[]));
    let mut file =
        cfb::CompoundFile::create_with_version(cfb::Version::V3, std::io::Cursor::new(Vec::new()))
            .unwrap();
    file.create_stream("/Workbook")
        .unwrap()
        .write_all(&stream)
        .unwrap();
    file.flush().unwrap();
    file.into_inner().into_inner()
}

/// A zip archive of `files` (name, bytes), in that order.
fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut buf);
    let o = zip::write::SimpleFileOptions::default();
    for (name, bytes) in files {
        z.start_file(*name, o).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
    buf.into_inner()
}

/// An `.ods` workbook whose one sheet, `Feuil1`, has a header row (`a`, `b`) and then
/// `content.xml`'s `rows` (raw XML).
fn ods_with_rows(rows: &str) -> Vec<u8> {
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Feuil1"><table:table-row><table:table-cell office:value-type="string"><text:p>a</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>b</text:p></table:table-cell></table:table-row>{rows}</table:table></office:spreadsheet></office:body></office:document-content>"#
    );
    let manifest = r#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#;
    zip_of(&[
        (
            "mimetype",
            b"application/vnd.oasis.opendocument.spreadsheet",
        ),
        ("META-INF/manifest.xml", manifest.as_bytes()),
        ("content.xml", content.as_bytes()),
    ])
}

/// An `.xlsx` workbook whose one sheet, `Feuil1`, holds `a`, `b` over `x`, 1, its texts in the
/// shared strings table, whose `uniqueCount` says `unique_count`.
fn xlsx_with_shared_strings(unique_count: &str) -> Vec<u8> {
    xlsx_of(unique_count, "")
}

/// The workbook of [`xlsx_with_shared_strings`] with `more` (cells' XML) at the end of row 2.
fn xlsx_of(unique_count: &str, more: &str) -> Vec<u8> {
    let main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
    let rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
    let files = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#.to_string(),
        ),
        (
            "_rels/.rels",
            format!(r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#),
        ),
        (
            "xl/workbook.xml",
            format!(r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}" xmlns:r="{rel}"><sheets><sheet name="Feuil1" sheetId="1" r:id="rId1"/></sheets></workbook>"#),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            format!(r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#),
        ),
        (
            "xl/worksheets/sheet1.xml",
            format!(r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{main}"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row><row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2"><v>1</v></c>{more}</row></sheetData></worksheet>"#),
        ),
        (
            "xl/sharedStrings.xml",
            format!(r#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{main}" count="3" uniqueCount="{unique_count}"><si><t>a</t></si><si><t>b</t></si><si><t>x</t></si></sst>"#),
        ),
    ];
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, t)| (*n, t.as_bytes())).collect();
    zip_of(&files)
}

/// Issue 20: opening an `.xlsx`, calamine reserves room for as many shared strings as the file's
/// `uniqueCount` says: a 1 KB file saying a trillion asked for 24 TB, and the failed
/// allocation aborted `opencoll refresh` (exit 134), though its sheets are streamed. Every
/// workbook is now opened first in the reader process: the file's error, and a sound `.xlsx`
/// with the same cells is read as before.
#[test]
fn an_xlsx_that_claims_a_trillion_strings_is_the_files_error() {
    let p = Proj::empty(&["pub"]);
    let claims = xlsx_with_shared_strings("1000000000000");
    let all = refresh_xlsx_beside_a_sound_one(&p, "claims", claims, &[]);
    assert_workbook_over_the_limit(&all, "claims", 2048);
}

/// `pub.TABLE` failed, its workbook named as needing more than `mib` MiB.
fn assert_workbook_over_the_limit(all: &str, table: &str, mib: u32) {
    assert!(
        all.contains(&format!("FAILED  pub.{table}"))
            && all.contains(&format!(
                "data/{table}.xlsx: reading it needed more than the memory limit ({mib} MiB): \
                 the workbook is probably damaged or forged"
            )),
        "{all}"
    );
}

/// Writes `bytes` as `data/TABLE.xlsx` and the sound workbook as `data/sound.xlsx`, each
/// with its pipeline (`a`, `b`), refreshes with `env`, and returns what the refresh printed
/// once it failed (for TABLE) and wrote `pub.sound`.
fn refresh_xlsx_beside_a_sound_one(
    p: &Proj,
    table: &str,
    bytes: Vec<u8>,
    env: &[(&str, String)],
) -> String {
    p.write(&format!("data/{table}.xlsx"), bytes);
    p.write("data/sound.xlsx", xlsx_with_shared_strings("3"));
    for table in [table, "sound"] {
        p.write(
            &format!("pipelines/{table}.yaml"),
            format!(
                "name: pub.{table}\nsource: {{ path: data/{table}.xlsx }}\n\
                 columns: {{ a: {{ from: a }}, b: {{ from: b, type: int64 }} }}\n"
            ),
        );
    }
    let out = p.run_env(env, &["refresh"]);
    let all = stdout(&out) + &stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert_eq!(
        p.value("SELECT a || '/' || CAST(b AS VARCHAR) FROM pub.sound"),
        "x/1",
        "{all}"
    );
    all
}

/// Issue 20: a streamed `.xlsx` row is laid out from column A, so a cell at ZZZZZZ2 (a 1.5 KB
/// file) made the refresh ask for 321 million empty cells: 10 GB and 41 s (a column near u32's
/// end would ask for 140 GB). A cell past XFD, Excel's last column, is the file's error;
/// one at XFD, and an empty styled one past it, are read.
#[test]
fn a_streamed_workbook_cell_past_the_last_column_is_the_files_error() {
    let p = Proj::empty(&["pub"]);
    let tables = [
        ("last", r#"<c r="XFD2"><v>5</v></c>"#),
        ("next", r#"<c r="XFE2"><v>5</v></c>"#),
        ("far", r#"<c r="ZZZZZZ2"><v>5</v></c>"#),
        ("styled", r#"<c r="ZZZZZZ2" s="0"/>"#),
    ];
    for (table, cells) in tables {
        p.write(&format!("data/{table}.xlsx"), xlsx_of("3", cells));
        p.write(
            &format!("pipelines/{table}.yaml"),
            format!(
                "name: pub.{table}\nsource: {{ path: data/{table}.xlsx }}\n\
                 columns: {{ a: {{ from: a }}, b: {{ from: b, type: int64 }} }}\n"
            ),
        );
    }
    let out = p.run(&["refresh"]);
    let all = stdout(&out) + &stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    for (table, col) in [("next", "16385"), ("far", "321272406")] {
        assert!(
            all.contains(&format!("FAILED  pub.{table}"))
                && all.contains(&format!(
                    "a cell at row 2, column {col}, is past the last column a workbook can have (XFD, the 16384th): the file is damaged or forged"
                )),
            "{table}: {all}"
        );
    }
    // an empty styled cell out there is no cell
    for table in ["last", "styled"] {
        assert_eq!(
            p.value(&format!(
                "SELECT a || '/' || CAST(b AS VARCHAR) FROM pub.{table}"
            )),
            "x/1"
        );
    }
}

/// Issue 20: calamine builds each cell's text whole as it streams an `.xlsx` sheet, so a 2 MB
/// file with a 2 GB cell took 6.4 GB in a refresh (12 MB of such cells would take the
/// machine's memory). A sheet part that unpacks to over 64 MiB from over 20 times less is
/// streamed first in the reader process, under its memory limit: here a 100 MB cell (0.1 MB
/// zipped) under 256 MiB is the file's error, and the sound workbook beside it is written
/// with that limit.
#[test]
fn an_xlsx_cell_of_many_times_the_files_size_is_the_files_error() {
    let p = Proj::empty(&["pub"]);
    let huge = format!(
        r#"<c r="C2" t="inlineStr"><is><t>{}</t></is></c>"#,
        "x".repeat(100 << 20)
    );
    let huge = xlsx_of("3", &huge);
    assert!(huge.len() < 1 << 20, "{}", huge.len());
    let limit = [("OPENCOLL_READER_MEMORY", "256".to_string())];
    let all = refresh_xlsx_beside_a_sound_one(&p, "huge", huge, &limit);
    assert_workbook_over_the_limit(&all, "huge", 256);
}

/// An `.ods` row of 99 cells repeated a million times: 1 KB zipped, 3 GB of cells loaded.
const REPEATED_ROW: &str = r#"<table:table-row table:number-rows-repeated="1000000"><table:table-cell table:number-columns-repeated="99" office:value-type="float" office:value="1"><text:p>1</text:p></table:table-cell></table:table-row>"#;

/// Issue 20: calamine loads a sheet of the workbooks it cannot stream as one block of cells,
/// sized by the file. An 850-byte `.xlsb` with a cell at A1 and one at XFD1000001 asks for
/// 512 GB: the failed allocation aborted `opencoll refresh` and `infer` (exit 134). A 1 KB
/// `.ods` repeating a row of 99 cells a million times took 11.7 GB in `infer` before it was
/// stopped. A 2.5 KB `.xls` with a cell at A1 and one at row and column 65,536 (past BIFF8's
/// 256 columns) asks for 137 GB in the same way. Such workbooks are loaded first in a reader
/// process under the memory limit: each is the file's error, the refresh writes its other
/// tables, and a sound `.xlsb` and `.xls` are read as before.
#[test]
fn a_workbook_that_claims_billions_of_cells_is_the_files_error() {
    let p = Proj::empty(&["pub"]);
    let head = [(0, 0, 1.0), (0, 1, 2.0), (1, 0, 3.0), (1, 1, 4.0)];
    let far = xlsb_with_cells(&[head.as_slice(), &[(1_000_000, 16_383, 5.0)]].concat());
    assert!(far.len() < 2_000, "{}", far.len());
    p.write("data/far.xlsb", far);
    p.write(
        "data/sound.xlsb",
        xlsb_with_cells(&[head.as_slice(), &[(2, 1, 6.0)]].concat()),
    );
    let repeated = ods_with_rows(REPEATED_ROW);
    assert!(repeated.len() < 2_000, "{}", repeated.len());
    p.write("data/repeated.ods", repeated);
    let head = head.map(|(r, c, v)| (r as u16, c as u16, v));
    let far = xls_with_cells(&[head.as_slice(), &[(u16::MAX, u16::MAX, 5.0)]].concat());
    assert!(far.len() < 3_000, "{}", far.len());
    p.write("data/far.xls", far);
    p.write(
        "data/sound.xls",
        xls_with_cells(&[head.as_slice(), &[(2, 1, 6.0)]].concat()),
    );
    for (table, file, a, b) in [
        ("far", "far.xlsb", "1", "2"),
        ("sound", "sound.xlsb", "1", "2"),
        ("xls_far", "far.xls", "1", "2"),
        ("xls_sound", "sound.xls", "1", "2"),
        ("repeated", "repeated.ods", "a", "b"),
    ] {
        p.write(
            &format!("pipelines/{table}.yaml"),
            format!(
                "name: pub.{table}\nsource: {{ path: data/{file} }}\n\
                 columns: {{ a: {{ from: \"{a}\", type: int64 }}, b: {{ from: \"{b}\", type: int64 }} }}\n"
            ),
        );
    }
    let out = p.run_env(&[("OPENCOLL_READER_MEMORY", "256".into())], &["refresh"]);
    let all = stdout(&out) + &stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    for file in ["far.xlsb", "repeated.ods", "far.xls"] {
        assert!(
            all.contains(&format!(
                "data/{file}: reading it needed more than the memory limit (256 MiB)"
            )),
            "{all}"
        );
    }
    assert!(
        all.contains("FAILED  pub.far")
            && all.contains("FAILED  pub.repeated")
            && all.contains("FAILED  pub.xls_far")
            && all.contains("OPENCOLL_READER_MEMORY=MIB (now 256)"),
        "{all}"
    );
    for table in ["sound", "xls_sound"] {
        assert_eq!(
            p.value(&format!(
                "SELECT string_agg(coalesce(CAST(a AS VARCHAR), '-') || '/' || \
                 CAST(b AS VARCHAR), ' ' ORDER BY b) FROM pub.{table}"
            )),
            "3/4 -/6",
            "{table}"
        );
    }
    // `infer` loads even an .xlsx whole; with the default limit.
    for file in ["far.xlsb", "far.xls"] {
        let out = Command::new(env!("CARGO_BIN_EXE_opencoll"))
            .arg("infer")
            .arg(p.path().join("data").join(file))
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!(
                "{file}: reading it needed more than the memory limit (2048 MiB): the workbook \
                 is probably damaged or forged"
            )),
            "{err}"
        );
    }
}

/// Issue 20: the workbook reader process has a time limit too (OPENCOLL_WORKBOOK_TIMEOUT), so
/// a workbook calamine would take for ever over cannot hold a refresh. A 1 KB `.ods` that
/// repeats a row a million times (3 GB of cells, seconds to load) stands in for one: with a
/// memory limit it would not reach, it is killed at the time limit, the file's error with the
/// variable to raise, and the sound table beside it is written.
#[test]
fn a_workbook_read_past_its_time_limit_is_the_files_error() {
    let p = Proj::empty(&["pub"]);
    p.write("data/slow.ods", ods_with_rows(REPEATED_ROW));
    p.write(
        "pipelines/slow.yaml",
        "name: pub.slow\nsource: { path: data/slow.ods }\ncolumns: { a: { from: a, type: int64 } }\n",
    );
    let started = std::time::Instant::now();
    let all = refresh_beside_a_sound_table(
        &p,
        &[
            ("OPENCOLL_WORKBOOK_TIMEOUT", "0.2".into()),
            ("OPENCOLL_READER_MEMORY", "8192".into()),
        ],
    );
    assert!(
        all.contains("data/slow.ods: reading it took longer than the time limit (0.2 s)")
            && all.contains("OPENCOLL_WORKBOOK_TIMEOUT=SECONDS (now 0.2)")
            && all.contains("FAILED  pub.slow"),
        "{all}"
    );
    // Killed at the limit, not left to load its 3 GB.
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
}

/// A one-page PDF whose text uses a TrueType font embedded with `font` as its program.
fn pdf_with_truetype_font(font: &[u8]) -> Vec<u8> {
    let content = b"BT /F1 12 Tf 72 720 Td (AAA) Tj ET";
    let stream = |dict: &str, data: &[u8]| {
        [
            format!("<< {dict} /Length {} >>\nstream\n", data.len()).as_bytes(),
            data,
            b"\nendstream",
        ]
        .concat()
    };
    let objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R \
          /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_vec(),
        stream("", content),
        b"<< /Type /Font /Subtype /TrueType /BaseFont /Damaged /FirstChar 65 /LastChar 65 \
          /Widths [600] /FontDescriptor 6 0 R >>"
            .to_vec(),
        b"<< /Type /FontDescriptor /FontName /Damaged /Flags 32 /FontBBox [0 -200 600 700] \
          /ItalicAngle 0 /Ascent 700 /Descent -200 /CapHeight 700 /StemV 80 /FontFile2 7 0 R >>"
            .to_vec(),
        stream(&format!("/Length1 {}", font.len()), font),
    ];
    pdf_of_objects(&objects)
}

/// A PDF file of `objects` (numbered from 1, the first the catalog) with its xref table.
fn pdf_of_objects(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend(format!("{} 0 obj\n", i + 1).as_bytes());
        pdf.extend(o);
        pdf.extend(b"\nendobj\n");
    }
    let xref = pdf.len();
    pdf.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        pdf.extend(format!("{o:010} 00000 n \n").as_bytes());
    }
    let trailer = format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    pdf.extend(trailer.as_bytes());
    pdf
}

/// A TrueType program holding only a `cmap` table with one format-4 subtable whose first
/// segment's idRangeOffset points before the glyph array (the fault the fuzzer found in a
/// damaged report: pdf_oxide 0.3 subtracts past zero on it).
fn truetype_with_bad_cmap() -> Vec<u8> {
    let be = |v: &[u16]| v.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
    // format 4: length, language, segCountX2 = 4, searchRange, entrySelector, rangeShift,
    // endCode[2], pad, startCode[2], idDelta[2], idRangeOffset[2] (2: half of it is 1, less
    // than the 2 segments), glyphIdArray[1]
    let subtable = be(&[
        4, 32, 0, 4, 4, 1, 0, 0x41, 0xFFFF, 0, 0x41, 0xFFFF, 0, 1, 2, 0, 0,
    ]);
    let mut cmap = be(&[0, 1, 3, 1]);
    cmap.extend(12u32.to_be_bytes());
    cmap.extend(subtable);
    // sfnt header (one table) and its directory entry: tag, checksum, offset, length
    let mut font = be(&[1, 0, 1, 16, 0, 0]);
    font.extend(b"cmap");
    font.extend(0u32.to_be_bytes());
    font.extend(28u32.to_be_bytes());
    font.extend((cmap.len() as u32).to_be_bytes());
    font.extend(cmap);
    font
}

/// A PDF parser's panic on a damaged font is the file's error, printed alone: no panic message
/// or backtrace before it, in `pdf tables` as in a refresh, and in every build (the release
/// build checks pdf_oxide's arithmetic too, see Cargo.toml).
#[test]
fn a_pdf_parser_panic_is_the_files_error_without_a_panic_message() {
    let p = Proj::empty(&["pub"]);
    p.write(
        "data/damaged.pdf",
        pdf_with_truetype_font(&truetype_with_bad_cmap()),
    );
    let pdf = p.path().join("data/damaged.pdf");
    let out = Command::new(env!("CARGO_BIN_EXE_opencoll"))
        .args(["pdf", "tables", "--out"])
        .arg(p.path().join("out"))
        .arg(&pdf)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        err.contains("damaged.pdf: cannot read page 1: the PDF parser crashed on this page")
            && err.contains("attempt to subtract with overflow, at pdf_oxide-"),
        "{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    // the same file in a pipeline
    p.write(
        "pipelines/t.yaml",
        "name: pub.t\nsource: { path: data/damaged.pdf, format: pdf }\ncolumns: { a: { from: A } }\n",
    );
    let out = p.run(&["refresh"]);
    let all = stdout(&out) + &stderr(&out);
    assert!(!out.status.success());
    assert!(
        all.contains("FAILED  pub.t")
            && all.contains("data/damaged.pdf: cannot read page 1: the PDF parser crashed")
            && all.contains("attempt to subtract with overflow"),
        "{all}"
    );
    assert!(
        !all.contains("panicked") && !all.contains("backtrace"),
        "{all}"
    );
}
