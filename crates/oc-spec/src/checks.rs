//! Data tests declared on tables (`checks:` in a pipeline) and views (`checks:` under a
//! dataset of catalog.yaml). Each is one kind plus a severity and optional thresholds.

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// Shown in reports; default: the kind and its arguments.
    pub name: Option<String>,
    pub not_null: Option<Vec<String>>,
    pub unique: Option<Vec<String>>,
    pub accepted_values: Option<AcceptedValues>,
    pub relationship: Option<Relationship>,
    /// A SQL predicate every row must satisfy.
    pub expression: Option<String>,
    /// `left = right` on every row, within `tolerance` (default 0).
    pub identity: Option<Identity>,
    pub row_count: Option<RowCount>,
    #[serde(default)]
    pub severity: Severity,
    /// When to warn / fail: `> 0` (default), `> 10`, `>= 1%` of the rows.
    pub warn_if: Option<String>,
    pub error_if: Option<String>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptedValues {
    pub column: String,
    pub values: Vec<crate::pipeline::VarValue>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Relationship {
    pub column: String,
    /// `<domain>.<table>.<column>`
    pub to: String,
    /// Optional SQL filter on the referenced table (`millesime = 2026`).
    #[serde(rename = "where")]
    pub where_: Option<String>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub left: String,
    pub right: String,
    #[serde(default)]
    pub tolerance: f64,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RowCount {
    pub min: Option<u64>,
    pub max: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Error,
    Warn,
}

/// A parsed `warn_if` / `error_if`: failing rows compared with a count or a share.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub op: Op,
    pub value: f64,
    pub percent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Threshold {
    pub const DEFAULT: Threshold = Threshold {
        op: Op::Gt,
        value: 0.0,
        percent: false,
    };

    pub fn parse(s: &str) -> Result<Threshold, String> {
        let t = s.trim();
        let (op, rest) = if let Some(r) = t.strip_prefix(">=") {
            (Op::Ge, r)
        } else if let Some(r) = t.strip_prefix("!=") {
            (Op::Ne, r)
        } else if let Some(r) = t.strip_prefix('>') {
            (Op::Gt, r)
        } else if let Some(r) = t.strip_prefix('=') {
            (Op::Eq, r)
        } else {
            return Err(format!(
                "threshold `{s}`: write `> N`, `>= N`, `= N`, `!= N` or with a %"
            ));
        };
        let rest = rest.trim();
        let (num, percent) = match rest.strip_suffix('%') {
            Some(n) => (n.trim(), true),
            None => (rest, false),
        };
        let value: f64 = num
            .parse()
            .map_err(|_| format!("threshold `{s}`: `{num}` is not a number"))?;
        Ok(Threshold { op, value, percent })
    }

    /// Whether `failing` rows out of `total` cross the threshold.
    pub fn crossed(&self, failing: u64, total: u64) -> bool {
        let x = if self.percent {
            if total == 0 {
                0.0
            } else {
                failing as f64 * 100.0 / total as f64
            }
        } else {
            failing as f64
        };
        match self.op {
            Op::Gt => x > self.value,
            Op::Ge => x >= self.value,
            Op::Eq => x == self.value,
            Op::Ne => x != self.value,
        }
    }
}

impl CheckSpec {
    /// The kinds present (validation requires exactly one).
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        if self.not_null.is_some() {
            k.push("not_null");
        }
        if self.unique.is_some() {
            k.push("unique");
        }
        if self.accepted_values.is_some() {
            k.push("accepted_values");
        }
        if self.relationship.is_some() {
            k.push("relationship");
        }
        if self.expression.is_some() {
            k.push("expression");
        }
        if self.identity.is_some() {
            k.push("identity");
        }
        if self.row_count.is_some() {
            k.push("row_count");
        }
        k
    }

    pub fn label(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        if let Some(c) = &self.not_null {
            return format!("not_null({})", c.join(", "));
        }
        if let Some(c) = &self.unique {
            return format!("unique({})", c.join(", "));
        }
        if let Some(a) = &self.accepted_values {
            return format!("accepted_values({})", a.column);
        }
        if let Some(r) = &self.relationship {
            return format!("relationship({} → {})", r.column, r.to);
        }
        if let Some(e) = &self.expression {
            return format!("expression({e})");
        }
        if let Some(i) = &self.identity {
            return format!("identity({} = {})", i.left, i.right);
        }
        if let Some(r) = &self.row_count {
            let bound = |b: Option<u64>| b.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
            return format!("row_count({}..{})", bound(r.min), bound(r.max));
        }
        "check".into()
    }

    /// (warn threshold, error threshold) after defaults: a failing row is an error for
    /// `severity: error`, a warning for `severity: warn`.
    pub fn thresholds(&self) -> Result<(Option<Threshold>, Option<Threshold>), String> {
        let warn = self.warn_if.as_deref().map(Threshold::parse).transpose()?;
        let error = self.error_if.as_deref().map(Threshold::parse).transpose()?;
        Ok(match self.severity {
            Severity::Error => (warn, Some(error.unwrap_or(Threshold::DEFAULT))),
            Severity::Warn => (Some(warn.unwrap_or(Threshold::DEFAULT)), None),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        let t = Threshold::parse("> 10").unwrap();
        assert!(!t.crossed(10, 100) && t.crossed(11, 100));
        let p = Threshold::parse(">= 1%").unwrap();
        assert!(p.crossed(1, 100) && !p.crossed(1, 1000));
        assert!(Threshold::parse("lots").is_err());
        let c = CheckSpec {
            severity: Severity::Warn,
            ..Default::default()
        };
        assert_eq!(c.thresholds().unwrap(), (Some(Threshold::DEFAULT), None));
    }
}
