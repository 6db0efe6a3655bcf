//! Real public files from `../shared/fixtures/real` (see its MANIFEST.md), read by pipelines
//! the way a user would write them. These tests need the folder and fail without it.

mod common;

use common::{Proj, fixture, shared};

/// A pipeline of `tests/fixtures/pipelines/real_fixtures`, reading from the real fixtures.
fn pipeline(name: &str) -> String {
    let real = shared().to_string_lossy().into_owned();
    fixture(&format!("real_fixtures/{name}"), &[("REAL", &real)])
}

#[test]
fn legacy_cog_2017_tab_windows_1252_crlf() {
    let p = Proj::empty(&["ref"]);
    p.write("pipelines/cog2017.yaml", pipeline("cog_2017.yaml"));
    let out = p.ok(&["refresh"]);
    assert!(
        out.contains("39929 read, 39929 written, 0 rejected"),
        "{out}"
    );
    assert_eq!(p.value("SELECT count(*) FROM ref.cog_2017"), "39929");
    // Œ is 0x8C in windows-1252 (it does not exist in ISO-8859-1).
    assert_eq!(
        p.rows(
            "SELECT code FROM ref.cog_2017 WHERE nccenr = 'Œuilly' AND actual = 1 ORDER BY code"
        ),
        vec!["02565", "51410"]
    );
    assert_eq!(
        p.value("SELECT nccenr FROM ref.cog_2017 WHERE code = '01001'"),
        "Abergement-Clémenciat"
    );
    assert_eq!(
        p.value("SELECT count(*) FROM ref.cog_2017 WHERE nccenr LIKE '%\r%' OR artmin LIKE '%\r%'"),
        "0"
    );
    assert_eq!(
        p.value("SELECT count(*) FROM ref.cog_2017 WHERE code = '2A004' AND actual = 1"),
        "1"
    );
}

#[test]
fn ofgl_guadeloupe_export_bom_and_year_in_headers() {
    let p = Proj::empty(&["ofgl"]);
    p.write(
        "pipelines/ofgl.yaml",
        pipeline("ofgl_agregats_communes.yaml"),
    );
    let out = p.ok(&["refresh"]);
    assert!(out.contains("2505 read, 2505 written, 0 rejected"), "{out}");
    assert_eq!(
        p.value("SELECT count(DISTINCT code_insee) FROM ofgl.agregats_communes"),
        "32"
    );
    assert_eq!(p.value("SELECT count(*) FROM ofgl.agregats_communes WHERE code_insee NOT LIKE '971__' OR NOT outre_mer"), "0");
    assert_eq!(
        p.value("SELECT nom FROM ofgl.agregats_communes WHERE code_insee = '97101' LIMIT 1"),
        "Les Abymes"
    );
    assert_eq!(
        p.value("SELECT count(DISTINCT agregat) FROM ofgl.agregats_communes"),
        "50"
    );
    // The BOM is not part of the first header: `Exercice` was found and typed.
    assert_eq!(
        p.value("SELECT min(exercice) || '-' || max(exercice) FROM ofgl.agregats_communes"),
        "2024-2024"
    );
}

#[test]
fn dgfip_2024_balance_sample_identity_holds() {
    let p = Proj::empty(&["finances"]);
    p.write("pipelines/bal.yaml", pipeline("balances_2024_sample.yaml"));
    p.ok(&["refresh"]);
    assert_eq!(
        p.value("SELECT count(*) FROM finances.balances_2024_sample"),
        "20"
    );
    assert_eq!(
        p.value("SELECT count(*) FROM finances.balances_2024_sample WHERE sd - sc = (bedeb - becre) + (obnetdeb - obnetcre) + (onbdeb - onbcre)"),
        "20"
    );
    assert_eq!(
        p.value(
            "SELECT DISTINCT code_insee FROM finances.balances_2024_sample WHERE lbudg = 'GRENOBLE'"
        ),
        "38185"
    );
    assert_eq!(
        p.value("SELECT count(*) FROM finances.balances_2024_sample WHERE code_insee IS NULL"),
        "0"
    );
}

