//! `oc-gen` — deterministic generator of SYNTHETIC test / benchmark data.
//!
//! ```text
//! oc-gen balances --geo data/samples/geo/communes_2026.csv.gz --departements 2A,90,971 \
//!        --exercices 2023,2024 --out data/samples/dgfip [--niveau communes|gfp|departements|regions|all]
//!        [--accounts N] [--rows N] [--seed S]
//! oc-gen ofgl --balances data/samples/dgfip --geo data/samples/geo \
//!        --definitions data/reference/agregats.csv --out data/samples/ofgl
//! oc-gen pdf --ofgl data/samples/ofgl --exercice 2024 \
//!        --out data/samples/publications/rapport_finances_2024.pdf
//! oc-gen publication --ofgl data/samples/ofgl --out data/samples/publications/comptes_regions.xlsx
//! oc-gen sheet --rows 200000 --out /tmp/bench.xlsx
//! ```
//!
//! `balances` writes `balances_<niveau>_<exercice>.csv` per exercice in the DGFiP bulk format;
//! `ofgl` computes OFGL-layout exports from them. Same arguments → byte-identical files.

mod accounts;
mod balances;
mod geo;
mod levels;
mod ofgl;
mod pdf;
mod rng;
mod workbook;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use balances::{Commune, Generator, Options, Stats};
use geo::{Geo, GeoPaths};
use levels::{Level, LevelGenerator};

const DEFAULT_ACCOUNTS: usize = 30;
const DEFAULT_ACCOUNTS_WITH_ROWS: usize = 300;

/// Deterministic generator of SYNTHETIC DGFiP balances comptables and OFGL exports.
#[derive(Parser, Debug)]
#[command(name = "oc-gen", args_override_self = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// DGFiP bulk balances: one `balances_<niveau>_<exercice>.csv` per level and exercice
    Balances(Args),
    /// OFGL-layout exports computed from the balances of a directory
    Ofgl(OfglArgs),
    /// Two-page PDF report from the OFGL régions and départements files of one exercice
    Pdf {
        /// Directory holding ofgl-base-{regions,departements}-consolidee_<YEAR>.csv
        #[arg(long, value_name = "DIR")]
        ofgl: PathBuf,
        #[arg(long, value_name = "YEAR")]
        exercice: String,
        #[arg(long, value_name = "FILE.pdf")]
        out: PathBuf,
    },
    /// DGCL-style publication workbook of the régions' OFGL figures
    ///
    /// Title rows, 2-row merged header, years as columns with a provisional year, footnotes, a
    /// secret cell, subtotals, sheets `Édition 2024` and `Édition 2025`.
    Publication {
        /// Directory holding ofgl-base-regions-consolidee_{2023,2024}.csv
        #[arg(long, value_name = "DIR")]
        ofgl: PathBuf,
        /// Output file (its directory is created if missing)
        #[arg(long, value_name = "FILE.xlsx")]
        out: PathBuf,
    },
    /// Flat N × 15 sheet (benchmark input), written in constant memory
    Sheet {
        /// Data rows
        #[arg(long, value_name = "N")]
        rows: u32,
        #[arg(long, value_name = "FILE.xlsx")]
        out: PathBuf,
    },
}

#[derive(clap::Args, Debug)]
struct Args {
    /// Geography file written by scripts/derive_geography.py (e.g.
    /// data/samples/geo/communes_2026.csv.gz; needs the siren column). The other levels also
    /// read its siblings epci_<m>.json.gz, departements_<m>.json.gz, regions_<m>.json.gz and
    /// collectivites-siren.csv
    #[arg(long, value_name = "communes.csv[.gz]")]
    geo: PathBuf,
    /// Comma-separated département codes as in the geo file (2A,90,971), or `all` (every
    /// commune-actuelle with a SIREN in metropolitan France and 971–976)
    #[arg(long, value_name = "LIST|all", value_parser = selection)]
    departements: Selection,
    /// Comma-separated years, one output file each: balances_<niveau>_<year>.csv
    #[arg(long, value_name = "LIST", value_parser = exercices)]
    exercices: Exercices,
    /// Output directory (created if missing)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// communes, gfp (EPCI à fiscalité propre with a member commune in the départements),
    /// departements (CATEG DEPT), regions (REG + CTU), or all
    #[arg(long, value_enum, default_value_t = Niveau::Communes)]
    niveau: Niveau,
    /// Communes only: accounts per budget (default 30; 300 with --rows; max ~330)
    #[arg(long, value_name = "N", value_parser = number)]
    accounts: Option<u64>,
    /// Communes only: write exactly N data rows per file, cycling over the communes and adding
    /// budgets annexes on each further pass (benchmarks)
    #[arg(long, value_name = "N", value_parser = number)]
    rows: Option<u64>,
    /// RNG seed
    #[arg(long, value_name = "S", default_value = "20260101", value_parser = number)]
    seed: u64,
}

