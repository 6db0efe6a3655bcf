//! End to end on small projects written in the tests: validation messages, rejects, failed
//! runs that leave the lake as it was, exact sums on a foreign French file.

mod common;

use common::{Proj, fixture, stderr, stdout};

fn cp1252(s: &str) -> Vec<u8> {
    encoding_rs::WINDOWS_1252.encode(s).0.into_owned()
}

#[test]
fn validate_points_at_the_line_of_a_misspelt_key() {
    let p = Proj::empty(&["finances"]);
    p.write("data/x.csv", "a;b\n1;2\n");
    p.write(
        "pipelines/x.yaml",
        "name: finances.x\nsource:\n  path: data/x.csv\n  csv:\n    delimeter: \";\"\ncolumns:\n  a: { from: a, type: code }\n",
    );
    let out = p.run(&["validate"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("pipelines/x.yaml:5:5: error: unknown key `delimeter`"),
        "{err}"
    );
    assert!(err.contains("hint: did you mean `delimiter`?"), "{err}");
    // refresh refuses to run an invalid project.
    assert_eq!(p.run(&["refresh"]).status.code(), Some(1));
}

#[test]
fn validate_reports_sql_and_reference_errors() {
    let p = Proj::empty(&["finances"]);
    p.write("data/x.csv", "a,b\n1,2\n");
    p.write(
        "pipelines/x.yaml",
        "name: finances.x\nsource: { path: data/x.csv }\ncolumns:\n  a: { from: a, type: int32 }\n  c: { sql: \"a + nope\" }\ntarget: { partition_by: [zz] }\n",
    );
    p.write("sql/finances/v.sql", "SELECT * FROM finances.missing");
    p.write("sql/finances/w.sql", "SELECT a FROM finances.x");
    let out = p.run(&["validate"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("pipelines/x.yaml:5:") && err.contains("column `c`") && err.contains("nope"),
        "{err}"
    );
    assert!(
        err.contains("sql/finances/v.sql:1:1: error:") && err.contains("finances.missing"),
        "{err}"
    );
    assert!(
        err.contains("pipelines/x.yaml:6:11: error: partition column `zz` is not declared"),
        "{err}"
    );
    // A view over the failing pipeline is not reported again.
    assert!(!err.contains("w.sql"), "{err}");
}

#[test]
fn bad_values_go_to_rejects_with_file_line_column_and_a_failed_run_changes_nothing() {
    let p = Proj::empty(&["finances"]);
    let good = "EXER;SIREN;COMPTE;SD\n2024;213801855;1641;100,50\n2024;213801855;60611;20,25\n";
    p.write("data/b.csv", cp1252(good));
    let pipeline = |max_rejects: u32| {
        fixture(
            "pipelines/finances_b_max_rejects.yaml",
            &[("MAX_REJECTS", &max_rejects.to_string())],
        )
    };
    p.write("pipelines/b.yaml", pipeline(0));
    p.ok(&["refresh"]);
    assert_eq!(p.value("SELECT sum(sd) FROM finances.b"), "120.75");

    // A bad amount on line 3: the run fails (max_rejects 0), the table keeps version 0.
    p.write("data/b.csv", cp1252("EXER;SIREN;COMPTE;SD\n2024;213801855;1641;100,50\n2024;213801855;60611;20,2x\n2024;213801855;6411;1,00\n"));
    let out = p.run(&["refresh"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("FAILED  finances.b"), "{text}");
    assert!(text.contains("data/b.csv:3 column SD: \"20,2x\""), "{text}");
    assert_eq!(p.value("SELECT sum(sd) FROM finances.b"), "120.75");
    assert_eq!(p.value("SELECT count(*) FROM finances.b"), "2");
    assert_eq!(
        p.rows("SELECT source_file, line, \"column\", value FROM _ops.rejects"),
        vec!["data/b.csv,3,SD,\"20,2x\""]
    );
    assert_eq!(p.value("SELECT status || ' ' || rows_read || ' ' || rows_rejected FROM _ops.runs ORDER BY finished_at DESC LIMIT 1"), "failed 3 1");

    // Tolerating one reject: the run commits the two good rows, the bad one is accounted for.
    p.write("pipelines/b.yaml", pipeline(1));
    let text = p.ok(&["refresh"]);
    assert!(text.contains("3 read, 2 written, 1 rejected"), "{text}");
    assert_eq!(p.value("SELECT sum(sd) FROM finances.b"), "101.50");
    assert_eq!(p.value("SELECT count(*) FROM _ops.rejects"), "2");
}

#[test]
fn a_pipeline_written_by_someone_else_loads_exact_sums() {
    // windows-1252, `;`, decimal comma, NBSP thousands, zero-padded codes, quoted fields,
    // CRLF, a title line before the header.
    let p = Proj::empty(&["dotations"]);
    let mut text = String::from(
        "Dotations 2024 — montants en euros\r\nCode département;Code commune;Libellé;Montant DGF;Éligible DSR\r\n",
    );
    let mut expected_cents: i64 = 0;
    let mut n = 0;
    for (i, (dep, com, name)) in [
        ("01", "001", "L'Abergement-Clémenciat"),
        ("2A", "004", "Ajaccio"),
        ("971", "01", "Les Abymes"),
        ("59", "350", "Lille; centre"),
    ]
    .iter()
    .enumerate()
    {
        for k in 0..50i64 {
            let cents = 123_456_789 * (i as i64 + 1) + k * 1_001 + 7;
            expected_cents += cents;
            n += 1;
            let euros = cents / 100;
            let amount = format!(
                "{}\u{a0}{:03}\u{a0}{:03},{:02}",
                euros / 1_000_000,
                (euros / 1000) % 1000,
                euros % 1000,
                cents % 100
            );
            text.push_str(&format!(
                "{dep};{com};\"{name} Œ{k}\";{amount};{}\r\n",
                if k % 2 == 0 { "Oui" } else { "Non" }
            ));
        }
    }
    p.write("data/dotations.csv", cp1252(&text));
    p.write(
        "pipelines/dgf.yaml",
        r#"name: dotations.dgf
title: DGF 2024
source:
  path: data/dotations.csv
  csv: { delimiter: ";", decimal: ",", thousands: " ", encoding: windows-1252, skip_rows: 1 }
columns:
  dep: { from: Code département, type: code }
  com: { from: Code commune, type: code, width: 3 }
  code_insee: { sql: "CASE WHEN length(dep) = 3 THEN dep || substr(com, 2) ELSE dep || com END" }
  libelle: { from: Libellé }
  dgf: { from: /^Montant/, type: "decimal(18,2)" }
  dsr: { from: Éligible DSR, type: bool }
"#,
    );
    p.ok(&["refresh"]);
    assert_eq!(p.value("SELECT count(*) FROM dotations.dgf"), n.to_string());
    let expected = format!("{}.{:02}", expected_cents / 100, expected_cents % 100);
    assert_eq!(p.value("SELECT sum(dgf) FROM dotations.dgf"), expected);
    assert_eq!(
        p.rows("SELECT DISTINCT code_insee FROM dotations.dgf ORDER BY 1"),
        vec!["01001", "2A004", "59350", "97101"]
    );
    assert_eq!(
        p.value("SELECT count(*) FROM dotations.dgf WHERE dsr"),
        (n / 2).to_string()
    );
    assert_eq!(
        p.value("SELECT libelle FROM dotations.dgf WHERE code_insee = '59350' LIMIT 1"),
        "Lille; centre Œ0"
    );
}

#[test]
fn replace_partitions_keeps_other_vintages() {
    let p = Proj::empty(&["ref"]);
    p.write("data/c_2023.csv", "code,pop\n01001,10\n");
    p.write("data/c_2024.csv", "code,pop\n01001,11\n01002,5\n");
    let yaml = |years: &str| fixture("pipelines/ref_c_vintages.yaml", &[("YEARS", years)]);
    p.write("pipelines/c.yaml", yaml("2023, 2024"));
    p.ok(&["refresh"]);
    assert_eq!(
        p.rows("SELECT an, sum(pop) FROM ref.c GROUP BY an ORDER BY an"),
        vec!["2023,10", "2024,16"]
    );
    // Only 2024 is re-read (and changed): 2023 stays.
    p.write("data/c_2024.csv", "code,pop\n01001,12\n");
    p.write("pipelines/c.yaml", yaml("2024"));
    p.ok(&["refresh", "ref.c"]);
    assert_eq!(
        p.rows("SELECT an, sum(pop) FROM ref.c GROUP BY an ORDER BY an"),
        vec!["2023,10", "2024,12"]
    );
}

/// (account, budget) of the rows of every row group of every 2024 file of `table`.
fn accounts_by_row_group(p: &Proj, table: &str) -> Vec<Vec<(String, String)>> {
    use arrow::array::AsArray;
    let dir = p
        .path()
        .join("data/lake/t")
        .join(table)
        .join("exercice=2024");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.retain(|f| f.extension().is_some_and(|e| e == "parquet"));
    files.sort();
    let mut groups = Vec::new();
    for f in files {
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(f).unwrap(),
        )
        .unwrap();
        let sizes: Vec<usize> = (builder.metadata().row_groups().iter())
            .map(|rg| rg.num_rows() as usize)
            .collect();
        let mut rows = Vec::new();
        for b in builder.build().unwrap() {
            let b = b.unwrap();
            let col = |n: &str| b.column_by_name(n).unwrap().as_string::<i32>().clone();
            let (budget, compte) = (col("budget"), col("compte"));
            for i in 0..b.num_rows() {
                rows.push((compte.value(i).to_string(), budget.value(i).to_string()));
            }
        }
        let mut rest = rows.as_slice();
        for n in sizes {
            let (group, after) = rest.split_at(n);
            groups.push(group.to_vec());
            rest = after;
        }
    }
    groups
}

#[test]
fn cluster_by_sorts_each_row_group_so_that_account_filters_skip_pages() {
    let p = Proj::empty(&["t"]);
    // As DGFiP writes balances: budget after budget, each with its accounts in order. 400
    // budgets × 150 accounts of classes 1 to 7 = 60,000 rows a year, so that each column of
    // a row group has several pages (of at most 20,000 rows) for the page index to skip.
    let accounts: Vec<String> = (0..150).map(|i| format!("{}{:03}", 1 + i % 7, i)).collect();
    for year in [2023, 2024] {
        let mut csv = String::from("budget;compte;montant\n");
        for b in 0..400 {
            for (i, a) in accounts.iter().enumerate() {
                csv.push_str(&format!(
                    "{:05};{a};{},{:02}\n",
                    b,
                    (b * 7 + i * 13) % 1000,
                    i % 100
                ));
            }
        }
        p.write(&format!("data/b_{year}.csv"), csv);
    }
    // The same pipeline twice, but for its name and `target.cluster_by: [compte]`.
    p.write(
        "pipelines/plain.yaml",
        fixture("pipelines/t_plain.yaml", &[]),
    );
    p.write(
        "pipelines/clustered.yaml",
        fixture("pipelines/t_clustered.yaml", &[]),
    );
    p.ok(&["refresh"]);

    // The same rows and sums.
    let totals = |t: &str| {
        p.rows(&format!(
            "SELECT exercice, count(*), sum(montant) FROM t.{t} GROUP BY exercice ORDER BY exercice"
        ))
    };
    assert_eq!(totals("plain"), totals("clustered"));
    assert_eq!(totals("plain")[1], "2024,60000,30032700.00");

    // Within each row group, rows are ordered by account, and budgets stay in file order
    // under each account (a stable sort); the plain table keeps the file's order.
    let groups = accounts_by_row_group(&p, "clustered");
    assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 60_000);
    for rows in &groups {
        assert!(
            rows.windows(2).all(|w| w[0] <= w[1]),
            "a row group is not sorted"
        );
    }
    let plain = accounts_by_row_group(&p, "plain");
    assert!(
        plain
            .iter()
            .any(|rows| rows.windows(2).any(|w| w[0].0 > w[1].0))
    );

    // A filter on the account class reads the pages of class 6 only (the page index prunes
    // the others); on the plain table every page holds some class 6 and all are read.
    let pruning = |t: &str| {
        let plan = p.ok(&[
            "sql",
            "--format",
            "csv",
            &format!("EXPLAIN ANALYZE SELECT sum(montant) FROM t.{t} WHERE compte LIKE '6%'"),
        ]);
        let at = plan
            .find("page_index_rows_pruned=")
            .expect("page index metrics");
        let metric = plan[at..].split([',', ']']).next().unwrap().to_string();
        let (total, matched) = metric["page_index_rows_pruned=".len()..]
            .split_once(" total → ")
            .unwrap_or_else(|| panic!("{metric}"));
        (
            total.to_string(),
            matched.trim_end_matches(" matched").to_string(),
        )
    };
    let (total, matched) = pruning("plain");
    assert_eq!(total, matched, "plain: every page is read");
    let (total, matched) = pruning("clustered");
    assert_ne!(
        total, matched,
        "clustered: pages of other classes are skipped"
    );
    let class6 = |t: &str| {
        p.value(&format!(
            "SELECT sum(montant) FROM t.{t} WHERE compte LIKE '6%' AND exercice = 2024"
        ))
    };
    assert_eq!(class6("clustered"), "4221100.00");
    assert_eq!(class6("plain"), "4221100.00");
}

/// A computed column must not reorder the source's rows: DataFusion would deal the batches of
/// the one input stream to several threads and merge them back as they finish, so the
/// table's order (and, clustered, which rows share a row group) would change from run to run.
#[test]
fn computed_columns_keep_the_rows_in_file_order() {
    use arrow::array::AsArray;
    let p = Proj::empty(&["t"]);
    // 400,000 rows (4.8 MB): two chunks for the reader's threads, a dozen batches for the plan.
    let rows = 400_000i64;
    let mut csv = String::from("n;code\n");
    for i in 0..rows {
        csv.push_str(&format!("{i};{:05}\n", (i * 7919) % 100_000));
    }
    p.write("data/o.csv", csv);
    p.write(
        "pipelines/o.yaml",
        "name: t.ordered\nsource: { path: data/o.csv, csv: { delimiter: \";\" } }\ncolumns:\n  n: { from: n, type: int64 }\n  code: { from: code, type: code }\n  dep: { sql: \"substr(code, 1, 2)\" }\n",
    );
    // Four partitions, as on a four-core machine (the plan itself is checked in run.rs).
    let partitions = [("DATAFUSION_EXECUTION_TARGET_PARTITIONS", "4".to_string())];
    p.ok_env(&partitions, &["refresh"]);

    let dir = p.path().join("data/lake/t/ordered");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let file = std::fs::File::open(files.pop().unwrap()).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut next = 0i64;
    for b in reader {
        let b = b.unwrap();
        let n = b.column_by_name("n").unwrap();
        let n = n.as_primitive::<arrow::datatypes::Int64Type>();
        let (code, dep) = (
            b.column_by_name("code").unwrap(),
            b.column_by_name("dep").unwrap(),
        );
        let (code, dep) = (code.as_string::<i32>(), dep.as_string::<i32>());
        for i in 0..b.num_rows() {
            assert_eq!(
                n.value(i),
                next,
                "row {next} of the file is not in its place"
            );
            assert_eq!(dep.value(i), &code.value(i)[..2]);
            next += 1;
        }
    }
    assert_eq!(next, rows);
}

#[test]
fn cluster_by_names_declared_columns_other_than_the_partitions() {
    let p = Proj::empty(&["t"]);
    p.write("data/x.csv", "a,b\n1,2\n");
    p.write(
        "pipelines/x.yaml",
        "name: t.x\nsource: { path: data/x.csv }\ncolumns:\n  a: { from: a, type: int32 }\n  b: { from: b, type: code }\ntarget:\n  partition_by: [a]\n  cluster_by: [a, bb]\n",
    );
    let out = p.run(&["validate"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("pipelines/x.yaml:8:3: error: `a` is a partition column"),
        "{err}"
    );
    assert!(
        err.contains("cluster column `bb` is not declared") && err.contains("did you mean `b`?"),
        "{err}"
    );
}

#[test]
fn missing_file_and_unknown_pipeline_are_clear_errors() {
    let p = Proj::empty(&["ref"]);
    p.write(
        "pipelines/c.yaml",
        "name: ref.c\nsource: { path: data/nope.csv }\ncolumns:\n  a: { from: a }\n",
    );
    let out = p.run(&["validate"]);
    assert!(
        stderr(&out).contains("pipelines/c.yaml:2:17: error: source file not found: data/nope.csv"),
        "{}",
        stderr(&out)
    );
    p.write("data/nope.csv", "a\n1\n");
    let out = p.run(&["refresh", "ref.x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no pipeline named ref.x (did you mean ref.c?)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn refresh_skips_what_did_not_change_and_reruns_dependents() {
    let p = Proj::empty(&["ref"]);
    p.write("data/a.csv", "code,pop\n01001,10\n01002,5\n");
    p.write("pipelines/a.yaml", "name: ref.a\nsource: { path: data/a.csv }\ncolumns:\n  code: { from: code, type: code }\n  pop: { from: pop, type: int64 }\n");
    // ref.b reads ref.a in its transform: it must run after it, and again when it changes.
    p.write(
        "data/b.csv",
        "code,nom\n01001,L'Abergement\n01002,L'Abergement-de-Varey\n",
    );
    p.write(
        "pipelines/b.yaml",
        "name: ref.b\nsource: { path: data/b.csv }\ncolumns:\n  code: { from: code, type: code }\n  nom: { from: nom }\ntransform:\n  - sql: SELECT i.code, i.nom, a.pop FROM input i JOIN ref.a a USING (code)\n",
    );
    let out = p.ok(&["refresh"]);
    assert!(
        out.find("ok      ref.a").unwrap() < out.find("ok      ref.b").unwrap(),
        "{out}"
    );
    assert_eq!(p.value("SELECT sum(pop) FROM ref.b"), "15");

    let out = p.ok(&["plan"]);
    assert!(
        out.contains("skip    ref.a: unchanged since run")
            && out.contains("skip    ref.b: unchanged"),
        "{out}"
    );

    // Same bytes rewritten (new mtime): still unchanged, by sha256.
    p.write(
        "data/b.csv",
        "code,nom\n01001,L'Abergement\n01002,L'Abergement-de-Varey\n",
    );
    assert_eq!(
        p.ok(&["refresh"])
            .lines()
            .filter(|l| l.starts_with("skip "))
            .count(),
        2
    );

    // A changed source re-runs its pipeline, and the pipeline that reads its table.
    p.write("data/a.csv", "code,pop\n01001,11\n01002,5\n");
    let out = p.ok(&["plan"]);
    assert!(
        out.contains("run     ref.a: source changed: data/a.csv"),
        "{out}"
    );
    let out = p.ok(&["refresh"]);
    assert!(
        out.contains("ok      ref.a") && out.contains("ok      ref.b"),
        "{out}"
    );
    assert_eq!(p.value("SELECT sum(pop) FROM ref.b"), "16");

    // A changed definition re-runs only that pipeline.
    p.write(
        "pipelines/a.yaml",
        "name: ref.a\ntitle: Populations\nsource: { path: data/a.csv }\ncolumns:\n  code: { from: code, type: code }\n  pop: { from: pop, type: int64 }\n",
    );
    let out = p.ok(&["plan"]);
    assert!(out.contains("run     ref.a: definition changed"), "{out}");

    let history = p.ok(&["history", "ref.b", "--format", "csv"]);
    assert_eq!(history.lines().count(), 3, "{history}");
}

#[test]
fn transforms_joining_lake_tables_or_stopping_early_run_again_and_again() {
    let p = Proj::empty(&["ref"]);
    let mut big = String::from("code,pop\n");
    for i in 0..200_000 {
        big.push_str(&format!("{:05},{}\n", i % 100_000, i % 7));
    }
    p.write("data/a.csv", &big);
    p.write("data/n.csv", "code,nom\n00001,Un\n00002,Deux\n");
    p.write("pipelines/n.yaml", "name: ref.n\nsource: { path: data/n.csv }\ncolumns:\n  code: { from: code, type: code }\n  nom: { from: nom }\n");
    // Reads ref.n (strings come back as Utf8View from the lake) and is partitioned.
    p.write(
        "pipelines/j.yaml",
        "name: ref.j\nsource: { path: data/a.csv }\ncolumns:\n  code: { from: code, type: code }\n  pop: { from: pop, type: int32 }\ntransform:\n  - sql: SELECT a.pop, a.code, n.nom FROM input a JOIN ref.n n USING (code)\ntarget: { partition_by: [pop], mode: replace_partitions }\n",
    );
    // Stops reading its input after 10 rows: the rest is still read and accounted for.
    p.write(
        "pipelines/l.yaml",
        "name: ref.l\nsource: { path: data/a.csv }\ncolumns:\n  code: { from: code, type: code }\ntransform:\n  - sql: SELECT * FROM input LIMIT 10\n",
    );
    let out = p.ok(&["refresh"]);
    assert!(
        out.contains("ok      ref.l: 200000 read, 10 written, 0 rejected, 199990 filtered"),
        "{out}"
    );
    assert_eq!(p.value("SELECT count(*) FROM ref.j"), "4");
    for _ in 0..2 {
        let out = p.ok(&["refresh", "--full"]);
        assert!(!out.contains("FAILED"), "{out}");
    }
    assert_eq!(p.value("SELECT count(*) FROM ref.j"), "4");
    assert_eq!(p.value("SELECT count(*) FROM ref.l"), "10");
}

#[test]
fn validation_catches_silent_duplication() {
    let p = Proj::empty(&["ref"]);
    p.write("data/a.csv", "code\n01001\n");
    p.write(
        "pipelines/a.yaml",
        "name: ref.a\nsource: { path: data/a.csv, vars: { annee: [2023, 2024] } }\ncolumns:\n  code: { from: code, type: code }\ntarget: { mode: replace_partitions }\n",
    );
    let err = common::stderr(&p.run(&["validate"]));
    assert!(
        err.contains("source.vars.annee is not used in source.path"),
        "{err}"
    );
    assert!(
        err.contains("mode replace_partitions needs target.partition_by"),
        "{err}"
    );
}

#[test]
fn failing_checks_stop_the_commit_and_name_the_check_the_table_and_a_row() {
    let p = Proj::empty(&["finances", "ref"]);
    p.write("data/communes.csv", "code\n38185\n2A004\n");
    p.write("pipelines/communes.yaml", "name: ref.c\nsource: { path: data/communes.csv }\ncolumns:\n  code: { from: code, type: code }\n");
    let header = "EXER;IDENT;INSEE;COMPTE;BEDEB;BECRE;OBNETDEB;OBNETCRE;SD;SC\n";
    let good = "2024;21380185500015;38185;1641;0,00;100,00;10,00;0,00;0,00;90,00\n2024;21380185500015;38185;60611;0,00;0,00;20,00;0,00;20,00;0,00\n";
    p.write("data/b.csv", format!("{header}{good}"));
    p.write(
        "pipelines/b.yaml",
        r#"name: finances.b
source: { path: data/b.csv, csv: { delimiter: ";", decimal: "," } }
columns:
  exercice: { from: EXER, type: int16 }
  ident: { from: IDENT, type: code, width: 14 }
  code_insee: { from: INSEE, type: code, width: 5 }
  compte: { from: COMPTE, type: code }
  bedeb: { from: BEDEB, type: "decimal(18,2)" }
  becre: { from: BECRE, type: "decimal(18,2)" }
  obnetdeb: { from: OBNETDEB, type: "decimal(18,2)" }
  obnetcre: { from: OBNETCRE, type: "decimal(18,2)" }
  sd: { from: SD, type: "decimal(18,2)" }
  sc: { from: SC, type: "decimal(18,2)" }
checks:
  - { unique: [exercice, ident, compte] }
  - name: identité DGFiP
    identity: { left: sd - sc, right: (bedeb - becre) + (obnetdeb - obnetcre) }
  - { relationship: { column: code_insee, to: ref.c.code } }
  - { expression: "compte <> '6068'", severity: warn }
  - { not_null: [code_insee], error_if: "> 50%", warn_if: "> 0" }
target: { partition_by: [exercice], mode: replace_partitions }
"#,
    );
    let out = p.ok(&["refresh"]);
    assert!(out.contains("checks: 5/5 passed"), "{out}");

    // A duplicate key, a row breaking the identity and an unknown commune.
    let bad = "2024;21380185500015;38185;60611;0,00;0,00;20,00;0,00;20,00;0,00\n2024;21380185500015;38185;6411;0,00;0,00;50,00;0,00;49,00;0,00\n2024;21380185500015;99999;6068;0,00;0,00;1,00;0,00;1,00;0,00\n2024;21380185500015;;7011;0,00;0,00;0,00;3,00;0,00;3,00\n";
    p.write("data/b.csv", format!("{header}{good}{bad}"));
    let out = p.run(&["refresh"]);
    assert_eq!(out.status.code(), Some(1));
    let text = common::stdout(&out);
    assert!(text.contains("FAILED  finances.b"), "{text}");
    assert!(
        text.contains("3 check(s) failed, nothing committed"),
        "{text}"
    );
    assert!(text.contains("fail unique(exercice, ident, compte) on finances.b: 1 of 6 rows fail; e.g. {\"exercice\":2024,\"ident\":\"21380185500015\",\"compte\":\"60611\",\"occurrences\":2}"), "{text}");
    assert!(text.contains("fail identité DGFiP on finances.b: 1 of 6 rows fail; e.g. {\"left_value\":49.00,\"right_value\":50.00"), "{text}");
    assert!(
        text.contains("fail relationship(code_insee → ref.c.code) on finances.b: 1 of 6 rows fail")
            && text.contains("\"code_insee\":\"99999\""),
        "{text}"
    );
    // The lake keeps its previous version.
    assert_eq!(p.value("SELECT count(*) FROM finances.b"), "2");
    assert_eq!(
        p.value("SELECT count(*) FROM _ops.checks WHERE status = 'fail'"),
        "3"
    );
    // Warnings do not fail; thresholds in percent: 1 NULL code out of 4 rows is a warning, not an error.
    p.write("data/b.csv", format!("{header}{good}2024;21380185500015;38185;6068;0,00;0,00;1,00;0,00;1,00;0,00\n2024;21380185500015;;7011;0,00;0,00;0,00;3,00;0,00;3,00\n"));
    let out = p.ok(&["refresh"]);
    assert!(
        out.contains("warn expression(compte <> '6068') on finances.b: 1 of 4 rows fail"),
        "{out}"
    );
    assert!(
        out.contains("warn not_null(code_insee) on finances.b: 1 of 4 rows fail"),
        "{out}"
    );
    // `opencoll test` runs the same checks on the lake without refreshing.
    let out = p.ok(&["test", "finances.b"]);
    assert!(
        out.contains("5 checks: 3 passed, 2 warned, 0 failed"),
        "{out}"
    );
}

#[test]
fn schema_drift_fails_with_a_diff_or_evolves_by_adding_columns() {
    let p = Proj::empty(&["ref"]);
    p.write("data/c_2023.csv", "code,pop,nom\n01001,10,A\n");
    p.write("data/c_2024.csv", "code,pop,nom\n01001,11,A\n");
    // `cols`: the declared columns after `an`, one line each (without the last line's end).
    let yaml = |cols: &str, policy: &str| {
        fixture(
            "pipelines/ref_c_schema_change.yaml",
            &[("COLUMNS", cols), ("POLICY", policy)],
        )
    };
    p.write(
        "pipelines/c.yaml",
        yaml(
            "  code: { from: code, type: code }\n  pop: { from: pop, type: int32 }",
            "fail",
        ),
    );
    p.ok(&["refresh"]);
    // Only 2024 is refreshed, with one more column: the 2023 rows would lack it.
    p.write("pipelines/c.yaml", yaml("  code: { from: code, type: code }\n  pop: { from: pop, type: int32 }\n  nom: { from: nom }", "fail").replace("[2023, 2024]", "[2024]"));
    let out = p.run(&["refresh"]);
    assert_eq!(out.status.code(), Some(1));
    let text = common::stdout(&out);
    assert!(
        text.contains("on_schema_change: fail")
            && text.contains("added:   nom Utf8")
            && text.contains("missing: -"),
        "{text}"
    );
    assert_eq!(p.value("SELECT count(*) FROM ref.c"), "2");
    // Evolve: the column is added, older partitions read it as NULL.
    p.write("pipelines/c.yaml", yaml("  code: { from: code, type: code }\n  pop: { from: pop, type: int32 }\n  nom: { from: nom }", "evolve").replace("[2023, 2024]", "[2024]"));
    p.ok(&["refresh"]);
    assert_eq!(
        p.rows("SELECT an, pop, nom FROM ref.c ORDER BY an"),
        vec!["2023,10,", "2024,11,A"]
    );
    // A widening evolves (older partitions are read through the cast); a narrowing does not.
    p.write("pipelines/c.yaml", yaml("  code: { from: code, type: code }\n  pop: { from: pop, type: int64 }\n  nom: { from: nom }", "evolve").replace("[2023, 2024]", "[2024]"));
    p.ok(&["refresh"]);
    assert_eq!(
        p.rows("SELECT an, pop, arrow_typeof(pop) FROM ref.c ORDER BY an"),
        vec!["2023,10,Int64", "2024,11,Int64"]
    );
    p.write("pipelines/c.yaml", yaml("  code: { from: code, type: code }\n  pop: { from: pop, type: string }\n  nom: { from: nom }", "evolve").replace("[2023, 2024]", "[2024]"));
    let text = common::stdout(&p.run(&["refresh"]));
    assert!(
        text.contains("retyped columns cannot evolve") && text.contains("pop Int64 → Utf8"),
        "{text}"
    );
    // with `fail`, the advice for a retyped column is the one that works
    p.write("pipelines/c.yaml", yaml("  code: { from: code, type: code }\n  pop: { from: pop, type: string }\n  nom: { from: nom }", "fail").replace("[2023, 2024]", "[2024]"));
    let text = common::stdout(&p.run(&["refresh"]));
    assert!(
        text.contains("use `mode: replace` to rebuild the table (a retyped column cannot evolve)")
            && !text.contains("set `on_schema_change: evolve`"),
        "{text}"
    );
}

#[test]
fn two_refreshes_of_one_table_do_not_interleave() {
    let p = Proj::empty(&["ref"]);
    // Rows enough for a refresh to hold the lock for a second in a debug build.
    let mut big = String::from("code,pop\n");
    for i in 0..2_000_000 {
        big.push_str(&format!("{:05},{}\n", i % 100_000, i % 97));
    }
    p.write("data/a.csv", &big);
    p.write("pipelines/a.yaml", "name: ref.a\nsource: { path: data/a.csv }\ncolumns:\n  code: { from: code, type: code }\n  pop: { from: pop, type: int64 }\n");
    let bin = env!("CARGO_BIN_EXE_opencoll");
    let spawn = |extra: &[&str]| {
        std::process::Command::new(bin)
            .arg("--project")
            .arg(p.path())
            .args(["refresh", "--full"])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // A refresh, once it holds the table's lock: the next one then meets it. (A fixed pause
    // raced the first refresh, which came to take less than the pause.)
    let lock = p.path().join("data/lake/_locks/ref.a.json");
    let spawn_holding = |extra: &[&str]| {
        let child = spawn(extra);
        let start = std::time::Instant::now();
        while !lock.exists() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(60),
                "the refresh never took its lock"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        child
    };
    let first = spawn_holding(&[]);
    let second = spawn(&[]);
    let (a, b) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    let outs = [common::stdout(&a), common::stdout(&b)];
    assert_eq!(
        outs.iter().filter(|o| o.contains("ok      ref.a")).count(),
        1,
        "{outs:?}"
    );
    assert!(
        outs.iter().any(|o| o.contains("is being refreshed by run")),
        "{outs:?}"
    );
    assert_eq!(p.value("SELECT count(*) FROM ref.a"), "2000000");

    // With --wait, the second one waits for the first and then runs.
    let first = spawn_holding(&[]);
    let second = spawn(&["--wait", "120"]);
    let (a, b) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    assert!(
        a.status.success() && b.status.success(),
        "{} {}",
        common::stdout(&a),
        common::stdout(&b)
    );
    assert_eq!(p.value("SELECT count(*) FROM ref.a"), "2000000");
    assert_eq!(
        p.value("SELECT count(*) FROM _ops.runs WHERE status = 'success'"),
        "3"
    );

    // A lock left by a process that no longer exists is taken over.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    p.write(
        "data/lake/_locks/ref.a.json",
        format!("{{\"run_id\":\"dead\",\"pid\":4000000,\"host\":\"{}\",\"since\":\"2026-01-01T00:00:00Z\"}}", host.trim()),
    );
    p.ok(&["refresh", "--full"]);
    assert!(!p.path().join("data/lake/_locks/ref.a.json").exists());
}

#[test]
fn serve_schedule_runs_due_pipelines_and_stops_cleanly_on_sigterm() {
    let p = Proj::empty(&["ref"]);
    p.write("data/a.csv", "code,n\n01001,1\n");
    // Every second (6-field cron with seconds).
    p.write(
        "pipelines/a.yaml",
        "name: ref.a\nschedule: \"* * * * * *\"\nsource: { path: data/a.csv }\ncolumns:\n  code: { from: code, type: code }\n  n: { from: n, type: int64 }\n",
    );
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_opencoll"))
        .arg("--project")
        .arg(p.path())
        .args(["serve", "--schedule"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let wait_for = |sql: &str, want: &str| {
        for _ in 0..100 {
            let out = p.run(&["sql", "--format", "csv", sql]);
            if String::from_utf8_lossy(&out.stdout).lines().nth(1) == Some(want) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        panic!("timed out waiting for {sql} = {want}");
    };
    wait_for(
        "SELECT count(*) FROM _ops.runs WHERE status = 'success'",
        "1",
    );
    // A changed source is picked up by the next due run; unchanged seconds are skipped.
    p.write("data/a.csv", "code,n\n01001,2\n");
    wait_for("SELECT sum(n) FROM ref.a", "2");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    unsafe { libc_kill(child.id() as i32, 15) };
    let out = child.wait_with_output().unwrap();
    let text = common::stdout(&out);
    assert!(out.status.success(), "{text}{}", common::stderr(&out));
    assert!(text.contains("scheduled ref.a: next run"), "{text}");
    assert!(text.contains("ok      ref.a (never refreshed)"), "{text}");
    assert!(
        text.contains("ok      ref.a (source changed: data/a.csv)"),
        "{text}"
    );
    assert!(text.contains("skip    ref.a: unchanged"), "{text}");
    assert!(text.contains("stopping"), "{text}");
    assert_eq!(
        p.value("SELECT count(*) FROM _ops.runs WHERE status = 'success'"),
        "2"
    );
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn serve_schedule_retries_transient_failures_with_backoff() {
    let p = Proj::empty(&["ref"]);
    p.write("data/a.csv", "code,n\n01001,1\n");
    p.write(
        "pipelines/a.yaml",
        "name: ref.a\nschedule: \"* * * * * *\"\nsource: { path: data/a.csv }\ncolumns:\n  code: { from: code, type: code }\n",
    );
    // The table is locked by a live process (this test): the scheduled run must wait and retry.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    p.write(
        "data/lake/_locks/ref.a.json",
        format!("{{\"run_id\":\"other\",\"pid\":{},\"host\":\"{}\",\"since\":\"2026-01-01T00:00:00Z\"}}", std::process::id(), host.trim()),
    );
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_opencoll"))
        .arg("--project")
        .arg(p.path())
        .args(["serve", "--schedule", "--retries", "5", "--backoff", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    std::fs::remove_file(p.path().join("data/lake/_locks/ref.a.json")).unwrap();
    for _ in 0..50 {
        if p.path().join("data/lake/ref/a/_delta_log").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    unsafe { libc_kill(child.id() as i32, 15) };
    let out = child.wait_with_output().unwrap();
    let text = common::stdout(&out);
    assert!(
        text.contains("retry   ref.a in 1s") && text.contains("is being refreshed by run other"),
        "{text}"
    );
    assert!(text.contains("ok      ref.a"), "{text}");
    assert_eq!(p.value("SELECT count(*) FROM ref.a"), "1");
}

#[test]
fn independent_pipelines_run_in_parallel_and_dependents_after() {
    let p = Proj::empty(&["ref"]);
    let mut big = String::from("code,n\n");
    for i in 0..300_000 {
        big.push_str(&format!("{:05},{}\n", i % 100_000, i % 7));
    }
    for t in ["a", "b"] {
        p.write(&format!("data/{t}.csv"), &big);
        p.write(
            &format!("pipelines/{t}.yaml"),
            fixture("pipelines/ref_table.yaml", &[("TABLE", t)]),
        );
    }
    p.write("data/c.csv", "code\n00001\n");
    p.write(
        "pipelines/c.yaml",
        "name: ref.c\nsource: { path: data/c.csv }\ncolumns:\n  code: { from: code, type: code }\ntransform:\n  - sql: SELECT i.code, (SELECT count(*) FROM ref.a) + (SELECT count(*) FROM ref.b) AS total FROM input i\n",
    );
    p.ok(&["refresh"]);
    // ref.a and ref.b overlap in time; ref.c starts after both finished.
    assert_eq!(
        p.value(
            "SELECT a.started_at < b.finished_at AND b.started_at < a.finished_at FROM _ops.runs a, _ops.runs b \
             WHERE a.pipeline = 'ref.a' AND b.pipeline = 'ref.b'"
        ),
        "true"
    );
    assert_eq!(
        p.value(
            "SELECT c.started_at >= max(x.finished_at) FROM _ops.runs c, _ops.runs x \
             WHERE c.pipeline = 'ref.c' AND x.pipeline IN ('ref.a', 'ref.b') GROUP BY c.started_at"
        ),
        "true"
    );
    assert_eq!(p.value("SELECT total FROM ref.c"), "600000");
}

/// `opencoll sql` with expressions deep enough to exhaust a stack: answered, or refused with
/// advice (exit 1), never a crash (a signal).
#[test]
fn deep_queries_in_opencoll_sql_are_answered_or_refused() {
    let p = Proj::empty(&["ref"]);
    let sum = |n: usize| format!("SELECT {} AS total", vec!["1"; n].join("+"));
    assert_eq!(
        p.ok(&["sql", "--format", "csv", &sum(2000)]),
        "total\n2000\n"
    );
    for q in [
        sum(5000),
        format!("SELECT {}1{}", "(".repeat(3000), ")".repeat(3000)),
    ] {
        let out = p.run(&["sql", &q]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("nests expressions"),
            "{}",
            stderr(&out)
        );
    }
    let out = p.run(&[
        "sql",
        &format!("SELECT {}1{}", "(".repeat(100), ")".repeat(100)),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nests parentheses"),
        "{}",
        stderr(&out)
    );
}