#[test]
fn epci_compositions_2016_and_2017() {
    let p = Proj::empty(&["ref"]);
    p.write("pipelines/epci.yaml", pipeline("epci_composition.yaml"));
    p.ok(&["refresh"]);
    assert_eq!(
        p.rows("SELECT annee, count(DISTINCT siren), count(*) FROM ref.epci_composition GROUP BY annee ORDER BY annee"),
        vec!["2016,2063,35858", "2017,1267,35411"]
    );
    // Each EPCI's declared member count and population match its member rows.
    assert_eq!(
        p.value(
            "SELECT count(*) FROM (SELECT annee, siren, max(nb_com) AS nb, count(*) AS n, max(ptot) AS ptot, sum(ptot_com) AS s \
             FROM ref.epci_composition GROUP BY annee, siren) WHERE nb <> n OR ptot <> s"
        ),
        "0"
    );
}

#[test]
fn ofgl_identities_hold_on_the_guadeloupe_2024_export() {
    // Declared as data tests, the way an analyst would: row-level on the table, per budget on a view.
    let p = Proj::empty(&["ofgl"]);
    p.write("pipelines/ofgl.yaml", pipeline("ofgl_communes.yaml"));
    p.write(
        "sql/ofgl/budgets.sql",
        "SELECT siret_budget,
           sum(CASE WHEN agregat = 'Recettes totales' THEN montant END) AS recettes_totales,
           sum(CASE WHEN agregat = 'Recettes de fonctionnement' THEN montant END) AS rf,
           sum(CASE WHEN agregat = 'Recettes d''investissement' THEN montant END) AS ri,
           sum(CASE WHEN agregat = 'Dépenses de fonctionnement' THEN montant END) AS df,
           sum(CASE WHEN agregat = 'Epargne brute' THEN montant END) AS epargne_brute
         FROM ofgl.communes GROUP BY siret_budget",
    );
    let catalog = std::fs::read_to_string(p.path().join("catalog.yaml")).unwrap();
    p.write(
        "catalog.yaml",
        catalog + &fixture("real_fixtures/ofgl_budgets.catalog.yaml", &[]),
    );
    let out = p.ok(&["refresh"]);
    assert!(
        out.contains("2505 read, 2505 written, 0 rejected") && out.contains("checks: 3/3 passed"),
        "{out}"
    );
    let out = p.ok(&["test"]);
    assert!(
        out.contains("6 checks: 6 passed, 0 warned, 0 failed"),
        "{out}"
    );
    assert!(
        out.contains("pass    Recettes totales = RF + RI on ofgl.budgets: 0 of 56 rows fail"),
        "{out}"
    );
}

