//! `opencoll shell`: a SQL prompt with history; statements end with `;`.

use std::path::Path;

use anyhow::Result;
use rustyline::error::ReadlineError;

use crate::output::{self, Format};

pub async fn run(session: &oc_sql::LakeSession, root: &Path) -> Result<()> {
    let mut rl = rustyline::DefaultEditor::new()?;
    let history = root.join(".opencoll_history");
    let _ = rl.load_history(&history);
    println!(
        "opencoll shell — {} tables, {} views. End statements with `;`. \\d lists tables, \\q quits.",
        session.tables.len(),
        session.views.len()
    );
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
                if buf.is_empty() && (t == "\\q" || t == "exit" || t == "quit") {
                    break;
                }
                if buf.is_empty() && t == "\\d" {
                    let _ = rl.add_history_entry(t);
                    for n in session.tables.iter().chain(&session.views) {
                        println!("{n}");
                    }
                    continue;
                }
                buf.push_str(&line);
                buf.push('\n');
                if t.ends_with(';') {
                    let sql = std::mem::take(&mut buf);
                    let _ = rl.add_history_entry(sql.trim());
                    for w in session.unavailable_in(sql.trim().trim_end_matches(';')) {
                        eprintln!("warning: {w}");
                    }
                    match session.query(sql.trim().trim_end_matches(';')).await {
                        Ok(df) => {
                            let schema = df.schema().as_arrow().clone();
                            match df.collect().await {
                                Ok(b) => output::print(&schema, &b, Format::Table)?,
                                Err(e) => eprintln!("error: {e}"),
                            }
                        }
                        Err(e) => eprintln!("error: {e}"),
                    }
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
