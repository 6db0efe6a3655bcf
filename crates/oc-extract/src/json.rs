//! JSON sources: an array of objects, one object per line (NDJSON), or an array found at a
//! dotted path inside a top-level object, each streamed record by record (what is off the
//! path is skipped unbuilt: a document read whole could unpack from a `.gz` to many times
//! the memory of the machine). A nested array can be exploded into one row per element
//! (EPCI → `membres`).

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::io::{BufRead, Read};

use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::record_bound::{MAX_RECORD_BYTES, read_line, record_bound};
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
        (b'[', None) | (b'{', Some(_)) => {
            stream_records(name, input, spec.json.records.as_deref(), &mut |line, v| {
                on_record(&mut rows, sink, line, v)
            })?
        }
        (b'{', None) => {
            // NDJSON: one object per line.
            let mut line = Vec::new();
            let mut n = 0u64;
            loop {
                line.clear();
                let (read, over) = read_line(input, &mut line).map_err(|e| {
                    ExtractError::new(name, Some(n + 1), format!("cannot read: {e}"))
                })?;
                if read == 0 {
                    break;
                }
                if over {
                    return Err(ExtractError::new(
                        name,
                        Some(n + 1),
                        format!(
                            "a line longer than {}: not one record per line",
                            record_bound()
                        ),
                    )
                    .with_hint("a document over several lines needs json.records"));
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
    let hint = match e.classify() {
        serde_json::error::Category::Data => "check json.records and the shape of the document",
        _ => "the file may be truncated",
    };
    ExtractError::new(file, line, format!("invalid JSON: {e}")).with_hint(hint)
}

/// Streams the records of the document's top-level array, or of the array at `path` (keys
/// of objects, indexes of arrays) inside it, to `on_record` with their number: one record in
/// memory at a time, whatever the document's size (a compressed one may unpack to gigabytes).
fn stream_records(
    name: &str,
    input: &mut dyn BufRead,
    path: Option<&str>,
    on_record: &mut dyn FnMut(u64, Value) -> Result<(), ExtractError>,
) -> Result<(), ExtractError> {
    let bound = RecordBound::default();
    let mut de = serde_json::Deserializer::from_reader(bound.counting(input));
    let mut count = 0u64;
    let mut failure: Option<ExtractError> = None;
    let missing = std::cell::Cell::new(false);
    let mut each = |v: Value| {
        count += 1;
        on_record(count, v).map_err(|e| {
            failure = Some(e);
            "stopped".to_string()
        })
    };
    let segments: Vec<&str> = path.map(|p| p.split('.').collect()).unwrap_or_default();
    let res = AtPath {
        path: &segments,
        records: Elements {
            each: &mut each,
            bound: &bound,
        },
        missing: &missing,
    }
    .deserialize(&mut de);
    if let Some(e) = failure {
        return Err(e);
    }
    if bound.over() {
        let what = match bound.over_in_record() {
            true => format!("record {}", count + 1),
            false => "a key or a value on the way to the records".into(),
        };
        return Err(ExtractError::new(
            name,
            res.err().map(|e| e.line() as u64).filter(|l| *l > 0),
            format!("{what} is longer than {} of JSON", record_bound()),
        )
        .with_hint(
            "check that json.records names the array of records, not an array holding them",
        ));
    }
    if missing.get() {
        return Err(ExtractError::new(
            name,
            None,
            format!("no array at `{}`", path.unwrap_or_default()),
        )
        .with_hint("check json.records"));
    }
    res.map_err(|e| json_error(name, e))?;
    de.end().map_err(|e| json_error(name, e))
}

/// The way down to the records' array: the path's keys and indexes left, the records' seed
/// at its end. Values off the path are skipped without being built; `missing` is set when
/// a key or an index is not there.
struct AtPath<'p, 'f, F: FnMut(Value) -> Result<(), String>> {
    path: &'p [&'p str],
    records: Elements<'f, F>,
    missing: &'p std::cell::Cell<bool>,
}

impl<'de, F: FnMut(Value) -> Result<(), String>> DeserializeSeed<'de> for AtPath<'_, '_, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.path.is_empty() {
            self.records.deserialize(d)
        } else {
            d.deserialize_any(self)
        }
    }
}

impl<F: FnMut(Value) -> Result<(), String>> AtPath<'_, '_, F> {
    /// A value on the way that holds nothing (a number, a string, null).
    fn not_here<E: serde::de::Error>(&self) -> Result<(), E> {
        self.missing.set(true);
        Err(E::custom("no array at the records' path"))
    }
}

