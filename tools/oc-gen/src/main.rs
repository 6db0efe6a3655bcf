//! `oc-gen` — deterministic generator of SYNTHETIC test / benchmark data.
//!
//! ```text
//! oc-gen balances --geo data/samples/geo/communes_2026.csv.gz --departements 2A,90,971 \
//!        --exercices 2023,2024 --out data/samples/dgfip [--accounts N] [--rows N] [--seed S]
//! ```
//!
//! Writes `balances_communes_<exercice>.csv` per exercice in the DGFiP bulk format. Same
//! arguments → byte-identical files.

mod accounts;
mod balances;
mod rng;

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use balances::{Commune, Generator, Options};

const DEFAULT_SEED: u64 = 20260101;
const DEFAULT_ACCOUNTS: usize = 30;
const DEFAULT_ACCOUNTS_WITH_ROWS: usize = 300;

const USAGE: &str = "\
oc-gen — deterministic generator of SYNTHETIC DGFiP balances comptables

USAGE:
  oc-gen balances --geo <communes.csv[.gz]> --departements <LIST|all> --exercices <LIST>
                  --out <DIR> [--accounts N] [--rows N] [--seed S]

  --geo           geography file written by scripts/derive_geography.py
                  (e.g. data/samples/geo/communes_2026.csv.gz; needs the siren column)
  --departements  comma-separated département codes as in the geo file (2A,90,971), or `all`
                  (every commune-actuelle with a SIREN in metropolitan France and 971–976)
  --exercices     comma-separated years, one output file each: balances_communes_<year>.csv
  --out           output directory (created if missing)
  --accounts      accounts per budget (default 30; 300 when --rows is given; max ~330)
  --rows          write exactly N data rows per file, cycling over the communes and adding
                  budgets annexes on each further pass (benchmarks)
  --seed          RNG seed (default 20260101)
";

struct Args {
    geo: PathBuf,
    departements: Option<Vec<String>>,
    exercices: Vec<u16>,
    out: PathBuf,
    accounts: Option<usize>,
    rows: Option<u64>,
    seed: u64,
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut it = argv.iter();
    match it.next().map(String::as_str) {
        Some("balances") => {}
        Some("-h" | "--help" | "help") | None => return Err(String::new()),
        Some(other) => return Err(format!("unknown command {other:?} (expected `balances`)")),
    }
    let (mut geo, mut deps, mut exers, mut out) = (None, None, None, None);
    let (mut accounts, mut rows, mut seed) = (None, None, DEFAULT_SEED);
    while let Some(arg) = it.next() {
        if arg == "-h" || arg == "--help" {
            return Err(String::new());
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let num = |v: String| {
            v.replace('_', "")
                .parse::<u64>()
                .map_err(|e| format!("{flag} {v:?}: {e}"))
        };
        match flag {
            "--geo" => geo = Some(PathBuf::from(value()?)),
            "--departements" => {
                let v = value()?;
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
                let v = value()?;
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
            "--out" => out = Some(PathBuf::from(value()?)),
            "--accounts" => accounts = Some(num(value()?)? as usize),
            "--rows" => rows = Some(num(value()?)?),
            "--seed" => seed = num(value()?)?,
            _ => return Err(format!("unknown option {arg:?}")),
        }
    }
    let exercices = exers.ok_or("--exercices is required")?;
    if exercices.is_empty() {
        return Err("--exercices is empty".into());
    }
    Ok(Args {
        geo: geo.ok_or("--geo is required")?,
        departements: deps.ok_or("--departements is required")?,
        exercices,
        out: out.ok_or("--out is required")?,
        accounts,
        rows,
        seed,
    })
}

/// Reads `commune-actuelle` rows of the geography CSV (gzip or plain), in file order.
fn read_communes(path: &Path, departements: &Option<Vec<String>>) -> Result<Vec<Commune>, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut rdr = csv::ReaderBuilder::new().from_reader(reader);
    let headers = rdr
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("{}: no column {name:?}", path.display()))
    };
    let (i_code, i_nom, i_type, i_dep, i_reg, i_siren, i_pop) = (
        col("code")?,
        col("nom")?,
        col("type")?,
        col("departement")?,
        col("region")?,
        col("siren")?,
        col("population")?,
    );
    let mut out = Vec::new();
    let mut without_siren = 0usize;
    for rec in rdr.records() {
        let rec = rec.map_err(|e| format!("{}: {e}", path.display()))?;
        if &rec[i_type] != "commune-actuelle" {
            continue;
        }
        let dep = &rec[i_dep];
        let wanted = match departements {
            Some(list) => list.iter().any(|d| d == dep),
            None => balances::ndept(dep).is_ok(),
        };
        if !wanted {
            continue;
        }
        if rec[i_siren].is_empty() {
            without_siren += 1;
            continue;
        }
        let pop = &rec[i_pop];
        out.push(Commune {
            code: rec[i_code].to_string(),
            nom: rec[i_nom].to_string(),
            departement: dep.to_string(),
            region: rec[i_reg].to_string(),
            siren: rec[i_siren].to_string(),
            population: if pop.is_empty() {
                0
            } else {
                pop.parse()
                    .map_err(|_| format!("commune {}: bad population {pop:?}", &rec[i_code]))?
            },
        });
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

fn run(args: Args) -> Result<(), String> {
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

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&argv) {
        Err(msg) if msg.is_empty() => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("oc-gen: {msg}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Ok(args) => match run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(msg) => {
                eprintln!("oc-gen: error: {msg}");
                ExitCode::FAILURE
            }
        },
    }
}
