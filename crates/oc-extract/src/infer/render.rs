//! The pipeline `opencoll infer` proposes, as a model (so that the check after it can retype
//! a column and write it again) and as the YAML text the user edits. No IO.

use super::types::Proposal;

/// One line of the `columns:` block.
#[derive(Debug, Clone)]
pub enum Entry {
    Column {
        name: String,
        /// The source column (header, JSON path, or a column the reader adds).
        from: String,
        proposal: Proposal,
        /// NULL markers seen, for the comment.
        markers: Vec<String>,
    },
    /// A source column left out, and why.
    Skipped(String),
}

/// A proposed pipeline.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The command line as typed, for the first comment.
    pub command: String,
    /// Rows read to propose the types.
    pub rows: u64,
    pub name: String,
    pub path: String,
    /// The option block's key: `csv`, `xlsx`, `html`, `pdf`, `json`.
    pub format: &'static str,
    /// The block's options: key, YAML value, comment.
    pub options: Vec<(String, String, Option<String>)>,
    /// Comments above the pipeline (the choices made, what to look at).
    pub notes: Vec<String>,
    pub columns: Vec<Entry>,
}

/// YAML double-quoted text (JSON's escapes are YAML's).
pub fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string")
}

impl Draft {
    pub fn option(&mut self, key: &str, value: String, comment: Option<String>) {
        self.options.push((key.into(), value, comment));
    }

    pub fn to_yaml(&self) -> String {
        let mut out = format!(
            "# Written by `{}` from {} rows: check each type, then refresh.\n",
            self.command, self.rows
        );
        for n in &self.notes {
            out.push_str(&format!("# {n}\n"));
        }
        out.push_str(&format!(
            "name: {}\nsource:\n  path: {}\n  {}:",
            self.name,
            quoted(&self.path),
            self.format
        ));
        if self.options.is_empty() {
            out.push_str(" {}");
        }
        out.push('\n');
        for (k, v, c) in &self.options {
            out.push_str(&format!("    {k}: {v}"));
            if let Some(c) = c {
                out.push_str(&format!("   # {c}"));
            }
            out.push('\n');
        }
        out.push_str(if self.columns.is_empty() {
            "columns: {}\n"
        } else {
            "columns:\n"
        });
        for e in &self.columns {
            match e {
                Entry::Skipped(why) => out.push_str(&format!("  # {why}\n")),
                Entry::Column {
                    name,
                    from,
                    proposal: p,
                    markers,
                } => {
                    let mut fields = vec![
                        format!("from: {}", quoted(from)),
                        format!("type: {}", quoted(&p.ty)),
                    ];
                    if let Some(w) = p.width {
                        fields.push(format!("width: {w}"));
                    }
                    if let Some(f) = &p.format {
                        fields.push(format!("format: {}", quoted(f)));
                    }
                    let markers = if markers.is_empty() {
                        String::new()
                    } else {
                        format!("; NULL markers seen: {}", markers.join(", "))
                    };
                    out.push_str(&format!(
                        "  {name}: {{ {} }}   # {}{markers}\n",
                        fields.join(", "),
                        p.comment.replace('\n', " ")
                    ));
                }
            }
        }
        out
    }
}

/// Column names for headers: snake_case, made unique (`montant`, `montant_2`).
pub fn column_names<'h>(headers: impl Iterator<Item = &'h str>) -> Vec<String> {
    let mut used: Vec<String> = Vec::new();
    headers
        .map(|h| {
            let base = super::types::snake_case(h);
            let mut col = base.clone();
            let mut n = 1;
            while used.contains(&col) {
                n += 1;
                col = format!("{base}_{n}");
            }
            used.push(col.clone());
            col
        })
        .collect()
}
