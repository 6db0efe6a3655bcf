//! Declared column types. Nothing is ever inferred: a column is a number only when the
//! pipeline says so, which is what keeps `01001` and `2A004` intact.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// An identifier kept as a string (INSEE, SIREN, account numbers), optionally left-padded.
    Code,
    String,
    Int16,
    Int32,
    Int64,
    Float64,
    Decimal {
        precision: u8,
        scale: i8,
    },
    Bool,
    Date,
}

impl ColumnType {
    pub const NAMES: &'static [&'static str] = &[
        "code",
        "string",
        "int16",
        "int32",
        "int64",
        "float64",
        "decimal(p,s)",
        "bool",
        "date",
    ];

    pub fn is_text(&self) -> bool {
        matches!(self, ColumnType::Code | ColumnType::String)
    }
}

impl FromStr for ColumnType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        Ok(match t.as_str() {
            "code" => ColumnType::Code,
            "string" | "text" | "utf8" => ColumnType::String,
            "int16" => ColumnType::Int16,
            "int32" => ColumnType::Int32,
            "int64" => ColumnType::Int64,
            "float64" | "double" => ColumnType::Float64,
            "bool" | "boolean" => ColumnType::Bool,
            "date" => ColumnType::Date,
            "money" => ColumnType::Decimal {
                precision: 18,
                scale: 2,
            },
            _ => {
                let inner = t
                    .strip_prefix("decimal(")
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(|| format!("unknown type `{s}`"))?;
                let (p, sc) = inner.split_once(',').ok_or_else(|| {
                    format!("`{s}`: write decimal(precision,scale), e.g. decimal(18,2)")
                })?;
                let precision: u8 = p
                    .trim()
                    .parse()
                    .map_err(|_| format!("`{s}`: bad precision"))?;
                let scale: i8 = sc.trim().parse().map_err(|_| format!("`{s}`: bad scale"))?;
                if !(1..=38).contains(&precision) || scale < 0 || scale as u8 > precision {
                    return Err(format!(
                        "`{s}`: precision must be 1..=38 and 0 <= scale <= precision"
                    ));
                }
                ColumnType::Decimal { precision, scale }
            }
        })
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::Code => f.write_str("code"),
            ColumnType::String => f.write_str("string"),
            ColumnType::Int16 => f.write_str("int16"),
            ColumnType::Int32 => f.write_str("int32"),
            ColumnType::Int64 => f.write_str("int64"),
            ColumnType::Float64 => f.write_str("float64"),
            ColumnType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            ColumnType::Bool => f.write_str("bool"),
            ColumnType::Date => f.write_str("date"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_declared_types() {
        assert_eq!("code".parse::<ColumnType>().unwrap(), ColumnType::Code);
        assert_eq!(
            "decimal(18,2)".parse::<ColumnType>().unwrap(),
            ColumnType::Decimal {
                precision: 18,
                scale: 2
            }
        );
        assert_eq!(
            "Decimal( 18 , 2 )".parse::<ColumnType>().unwrap(),
            ColumnType::Decimal {
                precision: 18,
                scale: 2
            }
        );
        assert!("decimal(18)".parse::<ColumnType>().is_err());
        assert!("decimal(40,2)".parse::<ColumnType>().is_err());
        assert!("integer".parse::<ColumnType>().is_err());
        assert_eq!(
            ColumnType::Decimal {
                precision: 18,
                scale: 2
            }
            .to_string(),
            "decimal(18,2)"
        );
    }
}
