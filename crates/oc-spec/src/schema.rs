//! JSON Schemas of a pipeline file and of `catalog.yaml`, derived from the serde model (the
//! doc comments become descriptions), so that editors using yaml-language-server complete keys
//! and flag unknown ones as one types. The copies committed under `schemas/` are checked
//! against the model by a test; `opencoll schema pipeline|catalog` prints them.
//!
//! The schemas list canonical spellings only (`windows-1252`, not its alias `cp1252`): an
//! alias is accepted by opencoll but flagged by the editor.

/// The schema of `pipelines/*.yaml`.
pub fn pipeline() -> serde_json::Value {
    let mut s = schemars::schema_for!(crate::Pipeline);
    s.insert("title".into(), "opencoll pipeline".into());
    s.to_value()
}

/// The schema of `catalog.yaml`.
pub fn catalog() -> serde_json::Value {
    let mut s = schemars::schema_for!(crate::Catalog);
    s.insert("title".into(), "opencoll catalog.yaml".into());
    s.to_value()
}

/// As committed: pretty JSON with a final newline.
pub fn to_text(schema: &serde_json::Value) -> String {
    let mut t = serde_json::to_string_pretty(schema).expect("a schema is JSON");
    t.push('\n');
    t
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    fn committed(name: &str) -> String {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../schemas")
            .join(name);
        std::fs::read_to_string(&p).unwrap_or_default()
    }

    #[test]
    fn committed_schemas_match_the_model() {
        for (name, schema, cmd) in [
            ("pipeline.schema.json", super::pipeline(), "pipeline"),
            ("catalog.schema.json", super::catalog(), "catalog"),
        ] {
            assert!(
                committed(name) == super::to_text(&schema),
                "schemas/{name} is out of date: run `cargo run -q -- schema {cmd} > schemas/{name}`"
            );
        }
    }

    #[test]
    fn the_schema_knows_every_source_format_and_refuses_unknown_keys() {
        let s = super::pipeline();
        let text = s.to_string();
        for key in [
            "\"html\"",
            "\"database\"",
            "\"incremental\"",
            "\"max_failed_sources\"",
            "\"capture\"",
        ] {
            assert!(text.contains(key), "{key}");
        }
        assert_eq!(s["additionalProperties"], serde_json::json!(false));
        // doc comments are descriptions
        assert!(
            text.contains("How many rejected rows the run tolerates"),
            "{text}"
        );
    }
}
