//! JSON sources: an array of objects (streamed element by element), one object per line
//! (NDJSON), or an array found at a dotted path inside a top-level object. A nested array can
//! be exploded into one row per element (EPCI → `membres`).

use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;

use serde::de::{DeserializeSeed, Error as _, SeqAccess, Visitor};
use serde_json::Value;

use crate::rows::RowWriter;
use crate::sink::{ExtractError, Sink};
use crate::spec::{ReadSpec, Selector, SourceFile};

pub fn read(
    spec: &ReadSpec,
    file: &SourceFile,
    input: &mut dyn BufRead,
    sink: &mut dyn Sink,
) -> Result<(u64, u64), ExtractError> {
    let name = file.display.as_str();
    for c in &spec.columns {
        if let Selector::Regex(_) = c.selector {
            return Err(ExtractError::new(
                name,
                None,
                format!(
                    "column `{}`: /regex/ is not supported for JSON",
                    c.plan.name
                ),
            )
            .with_hint("use the field's path, e.g. `from: membres.code`"));
        }
    }
    let labels = spec
        .columns
        .iter()
        .map(|c| match &c.selector {
            Selector::Header(h) => h.clone(),
            Selector::Var(v) => format!("{{{v}}}"),
            Selector::Regex(r) => r.to_string(),
        })
        .collect();
    let mut rows = RowWriter::new(spec, file, labels);
    let explode = spec.json.explode.clone();

    // Skip a BOM and whitespace to see how the document starts.
    let first = loop {
        let buf = input
            .fill_buf()
            .map_err(|e| ExtractError::new(name, None, format!("cannot read: {e}")))?;
        if buf.is_empty() {
            return Err(
                ExtractError::new(name, None, "the file is empty").with_hint("check the download")
            );
        }
        let skip = if buf.starts_with(crate::encoding::UTF8_BOM) {
            3
        } else {
            buf.iter().take_while(|b| b.is_ascii_whitespace()).count()
        };
        if skip == 0 {
            break buf[0];
        }
        input.consume(skip);
    };

    let on_record = |rows: &mut RowWriter<'_>,
                     sink: &mut dyn Sink,
                     line: u64,
                     v: Value|
     -> Result<(), ExtractError> {
        emit(spec, file, rows, sink, line, &v, explode.as_deref())
    };

    match (first, spec.json.records.as_deref()) {
        (b'[', None) => {
            let mut de = serde_json::Deserializer::from_reader(input);
            let mut count = 0u64;
            let mut failure: Option<ExtractError> = None;
            let seed = Elements(&mut |v: Value| {
                count += 1;
                match on_record(&mut rows, sink, count, v) {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        failure = Some(e);
                        Err("stopped".to_string())
                    }
                }
            });
            let res = seed.deserialize(&mut de);
            if let Some(e) = failure {
                return Err(e);
            }
            res.map_err(|e| json_error(name, e))?;
            de.end().map_err(|e| json_error(name, e))?;
        }
        (b'{', Some(path)) => {
            let doc: Value = serde_json::from_reader(input).map_err(|e| json_error(name, e))?;
            let arr = lookup(&doc, path)
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    ExtractError::new(name, None, format!("no array at `{path}`"))
                        .with_hint("check json.records")
                })?;
            for (i, v) in arr.iter().enumerate() {
                on_record(&mut rows, sink, i as u64 + 1, v.clone())?;
            }
        }
        (b'{', None) => {
            // NDJSON: one object per line.
            let mut line = Vec::new();
            let mut n = 0u64;
            loop {
                line.clear();
                let read = input.read_until(b'\n', &mut line).map_err(|e| {
                    ExtractError::new(name, Some(n + 1), format!("cannot read: {e}"))
                })?;
                if read == 0 {
                    break;
                }
                n += 1;
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if n == 1 && line.trim_ascii() == b"{" {
                    return Err(ExtractError::new(
                        name,
                        Some(1),
                        "the document is one JSON object, not one object per line",
                    )
                    .with_hint("set json.records to the path of the array of records inside it"));
                }
                match serde_json::from_slice::<Value>(&line) {
                    Ok(v) => on_record(&mut rows, sink, n, v)?,
                    Err(e) => {
                        rows.count_read();
                        let raw = String::from_utf8_lossy(&line).into_owned();
                        rows.reject(
                            sink,
                            n,
                            None,
                            Some(raw.trim_end()),
                            format!("invalid JSON: {e}"),
                        )?;
                    }
                }
            }
        }
        (b'[', Some(path)) => {
            return Err(ExtractError::new(
                name,
                None,
                format!("json.records is `{path}` but the document is an array"),
            )
            .with_hint("remove json.records"));
        }
        (c, _) => {
            return Err(ExtractError::new(
                name,
                Some(1),
                format!("not JSON: starts with {:?}", c as char),
            )
            .with_hint("check source.format"));
        }
    }
    rows.finish(sink)
}

fn json_error(file: &str, e: serde_json::Error) -> ExtractError {
    let line = if e.line() > 0 {
        Some(e.line() as u64)
    } else {
        None
    };
    ExtractError::new(file, line, format!("invalid JSON: {e}"))
        .with_hint("the file may be truncated")
}

