//! `oc-gen` — deterministic generator of SYNTHETIC test / benchmark data.
//!
//! ```text
//! oc-gen balances --geo data/samples/geo/communes_2026.csv.gz --departements 2A,90,971 \
//!        --exercices 2023,2024 --out data/samples/dgfip [--niveau communes|gfp|departements|regions|all]
//!        [--accounts N] [--rows N] [--seed S]
//! oc-gen ofgl --balances data/samples/dgfip --geo data/samples/geo \
//!        --definitions data/reference/agregats.csv --out data/samples/ofgl
//! oc-gen publication --ofgl data/samples/ofgl --out data/samples/publications/comptes_regions.xlsx
//! oc-gen sheet --rows 200000 --out /tmp/bench.xlsx
//! ```
//!
//! `balances` writes `balances_<niveau>_<exercice>.csv` per exercice in the DGFiP bulk format;
//! `ofgl` computes OFGL-layout exports from them. Same arguments → byte-identical files.

mod accounts;
mod balances;
mod geo;
mod json;
mod levels;
mod ofgl;
mod rng;
mod workbook;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use balances::{Commune, Generator, Options, Stats};
use geo::{Geo, GeoPaths};
use levels::{Level, LevelGenerator};

const DEFAULT_SEED: u64 = 20260101;
const DEFAULT_ACCOUNTS: usize = 30;
const DEFAULT_ACCOUNTS_WITH_ROWS: usize = 300;

const USAGE: &str = "\
oc-gen — deterministic generator of SYNTHETIC DGFiP balances comptables and OFGL exports

USAGE:
  oc-gen balances --geo <communes.csv[.gz]> --departements <LIST|all> --exercices <LIST>
                  --out <DIR> [--niveau communes|gfp|departements|regions|all]
                  [--accounts N] [--rows N] [--seed S]
  oc-gen ofgl --balances <DIR> --geo <DIR> --definitions <agregats.csv> --out <DIR>
              [--communes-departements <LIST|all>] [--millesime 2026]
  oc-gen publication --ofgl <DIR> --out <FILE.xlsx>
  oc-gen sheet --rows N --out <FILE.xlsx>

publication: a DGCL-style workbook (title rows, 2-row merged header, years as columns with a
  provisional year, footnotes, a secret cell, subtotals, sheets `Édition 2024` and
  `Édition 2025`) from <DIR>/ofgl-base-regions-consolidee_{2023,2024}.csv
sheet: a flat N × 15 sheet (benchmark input), written in constant memory

balances:
  --geo           geography file written by scripts/derive_geography.py
                  (e.g. data/samples/geo/communes_2026.csv.gz; needs the siren column). The
                  other levels also read its siblings epci_<m>.json.gz, departements_<m>.json.gz,
                  regions_<m>.json.gz and collectivites-siren.csv
  --departements  comma-separated département codes as in the geo file (2A,90,971), or `all`
                  (every commune-actuelle with a SIREN in metropolitan France and 971–976)
  --exercices     comma-separated years, one output file each: balances_<niveau>_<year>.csv
  --out           output directory (created if missing)
  --niveau        communes (default), gfp (EPCI à fiscalité propre with a member commune in
                  the départements), departements (CATEG DEPT), regions (REG + CTU), or all
  --accounts      communes only: accounts per budget (default 30; 300 with --rows; max ~330)
  --rows          communes only: write exactly N data rows per file, cycling over the communes
                  and adding budgets annexes on each further pass (benchmarks)
  --seed          RNG seed (default 20260101)

ofgl:
  --balances      directory holding balances_<niveau>_<exercice>.csv (every one found is used)
  --geo           directory holding communes_<m>.csv.gz, epci_<m>.json.gz,
                  departements_<m>.json.gz, regions_<m>.json.gz, collectivites-siren.csv
  --definitions   data/reference/agregats.csv (only the OFGL rows, exercice_min 2012, are used)
  --out           output directory
  --communes-departements
                  communes files only: keep the communes of these départements (default all;
                  the committed sample uses 971 to stay small)
  --millesime     geography vintage of the file names (default 2026)
