//! Golden outputs of the views of `sql/` on the committed samples. Expected outputs are in
//! tests/golden/<view>.csv (plain text, so a change is reviewed as a diff: sorted rows,
//! header first). After an intended change:
//!     OPENCOLL_UPDATE_GOLDEN=1 cargo test --test golden
//! A mismatch prints the rows that disappeared (-) and appeared (+).

mod common;

use std::path::PathBuf;

use common::Proj;

fn views() -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sql");
    let mut out = Vec::new();
    for d in std::fs::read_dir(&root).unwrap().flatten() {
        for f in std::fs::read_dir(d.path()).unwrap().flatten() {
            let name = f
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".sql")
                .to_string();
            out.push(format!("{}.{name}", d.file_name().to_string_lossy()));
        }
    }
    out.sort();
    out
}

fn sorted_csv(p: &Proj, view: &str) -> Vec<String> {
    let out = p.ok(&["sql", "--format", "csv", &format!("SELECT * FROM {view}")]);
    let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
    let header = lines.remove(0);
    lines.sort();
    lines.insert(0, header);
    lines
}

#[test]
fn views_match_their_golden_outputs() {
    let p = Proj::samples();
    p.ok(&["refresh"]);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("OPENCOLL_UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for view in views() {
        let actual = sorted_csv(&p, &view);
        let path = dir.join(format!("{view}.csv"));
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, actual.join("\n") + "\n").unwrap();
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            failures.push(format!(
                "{view}: no golden file {} (run with OPENCOLL_UPDATE_GOLDEN=1)",
                path.display()
            ));
            continue;
        };
        let expected: Vec<String> = text.lines().map(str::to_string).collect();
        if expected != actual {
            let missing: Vec<&String> = expected
                .iter()
                .filter(|l| !actual.contains(l))
                .take(10)
                .collect();
            let extra: Vec<&String> = actual
                .iter()
                .filter(|l| !expected.contains(l))
                .take(10)
                .collect();
            let mut msg = format!(
                "{view}: {} expected rows, {} actual rows\n",
                expected.len(),
                actual.len()
            );
            for l in missing {
                msg.push_str(&format!("  - {l}\n"));
            }
            for l in extra {
                msg.push_str(&format!("  + {l}\n"));
            }
            failures.push(msg);
        }
    }
    assert!(
        failures.is_empty(),
        "golden outputs differ (OPENCOLL_UPDATE_GOLDEN=1 to accept):\n{}",
        failures.join("\n")
    );
}
