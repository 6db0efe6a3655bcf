//! `opencoll shell`: a SQL prompt with history; statements end with `;`. Meta-commands in the
//! spirit of psql and DuckDB: `\d` (list), `\d NAME` (describe), `\i FILE` / `.read FILE`,
//! `.mode FORMAT`, `.timer on|off` (also `\timing`), `\q`. Tab completes names, keywords and
//! commands (`complete.rs`). Ctrl-C during a query cancels the query, not the shell.

use std::path::Path;

use anyhow::Result;
use rustyline::error::ReadlineError;

use crate::complete::Completion;
use crate::output::{self, ResultFormat};

struct Settings {
    mode: ResultFormat,
    timer: bool,
}

const HELP: &str = "End statements with `;`. \\d lists tables and views, \\d NAME describes one, \\i FILE runs a file, .mode table|csv|csv-fr|tsv|json|ndjson|markdown, .timer on|off, \\q quits.";

pub async fn run(session: &oc_sql::LakeSession, root: &Path) -> Result<()> {
    // Tab lists the candidates, as in psql (Tab twice in bash style would hide them).
    let config = rustyline::Config::builder()
        .completion_type(rustyline::CompletionType::List)
        .build();
    let mut rl: rustyline::Editor<Completion, rustyline::history::FileHistory> =
        rustyline::Editor::with_config(config)?;
    rl.set_helper(Some(Completion::of(session).await));
    let history = root.join(".opencoll_history");
    let _ = rl.load_history(&history);
    println!(
        "opencoll shell — {} tables, {} views. {HELP}",
        session.tables.len(),
        session.views.len()
    );
    let mut settings = Settings {
        mode: ResultFormat::Table,
        timer: false,
    };
    let mut buf = String::new();
    loop {
        let prompt = if buf.is_empty() {
            "opencoll> "
        } else {
            "      ..> "
        };
        match rl.readline(prompt) {
            Ok(line) => {
                let t = line.trim();
                if buf.is_empty() && (t == "\\q" || t == "exit" || t == "quit" || t == ".quit") {
                    break;
                }
                if buf.is_empty() && (t.starts_with('\\') || t.starts_with('.')) {
                    let _ = rl.add_history_entry(t);
                    meta(session, &mut settings, t).await;
                    continue;
                }
                buf.push_str(&line);
                buf.push('\n');
                if t.ends_with(';') {
                    let sql = std::mem::take(&mut buf);
                    let _ = rl.add_history_entry(sql.trim());
                    execute(session, &settings, &sql).await;
                }
            }
            Err(ReadlineError::Interrupted) => buf.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let _ = rl.save_history(&history);
    Ok(())
}

async fn meta(session: &oc_sql::LakeSession, settings: &mut Settings, cmd: &str) {
    let (name, arg) = cmd
        .split_once(char::is_whitespace)
        .map(|(n, a)| (n, a.trim()))
        .unwrap_or((cmd, ""));
    match (name, arg) {
        ("\\d", "") => {
            for n in session.tables.iter().chain(&session.views) {
                println!("{n}");
            }
        }
        ("\\d", table) => describe(session, table).await,
        ("\\i" | ".read", "") => eprintln!("error: give a file: \\i FILE"),
        ("\\i" | ".read", file) => match std::fs::read_to_string(file) {
            Ok(text) => {
                for stmt in statements(&text) {
                    if !execute(session, settings, &stmt).await {
                        eprintln!("the rest of {file} is not run");
                        break;
                    }
                }
            }
            Err(e) => eprintln!("error: cannot read {file}: {e}"),
        },
        (".mode", m) => match <ResultFormat as clap::ValueEnum>::from_str(m, true) {
            Ok(f) if !f.is_binary() => {
                settings.mode = f;
                println!("mode {m}");
            }
            _ => eprintln!(
                "error: unknown mode `{m}`: table, csv, csv-fr, tsv, json, ndjson or markdown"
            ),
        },
        (".timer", "on") | ("\\timing", "on") => settings.timer = true,
        (".timer", "off") | ("\\timing", "off") => settings.timer = false,
        ("\\timing", "") => {
            settings.timer = !settings.timer;
            println!("Timing is {}.", if settings.timer { "on" } else { "off" });
        }
        ("\\?" | ".help", _) => println!("{HELP}"),
        _ => eprintln!("error: unknown command `{cmd}`. {HELP}"),
    }
}

/// The statements of a file: split after each `;` that ends a line.
fn statements(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        cur.push_str(line);
        cur.push('\n');
        if line.trim_end().ends_with(';') {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

async fn describe(session: &oc_sql::LakeSession, name: &str) {
    match session.ctx.table(name).await {
        Ok(df) => {
            let kind = if session.views.iter().any(|v| v == name) {
                "view"
            } else {
                "table"
            };
            println!("{kind} {name}");
            for f in df.schema().fields() {
                println!(
                    "  {:<32} {:<24} {}",
                    f.name(),
                    f.data_type().to_string(),
                    if f.is_nullable() { "" } else { "not null" }
                );
            }
        }
        Err(_) => eprintln!("error: no table or view `{name}` (\\d lists them)"),
    }
}

/// Runs one statement and prints its result; false when Ctrl-C cancelled it.
async fn execute(session: &oc_sql::LakeSession, settings: &Settings, sql: &str) -> bool {
    let sql = sql.trim().trim_end_matches(';');
    if sql.is_empty() {
        return true;
    }
    for w in session.unavailable_in(sql) {
        eprintln!("warning: {w}");
    }
    let started = std::time::Instant::now();
    let run = async {
        let df = session.query(sql).await?;
        let schema = df.schema().as_arrow().clone();
        let batches = df.collect().await?;
        Ok::<_, anyhow::Error>((schema, batches))
    };
    // Ctrl-C stops this query (its future is dropped, which cancels DataFusion's work) and
    // the shell goes on.
    let result = tokio::select! {
        r = run => r,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("query cancelled");
            return false;
        }
    };
    match result {
        Ok((schema, batches)) => {
            let elapsed = started.elapsed();
            if let Err(e) = output::write(
                &schema,
                &batches,
                settings.mode,
                &mut std::io::stdout().lock(),
            ) {
                eprintln!("error: {e}");
            }
            if settings.timer {
                println!("Run Time: {:.3} ms", elapsed.as_secs_f64() * 1000.0);
            }
        }
        Err(e) => eprintln!("error: {e:#}"),
    }
    true
}