";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Niveau {
    Communes,
    Level(Level),
}

struct Args {
    geo: PathBuf,
    departements: Option<Vec<String>>,
    exercices: Vec<u16>,
    out: PathBuf,
    niveaux: Vec<Niveau>,
    accounts: Option<usize>,
    rows: Option<u64>,
    seed: u64,
}

struct OfglArgs {
    balances: PathBuf,
    geo: PathBuf,
    definitions: PathBuf,
    out: PathBuf,
    communes_departements: Option<Vec<String>>,
    millesime: String,
}

enum Command {
    Balances(Args),
    Ofgl(OfglArgs),
    Publication { ofgl: PathBuf, out: PathBuf },
    Sheet { rows: u32, out: PathBuf },
}

fn parse_workbook(kind: &str, argv: &[String]) -> Result<Command, String> {
    let (mut ofgl, mut out, mut rows) = (None, None, None);
    for (k, v) in flags(argv)? {
        match k.as_str() {
            "--ofgl" if kind == "publication" => ofgl = Some(PathBuf::from(v)),
            "--rows" if kind == "sheet" => {
                rows = Some(
                    v.parse::<u32>()
                        .map_err(|_| format!("--rows: bad number {v:?}"))?,
                )
            }
            "--out" => out = Some(PathBuf::from(v)),
            other => return Err(format!("{kind}: unknown flag {other}")),
        }
    }
    let out = out.ok_or("--out is required")?;
    Ok(match kind {
        "publication" => Command::Publication {
            ofgl: ofgl.ok_or("--ofgl is required")?,
            out,
        },
        _ => Command::Sheet {
            rows: rows.ok_or("--rows is required")?,
            out,
        },
    })
}

/// Splits `--flag value` / `--flag=value` pairs.
fn flags(argv: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut it = argv.iter();
    let mut out = Vec::new();
    while let Some(arg) = it.next() {
        if arg == "-h" || arg == "--help" {
            return Err(String::new());
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if !flag.starts_with("--") {
            return Err(format!("unexpected argument {arg:?}"));
        }
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))?,
        };
        out.push((flag, value));
    }
    Ok(out)
}

fn parse_args(argv: &[String]) -> Result<Command, String> {
    match argv.first().map(String::as_str) {
        Some("balances") => parse_balances(&argv[1..]).map(Command::Balances),
        Some("ofgl") => parse_ofgl(&argv[1..]).map(Command::Ofgl),
        Some(k @ ("publication" | "sheet")) => parse_workbook(k, &argv[1..]),
        Some("-h" | "--help" | "help") | None => Err(String::new()),
        Some(other) => Err(format!(
            "unknown command {other:?} (expected `balances`, `ofgl`, `publication` or `sheet`)"
        )),
    }
}

