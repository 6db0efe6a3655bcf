//! How deep a Parquet file's schema nests, read from its footer before the parquet crate
//! reads it. parquet 59 builds the schema tree by recursion, one call per level and without
//! a limit: a footer of 8 MB nesting a million groups overflows the stack, which aborts the
//! process (a refresh, a server refreshing on a schedule) with no panic to contain. Real
//! schemas nest a few levels; a file past [`MAX_DEPTH`] is refused.
//!
//! The footer is Thrift's compact protocol (`FileMetaData`); only its field 2, the schema as
//! a flat list of `SchemaElement` in depth-first order, is looked at, and of each element
//! only `num_children` (field 5). Everything else is skipped by its type, with a bound on the
//! nesting of structs and lists (a footer is not trusted either).

/// The deepest schema read; parquet-rs and Arrow handle far more, real files far less.
pub const MAX_DEPTH: usize = 256;

/// Structs and lists inside one another beyond this are a damaged footer (real ones nest a
/// handful); the skim's own recursion stays bounded.
const MAX_NESTING: usize = 64;

/// The deepest nesting of the schema in `footer` (the Thrift bytes of `FileMetaData`); `Err`
/// when the footer cannot be skimmed (the parquet crate then says what is wrong with it).
pub fn schema_depth(footer: &[u8]) -> Result<usize, &'static str> {
    let mut r = Reader { buf: footer, at: 0 };
    let mut last_id = 0i16;
    loop {
        let Some((id, kind)) = r.field_header(&mut last_id)? else {
            return Ok(0);
        };
        if id == 2 && kind == LIST {
            return r.schema();
        }
        r.skip(kind, 0)?;
    }
}

const TRUE: u8 = 1;
const FALSE: u8 = 2;
const BYTE: u8 = 3;
const I16: u8 = 4;
const I32: u8 = 5;
const I64: u8 = 6;
const DOUBLE: u8 = 7;
const BINARY: u8 = 8;
const LIST: u8 = 9;
const SET: u8 = 10;
const MAP: u8 = 11;
const STRUCT: u8 = 12;
const UUID: u8 = 13;

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, &'static str> {
        let b = *self.buf.get(self.at).ok_or("the footer ends early")?;
        self.at += 1;
        Ok(b)
    }

    fn advance(&mut self, n: u64) -> Result<(), &'static str> {
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.at.checked_add(n))
            .filter(|end| *end <= self.buf.len())
            .ok_or("the footer ends early")?;
        self.at = end;
        Ok(())
    }

    fn varint(&mut self) -> Result<u64, &'static str> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a varint is too long")
    }

    fn zigzag(&mut self) -> Result<i64, &'static str> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    /// The next field's id and type, or None at the struct's end.
    fn field_header(&mut self, last_id: &mut i16) -> Result<Option<(i16, u8)>, &'static str> {
        let b = self.byte()?;
        let kind = b & 0x0f;
        if kind == 0 {
            return Ok(None);
        }
        let delta = (b >> 4) as i16;
        *last_id = if delta == 0 {
            i16::try_from(self.zigzag()?).map_err(|_| "a field id is out of range")?
        } else {
            last_id.wrapping_add(delta)
        };
        Ok(Some((*last_id, kind)))
    }

    /// A list's or set's element type and size.
    fn list_header(&mut self) -> Result<(u8, u64), &'static str> {
        let b = self.byte()?;
        let size = match b >> 4 {
            15 => self.varint()?,
            n => u64::from(n),
        };
        Ok((b & 0x0f, size))
    }

    fn skip(&mut self, kind: u8, nesting: usize) -> Result<(), &'static str> {
        if matches!(kind, LIST | SET | MAP | STRUCT) && nesting >= MAX_NESTING {
            return Err("containers nest too deep");
        }
        match kind {
            TRUE | FALSE => Ok(()),
            BYTE => self.advance(1),
            I16 | I32 | I64 => self.varint().map(drop),
            DOUBLE => self.advance(8),
            BINARY => {
                let n = self.varint()?;
                self.advance(n)
            }
            UUID => self.advance(16),
            LIST | SET => {
                let (elem, size) = self.list_header()?;
                for _ in 0..size {
                    self.skip_element(elem, nesting + 1)?;
                }
                Ok(())
            }
            MAP => {
                let size = self.varint()?;
                if size == 0 {
                    return Ok(());
                }
                let kinds = self.byte()?;
                for _ in 0..size {
                    self.skip_element(kinds >> 4, nesting + 1)?;
                    self.skip_element(kinds & 0x0f, nesting + 1)?;
                }
                Ok(())
            }
            STRUCT => {
                let mut last_id = 0;
                while let Some((_, k)) = self.field_header(&mut last_id)? {
                    self.skip(k, nesting + 1)?;
                }
                Ok(())
            }
            _ => Err("an unknown Thrift type"),
        }
    }

    /// An element of a list, set or map: a boolean there takes a byte (in a struct, its
    /// field header holds it). So every element takes at least a byte, and a size that the
    /// bytes cannot hold ends with them instead of looping.
    fn skip_element(&mut self, kind: u8, nesting: usize) -> Result<(), &'static str> {
        if kind == TRUE || kind == FALSE {
            self.advance(1)
        } else {
            self.skip(kind, nesting)
        }
    }

    /// The depth of the schema list at the cursor.
    fn schema(&mut self) -> Result<usize, &'static str> {
        let (elem, size) = self.list_header()?;
        if elem != STRUCT {
            return Err("the schema is not a list of elements");
        }
        // Children still expected at each open level, innermost last.
        let mut open: Vec<i64> = Vec::new();
        let mut deepest = 0;
        for _ in 0..size {
            let mut children = 0i64;
            let mut last_id = 0;
            while let Some((id, kind)) = self.field_header(&mut last_id)? {
                if id == 5 && kind == I32 {
                    children = self.zigzag()?;
                } else {
                    self.skip(kind, 1)?;
                }
            }
            if let Some(left) = open.last_mut() {
                *left -= 1;
            }
            if children > 0 {
                open.push(children);
                deepest = deepest.max(open.len());
            }
            while open.last() == Some(&0) {
                open.pop();
            }
        }
        Ok(deepest)
    }
}

