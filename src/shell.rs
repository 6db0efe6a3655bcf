//! `opencoll shell`: a SQL prompt with history; statements end with `;`. Meta-commands in the
//! spirit of psql and DuckDB: `\d` (list), `\d NAME` (describe), `\i FILE` / `.read FILE`,
//! `.mode FORMAT`, `.timer on|off` (also `\timing`), `\x [on|off|auto]`, `\pset pager on|off`,
//! `\q`. Tab completes names, keywords and commands (`complete.rs`). Ctrl-C during a query
//! cancels the query, not the shell. At a terminal, a table wider than it is shown record by
//! record (psql's `\x auto`) and a result taller than it goes through the pager (`$PAGER`, else
//! `less`), as psql does.

use std::path::Path;

use anyhow::Result;
use rustyline::error::ReadlineError;

use crate::complete::Completion;
use crate::output::{self, ResultFormat};

/// psql's `\x`: records one after the other instead of a table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expanded {
    Off,
    On,
    /// When the table is wider than the terminal.
    Auto,
}

struct Settings {
    mode: ResultFormat,
    timer: bool,
    expanded: Expanded,
    pager: bool,
}

const HELP: &str = "End statements with `;`. \\d lists tables and views, \\d NAME describes one, \\i FILE runs a file, .mode table|csv|csv-fr|tsv|json|ndjson|markdown, .timer on|off, \\x [on|off|auto] (records one by one), \\pset pager on|off, \\q quits.";

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
        expanded: Expanded::Auto,
        pager: true,
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
        ("\\x", x) => {
            settings.expanded = match x {
                "" if settings.expanded == Expanded::On => Expanded::Off,
                "" => Expanded::On,
                "on" => Expanded::On,
                "off" => Expanded::Off,
                "auto" => Expanded::Auto,
                _ => {
                    eprintln!("error: \\x takes on, off or auto");
                    return;
                }
            };
            let state = format!("{:?}", settings.expanded).to_lowercase();
            println!("Expanded display is {state}.");
        }
        ("\\pset", "pager on") | ("\\pset", "pager off") => {
            settings.pager = arg.ends_with("on");
            println!(
                "Pager usage is {}.",
                if settings.pager { "on" } else { "off" }
            );
        }
        ("\\pset", _) => eprintln!("error: \\pset takes `pager on` or `pager off`"),
        ("\\?" | ".help", _) => println!("{HELP}"),
        _ => eprintln!("error: unknown command `{cmd}`. {HELP}"),
    }
}

/// Prints a result: in the table mode at a terminal, record by record when the table is wider
/// than the terminal (or `\x on`), through the pager when it is taller.
fn show(
    schema: &arrow::datatypes::Schema,
    batches: &[arrow::record_batch::RecordBatch],
    settings: &Settings,
) -> Result<()> {
    let term = console::Term::stdout();
    let size = term.size_checked().filter(|_| term.is_term());
    if settings.mode != ResultFormat::Table || (size.is_none() && settings.expanded != Expanded::On)
    {
        return output::write(
            schema,
            batches,
            settings.mode,
            &mut std::io::stdout().lock(),
        );
    }
    let mut text = Vec::new();
    output::write(schema, batches, settings.mode, &mut text)?;
    let wide = |text: &[u8], cols: u16| {
        String::from_utf8_lossy(text)
            .lines()
            .any(|l| console::measure_text_width(l) > usize::from(cols))
    };
    let expand = match (settings.expanded, size) {
        (Expanded::On, _) => true,
        (Expanded::Auto, Some((_, cols))) => wide(&text, cols),
        _ => false,
    };
    if expand {
        text.clear();
        output::write_expanded(schema, batches, &mut text)?;
    }
    let tall = size.is_some_and(|(rows, _)| {
        text.iter().filter(|b| **b == b'\n').count() >= usize::from(rows).saturating_sub(1)
    });
    if settings.pager && tall && page(&text) {
        return Ok(());
    }
    use std::io::Write;
    std::io::stdout().lock().write_all(&text)?;
    Ok(())
}

/// Shows `text` through `$PAGER` (else `less -SFRX`); false when no pager could start.
fn page(text: &[u8]) -> bool {
    use std::io::Write;
    let pager = std::env::var("PAGER")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "less -SFRX".into());
    let Ok(mut child) = std::process::Command::new("sh")
        .args(["-c", &pager])
        .stdin(std::process::Stdio::piped())
        .spawn()
    else {
        return false;
    };
    // a pager quit early closes its input: that is not an error
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(text);
    }
    // (`sh -c` answers 127 when the pager does not exist: the text is then printed)
    child.wait().is_ok_and(|s| s.code() != Some(127))
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
            if let Err(e) = show(&schema, &batches, settings) {
                eprintln!("error: {e}");
            }
            if settings.timer {
                println!("Run Time: {:.3} ms", elapsed.as_secs_f64() * 1000.0);
            }
        }
        Err(e) => eprintln!("error: {}", crate::errors::for_user(&e)),
    }
    true
}
