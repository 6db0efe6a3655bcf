//! The pipeline `opencoll infer` proposes, as a model (so that the check after it can retype
//! a column and write it again) and as the YAML text the user edits. Every text taken from
//! the file (headers, sheet names, cells quoted in comments) is escaped here, and only here.
//! No IO.

use super::types::Proposal;

/// One line of the `columns:` block.
#[derive(Debug, Clone)]
pub enum Entry {
    Column {
        name: String,
        /// The source column as the reader names it (header, JSON path, or a column the
        /// reader adds such as `section`).
        from: String,
        proposal: Proposal,
        /// NULL markers seen, for the comment.
        markers: Vec<String>,
    },
    /// A source column left out, and why.
    Skipped(String),
}

/// The value of a source option.
#[derive(Debug, Clone, PartialEq)]
pub enum Opt {
    /// Any text (quoted and escaped).
    Text(String),
    Number(usize),
    /// Written as is: a keyword (`blank`, an encoding) or a fixed flow mapping.
    Word(&'static str),
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
    /// The block's options: key, value, comment.
    pub options: Vec<(&'static str, Opt, Option<String>)>,
    /// Comments above the pipeline (the choices made, what to look at).
    pub notes: Vec<String>,
    pub columns: Vec<Entry>,
}

/// YAML double-quoted text: JSON's escapes, and `\uXXXX` for the controls YAML refuses in a
/// quoted scalar (DEL and the C1 block, which JSON leaves as they are).
pub fn quoted(s: &str) -> String {
    let json = serde_json::to_string(s).expect("a string");
    json.chars()
        .map(|c| match c {
            '\u{7f}'..='\u{9f}' => format!("\\u{:04x}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

/// Text for a `#` comment: on one line, without controls.
pub fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A column name as a YAML key: quoted when YAML would read it as something else.
fn key(name: &str) -> String {
    const RESERVED: [&str; 9] = ["null", "true", "false", "yes", "no", "on", "off", "y", "n"];
    if RESERVED.contains(&name) {
        quoted(name)
    } else {
        name.to_string()
    }
}

/// `from:` for a source column: its name, or, when the name itself looks like a `/regex/`, a
/// regex that matches exactly that name.
fn from(header: &str) -> String {
    if header.len() > 1 && header.starts_with('/') && header.ends_with('/') {
        quoted(&format!("/^{}$/", regex::escape(header)))
    } else {
        quoted(header)
    }
}

impl Draft {
    pub fn option(&mut self, key: &'static str, value: Opt, comment: Option<String>) {
        self.options.retain(|(k, _, _)| *k != key);
        self.options.push((key, value, comment));
    }

    pub fn to_yaml(&self) -> String {
        let mut out = format!(
            "# Written by `{}` from {} rows: check each type, then refresh.\n",
            comment(&self.command),
            self.rows
        );
        for n in &self.notes {
            out.push_str(&format!("# {}\n", comment(n)));
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
            let v = match v {
                Opt::Text(t) => quoted(t),
                Opt::Number(n) => n.to_string(),
                Opt::Word(w) => w.to_string(),
            };
            out.push_str(&format!("    {k}: {v}"));
            if let Some(c) = c {
                out.push_str(&format!("   # {}", comment(c)));
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
                Entry::Skipped(why) => out.push_str(&format!("  # {}\n", comment(why))),
                Entry::Column {
                    name,
                    from: header,
                    proposal: p,
                    markers,
                } => {
                    let mut fields = vec![
                        format!("from: {}", from(header)),
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
                        "  {}: {{ {} }}   # {}\n",
                        key(name),
                        fields.join(", "),
                        comment(&format!("{}{markers}", p.comment))
                    ));
                }
            }
        }
        out
    }
}

/// Column names for headers: snake_case, made unique (`montant`, `montant_2`).
pub fn column_names<'h>(headers: impl Iterator<Item = &'h str>) -> Vec<String> {
    let mut used = std::collections::HashSet::new();
    // the next suffix to try for each name: many headers with one name (`a!`, `a?`…) are
    // not each tried against all the suffixes taken before them
    let mut next: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    headers
        .map(|h| {
            let base = super::types::snake_case(h);
            let n = next.entry(base.clone()).or_insert(1);
            let name = |n: usize| match n {
                1 => base.clone(),
                n => format!("{base}_{n}"),
            };
            let mut col = name(*n);
            while used.contains(&col) {
                *n += 1;
                col = name(*n);
            }
            *n += 1;
            used.insert(col.clone());
            col
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_file_holds_cannot_break_the_yaml() {
        let mut d = Draft {
            command: "opencoll infer x.xlsx".into(),
            rows: 1,
            name: "raw.x".into(),
            path: "dir/fiche \"2024\".xlsx".into(),
            format: "xlsx",
            options: Vec::new(),
            notes: vec!["a header on two lines:\nname: injected".into()],
            columns: Vec::new(),
        };
        d.option("sheet", Opt::Text("Feuil\u{9c}1 #2".into()), None);
        d.option(
            "skip_until",
            Opt::Text("^Montant\r\n(k€)$".into()),
            Some("x\ny".into()),
        );
        let headers = ["NULL", "Code\nINSEE", "/x/", "a: b # c", "\u{85}"];
        let names = column_names(headers.iter().copied());
        for (h, n) in headers.iter().zip(names) {
            d.columns.push(Entry::Column {
                name: n,
                from: h.to_string(),
                proposal: Proposal {
                    ty: "string".into(),
                    width: None,
                    format: None,
                    comment: format!("e.g. {h}"),
                },
                markers: Vec::new(),
            });
        }
        d.columns.push(Entry::Skipped("`a\nb` repeated".into()));
        let yaml = d.to_yaml();
        let p = oc_spec::parse_pipeline(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(p.name.value, "raw.x", "{yaml}");
        assert!(!yaml.contains("\nname: injected"), "{yaml}");
        let spec = crate::ReadSpec::from_pipeline(&p).unwrap();
        let froms: Vec<String> = spec
            .columns
            .iter()
            .map(|c| match &c.selector {
                crate::Selector::Header(h) => h.clone(),
                crate::Selector::Regex(r) => format!("regex {r}"),
                crate::Selector::Var(v) => format!("var {v}"),
            })
            .collect();
        assert_eq!(
            froms,
            ["NULL", "Code\nINSEE", "regex ^/x/$", "a: b # c", "\u{85}"]
        );
    }
}