/// One record (or one row per element of the exploded array).
fn emit(
    spec: &ReadSpec,
    file: &SourceFile,
    rows: &mut RowWriter<'_>,
    sink: &mut dyn Sink,
    line: u64,
    record: &Value,
    explode: Option<&str>,
) -> Result<(), ExtractError> {
    let elements: Vec<Option<&Value>> = match explode {
        None => vec![None],
        Some(path) => match lookup(record, path) {
            Some(Value::Array(items)) if !items.is_empty() => items.iter().map(Some).collect(),
            // A record with an empty or missing array still yields a row (member fields NULL),
            // so that no record disappears.
            _ => vec![None],
        },
    };
    for el in elements {
        let mut raws: Vec<Option<Cow<'_, str>>> = Vec::with_capacity(spec.columns.len());
        for c in &spec.columns {
            let v = match &c.selector {
                Selector::Var(name) => file.vars.get(name).map(|s| Cow::Owned(s.clone())),
                Selector::Header(path) => {
                    let found = match (explode, el) {
                        (Some(prefix), Some(el))
                            if path.starts_with(prefix)
                                && path[prefix.len()..].starts_with('.') =>
                        {
                            lookup(el, &path[prefix.len() + 1..])
                        }
                        (Some(prefix), None)
                            if path.starts_with(prefix)
                                && path[prefix.len()..].starts_with('.') =>
                        {
                            None
                        }
                        _ => lookup(record, path),
                    };
                    found.and_then(scalar_text)
                }
                Selector::Regex(_) => None,
            };
            raws.push(v);
        }
        rows.push(sink, line, &raws)?;
    }
    Ok(())
}

fn lookup<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(v, |cur, key| match cur {
        Value::Object(m) => m.get(key),
        Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

fn scalar_text(v: &Value) -> Option<Cow<'static, str>> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(Cow::Owned(s.clone())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        // Lists (codes postaux…) are kept as `|`-joined text, objects as JSON text.
        Value::Array(a) => Some(Cow::Owned(
            a.iter()
                .map(|x| match x {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join("|"),
        )),
        Value::Object(_) => Some(Cow::Owned(v.to_string())),
    }
}

/// Streams the elements of a top-level array to a callback without holding the array.
pub(crate) struct Elements<'f, F: FnMut(Value) -> Result<(), String>>(pub(crate) &'f mut F);

impl<'de, F: FnMut(Value) -> Result<(), String>> DeserializeSeed<'de> for Elements<'_, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(Value) -> Result<(), String>> Visitor<'de> for Elements<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<Value>()? {
            (self.0)(v).map_err(A::Error::custom)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{run, spec};

    const EPCI: &str = "name: ref.epci\nsource: { path: e.json, json: { explode: membres } }\ncolumns:\n  siren: { from: code, type: code, width: 9 }\n  type: { from: type }\n  membre: { from: membres.code, type: code, width: 5 }\n  pop: { from: membres.populationTotale, type: int64 }\n";

    #[test]
    fn explodes_nested_members_of_an_array() {
        let doc = r#"[{"code":"200000172","type":"CC","membres":[{"code":"74042","populationTotale":13736},{"code":"1001","populationTotale":860}]},
                      {"code":"200000173","type":"CA","membres":[]}]"#;
        let (sink, r) = run(&spec(EPCI), "e.json", doc.as_bytes());
        let stats = r.unwrap();
        assert_eq!(stats.rows_read, 3);
        assert_eq!(
            sink.column("siren"),
            vec!["200000172", "200000172", "200000173"]
        );
        assert_eq!(sink.column("membre"), vec!["74042", "01001", ""]);
        assert_eq!(sink.column("pop"), vec!["13736", "860", ""]);
    }

    #[test]
    fn ndjson_with_a_bad_line_is_rejected_not_fatal() {
        let yaml = "name: a.b\nsource: { path: e.ndjson }\ncolumns:\n  code: { from: code, type: code }\n  n: { from: n, type: int32 }\n";
        let doc = "{\"code\":\"01001\",\"n\":1}\n{broken\n\n{\"code\":\"2A004\",\"n\":\"x\"}\n";
        let (sink, r) = run(&spec(yaml), "e.ndjson", doc.as_bytes());
        let stats = r.unwrap();
        assert_eq!((stats.rows_read, stats.rows_rejected), (3, 2));
        assert_eq!(sink.rejects[0].line, 2);
        assert_eq!(
            (sink.rejects[1].line, sink.rejects[1].column.as_deref()),
            (4, Some("n"))
        );
        assert_eq!(sink.column("code"), vec!["01001"]);
    }

    #[test]
    fn records_path_and_truncated_documents() {
        let yaml = "name: a.b\nsource: { path: e.json, json: { records: data.items } }\ncolumns:\n  code: { from: code, type: code }\n";
        let (sink, r) = run(
            &spec(yaml),
            "e.json",
            br#"{"data":{"items":[{"code":"971"}]}}"#,
        );
        r.unwrap();
        assert_eq!(sink.column("code"), vec!["971"]);
        let (_, r) = run(
            &spec(EPCI),
            "t.json",
            br#"[{"code":"200000172","membres":[{"code":"74"#,
        );
        let e = r.unwrap_err().to_string();
        assert!(e.contains("t.json") && e.contains("invalid JSON"), "{e}");
    }
}