fn parse_ofgl(argv: &[String]) -> Result<OfglArgs, String> {
    let (mut balances, mut geo, mut definitions, mut out) = (None, None, None, None);
    let mut millesime = "2026".to_string();
    let mut communes_departements = None;
    for (flag, v) in flags(argv)? {
        match flag.as_str() {
            "--balances" => balances = Some(PathBuf::from(v)),
            "--geo" => geo = Some(PathBuf::from(v)),
            "--definitions" => definitions = Some(PathBuf::from(v)),
            "--out" => out = Some(PathBuf::from(v)),
            "--millesime" => millesime = v,
            "--communes-departements" => {
                communes_departements = (!v.eq_ignore_ascii_case("all")).then(|| {
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
            }
            _ => return Err(format!("unknown option {flag:?}")),
        }
    }
    Ok(OfglArgs {
        balances: balances.ok_or("--balances is required")?,
        geo: geo.ok_or("--geo is required")?,
        definitions: definitions.ok_or("--definitions is required")?,
        out: out.ok_or("--out is required")?,
        communes_departements,
        millesime,
    })
}

fn parse_balances(argv: &[String]) -> Result<Args, String> {
    let (mut geo, mut deps, mut exers, mut out) = (None, None, None, None);
    let (mut accounts, mut rows, mut seed) = (None, None, DEFAULT_SEED);
    let mut niveaux = vec![Niveau::Communes];
    for (flag, v) in flags(argv)? {
        let num = |v: &str| {
            v.replace('_', "")
                .parse::<u64>()
                .map_err(|e| format!("{flag} {v:?}: {e}"))
        };
        match flag.as_str() {
            "--geo" => geo = Some(PathBuf::from(v)),
            "--departements" => {
                deps = Some(if v.eq_ignore_ascii_case("all") {
                    None
                } else {
                    Some(
                        v.split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect(),
                    )
                });
            }
            "--exercices" => {
                let mut years = Vec::new();
                for y in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let n: u16 = y.parse().map_err(|_| format!("bad exercice {y:?}"))?;
                    if !(2000..=2100).contains(&n) {
                        return Err(format!("exercice {n} out of range"));
                    }
                    if !years.contains(&n) {
                        years.push(n);
                    }
                }
                exers = Some(years);
            }
            "--out" => out = Some(PathBuf::from(v)),
            "--niveau" => {
                niveaux = match v.as_str() {
                    "communes" => vec![Niveau::Communes],
                    "gfp" => vec![Niveau::Level(Level::Gfp)],
                    "departements" => vec![Niveau::Level(Level::Departements)],
                    "regions" => vec![Niveau::Level(Level::Regions)],
                    "all" => vec![
                        Niveau::Communes,
                        Niveau::Level(Level::Gfp),
                        Niveau::Level(Level::Departements),
                        Niveau::Level(Level::Regions),
                    ],
                    other => return Err(format!("unknown --niveau {other:?}")),
                }
            }
            "--accounts" => accounts = Some(num(&v)? as usize),
            "--rows" => rows = Some(num(&v)?),
            "--seed" => seed = num(&v)?,
            _ => return Err(format!("unknown option {flag:?}")),
        }
    }
    let exercices = exers.ok_or("--exercices is required")?;
    if exercices.is_empty() {
        return Err("--exercices is empty".into());
    }
    if (accounts.is_some() || rows.is_some()) && !niveaux.contains(&Niveau::Communes) {
        return Err("--accounts and --rows apply to --niveau communes (or all) only".into());
    }
    Ok(Args {
        geo: geo.ok_or("--geo is required")?,
        departements: deps.ok_or("--departements is required")?,
        exercices,
        out: out.ok_or("--out is required")?,
        niveaux,
        accounts,
        rows,
        seed,
    })
}

/// Writes `dir/name` through a `.tmp` file renamed at the end; returns the byte size.
fn write_atomic(
    dir: &Path,
    name: &str,
    body: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<Stats>,
) -> Result<(PathBuf, Stats, u64), String> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let file = File::create(&tmp).map_err(err)?;
    let mut w = BufWriter::with_capacity(4 << 20, file);
    let stats = body(&mut w).map_err(err)?;
    w.flush().map_err(err)?;
    drop(w);
    std::fs::rename(&tmp, &path).map_err(err)?;
    let bytes = std::fs::metadata(&path).map_err(err)?.len();
    Ok((path, stats, bytes))
}

