//! Recovering from human error and reclaiming space: `publish --rollback` withdraws a bad
//! release from portals in one command; `vacuum` removes the files no retained version needs
//! (replaced by later refreshes, or left by a run that never committed) and nothing else.

mod common;

use std::path::Path;

use common::{Proj, fixture, stderr};

fn latest(p: &Proj) -> serde_json::Value {
    let bytes = std::fs::read(p.path().join("data/published/latest.json")).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn publish_rollback_points_portals_back_one_release_at_a_time() {
    let p = Proj::samples();
    p.ok(&["refresh"]);
    p.ok(&["publish", "--release", "r1"]);
    p.ok(&["publish", "--release", "r2"]);
    p.ok(&["publish", "--release", "r3"]);
    assert_eq!(latest(&p)["release"], "r3");
    let out = p.ok(&["publish", "--rollback"]);
    assert!(out.contains("points to release r2 (was r3)"), "{out}");
    let l = latest(&p);
    assert_eq!(
        (l["release"].as_str(), l["rolled_back_from"].as_str()),
        (Some("r2"), Some("r3"))
    );
    assert_eq!(l["catalog"], "r2/catalog.json");
    p.ok(&["publish", "--rollback"]);
    assert_eq!(latest(&p)["release"], "r1");
    // nothing before the first; releases themselves are all still there
    let out = p.run(&["publish", "--rollback"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("r1 is the oldest release"),
        "{}",
        stderr(&out)
    );
    assert_eq!(latest(&p)["release"], "r1");
    for r in ["r1", "r2", "r3"] {
        assert!(
            p.path()
                .join("data/published")
                .join(r)
                .join("catalog.json")
                .is_file()
        );
    }
    // a new release after a rollback: the one before it is the newest other release; a
    // half-written release (no catalog.json, as after a crash) is never a target
    std::fs::create_dir_all(p.path().join("data/published/r5-partial")).unwrap();
    p.ok(&["publish", "--release", "r4"]);
    p.ok(&["publish", "--rollback"]);
    assert_eq!(latest(&p)["release"], "r3");
}

fn parquet_files(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".parquet"))
        .collect();
    out.sort();
    out
}

