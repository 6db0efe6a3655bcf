//! A first pipeline for a JSON file (an array of records, one record per line, or an array
//! inside an object): one column per scalar field, nested objects by their dotted path, and a
//! note on each array of objects that `explode:` would turn into rows.

use std::io::BufRead;

use serde::de::DeserializeSeed;
use serde_json::Value;

use super::render::{Draft, Opt};
use super::{Request, Sample};
use crate::sink::ExtractError;

/// Where the records are, and their fields in order of first appearance.
#[derive(Debug, Default)]
pub(super) struct Shape {
    /// Dotted path of the array inside a top-level object.
    pub records: Option<String>,
    pub fields: Vec<String>,
    /// Arrays of objects (path, first record's length).
    pub nested: Vec<(String, usize)>,
    seen: std::collections::HashSet<String>,
}

/// Nested objects are followed this deep.
const MAX_DEPTH: usize = 3;

/// More distinct fields than this are not columns (keys that are ids, say).
const MAX_FIELDS: usize = 2_000;

/// `a.b`: a field's dotted path, as `from:` and `records:` write it.
fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn fields_of(v: &Value, prefix: &str, depth: usize, shape: &mut Shape) {
    let Value::Object(m) = v else { return };
    for (k, x) in m {
        let path = join(prefix, k);
        match x {
            Value::Object(_) if depth < MAX_DEPTH => fields_of(x, &path, depth + 1, shape),
            Value::Array(a) if a.iter().any(Value::is_object) => {
                if shape.nested.len() < 100 && !shape.nested.iter().any(|(p, _)| *p == path) {
                    shape.nested.push((path, a.len()));
                }
            }
            _ => {
                // (past the cap nothing is kept: the shape is refused anyway)
                if shape.fields.len() <= MAX_FIELDS && shape.seen.insert(path.clone()) {
                    shape.fields.push(path);
                }
            }
        }
    }
}

/// The largest array of objects inside an object (an API's `records`, not its `facets`).
fn records_path(v: &Value) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    let mut level: Vec<(String, &Value)> = vec![(String::new(), v)];
    for _ in 0..MAX_DEPTH {
        let mut next = Vec::new();
        for (path, v) in level {
            let Value::Object(m) = v else { continue };
            for (k, x) in m {
                let p = join(&path, k);
                match x {
                    Value::Array(a)
                        if a.iter().any(Value::is_object)
                            && best.as_ref().is_none_or(|(n, _)| a.len() > *n) =>
                    {
                        best = Some((a.len(), p));
                    }
                    Value::Object(_) => next.push((p, x)),
                    _ => {}
                }
            }
        }
        level = next;
    }
    best.map(|(_, p)| p)
}

/// The shape of a document's records, read as a stream: an array or one record per line is
/// never held whole (only a document whose records are inside an object is).
pub(super) fn shape(input: &mut dyn BufRead) -> Result<Shape, String> {
    let mut shape = Shape::default();
    // The first buffer of the document, to order the fields as its first records write them.
    let (first, head) = loop {
        let buf = input.fill_buf().map_err(|e| e.to_string())?;
        if buf.is_empty() {
            return Err("the file is empty".into());
        }
        let skip = if buf.starts_with(crate::encoding::UTF8_BOM) {
            3
        } else {
            buf.iter().take_while(|b| b.is_ascii_whitespace()).count()
        };
        if skip == 0 {
            let head = String::from_utf8_lossy(&buf[..buf.len().min(1 << 20)]).into_owned();
            break (buf[0], head);
        }
        input.consume(skip);
    };
    match first {
        b'[' => {
            let bound = crate::json::RecordBound::default();
            let mut de = serde_json::Deserializer::from_reader(bound.counting(input));
            let mut on = |v: Value| {
                fields_of(&v, "", 0, &mut shape);
                Ok(())
            };
            crate::json::Elements {
                each: &mut on,
                bound: &bound,
            }
            .deserialize(&mut de)
            .map_err(|e| match bound.over() {
                true => format!(
                    "a record is longer than {} of JSON",
                    crate::json::record_bound()
                ),
                false => format!("not JSON: {e}"),
            })?;
        }
        b'{' => {
            let mut line = String::new();
            input.read_line(&mut line).map_err(|e| e.to_string())?;
            match serde_json::from_str::<Value>(&line) {
                // one record per line (a line that is not JSON is the reader's reject)
                Ok(v) => {
                    fields_of(&v, "", 0, &mut shape);
                    let mut more = false;
                    for l in input.lines() {
                        let l = l.map_err(|e| e.to_string())?;
                        more |= !l.trim().is_empty();
                        if let Ok(v) = serde_json::from_str::<Value>(&l) {
                            fields_of(&v, "", 0, &mut shape);
                        }
                    }
                    // a whole document on one line, its records inside it
                    if let Some(p) = records_path(&v).filter(|_| !more) {
                        shape = Shape::default();
                        records_in(&v, p, &mut shape);
                    }
                }
                // a document over several lines: its records are inside it
                Err(_) => {
                    input.read_to_string(&mut line).map_err(|e| e.to_string())?;
                    let v: Value =
                        serde_json::from_str(&line).map_err(|e| format!("not JSON: {e}"))?;
                    let p = records_path(&v)
                        .ok_or("the document is one object, with no array of records in it")?;
                    records_in(&v, p, &mut shape);
                }
            }
        }
        _ => return Err("the document is neither an array nor an object".into()),
    }
    // serde_json's maps sort their keys: put the fields back in the order the file first
    // writes them (a key's first appearance; a heuristic, it only orders the columns)
    let at = |path: &str| {
        let key = path.rsplit('.').next().unwrap_or(path);
        head.find(&format!("\"{key}\"")).unwrap_or(usize::MAX)
    };
    shape.fields.sort_by_key(|f| at(f));
    if shape.fields.is_empty() {
        return Err("no record with a field found".into());
    }
    if shape.fields.len() > MAX_FIELDS {
        return Err(format!(
            "the records have more than {MAX_FIELDS} distinct fields: are their keys values (codes, dates)? Such a file needs a pipeline written by hand"
        ));
    }
    Ok(shape)
}