/// The `commune-actuelle` rows of the geography file in the selected départements (all the
/// départements with a DGFiP code when none are given), in file order.
fn read_communes(path: &Path, departements: &Option<Vec<String>>) -> Result<Vec<Commune>, String> {
    let mut out = Vec::new();
    let mut without_siren = 0usize;
    for c in geo::read_communes(path)? {
        let wanted = match departements {
            Some(list) => list.contains(&c.departement),
            None => balances::ndept(&c.departement).is_ok(),
        };
        if !wanted {
            continue;
        }
        if c.siren.is_empty() {
            without_siren += 1;
            continue;
        }
        out.push(c);
    }
    if without_siren > 0 {
        eprintln!(
            "oc-gen: skipped {without_siren} selected communes without a SIREN in {}",
            path.display()
        );
    }
    if let Some(list) = departements {
        for d in list {
            if !out.iter().any(|c| &c.departement == d) {
                return Err(format!(
                    "département {d:?}: no commune-actuelle with a SIREN in {}",
                    path.display()
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(format!("no commune selected from {}", path.display()));
    }
    Ok(out)
}

fn run_communes(args: &Args) -> Result<(), String> {
    let communes = read_communes(&args.geo, &args.departements)?;
    let prepared = Generator::prepare(&communes)?;
    let accounts = args.accounts.unwrap_or(if args.rows.is_some() {
        DEFAULT_ACCOUNTS_WITH_ROWS
    } else {
        DEFAULT_ACCOUNTS
    });
    if accounts == 0 {
        return Err("--accounts must be at least 1".into());
    }
    let generator = Generator::new(Options {
        seed: args.seed,
        accounts,
        rows: args.rows,
    });
    if accounts > generator.max_accounts() {
        eprintln!("oc-gen: --accounts {accounts} capped by the account plans (principal/annexe)");
    }
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    eprintln!(
        "oc-gen: {} communes, {} exercice(s), {} accounts/budget, seed {}{}",
        prepared.len(),
        args.exercices.len(),
        accounts,
        args.seed,
        args.rows
            .map(|n| format!(", {n} rows/file"))
            .unwrap_or_default()
    );
    let started = Instant::now();
    // One thread per exercice: files are independent, output stays deterministic.
    let results: Vec<Result<String, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = args
            .exercices
            .iter()
            .map(|&exer| {
                let (generator, prepared, dir) = (&generator, &prepared, &args.out);
                s.spawn(move || -> Result<String, String> {
                    let path = dir.join(format!("balances_communes_{exer}.csv"));
                    let tmp = dir.join(format!(".balances_communes_{exer}.csv.tmp"));
                    let err = |e: std::io::Error| format!("{}: {e}", path.display());
                    let t0 = Instant::now();
                    let file = File::create(&tmp).map_err(err)?;
                    let mut w = BufWriter::with_capacity(4 << 20, file);
                    let stats = generator.write(prepared, exer, &mut w).map_err(err)?;
                    w.flush().map_err(err)?;
                    drop(w);
                    std::fs::rename(&tmp, &path).map_err(err)?;
                    let bytes = std::fs::metadata(&path).map_err(err)?.len();
                    let secs = t0.elapsed().as_secs_f64();
                    Ok(format!(
                        "{}: {} rows, {} budgets ({} principaux, {} annexes), {} bytes, {:.2} s ({:.2} M rows/s)",
                        path.display(),
                        stats.rows,
                        stats.principal_budgets + stats.annex_budgets,
                        stats.principal_budgets,
                        stats.annex_budgets,
                        bytes,
                        secs,
                        stats.rows as f64 / secs.max(1e-9) / 1e6
                    ))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("worker panicked".into())))
            .collect()
    });
    for r in results {
        eprintln!("oc-gen: wrote {}", r?);
    }
    eprintln!("oc-gen: done in {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn run_levels(args: &Args, levels: &[Level]) -> Result<(), String> {
    let geo = Geo::load(&GeoPaths::siblings_of(&args.geo))?;
    let generator = LevelGenerator::new(args.seed);
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    for &level in levels {
        let cols = levels::select(level, &geo, &args.departements, args.seed)?;
        if cols.is_empty() {
            eprintln!("oc-gen: no collectivité of level {}", level.file_stem());
            continue;
        }
        for &exer in &args.exercices {
            let name = format!("balances_{}_{exer}.csv", level.file_stem());
            let (path, stats, bytes) =
                write_atomic(&args.out, &name, |w| generator.write(&cols, exer, w))?;
            eprintln!(
                "oc-gen: wrote {}: {} rows, {} budgets ({} principaux, {} annexes), {} bytes",
                path.display(),
                stats.rows,
                stats.principal_budgets + stats.annex_budgets,
                stats.principal_budgets,
                stats.annex_budgets,
                bytes
            );
        }
    }
    Ok(())
}

fn run(args: Args) -> Result<(), String> {
    if args.niveaux.contains(&Niveau::Communes) {
        run_communes(&args)?;
    }
    let levels: Vec<Level> = args
        .niveaux
        .iter()
        .filter_map(|n| match n {
            Niveau::Level(l) => Some(*l),
            Niveau::Communes => None,
        })
        .collect();
    if !levels.is_empty() {
        run_levels(&args, &levels)?;
    }
    Ok(())
}

fn run_ofgl(a: OfglArgs) -> Result<(), String> {
    let geo = Geo::load(&GeoPaths::in_dir(&a.geo, &a.millesime))?;
    let definitions = ofgl::load_definitions(&a.definitions)?;
    let written = ofgl::run(&ofgl::Options {
        balances: a.balances,
        geo,
        definitions,
        out: a.out,
        communes_departements: a.communes_departements,
    })?;
    for (path, rows, bytes) in written {
        eprintln!(
            "oc-gen: wrote {}: {rows} rows, {bytes} bytes",
            path.display()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = match parse_args(&argv) {
        Err(msg) if msg.is_empty() => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("oc-gen: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
        Ok(Command::Balances(args)) => run(args),
        Ok(Command::Ofgl(args)) => run_ofgl(args),
        Ok(Command::Publication { ofgl, out }) => {
            if let Some(dir) = out.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            workbook::write_publication(&ofgl, &out)
                .map(|rows| eprintln!("oc-gen: wrote {}: {rows} table rows", out.display()))
        }
        Ok(Command::Sheet { rows, out }) => workbook::write_flat(rows, &out)
            .map(|()| eprintln!("oc-gen: wrote {}: {rows} rows × 15 columns", out.display())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("oc-gen: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed samples (data/samples/dgfip, data/samples/ofgl) are exactly what the
    /// documented commands produce. If this fails after a deliberate change, regenerate them
    /// with the commands of data/samples/dgfip/README.md and data/samples/ofgl/README.md.
    #[test]
    fn committed_samples_are_reproducible() {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let samples = repo.join("data/samples");
        let tmp = std::env::temp_dir().join(format!("oc-gen-golden-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let argv = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let geo = samples.join("geo/communes_2026.csv.gz");
        let Command::Balances(a) = parse_args(&argv(&format!(
            "balances --geo {} --departements 2A,90,971 --exercices 2023,2024 --out {} --niveau all",
            geo.display(),
            tmp.join("dgfip").display()
        )))
        .unwrap() else {
            panic!()
        };
        run(a).unwrap();
        let Command::Ofgl(o) = parse_args(&argv(&format!(
            "ofgl --balances {} --geo {} --definitions {} --out {} --communes-departements 971",
            tmp.join("dgfip").display(),
            samples.join("geo").display(),
            repo.join("data/reference/agregats.csv").display(),
            tmp.join("ofgl").display()
        )))
        .unwrap() else {
            panic!()
        };
        run_ofgl(o).unwrap();
        let book = tmp.join("publications/comptes_regions.xlsx");
        std::fs::create_dir_all(book.parent().unwrap()).unwrap();
        workbook::write_publication(&samples.join("ofgl"), &book).unwrap();
        let mut compared = 0;
        for sub in ["dgfip", "ofgl", "publications"] {
            for e in std::fs::read_dir(tmp.join(sub)).unwrap() {
                let p = e.unwrap().path();
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                let committed = samples.join(sub).join(&name);
                assert!(
                    std::fs::read(&committed).ok() == Some(std::fs::read(&p).unwrap()),
                    "{} differs from a fresh generation",
                    committed.display()
                );
                compared += 1;
            }
        }
        assert_eq!(compared, 8 + 10 + 1);
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