#[test]
fn dgfip_html_fiches_all_twenty_pages_into_one_long_table() {
    // Four layouts over 20 real pages (communes, groupements, départements and régions
    // 2008–2014), one pipeline per layout, one view that unions them, and the balances the
    // pages state checked as data tests.
    let p = Proj::empty(&["fiches"]);
    let layouts = [
        (
            "fiches_communes",
            "fiches.communes: 131 read, 131 written, 0 rejected",
        ),
        (
            "fiches_groupements",
            "fiches.groupements: 88 read, 88 written, 0 rejected",
        ),
        (
            "fiches_departements_regions",
            "fiches.departements_regions: 122 read, 122 written, 0 rejected",
        ),
        (
            "fiches_departements_regions_2008",
            "fiches.departements_regions_2008: 302 read, 302 written, 0 rejected",
        ),
    ];
    for (name, _) in layouts {
        p.write(
            &format!("pipelines/{name}.yaml"),
            pipeline(&format!("{name}.yaml")),
        );
    }
    for view in ["postes", "equilibres"] {
        p.write(
            &format!("sql/fiches/{view}.sql"),
            fixture(&format!("real_fixtures/fiches_{view}.sql"), &[]),
        );
    }
    let catalog = std::fs::read_to_string(p.path().join("catalog.yaml")).unwrap();
    p.write(
        "catalog.yaml",
        catalog + &fixture("real_fixtures/fiches.catalog.yaml", &[]),
    );
    let out = p.ok(&["refresh"]);
    for (_, line) in layouts {
        assert!(out.contains(line), "{out}");
    }
    let out = p.ok(&["test"]);
    assert!(
        out.contains("17 checks: 17 passed, 0 warned, 0 failed"),
        "{out}"
    );
    assert!(
        out.contains("pass    R = A - B on fiches.equilibres: 0 of 20 rows fail"),
        "{out}"
    );
    // every page is there, with the identity its text gives
    assert_eq!(
        p.rows(
            "SELECT niveau || ' ' || nom || ' ' || count(DISTINCT exercice) || ' ' || min(population)
             FROM fiches.postes GROUP BY niveau, nom ORDER BY niveau"
        ),
        vec![
            "commune ORLEANS 4 116256",
            "département AISNE 7 535489",
            "groupement CC MONTAGNE BOURBONNAISE 4 6843",
            "région BASSE-NORMANDIE 5 1422193",
        ]
    );
    // Orléans 2014, read from "177 973&nbsp;" and "44,37&nbsp;" in a windows-1252 page
    assert_eq!(
        p.value(
            "SELECT montant_keur || ' ' || euros_hab || ' ' || ratio_status FROM fiches.communes
             WHERE exercice = 2014 AND poste = 'TOTAL DES PRODUITS DE FONCTIONNEMENT = A'"
        ),
        "177973.00 1508.00 en % des produits"
    );
    assert_eq!(
        p.value(
            "SELECT ratio || ' ' || ratio_strate || ' ' || section FROM fiches.communes
             WHERE exercice = 2014 AND poste = 'dont : Impôts Locaux'"
        ),
        "44.37 41.58 OPERATIONS DE FONCTIONNEMENT"
    );
    // a row whose label gives its own population (the €/hab check uses it)
    assert_eq!(
        p.value(
            "SELECT population_poste FROM fiches.communes WHERE poste LIKE 'Potentiel fiscal%'"
        ),
        "115312"
    );
    // label-first layout (2008–2012) and a negative amount of a groupement
    assert_eq!(
        p.value(
            "SELECT montant_keur FROM fiches.departements_regions_2008
             WHERE fiche = 'department_2008' AND poste = 'Total des produits de fonctionnement = A'"
        ),
        "455303.00"
    );
    assert_eq!(
        p.value(
            "SELECT montant_keur FROM fiches.groupements
             WHERE exercice = 2014 AND poste = 'Reversement de fiscalité'"
        ),
        "-860.00"
    );
}

#[test]
fn html_tables_lists_a_fiche_as_a_pipeline_counts_it() {
    let dir = shared().join("dgfip/html-fiches-alize2");
    let run = |args: &[&str]| {
        common::run_ok(std::process::Command::new(env!("CARGO_BIN_EXE_opencoll")).args(args))
    };
    let page = dir.join("department_2013_account.html");
    let page = page.to_str().unwrap();
    let out = run(&["html", "tables", page, "--encoding", "windows-1252"]);
    assert!(out.contains(": 6 tables (windows-1252)"), "{out}");
    assert!(out.contains("table 5: 36 rows × 6 columns"), "{out}");
    assert!(
        out.contains(
            "  | 531 628 | 984 | 987 | TOTAL DES PRODUITS DE FONCTI | en % des produits | · |"
        ),
        "{out}"
    );
    let epci = dir.join("epci_2014_account.html");
    let text = run(&[
        "html",
        "tables",
        epci.to_str().unwrap(),
        "--encoding",
        "cp1252",
        "--text",
    ]);
    assert!(
        text.contains(
            "DEPARTEMENT : ALLIER\tGFP : CC MONTAGNE BOURBONNAISE\tPopulation : 6 897 habitants\n"
        ),
        "{text}"
    );
}

