//! A first pipeline for a JSON file (an array of records, one record per line, or an array
//! inside an object): one column per scalar field, nested objects by their dotted path, and a
//! note on each array of objects that `explode:` would turn into rows.

use serde_json::Value;

use super::render::{Draft, quoted};
use super::{Request, Sample};
use crate::sink::ExtractError;

/// Where the records are, and their fields in order of first appearance.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Shape {
    /// Dotted path of the array inside a top-level object.
    pub records: Option<String>,
    pub fields: Vec<String>,
    /// Arrays of objects (path, first record's length).
    pub nested: Vec<(String, usize)>,
}

/// Nested objects are followed this deep.
const MAX_DEPTH: usize = 3;

fn fields_of(v: &Value, prefix: &str, depth: usize, shape: &mut Shape) {
    let Value::Object(m) = v else { return };
    for (k, x) in m {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match x {
            Value::Object(_) if depth < MAX_DEPTH => fields_of(x, &path, depth + 1, shape),
            Value::Array(a) if a.iter().any(Value::is_object) => {
                if !shape.nested.iter().any(|(p, _)| *p == path) {
                    shape.nested.push((path, a.len()));
                }
            }
            _ => {
                if !shape.fields.contains(&path) {
                    shape.fields.push(path);
                }
            }
        }
    }
}

/// The first array of objects inside an object, breadth first.
fn records_path(v: &Value) -> Option<String> {
    let mut level: Vec<(String, &Value)> = vec![(String::new(), v)];
    for _ in 0..MAX_DEPTH {
        let mut next = Vec::new();
        for (path, v) in level {
            let Value::Object(m) = v else { continue };
            for (k, x) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match x {
                    Value::Array(a) if a.iter().any(Value::is_object) => return Some(p),
                    Value::Object(_) => next.push((p, x)),
                    _ => {}
                }
            }
        }
        level = next;
    }
    None
}

/// The shape of a document's records.
pub(super) fn shape(text: &str) -> Result<Shape, String> {
    let mut shape = Shape::default();
    let records: Vec<Value> = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(a)) => a,
        Ok(v @ Value::Object(_)) => match records_path(&v) {
            Some(p) => {
                let a = p
                    .split('.')
                    .try_fold(&v, |cur, k| cur.get(k))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                shape.records = Some(p);
                a
            }
            // a file of one record on one line
            None if !text.trim().contains('\n') => vec![v],
            None => {
                return Err("the document is one object, with no array of records in it".into());
            }
        },
        Ok(_) => return Err("the document is neither an array nor an object".into()),
        // one record per line
        Err(whole) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str::<Value>(l).map_err(|e| {
                    format!(
                        "not JSON ({whole}), nor one record per line (line {}: {e})",
                        i + 1
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    for r in &records {
        fields_of(r, "", 0, &mut shape);
    }
    if shape.fields.is_empty() {
        return Err("no record with a field found".into());
    }
    Ok(shape)
}

pub(super) fn sample(req: &Request, draft: &mut Draft) -> Result<Sample, ExtractError> {
    let err = |m: String| ExtractError::new(&req.shown, None, m);
    let mut text = String::new();
    crate::input::with_reader(&req.path, &req.shown, None, None, |r| {
        r.read_to_string(&mut text)
            .map_err(|e| err(format!("cannot read as UTF-8 text: {e}")))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let shape = shape(text).map_err(err)?;
    if let Some(p) = &shape.records {
        draft.option("records", quoted(p), None);
    }
    for (path, n) in &shape.nested {
        draft.notes.push(format!(
            "`{path}` holds an array of objects ({n} in the first record): add `explode: {path}` to read one row per element, its fields as `{path}.<field>`"
        ));
    }
    super::table::sample_values(req, draft, shape.fields, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_of_records() {
        // the EPCI file of the COG package: records with an array of member communes
        let s = shape(r#"[{"code":"200000172","nom":"CC Faucigny","populationTotale":29204,"membres":[{"code":"74042"}]},{"code":"200000438","nom":"CC X","zone":{"dep":"74"}}]"#).unwrap();
        assert_eq!(s.fields, ["code", "nom", "populationTotale", "zone.dep"]);
        assert_eq!(s.nested, [("membres".to_string(), 1)]);
        assert_eq!(s.records, None);
        let s = shape(r#"{"meta":{"v":1},"data":{"items":[{"a":1},{"b":"x"}]}}"#).unwrap();
        assert_eq!(s.records.as_deref(), Some("data.items"));
        assert_eq!(s.fields, ["a", "b"]);
        let s = shape("{\"a\":1}\n{\"a\":2,\"b\":[\"x\",\"y\"]}\n").unwrap();
        assert_eq!(s.fields, ["a", "b"]);
        assert_eq!(shape("{\"a\":1}\n").unwrap().fields, ["a"]);
        assert!(
            shape("{\n\"a\": 1\n}")
                .unwrap_err()
                .contains("no array of records")
        );
        assert!(shape("[1, 2]").unwrap_err().contains("no record"));
    }
}