#[test]
fn vacuum_removes_replaced_and_orphan_files_and_nothing_a_version_needs() {
    let p = Proj::empty(&["ref"]);
    p.write("pipelines/t.yaml", fixture("recovery/t.yaml", &[]));
    p.write("data/t.csv", "code;n\n1001;1\n2A004;2\n");
    p.ok(&["refresh"]);
    p.write("data/t.csv", "code;n\n1001;10\n2A004;20\n971;30\n");
    p.ok(&["refresh"]);
    let table = p.path().join("data/lake/ref/t");
    let current = parquet_files(&table);
    assert_eq!(current.len(), 2, "{current:?}");
    // a file a killed run wrote and never committed
    std::fs::copy(table.join(&current[0]), table.join("part-orphan.parquet")).unwrap();

    // recent files are kept by the default retention
    let out = p.ok(&["vacuum"]);
    assert!(out.contains("removed 0 file(s) in all"), "{out}");
    // a dry run lists, removes nothing
    let out = p.ok(&["vacuum", "--retain", "0s", "--dry-run", "ref.t"]);
    assert!(out.contains("ref.t: would remove 2 file(s)"), "{out}");
    assert!(out.contains("part-orphan.parquet"), "{out}");
    assert_eq!(parquet_files(&table).len(), 3);
    let out = p.ok(&["vacuum", "--retain", "0s"]);
    assert!(out.contains("ref.t: removed 2 file(s)"), "{out}");
    // what remains is exactly what the current version reads, and it reads the same rows
    let left = parquet_files(&table);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(
        p.ok(&[
            "sql",
            "--format",
            "csv",
            "SELECT code, n FROM ref.t ORDER BY code"
        ]),
        "code,n\n00971,30\n01001,10\n2A004,20\n"
    );
    // and the next refresh works
    p.write("data/t.csv", "code;n\n1001;100\n");
    p.ok(&["refresh"]);
    assert_eq!(p.value("SELECT sum(n) FROM ref.t"), "100");
    // a bad age and an unknown table are clear errors
    let out = p.run(&["vacuum", "--retain", "7 weeks"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the unit is d, h, m or s"),
        "{}",
        stderr(&out)
    );
    let out = p.run(&["vacuum", "ref.nothing"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no table ref.nothing"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn restore_brings_back_an_earlier_version_as_a_new_one_and_refresh_judges_it_as_that_run_left_it() {
    let p = Proj::empty(&["ref"]);
    p.write("pipelines/t.yaml", fixture("recovery/t.yaml", &[]));
    let good = "code;n\n1001;1\n2A004;2\n";
    p.write("data/t.csv", good);
    p.ok(&["refresh"]); // version 0
    p.write("data/t.csv", "code;n\n1001;666\n");
    p.ok(&["refresh"]); // version 1: a bad file went in
    assert_eq!(p.value("SELECT sum(n) FROM ref.t"), "666");

    let out = p.ok(&["restore", "ref.t", "--version", "0"]);
    assert!(
        out.contains("ref.t: version 0 restored as version 2 (was 1), run restore-"),
        "{out}"
    );
    assert!(out.contains("(a copy of run "), "{out}");
    assert_eq!(p.value("SELECT sum(n) FROM ref.t"), "3");
    // recorded in _ops.runs as the run that made version 0, at the new version
    assert_eq!(
        p.value("SELECT table_version FROM _ops.runs WHERE run_id LIKE 'restore-%'"),
        "2"
    );
    // the bad file is still there: the next refresh would load it again, and says why
    let out = p.ok(&["plan"]);
    assert!(
        out.contains("run     ref.t: source changed: data/t.csv"),
        "{out}"
    );
    // with the file fixed, the restored table is what that file gives: nothing to do
    p.write("data/t.csv", good);
    let out = p.ok(&["plan"]);
    assert!(
        out.contains("skip    ref.t: unchanged since run restore-"),
        "{out}"
    );

    // by time: before the first commit there is nothing; now is the current version
    let out = p.run(&["restore", "ref.t", "--timestamp", "2000-01-01T00:00:00Z"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no version was committed at or before"),
        "{}",
        stderr(&out)
    );
    // a date alone is that day's end; a time that is neither says how to write one
    let out = p.run(&["restore", "ref.t", "--timestamp", "2000-01-01"]);
    assert!(
        stderr(&out).contains("no version was committed at or before 2000-01-01 23:59:59"),
        "{}",
        stderr(&out)
    );
    let out = p.run(&["restore", "ref.t", "--timestamp", "hier"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("write a time as 2026-12-01T04:00:00Z (RFC 3339) or a date"),
        "{}",
        stderr(&out)
    );
    let out = p.run(&["restore", "ref.t", "--version", "7"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not an earlier version (the table is at version 2)"),
        "{}",
        stderr(&out)
    );
    let out = p.run(&["restore", "ref.nothing", "--version", "0"]);
    assert!(
        stderr(&out).contains("no table ref.nothing"),
        "{}",
        stderr(&out)
    );
}

/// Mistakes made trying the commands as a careless user would (issue 20): each is refused, or
/// said with what to do, and nothing is lost or counted twice.
#[test]
fn mistakes_with_the_lakes_records_and_names_are_refused_with_what_to_do() {
    let p = Proj::empty(&["ref"]);
    p.write("pipelines/t.yaml", fixture("recovery/t.yaml", &[]));
    p.write("data/t.csv", "code;n\n1001;1\n2A004;2\n");
    p.ok(&["refresh"]); // version 0
    p.write("data/t.csv", "code;n\n1001;5\n");
    p.ok(&["refresh"]); // version 1

    // the lake's record of its runs is not restored (every pipeline would run again)
    let out = p.run(&["restore", "_ops.runs", "--version", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("_ops.runs is the lake's record of its runs and checks"),
        "{}",
        stderr(&out)
    );

    // after a restore, vacuum lists each file it removes once (delta-rs named some twice)
    p.ok(&["restore", "ref.t", "--version", "0"]); // version 2, version 0's file
    p.write("data/t.csv", "code;n\n1001;7\n");
    p.ok(&["refresh"]); // version 3
    let out = p.ok(&["vacuum", "--retain", "0s", "ref.t"]);
    let mut listed: Vec<&str> = out.lines().filter(|l| l.starts_with("        ")).collect();
    assert_eq!(listed.len(), 2, "{out}");
    assert!(out.contains("ref.t: removed 2 file(s)"), "{out}");
    listed.dedup();
    assert_eq!(listed.len(), 2, "{out}");
    assert_eq!(parquet_files(&p.path().join("data/lake/ref/t")).len(), 1);
    // and a version whose files are gone cannot be restored, which is said plainly
    let out = p.run(&["restore", "ref.t", "--version", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "version 1 can no longer be restored: `opencoll vacuum` has removed its files"
        ),
        "{}",
        stderr(&out)
    );

    // misspelt names: a dataset to test, a table to query
    let out = p.run(&["test", "ref.tt"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no pipeline named ref.tt (did you mean ref.t?)"),
        "{}",
        stderr(&out)
    );
    let out = p.run(&["sql", "SELECT * FROM ref.tt"]);
    assert!(
        stderr(&out).contains("no table or view ref.tt in the lake: did you mean ref.t?"),
        "{}",
        stderr(&out)
    );
    let out = p.run(&["sql", "SELECT * FROM communes"]);
    assert!(
        stderr(&out).contains("no table or view communes in the lake: `opencoll catalog` lists"),
        "{}",
        stderr(&out)
    );

    // a failed run wrote nothing, and says so
    p.write("data/t.csv", "code;n\n1001;x\n");
    let out = p.run(&["refresh"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        p.value("SELECT rows_written FROM _ops.runs WHERE status = 'failed'"),
        "0"
    );
    assert_eq!(p.value("SELECT sum(n) FROM ref.t"), "7");

    // a value listed twice would read its file twice
    p.write(
        "pipelines/v.yaml",
        "name: ref.v\nsource:\n  path: data/v_{annee}.csv\n  vars: { annee: [2023, 2023, 2024] }\n  csv: { delimiter: \";\" }\ncolumns:\n  code: { from: code, type: code }\n",
    );
    let out = p.run(&["validate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("source.vars.annee lists 2023 more than once"),
        "{}",
        stderr(&out)
    );
}

/// `validate` plans the checks against the pipeline's output: a column that is not there is
/// said before any source is read.
#[test]
fn validate_says_a_check_on_a_missing_column_before_the_run() {
    let p = Proj::empty(&["ref"]);
    let mut yaml = fixture("recovery/t.yaml", &[]);
    yaml.push_str("checks:\n  - { unique: [cod] }\n  - { expression: \"n > 0\" }\n");
    p.write("pipelines/t.yaml", yaml);
    p.write("data/t.csv", "code;n\n1001;1\n");
    let out = p.run(&["validate"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("pipelines/t.yaml:8:1: error: check unique(cod)"),
        "{err}"
    );
    assert!(err.contains("No field named cod"), "{err}");
    assert!(!err.contains("__candidate"), "{err}");
    assert!(!err.contains("check expression"), "{err}");
}