/// Every file under `dir`, recursively, sorted.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn infer_writes_a_pipeline_that_loads_every_real_file_without_a_reject() {
    // Every data file of the real fixtures (exports, JSON, workbooks, web pages, PDFs):
    // `opencoll infer` with no option, then validate and refresh the pipeline it wrote, as a
    // new user would.
    let files: Vec<std::path::PathBuf> = files_under(&shared())
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e != "md"))
        .collect();
    assert!(files.len() >= 55, "{files:?}");
    let ext = |e: &str| {
        files
            .iter()
            .filter(|f| f.extension().is_some_and(|x| x == e))
            .count()
    };
    assert!(
        ext("csv") >= 20 && ext("xlsx") >= 4 && ext("xls") == 2 && ext("html") == 20,
        "{files:?}"
    );
    assert!(ext("json") >= 5 && ext("pdf") == 3, "{files:?}");
    let p = Proj::empty(&["raw"]);
    let mut loaded = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_opencoll"))
            .args(["infer", f.to_str().unwrap(), "--name", &format!("raw.t{i}")])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        if f.ends_with("methodo_commune_2013.pdf") {
            // its fonts have no Unicode mapping (MANIFEST.md): refused, saying what to do
            assert!(
                !out.status.success()
                    && err.contains("without a Unicode mapping")
                    && err.contains("OCR"),
                "{err}"
            );
            continue;
        }
        assert!(out.status.success(), "{}: {err}", f.display());
        // library remarks (pdf_oxide on fonts) stay out of the default output
        assert!(err.is_empty(), "{}: {err}", f.display());
        p.write(
            &format!("pipelines/t{i}.yaml"),
            String::from_utf8(out.stdout).unwrap(),
        );
        loaded.push(i);
    }
    p.ok(&["validate"]);
    let out = p.ok(&["refresh"]);
    for i in &loaded {
        let f = &files[*i];
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("ok      raw.t{i}:")))
            .unwrap_or_else(|| panic!("{} did not load:\n{out}", f.display()));
        let read: u64 = line.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert!(
            read > 0 && line.contains(&format!("{read} read, {read} written, 0 rejected")),
            "{}: {line}",
            f.display()
        );
    }
    let at = |name: &str| {
        files
            .iter()
            .position(|f| f.ends_with(name))
            .unwrap_or_else(|| panic!("no {name}"))
    };
    // what the inference chose on files whose traps are known (DOMAIN.md, MANIFEST.md); `{t}`
    // is the file's table
    let label = "communes_de_plus_de_100_000_hab_appartenant_a_un_groupement_fiscalise_fpu";
    for (file, query, expected) in [
        // the COG 2017 in windows-1252: Œ is 0x8C there (not in ISO-8859-1)
        (
            "France2017.txt",
            "SELECT nccenr FROM {t} WHERE dep = '51' AND com = '410'",
            "Œuilly",
        ),
        // amounts written as binary floats: cents, exact; codes keep their zeros
        (
            "ofgl-base-communes_2024_dep971.csv",
            "SELECT arrow_typeof(montant) FROM {t} LIMIT 1",
            "\"Decimal128(18, 2)\"",
        ),
        (
            "ofgl-base-communes_2024_dep971.csv",
            "SELECT code_insee_2024_commune FROM {t} ORDER BY 1 LIMIT 1",
            "97101",
        ),
        // the DGCL's EPCI workbook: 34 941 member rows, SIRENs stored as numbers read as codes
        ("epcicom2023.xlsx", "SELECT count(*) FROM {t}", "34941"),
        (
            "epcicom2023.xlsx",
            "SELECT count(DISTINCT siren) || ' ' || min(length(siren_membre)) || ' ' || max(length(siren_membre)) FROM {t}",
            "1255 9 9",
        ),
        // a workbook whose first sheet is a title block: the data sheet is chosen
        (
            "projets_dotations_investissement_2019.xlsx",
            "SELECT count(*) FROM {t}",
            "24811",
        ),
        // a DGFiP fiche (Orléans 2013, windows-1252 without a declaration): the table under
        // the title rows, French numbers, the section rows kept as a column
        (
            "commune_2013_account.html",
            "SELECT section || ' | ' || en_milliers_d_euros || ' | ' || euros_par_habitant FROM {t} WHERE {label} LIKE 'TOTAL DES PRODUITS DE FONCTIONNEMENT%'",
            "OPERATIONS DE FONCTIONNEMENT | 180447 | 1531",
        ),
        (
            "commune_2013_account.html",
            "SELECT CAST(moyenne_de_la_strate_2 AS VARCHAR) FROM {t} WHERE {label} LIKE 'dont : Impôts Locaux%'",
            "40.86",
        ),
        // the COG package's EPCI file: one row per EPCI, its code a 9-digit code
        (
            "decoupage-administratif-6.0.0/epci.json",
            "SELECT count(*) || ' ' || min(length(code)) || ' ' || max(length(code)) || ' ' || min(code) FROM {t}",
            "1255 9 9 200000172",
        ),
    ] {
        let t = format!("raw.t{}", at(file));
        let sql = query.replace("{t}", &t).replace("{label}", label);
        assert_eq!(p.value(&sql), expected, "{file}: {sql}");
    }
}