impl<'de, F: FnMut(Value) -> Result<(), String>> Visitor<'de> for AtPath<'_, '_, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an object or an array holding `{}`", self.path.join("."))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (key, rest) = (self.path[0], &self.path[1..]);
        // A key, or a scalar where the path goes on, is read whole: bounded as a record.
        let bound = self.records.bound;
        let mut records = Some(self.records);
        loop {
            bound.enter();
            let k = map.next_key::<Cow<'de, str>>();
            bound.leave();
            let Some(k) = k? else { break };
            if k != key {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            // A document parsed whole keeps the last of two equal keys; streamed, the first
            // is read: rather than choose silently, the file is refused.
            let Some(records) = records.take() else {
                return Err(A::Error::custom(format!(
                    "the key `{key}` appears twice on the way to the records"
                )));
            };
            bound.enter();
            map.next_value_seed(AtPath {
                path: rest,
                records,
                missing: self.missing,
            })?;
            bound.leave();
        }
        if records.is_some() {
            self.missing.set(true);
            return Err(A::Error::custom("no array at the records' path"));
        }
        Ok(())
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.not_here()
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.not_here()
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.not_here()
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.not_here()
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.not_here()
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.not_here()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (key, rest) = (self.path[0], &self.path[1..]);
        let mut records = Some(self.records);
        let wanted = key.parse::<usize>().ok();
        let mut i = 0;
        loop {
            let here = if Some(i) == wanted {
                records.take()
            } else {
                None
            };
            let more = match here {
                Some(records) => {
                    let bound = records.bound;
                    bound.enter();
                    let more = seq
                        .next_element_seed(AtPath {
                            path: rest,
                            records,
                            missing: self.missing,
                        })?
                        .is_some();
                    bound.leave();
                    more
                }
                None => seq.next_element::<IgnoredAny>()?.is_some(),
            };
            if !more {
                break;
            }
            i += 1;
        }
        // An index past the end: the seed was taken for no element.
        if records.is_some() || wanted.is_none_or(|w| w >= i) {
            self.missing.set(true);
            return Err(A::Error::custom("no array at the records' path"));
        }
        Ok(())
    }
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

/// Streams the elements of a top-level array to a callback without holding the array, each
/// within [`MAX_RECORD_BYTES`] of the text `bound` counts.
pub(crate) struct Elements<'f, F: FnMut(Value) -> Result<(), String>> {
    pub(crate) each: &'f mut F,
    pub(crate) bound: &'f RecordBound,
}

/// The bytes a JSON parser has read (through [`RecordBound::counting`]), and where the record
/// being parsed started: past [`MAX_RECORD_BYTES`] from there the read fails, and `over`
/// tells that failure from the file's own. A key, or a value read whole off the records,
/// is bounded the same way ([`RecordBound::enter`]).
#[derive(Default)]
pub(crate) struct RecordBound {
    read: Cell<u64>,
    /// Where the bounded part started, and whether it is a record.
    start: Cell<Option<(u64, bool)>>,
    /// The read stopped at the bound: in a record (`Some(true)`) or elsewhere.
    over: Cell<Option<bool>>,
}

impl RecordBound {
    pub(crate) fn counting<R: Read>(&self, inner: R) -> Counting<'_, R> {
        Counting { inner, bound: self }
    }

    /// Whether the read stopped at the bound.
    pub(crate) fn over(&self) -> bool {
        self.over.get().is_some()
    }

    /// Whether it stopped in a record, not in a key or a value around the records.
    pub(crate) fn over_in_record(&self) -> bool {
        self.over.get() == Some(true)
    }

    /// A key, or a value read whole, starts here.
    pub(crate) fn enter(&self) {
        self.start.set(Some((self.read.get(), false)));
    }

    /// A record starts here.
    pub(crate) fn enter_record(&self) {
        self.start.set(Some((self.read.get(), true)));
    }

    pub(crate) fn leave(&self) {
        self.start.set(None);
    }
}