/// A Parquet file whose schema nests `levels` groups, each with one child, around one
/// column (the footer only: no row group).
#[cfg(test)]
pub(crate) fn deep_parquet(levels: usize) -> Vec<u8> {
    let mut elements = vec![("root", Some(1))];
    elements.extend(std::iter::repeat_n(("g", Some(1)), levels));
    elements.push(("x", None));
    let footer = tests::footer(&elements);
    let len = u32::try_from(footer.len()).unwrap().to_le_bytes();
    [b"PAR1".as_slice(), &footer, &len, b"PAR1"].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compact-protocol bytes of a `FileMetaData` whose schema is `elements`, each
    /// (name, num_children), with a version before and the row count after it.
    pub(crate) fn footer(elements: &[(&str, Option<i32>)]) -> Vec<u8> {
        let zz = |v: i64| varint(((v << 1) ^ (v >> 63)) as u64);
        let mut f = vec![0x15];
        f.extend(zz(2)); // 1: version
        f.push(0x19); // 2: schema, a list
        f.push(0xf0 | STRUCT);
        f.extend(varint(elements.len() as u64));
        for (name, children) in elements {
            f.push(0x35); // 3: repetition_type
            f.extend(zz(1));
            f.push(0x18); // 4: name
            f.extend(varint(name.len() as u64));
            f.extend(name.as_bytes());
            if let Some(c) = children {
                f.push(0x15); // 5: num_children
                f.extend(zz(i64::from(*c)));
            }
            f.push(0x2c); // a struct two ids on (as logicalType, a union, is)
            f.push(0x15);
            f.extend(zz(9));
            f.push(0);
            f.push(0);
        }
        f.push(0x16); // 3: num_rows
        f.extend(zz(0));
        f.push(0);
        f
    }

    fn varint(mut n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    #[test]
    fn the_depth_of_flat_nested_and_very_deep_schemas() {
        // root { a, b { c, d { e } } }: root, b and d each open a level.
        let nested = [
            ("root", Some(2)),
            ("a", None),
            ("b", Some(2)),
            ("c", None),
            ("d", Some(1)),
            ("e", None),
        ];
        assert_eq!(schema_depth(&footer(&nested)), Ok(3));
        assert_eq!(
            schema_depth(&footer(&[("root", Some(2)), ("a", None), ("b", None)])),
            Ok(1)
        );
        let deep = deep_parquet(100_000);
        assert_eq!(schema_depth(&deep[4..deep.len() - 8]), Ok(100_001));
    }

    #[test]
    fn the_footers_the_parquet_crate_writes_measure_as_their_schema() {
        use arrow::array::{Array, ArrayRef, Int32Array, RecordBatch, StructArray};
        use arrow::datatypes::{DataType, Field};
        use std::sync::Arc;
        // flat, outer { inner { x } }: the root, outer and inner each open a level.
        let leaf: ArrayRef = Arc::new(Int32Array::from(vec![1, 2]));
        let inner = StructArray::from(vec![(
            Arc::new(Field::new("x", DataType::Int32, true)),
            leaf.clone(),
        )]);
        let outer = StructArray::from(vec![(
            Arc::new(Field::new("inner", inner.data_type().clone(), true)),
            Arc::new(inner) as ArrayRef,
        )]);
        let batch =
            RecordBatch::try_from_iter([("flat", leaf), ("outer", Arc::new(outer) as ArrayRef)])
                .unwrap();
        let mut file = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut file, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let n = file.len();
        let len = u32::from_le_bytes(file[n - 8..n - 4].try_into().unwrap()) as usize;
        assert_eq!(schema_depth(&file[n - 8 - len..n - 8]), Ok(3));
    }

    #[test]
    fn damaged_footers_are_errors_not_panics_nor_recursion() {
        let f = footer(&[("root", Some(1)), ("x", None)]);
        for cut in 0..f.len() {
            // every prefix either fails or (cut after the schema) still measures it
            let _ = schema_depth(&f[..cut]);
        }
        // a struct nested a million times, then a list in a list a million times
        let mut f = vec![0x19, 0x1c];
        f.extend(std::iter::repeat_n(0x1c, 1_000_000));
        assert_eq!(schema_depth(&f), Err("containers nest too deep"));
        let f = vec![0x19; 1_000_000];
        assert_eq!(schema_depth(&f), Err("containers nest too deep"));
        // a list claiming 2^60 elements ends with the bytes, and so does a map of booleans
        let mut f = vec![0x19, 0xfc];
        f.extend(varint(1 << 60));
        assert_eq!(schema_depth(&f), Err("the footer ends early"));
        let mut f = vec![0x1b];
        f.extend(varint(1 << 60));
        f.push(0x11);
        assert_eq!(schema_depth(&f), Err("the footer ends early"));
    }
}