/// Issue 20: the real files of `../shared`, damaged (bytes flipped, or cut short) with a fixed
/// seed, read through the commands that take a file alone (`pdf tables` for the PDFs of the
/// peers' corpus, `html tables` for the DGFiP fiches, `infer` for every file) and through a
/// refresh for the workbooks: every run ends within a minute, with success or an error that
/// names the file, never a panic.
#[test]
fn damaged_real_files_never_panic_nor_hang() {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    // (`shared()` is the real fixtures' folder; the PDFs are in the corpus beside it)
    let mut walk = vec![shared(), shared().join("../../corpus/pdf-peers")];
    while let Some(d) = walk.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk.push(p);
            } else if let Some(ext) = p.extension().and_then(|x| x.to_str())
                && ["pdf", "html", "xlsx", "xls", "json", "csv", "txt"].contains(&ext)
            {
                files.push(p);
            }
        }
    }
    files.sort();
    // Every PDF, page and workbook; one CSV or text file in four (they share one reader).
    let mut n = 0;
    files.retain(|p| {
        let csv = matches!(p.extension().and_then(|x| x.to_str()), Some("csv" | "txt"));
        n += usize::from(csv);
        !csv || n % 4 == 1
    });
    assert!(files.len() > 60, "{} files", files.len());
    let dir = tempfile::tempdir().unwrap();
    let mut ran = 0;
    for (i, file) in files.iter().enumerate() {
        let ext = file.extension().unwrap().to_str().unwrap().to_string();
        let mut bytes = std::fs::read(file).unwrap();
        if bytes.is_empty() {
            continue;
        }
        if i % 2 == 0 {
            for _ in 0..8 {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] = next() as u8;
            }
        } else {
            bytes.truncate((next() % bytes.len() as u64) as usize);
        }
        let name = format!("damaged{i}.{ext}");
        let path = dir.path().join(&name);
        std::fs::write(&path, &bytes).unwrap();
        if ext != "csv" && ext != "txt" {
            // infer reads every format (CSV and text below)
            ran += 1;
            let out = run_within(
                std::process::Command::new(env!("CARGO_BIN_EXE_opencoll"))
                    .arg("infer")
                    .arg(&path),
                &name,
            );
            assert_answered(&out, &name, &bytes);
        }
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_opencoll"));
        match ext.as_str() {
            "pdf" => cmd
                .args(["pdf", "tables", "--out"])
                .arg(dir.path().join("out"))
                .arg(&path),
            "html" => cmd.args(["html", "tables"]).arg(&path),
            "csv" | "txt" | "json" => cmd.arg("infer").arg(&path),
            _ => {
                let p = Proj::empty(&["t"]);
                std::fs::copy(&path, p.path().join(&name)).unwrap();
                p.write(
                    "pipelines/w.yaml",
                    format!("name: t.w\nsource: {{ path: {name} }}\ncolumns:\n  a: {{ from: \"/.*/\" }}\n"),
                );
                ran += 1;
                let out = run_within(
                    std::process::Command::new(env!("CARGO_BIN_EXE_opencoll"))
                        .arg("--project")
                        .arg(p.path())
                        .arg("refresh"),
                    &name,
                );
                assert_answered(&out, &name, &bytes);
                continue;
            }
        };
        ran += 1;
        let out = run_within(&mut cmd, &name);
        assert_answered(&out, &name, &bytes);
    }
    assert!(ran > 120, "{ran} damaged files read");
}

/// Runs `cmd`, killing it after a minute (a hang fails the test).
fn run_within(cmd: &mut std::process::Command, name: &str) -> std::process::Output {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            panic!("{name}: still running after 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn assert_answered(out: &std::process::Output, name: &str, bytes: &[u8]) {
    // (a refresh reports a failed pipeline on standard output)
    let err =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let code = out.status.code();
    assert!(
        matches!(code, Some(0..=2)) && !err.contains("panicked"),
        "{name} ({} bytes): exit {code:?}\n{err}",
        bytes.len()
    );
    if code != Some(0) {
        assert!(
            err.contains(name),
            "{name}: the error does not name the file:\n{err}"
        );
    }
}
