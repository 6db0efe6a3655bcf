//! Specs as a careless user or a broken editor leaves them (issue 20): the project's real
//! pipelines and catalog mutated (bytes cut, YAML punctuation inserted, lines doubled or swapped, values
//! replaced) and arbitrary text as a pipeline file. Loading and validating must answer with
//! diagnostics that name the file, never panic, and never accept a file it cannot read.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use crate::project::Project;

/// A copy of the repository's catalog, pipelines and views, and its YAML files with their
/// original text. Each test owns its copy, so the folder is removed when the test ends (a copy
/// kept in a static would never be dropped and would stay in the temporary folder).
fn project() -> (tempfile::TempDir, Vec<(PathBuf, String)>) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo.join("catalog.yaml"), dir.path().join("catalog.yaml")).unwrap();
    let mut files = Vec::new();
    for sub in ["pipelines", "sql"] {
        copy(&repo.join(sub), &dir.path().join(sub), &mut files);
    }
    files.retain(|(p, _)| p.extension().is_some_and(|e| e == "yaml"));
    let catalog = dir.path().join("catalog.yaml");
    files.push((catalog.clone(), std::fs::read_to_string(&catalog).unwrap()));
    files.sort();
    assert!(files.len() > 10, "{} pipelines", files.len());
    (dir, files)
}

fn copy(from: &Path, to: &Path, files: &mut Vec<(PathBuf, String)>) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &dest, files);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
            files.push((dest, std::fs::read_to_string(e.path()).unwrap_or_default()));
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Cut(usize, usize),
    Insert(usize, &'static str),
    DoubleLine(usize),
    SwapLines(usize, usize),
    Value(usize, &'static str),
}

const PUNCTUATION: &[&str] = &[
    ": ", "{", "}", "[", "]", "- ", "#", "&a ", "*a", "!!str ", "|\n", ">\n", "'", "\"", "%", "@",
    "`", "\t", "\n  ", "\n- ", "~", "<<: *a\n", "? ", "\u{feff}", "\0", ",", "\n\n\n", "é", "\\",
];
const VALUES: &[&str] = &[
    "",
    "null",
    "-1",
    "1e999",
    "[]",
    "{}",
    "\"x\"",
    "decimal(18,2)",
    "999999999999999999999",
    "{ from: x }",
    "[a, b",
    "'",
    "yes",
    "0x10",
    ".nan",
    "\"${X}\"",
    "/[/",
    "2A004",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(a, n)| Mutation::Cut(a, n)),
        (any::<usize>(), prop::sample::select(PUNCTUATION))
            .prop_map(|(a, s)| Mutation::Insert(a, s)),
        any::<usize>().prop_map(Mutation::DoubleLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), prop::sample::select(VALUES)).prop_map(|(a, v)| Mutation::Value(a, v)),
    ]
}

/// The nearest char boundary at or before `at % (len + 1)`.
fn boundary(text: &str, at: usize) -> usize {
    let mut i = at % (text.len() + 1);
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, m: &Mutation) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let n = lines.len().max(1);
    match *m {
        Mutation::Cut(a, len) => {
            let a = boundary(text, a);
            let b = boundary(text, a + len.min(text.len() - a));
            [&text[..a], &text[b.max(a)..]].concat()
        }
        Mutation::Insert(a, s) => {
            let a = boundary(text, a);
            [&text[..a], s, &text[a..]].concat()
        }
        Mutation::DoubleLine(i) => {
            let mut l = lines.clone();
            if let Some(line) = lines.get(i % n) {
                l.insert(i % n, line);
            }
            l.concat()
        }
        Mutation::SwapLines(a, b) => {
            let mut l = lines.clone();
            if !l.is_empty() {
                l.swap(a % n, b % n);
            }
            l.concat()
        }
        Mutation::Value(i, v) => lines
            .iter()
            .enumerate()
            .map(|(k, line)| match line.split_once(": ") {
                Some((key, _)) if k == i % n => format!("{key}: {v}\n"),
                _ => line.to_string(),
            })
            .collect(),
    }
}

/// Loads and validates with `file` holding `text`; checks the answer's shape.
fn check(root: &Path, file: &Path, text: &str) -> Result<(), TestCaseError> {
    std::fs::write(file, text).unwrap();
    let diags = match Project::load(root) {
        Ok(p) => p.validate(),
        Err(d) => {
            let rel = file.strip_prefix(root).unwrap();
            // A file that cannot be read is named among the diagnostics.
            prop_assert!(
                d.0.iter()
                    .any(|x| x.file.ends_with(rel) || rel.ends_with(&x.file)),
                "{rel:?} not named in {d:?}"
            );
            d
        }
    };
    for d in &diags.0 {
        prop_assert!(!d.message.trim().is_empty(), "{d:?}");
        prop_assert!(!d.file.as_os_str().is_empty(), "{d:?}");
    }
    Ok(())
}

/// Runs `cases` generated cases of `strategy` through `test`; a failure panics with the
/// smallest failing input proptest found.
fn run<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        // where failures are kept and replayed first, as `proptest!` does
        // (proptest-regressions/mutations.txt)
        source_file: Some(file!()),
        ..ProptestConfig::default()
    });
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
}

#[test]
fn mutated_real_pipelines_get_diagnostics_never_a_panic() {
    let (dir, files) = project();
    let strategy = (any::<usize>(), prop::collection::vec(mutation(), 1..4));
    run(400, strategy, |(which, mutations)| {
        let (file, original) = &files[which % files.len()];
        let text = mutations.iter().fold(original.clone(), |t, m| apply(&t, m));
        let r = check(dir.path(), file, &text);
        std::fs::write(file, original).unwrap();
        r
    });
}

#[test]
fn arbitrary_text_as_a_pipeline_gets_diagnostics_never_a_panic() {
    let (dir, _) = project();
    let strategy = prop_oneof![
        any::<String>(),
        "(name|source|columns|path|csv|type|from|target|checks|vars|[a-z]{1,6}|: |\n|  |- |\\{|\\}|\\[|\\]|,|\"|'|#|&a|\\*a|[0-9]{1,4}){0,60}",
    ];
    let file = dir.path().join("pipelines/fuzz.yaml");
    run(400, strategy, |text| {
        let r = check(dir.path(), &file, &text);
        let _ = std::fs::remove_file(&file);
        r
    });
}