/// The fields of the records at `path` inside `doc`.
fn records_in(doc: &Value, path: String, shape: &mut Shape) {
    let records = path.split('.').try_fold(doc, |cur, k| cur.get(k));
    for r in records.and_then(Value::as_array).into_iter().flatten() {
        fields_of(r, "", 0, shape);
    }
    shape.records = Some(path);
}

pub(super) fn sample(req: &Request, draft: &mut Draft) -> Result<Sample, ExtractError> {
    let err = |m: String| ExtractError::new(&req.shown, None, m);
    let (shape, _, _) =
        crate::input::with_reader(&req.path, &req.shown, None, None, |r| shape(r).map_err(err))?;
    if let Some(p) = &shape.records {
        draft.option("records", Opt::Text(p.clone()), None);
    }
    for (path, n) in &shape.nested {
        draft.notes.push(format!(
            "`{path}` holds an array of objects ({n} in the first record): add `explode: {path}` to read one row per element, its fields as `{path}.<field>`"
        ));
    }
    super::sample::sample_values(req, draft, shape.fields, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_of_records() {
        // the EPCI file of the COG package: records with an array of member communes
        let s = shape(&mut r#"[{"code":"200000172","nom":"CC Faucigny","populationTotale":29204,"membres":[{"code":"74042"}]},{"code":"200000438","nom":"CC X","zone":{"dep":"74"}}]"#.as_bytes()).unwrap();
        assert_eq!(s.fields, ["code", "nom", "populationTotale", "zone.dep"]);
        assert_eq!(s.nested, [("membres".to_string(), 1)]);
        assert_eq!(s.records, None);
        let s = shape(&mut r#"[{"nom":"Ain","code":"01","zone":"metro"}]"#.as_bytes()).unwrap();
        assert_eq!(s.fields, ["nom", "code", "zone"]);
        let s = shape(&mut r#"{"meta":{"v":1},"data":{"items":[{"a":1},{"b":"x"}]}}"#.as_bytes())
            .unwrap();
        assert_eq!(s.records.as_deref(), Some("data.items"));
        assert_eq!(s.fields, ["a", "b"]);
        let s = shape(&mut "{\"a\":1}\n{\"a\":2,\"b\":[\"x\",\"y\"]}\n".as_bytes()).unwrap();
        assert_eq!(s.fields, ["a", "b"]);
        assert_eq!(shape(&mut "{\"a\":1}\n".as_bytes()).unwrap().fields, ["a"]);
        assert!(
            shape(&mut "{\n\"a\": 1\n}".as_bytes())
                .unwrap_err()
                .contains("no array of records")
        );
        assert!(
            shape(&mut "[1, 2]".as_bytes())
                .unwrap_err()
                .contains("no record")
        );
        // One record is bounded (4 KiB in tests) as in a refresh.
        let doc = format!("[{{\"a\":1}},{{\"a\":\"{}\"}}]", "x".repeat(5000));
        let e = shape(&mut doc.as_bytes()).unwrap_err();
        assert!(e.contains("a record is longer than 4096 bytes"), "{e}");
    }
}
