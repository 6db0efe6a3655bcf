//! A first pipeline for a JSON file (an array of records, one record per line, or an array
//! inside an object): one column per scalar field, nested objects by their dotted path, and a
//! note on each array of objects that `explode:` would turn into rows.

use std::io::BufRead;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::render::{Draft, Opt};
use super::{Request, Sample};
use crate::record_bound::{read_line, record_bound};
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

/// The shape of a document's records, read as a stream: an array, one record per line or a
/// document with its records inside is never held whole, one record at most (within the
/// bound of a refresh's records).
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
                true => too_long(&bound),
                false => format!("not JSON: {e}"),
            })?;
        }
        b'{' => {
            // The first line, bounded as a record: one record (NDJSON), or a document's start.
            let mut first = Vec::new();
            let (_, over) = read_line(input, &mut first).map_err(|e| e.to_string())?;
            match serde_json::from_slice::<Value>(&first)
                .ok()
                .filter(|_| !over)
            {
                // one record per line (a line that is not JSON is the reader's reject)
                Some(v) => {
                    fields_of(&v, "", 0, &mut shape);
                    let (mut more, mut line, mut n) = (false, Vec::new(), 1);
                    loop {
                        line.clear();
                        n += 1;
                        let (read, over) =
                            read_line(input, &mut line).map_err(|e| e.to_string())?;
                        if over {
                            return Err(format!(
                                "line {n} is longer than {}: not one record per line",
                                record_bound()
                            ));
                        }
                        if read == 0 {
                            break;
                        }
                        more |= !line.trim_ascii().is_empty();
                        if let Ok(v) = serde_json::from_slice::<Value>(&line) {
                            fields_of(&v, "", 0, &mut shape);
                        }
                    }
                    // a whole document on one line, its records inside it
                    if !more && let Ok(inside) = survey(&first[..]) {
                        shape = inside;
                    }
                }
                // a document over several lines, or longer than a record: its records are
                // inside it, read as a stream from its first byte
                None => shape = survey(std::io::Read::chain(&first[..], input))?,
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

/// The records of a document whose array of records is inside it, found as a stream: the
/// largest array of objects within [`MAX_DEPTH`] keys (an API's `records`, not its
/// `facets`), the first of equal ones at the shallowest depth.
/// Each element, key and scalar is bounded as a record; nothing else is held.
fn survey(input: impl std::io::Read) -> Result<Shape, String> {
    let bound = crate::json::RecordBound::default();
    let mut de = serde_json::Deserializer::from_reader(bound.counting(input));
    let mut best = None;
    let res = Survey {
        path: String::new(),
        depth: 0,
        bound: &bound,
        best: &mut best,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    if bound.over() {
        return Err(too_long(&bound));
    }
    res.map_err(|e| format!("not JSON: {e}"))?;
    let found: Found = best.ok_or("the document is one object, with no array of records in it")?;
    let mut shape = found.shape;
    shape.records = Some(found.path);
    Ok(shape)
}

/// What passed the bound, once a read stopped at it.
fn too_long(bound: &crate::json::RecordBound) -> String {
    let what = match bound.over_in_record() {
        true => "a record",
        false => "a key or a value",
    };
    format!("{what} is longer than {} of JSON", record_bound())
}

/// The best array of records seen so far by [`Survey`].
struct Found {
    path: String,
    len: usize,
    depth: usize,
    shape: Shape,
}

/// A value of the document at `path`, `depth` keys down: objects are searched for arrays of
/// records, arrays are read element by element, the rest is skipped.
struct Survey<'a> {
    path: String,
    depth: usize,
    bound: &'a crate::json::RecordBound,
    best: &'a mut Option<Found>,
}

impl<'de> DeserializeSeed<'de> for Survey<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Survey<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.depth >= MAX_DEPTH {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        }
        loop {
            self.bound.enter();
            let key = map.next_key::<String>();
            self.bound.leave();
            let Some(key) = key? else { break };
            self.bound.enter();
            map.next_value_seed(Survey {
                path: join(&self.path, &key),
                depth: self.depth + 1,
                bound: self.bound,
                best: &mut *self.best,
            })?;
            self.bound.leave();
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (mut shape, mut len, mut objects) = (Shape::default(), 0, false);
        loop {
            self.bound.enter_record();
            let next = seq.next_element::<Value>()?;
            self.bound.leave();
            let Some(v) = next else { break };
            len += 1;
            objects |= v.is_object();
            fields_of(&v, "", 0, &mut shape);
        }
        let better = self
            .best
            .as_ref()
            .is_none_or(|b| len > b.len || (len == b.len && self.depth < b.depth));
        if objects && better {
            *self.best = Some(Found {
                path: self.path,
                len,
                depth: self.depth,
                shape,
            });
        }
        Ok(())
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }
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

    #[test]
    fn a_document_with_its_records_inside_is_read_as_a_stream() {
        // Longer than a record (4 KiB in tests), on one line or over several: found as a
        // document held whole would find it, the largest array of objects (not the facets),
        // with the fields of all its records and the arrays in them.
        let item = |i: usize| format!("{{\"code\":\"{i:05}\",\"nom\":\"{}\"}}", "n".repeat(40));
        let items = (0..120).map(item).collect::<Vec<_>>().join(",");
        let doc = format!(
            "{{\"total\":120,\"facets\":[{{\"f\":1}},{{\"f\":2}}],\"data\":{{\"v\":\"x\",\"results\":[{items},{{\"code\":\"2A004\",\"dep\":{{\"code\":\"2A\"}},\"membres\":[{{\"c\":1}}]}}]}}}}"
        );
        assert!(doc.len() > 4096);
        for doc in [doc.clone(), doc.replace(",", ",\n  ")] {
            let s = shape(&mut doc.as_bytes()).unwrap();
            assert_eq!(s.records.as_deref(), Some("data.results"));
            assert_eq!(s.fields, ["code", "dep.code", "nom"]);
            assert_eq!(s.nested, [("membres".to_string(), 1)]);
        }
        // Equal arrays: the shallowest, then the first.
        let doc = format!(
            "{{\"a\":{{\"x\":[{}]}},\"b\":[{}],\"c\":[{}]}}",
            item(1),
            item(2),
            item(3)
        );
        for doc in [doc.clone(), doc.replacen("{", "{\n", 1)] {
            assert_eq!(
                shape(&mut doc.as_bytes()).unwrap().records.as_deref(),
                Some("b")
            );
        }
        // Deeper than three keys is not searched.
        let doc = format!("{{\n\"a\":{{\"b\":{{\"c\":{{\"d\":[{}]}}}}}}}}", item(1));
        assert!(
            shape(&mut doc.as_bytes())
                .unwrap_err()
                .contains("no array of records")
        );
    }

    #[test]
    fn what_a_streamed_document_holds_is_bounded() {
        // A record, a key or a value read whole past the bound is the file's error, in a
        // document of one line or of several; so is a line of NDJSON past it.
        let big = "x".repeat(5000);
        for (doc, e) in [
            (
                format!("{{\"data\":[{{\"a\":1}},{{\"a\":\"{big}\"}}]}}"),
                "a record is longer than 4096 bytes",
            ),
            (
                format!("{{\n\"{big}\":1,\"data\":[{{\"a\":1}}]}}"),
                "a key or a value is longer than 4096 bytes",
            ),
            (
                format!("{{\n\"v\":\"{big}\",\"data\":[{{\"a\":1}}]}}"),
                "a key or a value is longer",
            ),
            (
                format!("{{\"a\":1}}\n{{\"a\":\"{big}\"}}\n"),
                "line 2 is longer than 4096 bytes",
            ),
            ("{\n\"data\":[{\"a\":1}]} trailing".to_string(), "not JSON"),
        ] {
            let got = shape(&mut doc.as_bytes()).unwrap_err();
            assert!(got.contains(e), "{got}");
        }
        // What is skipped is not bounded: an array of numbers is no candidate, its elements
        // are read one at a time.
        let doc = format!(
            "{{\n\"n\":[{}],\"data\":[{{\"a\":1}}]}}",
            vec!["1"; 5000].join(",")
        );
        assert_eq!(shape(&mut doc.as_bytes()).unwrap().fields, ["a"]);
    }
}