#[derive(clap::Args, Debug)]
struct OfglArgs {
    /// Directory holding balances_<niveau>_<exercice>.csv (every one found is used)
    #[arg(long, value_name = "DIR")]
    balances: PathBuf,
    /// Directory holding communes_<m>.csv.gz, epci_<m>.json.gz, departements_<m>.json.gz,
    /// regions_<m>.json.gz, collectivites-siren.csv
    #[arg(long, value_name = "DIR")]
    geo: PathBuf,
    /// data/reference/agregats.csv (only the OFGL rows, exercice_min 2012, are used)
    #[arg(long, value_name = "agregats.csv")]
    definitions: PathBuf,
    /// Output directory
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Communes files only: keep the communes of these départements (the committed sample
    /// uses 971 to stay small)
    #[arg(long, value_name = "LIST|all", default_value = "all", value_parser = selection)]
    communes_departements: Selection,
    /// Geography vintage of the file names
    #[arg(long, default_value = "2026")]
    millesime: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Niveau {
    Communes,
    Gfp,
    Departements,
    Regions,
    All,
}

impl Niveau {
    fn communes(self) -> bool {
        matches!(self, Niveau::Communes | Niveau::All)
    }

    /// The non-commune levels to write, in this order.
    fn levels(self) -> Vec<Level> {
        match self {
            Niveau::Communes => vec![],
            Niveau::Gfp => vec![Level::Gfp],
            Niveau::Departements => vec![Level::Departements],
            Niveau::Regions => vec![Level::Regions],
            Niveau::All => vec![Level::Gfp, Level::Departements, Level::Regions],
        }
    }
}

/// Département codes of `--departements` / `--communes-departements`; `None` = all.
#[derive(Clone, Debug)]
struct Selection(Option<Vec<String>>);

/// `all` (any case) or a comma-separated list (items trimmed, empty ones dropped).
fn selection(v: &str) -> Result<Selection, String> {
    Ok(Selection((!v.eq_ignore_ascii_case("all")).then(|| {
        v.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    })))
}

/// Distinct years of `--exercices`, in command-line order.
#[derive(Clone, Debug)]
struct Exercices(Vec<u16>);

fn exercices(v: &str) -> Result<Exercices, String> {
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
    if years.is_empty() {
        return Err("--exercices is empty".into());
    }
    Ok(Exercices(years))
}

/// Unsigned integer; `_` separators allowed (`20_000_000`).
fn number(v: &str) -> Result<u64, String> {
    v.replace('_', "").parse().map_err(|e| format!("{e}"))
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
    let communes = read_communes(&args.geo, &args.departements.0)?;
    let prepared = Generator::prepare(&communes)?;
    let accounts = args
        .accounts
        .map(|n| n as usize)
        .unwrap_or(if args.rows.is_some() {
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
        args.exercices.0.len(),
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
            .0
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
        let cols = levels::select(level, &geo, &args.departements.0, args.seed)?;
        if cols.is_empty() {
            eprintln!("oc-gen: no collectivité of level {}", level.file_stem());
            continue;
        }
        for &exer in &args.exercices.0 {
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
    if args.niveau.communes() {
        run_communes(&args)?;
    }
    let levels = args.niveau.levels();
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
        communes_departements: a.communes_departements.0,
    })?;
    for (path, rows, bytes) in written {
        eprintln!(
            "oc-gen: wrote {}: {rows} rows, {bytes} bytes",
            path.display()
        );
    }
    Ok(())
}

/// Parses a command line (`argv[0]` = program name); `None` when no command is given.
fn parse<I, T>(argv: I) -> Result<Option<Command>, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let command = Cli::try_parse_from(argv)?.command;
    if let Some(Command::Balances(a)) = &command
        && (a.accounts.is_some() || a.rows.is_some())
        && !a.niveau.communes()
    {
        let mut cli = Cli::command();
        cli.build(); // sets the subcommands' `oc-gen balances` usage name
        let balances = cli.find_subcommand_mut("balances").expect("balances");
        let msg = "--accounts and --rows apply to --niveau communes (or all) only";
        return Err(balances.error(ErrorKind::ArgumentConflict, msg));
    }
    Ok(command)
}

fn main() -> ExitCode {
    let result = match parse(std::env::args_os()).unwrap_or_else(|e| e.exit()) {
        None => {
            // no command: the help, as `oc-gen --help`
            let _ = Cli::command().print_long_help();
            return ExitCode::SUCCESS;
        }
        Some(Command::Balances(args)) => run(args),
        Some(Command::Ofgl(args)) => run_ofgl(args),
        Some(Command::Pdf {
            ofgl,
            exercice,
            out,
        }) => pdf::write_report(&ofgl, &exercice, &out),
        Some(Command::Publication { ofgl, out }) => {
            if let Some(dir) = out.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            workbook::write_publication(&ofgl, &out)
                .map(|rows| eprintln!("oc-gen: wrote {}: {rows} table rows", out.display()))
        }
        Some(Command::Sheet { rows, out }) => workbook::write_flat(rows, &out)
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
        let argv = |s: &str| parse(format!("oc-gen {s}").split_whitespace()).unwrap();
        let geo = samples.join("geo/communes_2026.csv.gz");
        let Some(Command::Balances(a)) = argv(&format!(
            "balances --geo {} --departements 2A,90,971 --exercices 2023,2024 --out {} --niveau all",
            geo.display(),
            tmp.join("dgfip").display()
        )) else {
            panic!()
        };
        run(a).unwrap();
        let Some(Command::Ofgl(o)) = argv(&format!(
            "ofgl --balances {} --geo {} --definitions {} --out {} --communes-departements 971",
            tmp.join("dgfip").display(),
            samples.join("geo").display(),
            repo.join("data/reference/agregats.csv").display(),
            tmp.join("ofgl").display()
        )) else {
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

    /// Options, defaults and value forms of the former hand-written parser.
    #[test]
    fn command_line() {
        Cli::command().debug_assert();
        let p = |s: &str| parse(s.split_whitespace());
        let Ok(Some(Command::Balances(a))) = p("oc-gen balances --geo g.csv --departements \
             2A,,90 --exercices 2024,2023,2024 --out o")
        else {
            panic!()
        };
        assert_eq!(a.departements.0, Some(vec!["2A".into(), "90".into()]));
        assert_eq!(a.exercices.0, [2024, 2023]);
        assert_eq!(
            (a.niveau, a.accounts, a.rows, a.seed),
            (Niveau::Communes, None, None, 20260101)
        );
        let Ok(Some(Command::Balances(a))) = p("oc-gen balances --geo=g --departements=ALL \
             --exercices=2024 --out=o --niveau=all --rows=20_000_000 --accounts 50 --seed 1 --seed 2")
        else {
            panic!()
        };
        assert_eq!(a.departements.0, None);
        assert_eq!(
            a.niveau.levels(),
            [Level::Gfp, Level::Departements, Level::Regions]
        );
        assert_eq!(
            (a.accounts, a.rows, a.seed),
            (Some(50), Some(20_000_000), 2)
        );
        let Ok(Some(Command::Ofgl(o))) =
            p("oc-gen ofgl --balances b --geo g --definitions d --out o")
        else {
            panic!()
        };
        assert_eq!(
            (o.communes_departements.0, o.millesime.as_str()),
            (None, "2026")
        );
        assert!(matches!(p("oc-gen"), Ok(None)));
        for bad in [
            "balances --geo g --departements 90 --exercices 2024 --out o --niveau gfp --rows 5",
            "balances --geo g --departements 90 --exercices 1999 --out o",
            "balances --geo g --departements 90 --exercices , --out o",
            "balances --geo g --departements 90 --out o",
            "sheet --rows 1_000 --out o",
            "publication --rows 3 --ofgl d --out o",
        ] {
            assert!(p(&format!("oc-gen {bad}")).is_err(), "{bad}");
        }
    }
}