pub(crate) struct Counting<'b, R> {
    inner: R,
    bound: &'b RecordBound,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = self.bound.read.get() + n as u64;
        self.bound.read.set(read);
        if let Some((start, record)) = self.bound.start.get()
            && read - start > MAX_RECORD_BYTES
        {
            self.bound.over.set(Some(record));
            return Err(std::io::Error::other("a record past the bound"));
        }
        Ok(n)
    }
}

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
        loop {
            self.bound.enter_record();
            let next = seq.next_element::<Value>()?;
            self.bound.leave();
            let Some(v) = next else { break };
            (self.each)(v).map_err(A::Error::custom)?;
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
        // A line up to the bound (4 KiB in tests, 64 MiB else) is a record; past it, the file
        // is refused at that line instead of read into memory whole.
        let long = format!("{{\"code\":\"{}\",\"n\":2}}\n", "7".repeat(4000));
        let (sink, r) = run(&spec(yaml), "e.ndjson", format!("{doc}{long}").as_bytes());
        assert_eq!(r.unwrap().rows_read, 4);
        assert_eq!(sink.column("code")[1].len(), 4000);
        let longer = format!("{doc}{{\"code\":\"{}\"}}\n", "7".repeat(5000));
        let (_, r) = run(&spec(yaml), "e.ndjson", longer.as_bytes());
        let e = r.unwrap_err().to_string();
        assert!(
            e.starts_with("e.ndjson:5: a line longer than")
                && e.contains("not one record per line")
                && e.contains("json.records"),
            "{e}"
        );
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

    #[test]
    fn a_record_past_the_bound_is_the_files_error_not_held_whole() {
        // Up to the bound (4 KiB in tests, 64 MiB else) a record is read, whatever comes
        // before it off the path (skipped unbuilt, so not bounded); past it the file is refused
        // at that record, in a top-level array as at a path.
        let record = |n: usize| format!("{{\"code\":\"{}\"}}", "7".repeat(n));
        let off_path = format!("{{\"meta\":[{}],", record(6000));
        let doc = format!("{off_path}\"data\":[{},{}]}}", record(10), record(4000));
        assert_eq!(at_path("data", &doc).unwrap()[1].len(), 4000);
        let doc = format!("{off_path}\"data\":[{},\n{}]}}", record(10), record(5000));
        let e = at_path("data", &doc).unwrap_err();
        assert!(
            e.starts_with("e.json:2: record 2 is longer than 4096 bytes of JSON")
                && e.contains("json.records"),
            "{e}"
        );
        let yaml =
            "name: a.b\nsource: { path: e.json }\ncolumns:\n  code: { from: code, type: code }\n";
        let doc = format!("[{}, {}]", record(10), record(5000));
        let e = run(&spec(yaml), "e.json", doc.as_bytes()).1.unwrap_err();
        assert!(e.to_string().contains("record 2 is longer than"), "{e}");
        // A key on the way, or a value read whole where the path goes on, is bounded too.
        let e = at_path(
            "data",
            &format!("{{\"{}\":1,\"data\":[]}}", "k".repeat(5000)),
        )
        .unwrap_err();
        assert!(
            e.contains("a key or a value on the way to the records is longer than 4096 bytes"),
            "{e}"
        );
        let e = at_path("data.x", &format!("{{\"data\":\"{}\"}}", "v".repeat(5000))).unwrap_err();
        assert!(e.contains("a key or a value on the way"), "{e}");
        // A value skipped off the path is not held, so not bounded (above: `meta`).
        assert_eq!(
            at_path(
                "data",
                &format!(
                    "{{\"k\":\"{}\",\"data\":[{}]}}",
                    "v".repeat(5000),
                    record(3)
                )
            )
            .unwrap(),
            ["777"]
        );
    }

    /// The error of reading `doc` with `json.records: path`, or its codes.
    fn at_path(path: &str, doc: &str) -> Result<Vec<String>, String> {
        let yaml = format!(
            "name: a.b\nsource: {{ path: e.json, json: {{ records: {path} }} }}\ncolumns:\n  code: {{ from: code, type: code }}\n"
        );
        let (sink, r) = run(&spec(&yaml), "e.json", doc.as_bytes());
        r.map(|_| sink.column("code")).map_err(|e| e.to_string())
    }

    #[test]
    fn records_at_a_path_are_streamed_past_what_is_off_the_path() {
        // Keys before and after, deep values off the path, indexes of arrays.
        let doc = r#"{"meta":{"a":[1,{"b":[[{"code":"x"}]]}],"n":null},"data":[{"items":5},
                      {"skip":"\"}","items":[{"code":"971"},{"code":"2A004"}]}],"after":[{"code":"y"}]}"#;
        assert_eq!(at_path("data.1.items", doc).unwrap(), vec!["971", "2A004"]);
        assert_eq!(at_path("after", doc).unwrap(), vec!["y"]);
        // Not there: a missing key, an index past the end or not a number, a value that holds
        // nothing on the way: the path's error, with what to check.
        for path in [
            "data.1.nope",
            "data.2.items",
            "data.x.items",
            "data.0.items.code",
            "meta.n.x",
        ] {
            let e = at_path(path, doc).unwrap_err();
            assert!(
                e.contains(&format!("no array at `{path}`")) && e.contains("check json.records"),
                "{path}: {e}"
            );
        }
        // At the end of the path, something other than an array.
        let e = at_path("meta", doc).unwrap_err();
        assert!(
            e.contains("expected an array of records") && e.contains("check json.records"),
            "{e}"
        );
        // Two equal keys on the way: the file is refused rather than one of them chosen.
        let e = at_path("data", r#"{"data":[{"code":"1"}],"data":[{"code":"2"}]}"#).unwrap_err();
        assert!(e.contains("the key `data` appears twice"), "{e}");
        // A document cut short is still a truncated file.
        let e = at_path("data", r#"{"data":[{"code":"1"},{"co"#).unwrap_err();
        assert!(e.contains("the file may be truncated"), "{e}");
    }
}
