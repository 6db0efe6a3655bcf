//! Where a value was written in a YAML file. The project's own type, so that the public model
//! does not expose the YAML library (and crates above this one do not depend on it).

use serde::{Deserialize, Deserializer};

/// A line and column, 1-based; 0 when unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Location {
    line: u64,
    column: u64,
}

impl Location {
    pub fn new(line: u64, column: u64) -> Location {
        Location { line, column }
    }
    pub fn line(&self) -> u64 {
        self.line
    }
    pub fn column(&self) -> u64 {
        self.column
    }
}

/// A value with the place it was written, for diagnostics found after parsing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub referenced: Location,
}

impl<T> Spanned<T> {
    /// A value not read from a file (defaults, tests).
    pub fn unplaced(value: T) -> Spanned<T> {
        Spanned {
            value,
            referenced: Location::default(),
        }
    }
}

impl Spanned<String> {
    /// Where the value was written. The parser loses the place of a value inside an
    /// untagged enum (a `source.vars` query): then where its first line first appears in the
    /// file's text (unknown if it was written with escapes).
    pub fn location_in(&self, text: &str) -> Location {
        if self.referenced.line > 0 {
            return self.referenced;
        }
        let Some(first) = self.value.lines().map(str::trim).find(|l| !l.is_empty()) else {
            return self.referenced;
        };
        text.lines()
            .enumerate()
            .find_map(|(i, line)| {
                line.find(first)
                    .map(|pos| Location::new(i as u64 + 1, line[..pos].chars().count() as u64 + 1))
            })
            .unwrap_or(self.referenced)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // serde-saphyr records the location for its own wrapper type; we keep line and column.
        let s = serde_saphyr::Spanned::<T>::deserialize(d)?;
        Ok(Spanned {
            value: s.value,
            referenced: Location::new(s.referenced.line(), s.referenced.column()),
        })
    }
}

/// Parses a pipeline file's YAML text (for tests and tools that hold a pipeline in memory).
pub fn parse_pipeline(text: &str) -> Result<crate::Pipeline, crate::Diagnostic> {
    crate::yaml::parse(std::path::Path::new("pipeline.yaml"), text)
}

/// In the JSON Schema a located value is the value itself.
impl<T: schemars::JsonSchema> schemars::JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::{Location, Spanned};

    #[test]
    fn a_value_without_its_place_is_found_in_the_text() {
        let text = "name: a.b\nsource:\n  vars:\n    c: { sql: \"SELECT code FROM ref.x\" }\n";
        let sql = Spanned::unplaced("SELECT code FROM ref.x".to_string());
        assert_eq!(sql.location_in(text), Location::new(4, 16));
        // a placed value keeps its place; a value not in the text stays unknown
        let placed = Spanned {
            value: "x".to_string(),
            referenced: Location::new(2, 3),
        };
        assert_eq!(placed.location_in(text), Location::new(2, 3));
        let absent = Spanned::unplaced("SELECT 'é\\n'".to_string());
        assert_eq!(absent.location_in(text), Location::default());
    }
}
