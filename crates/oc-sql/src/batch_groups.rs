//! The rows of one batch grouped by equal keys, for run_sums.rs when the keys do not come in
//! runs: a small hash table of the batch's own keys, each key read as one 128-bit word.
//!
//! On the clustered lake the communes of a row group come back once per account, so bench q3's
//! 16 M rows hold some 440 keys per batch of 8,192 rows. DataFusion's aggregation hashes each
//! row's strings into a table of all 53 K groups (`aggregation_time` 252 ms of CPU at 20 M
//! rows); a table of one batch's keys stays in the processor's cache, and a short code is its
//! own word: a string of at most 12 bytes is held whole in its 16-byte view (length, then the
//! bytes, zero-padded), so two such views are equal exactly when the strings are.
//!
//! Keys that are the same on every row of the batch (a partition column: one value per file)
//! are left out of the words. A key of another type, or a string longer than 12 bytes, makes
//! the batch ungroupable here ([`BatchGroups::group`] says so), and it goes on ungrouped.

use std::borrow::Cow;

use arrow::array::{Array, ArrayRef, AsArray, make_view};
use arrow::datatypes::{
    DataType, Date32Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use datafusion::common::Result;

use crate::runs::differs_from_previous;

/// A NULL key's word: no 12-byte-or-shorter string's view and no 64-bit integer is this
/// (integers are zero-extended to 128 bits: a sign-extended -1, or a 128-bit key, would be).
const NULL_WORD: u128 = u128::MAX;

/// Longest string held whole in its view.
const INLINE: u32 = 12;

/// The groups of the last batch grouped, and the table reused from batch to batch.
#[derive(Debug, Default)]
pub(crate) struct BatchGroups {
    table: Vec<u32>,
    /// Each row's group.
    pub(crate) group_of: Vec<u32>,
    /// Each group's first row.
    pub(crate) first_rows: Vec<u32>,
    /// How many groups the batch before had.
    last_groups: usize,
}

impl BatchGroups {
    /// Groups the rows by `keys` (equal-length arrays, at least one row); false when some key
    /// cannot be read as words, and then nothing is grouped.
    pub(crate) fn group(&mut self, keys: &[ArrayRef]) -> Result<bool> {
        let n = keys.first().map_or(0, |k| k.len());
        let mut columns: Vec<Cow<'_, [u128]>> = Vec::new();
        for k in keys {
            if constant_ints(k) {
                continue;
            }
            match words(k) {
                Some(w) => {
                    if w.iter().any(|x| *x != w[0]) {
                        columns.push(w);
                    }
                }
                None => {
                    // Another type: left out only when it is the same on every row.
                    if n > 1
                        && differs_from_previous(std::slice::from_ref(k))?
                            .is_some_and(|d| d.true_count() > 0)
                    {
                        return Ok(false);
                    }
                }
            }
        }
        self.group_of.clear();
        self.first_rows.clear();
        if columns.is_empty() {
            self.group_of.resize(n, 0);
            self.first_rows.push(0);
            self.last_groups = 1;
            return Ok(true);
        }
        match columns.as_slice() {
            [one] => self.assign(n, |i| mix(0, one[i]), |a, b| one[a] == one[b]),
            many => self.assign(
                n,
                |i| many.iter().fold(0, |h, c| mix(h, c[i])),
                |a, b| many.iter().all(|c| c[a] == c[b]),
            ),
        }
        Ok(true)
    }

    /// Each of `n` rows to its group: the group of the first earlier row `equal` to it, or a
    /// new one. The table starts at four slots per group of the batch before (so that it
    /// stays in the processor's cache, where one slot per row would not) and doubles whenever
    /// it is half full.
    fn assign(
        &mut self,
        n: usize,
        hash: impl Fn(usize) -> u64,
        equal: impl Fn(usize, usize) -> bool,
    ) {
        let most = (2 * n).next_power_of_two().max(16);
        let mut size = (4 * self.last_groups).next_power_of_two().clamp(16, most);
        self.table.clear();
        self.table.resize(size, 0);
        for i in 0..n {
            let bits = size.trailing_zeros();
            let mask = size - 1;
            let mut s = (hash(i) >> (64 - bits)) as usize;
            let g = loop {
                let e = self.table[s];
                if e == 0 {
                    let g = self.first_rows.len() as u32;
                    self.first_rows.push(i as u32);
                    self.table[s] = g + 1;
                    break g;
                }
                if equal(self.first_rows[e as usize - 1] as usize, i) {
                    break e - 1;
                }
                s = (s + 1) & mask;
            };
            self.group_of.push(g);
            if self.first_rows.len() * 2 > size {
                size *= 2;
                self.rehash(size, &hash);
            }
        }
        self.last_groups = self.first_rows.len();
    }

    /// The table at `size` slots, each group placed anew by its first row's hash.
    fn rehash(&mut self, size: usize, hash: &impl Fn(usize) -> u64) {
        let bits = size.trailing_zeros();
        self.table.clear();
        self.table.resize(size, 0);
        for (g, row) in self.first_rows.iter().enumerate() {
            let mut s = (hash(*row as usize) >> (64 - bits)) as usize;
            while self.table[s] != 0 {
                s = (s + 1) & (size - 1);
            }
            self.table[s] = g as u32 + 1;
        }
    }
}

/// `h` and the word `w` mixed into one hash (its high bits pick the slot): each half
/// multiplied in turn, so that every bit of both reaches the high bits.
fn mix(h: u64, w: u128) -> u64 {
    let lo = ((w as u64) ^ h).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (lo ^ (w >> 64) as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9)
}

/// Whether `k` is an integer column without NULLs holding one value (a partition column),
/// checked before making words of it.
fn constant_ints(k: &ArrayRef) -> bool {
    fn same<T: arrow::datatypes::ArrowPrimitiveType>(k: &ArrayRef) -> bool {
        let v = k.as_primitive::<T>().values();
        v.iter().all(|x| *x == v[0])
    }
    if k.is_empty() || k.logical_null_count() > 0 {
        return false;
    }
    match k.data_type() {
        DataType::Int16 => same::<Int16Type>(k),
        DataType::Int32 => same::<Int32Type>(k),
        DataType::Int64 => same::<Int64Type>(k),
        DataType::UInt16 => same::<UInt16Type>(k),
        DataType::UInt32 => same::<UInt32Type>(k),
        DataType::UInt64 => same::<UInt64Type>(k),
        DataType::Date32 => same::<Date32Type>(k),
        _ => false,
    }
}

/// Each row of `k` as a word equal to another row's exactly when the keys are equal (NULL
/// equal to NULL, as in grouping); None for a type without such words, or strings longer than
/// [`INLINE`] bytes. (DataFusion reads Parquet strings as views; other sources give `Utf8`.)
fn words(k: &ArrayRef) -> Option<Cow<'_, [u128]>> {
    let nulls = k.logical_nulls();
    let valid = |i: usize| nulls.as_ref().is_none_or(|n| n.is_valid(i));
    let mut w: Vec<u128> = match k.data_type() {
        DataType::Utf8View => {
            let views = k.as_string_view().views();
            if nulls.is_none() {
                // The views themselves, uncopied.
                return views
                    .iter()
                    .all(|v| *v as u32 <= INLINE)
                    .then_some(Cow::Borrowed(&views[..]));
            }
            if !views
                .iter()
                .enumerate()
                .all(|(i, v)| *v as u32 <= INLINE || !valid(i))
            {
                return None;
            }
            views.to_vec()
        }
        DataType::Utf8 => short_strings(k.as_string::<i32>().iter())?,
        DataType::LargeUtf8 => short_strings(k.as_string::<i64>().iter())?,
        DataType::Int8 => ints::<Int8Type>(k),
        DataType::Int16 => ints::<Int16Type>(k),
        DataType::Int32 => ints::<Int32Type>(k),
        DataType::Int64 => ints::<Int64Type>(k),
        DataType::UInt8 => ints::<UInt8Type>(k),
        DataType::UInt16 => ints::<UInt16Type>(k),
        DataType::UInt32 => ints::<UInt32Type>(k),
        DataType::UInt64 => ints::<UInt64Type>(k),
        DataType::Date32 => ints::<Date32Type>(k),
        _ => return None,
    };
    if let Some(nulls) = &nulls {
        for (i, word) in w.iter_mut().enumerate() {
            if nulls.is_null(i) {
                *word = NULL_WORD;
            }
        }
    }
    Some(Cow::Owned(w))
}

/// Strings of at most [`INLINE`] bytes as the views that hold them (NULL as [`NULL_WORD`]);
/// None when one is longer.
fn short_strings<'a>(strings: impl Iterator<Item = Option<&'a str>>) -> Option<Vec<u128>> {
    strings
        .map(|s| match s {
            None => Some(NULL_WORD),
            Some(s) if s.len() <= INLINE as usize => Some(make_view(s.as_bytes(), 0, 0)),
            Some(_) => None,
        })
        .collect()
}

/// Integers as words: their 64-bit two's complement, zero-extended (never [`NULL_WORD`]).
fn ints<T>(k: &ArrayRef) -> Vec<u128>
where
    T: arrow::datatypes::ArrowPrimitiveType,
    T::Native: Into<i128> + Copy,
{
    k.as_primitive::<T>()
        .values()
        .iter()
        .map(|v| {
            let v: i128 = (*v).into();
            u128::from(v as u64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringViewArray};
    use std::collections::HashMap;
    use std::sync::Arc;

    /// Each row's group as the first earlier row with the same key decides it.
    fn reference<K: std::hash::Hash + Eq + Clone>(keys: &[K]) -> (Vec<u32>, Vec<u32>) {
        let mut first: HashMap<K, u32> = HashMap::new();
        let mut first_rows = vec![];
        let group_of = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                *first.entry(k.clone()).or_insert_with(|| {
                    first_rows.push(i as u32);
                    first_rows.len() as u32 - 1
                })
            })
            .collect();
        (group_of, first_rows)
    }

    /// Batches with few, then many, then few groups: the table grows past its first size and
    /// starts small again, and every row lands in the group of the first row like it.
    #[test]
    fn same_groups_as_a_hash_map_as_the_table_grows() {
        let mut g = BatchGroups::default();
        for (n, distinct) in [(8192, 40), (8192, 5000), (8192, 3), (1000, 997), (1, 1)] {
            let keys: Vec<Option<i64>> = (0..n)
                .map(|i| {
                    let k = (i * 7919) % distinct;
                    (k % 17 != 3).then_some(k as i64 - 2000)
                })
                .collect();
            let codes: Vec<Option<String>> =
                keys.iter().map(|k| k.map(|k| format!("{k}"))).collect();
            let ints: ArrayRef = Arc::new(Int64Array::from(keys.clone()));
            let views: ArrayRef = Arc::new(StringViewArray::from(codes.clone()));
            let parity: ArrayRef =
                Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| i % 2)));
            assert!(g.group(&[Arc::clone(&ints)]).unwrap());
            assert_eq!((g.group_of.clone(), g.first_rows.clone()), reference(&keys));
            assert!(g.group(&[Arc::clone(&views)]).unwrap());
            assert_eq!(
                (g.group_of.clone(), g.first_rows.clone()),
                reference(&codes)
            );
            assert!(g.group(&[Arc::clone(&views), parity]).unwrap());
            let pairs: Vec<(Option<String>, usize)> =
                codes.iter().cloned().zip((0..n).map(|i| i % 2)).collect();
            assert_eq!(
                (g.group_of.clone(), g.first_rows.clone()),
                reference(&pairs)
            );
        }
    }

    #[test]
    fn groups_a_batch_by_words() {
        use arrow::array::{Float64Array, Int32Array};
        let codes: ArrayRef = Arc::new(StringViewArray::from(vec![
            Some("01001"),
            Some("2A004"),
            None,
            Some("01001"),
            Some("2A004"),
            None,
            Some("971"),
        ]));
        let same: ArrayRef = Arc::new(Int64Array::from(vec![2024; 7]));
        let years: ArrayRef = Arc::new(Int32Array::from(vec![
            Some(2023),
            Some(2023),
            Some(2023),
            Some(2024),
            Some(2023),
            None,
            Some(2023),
        ]));
        let mut g = BatchGroups::default();
        assert!(g.group(&[Arc::clone(&same), Arc::clone(&codes)]).unwrap());
        assert_eq!(g.group_of, [0, 1, 2, 0, 1, 2, 3]);
        assert_eq!(g.first_rows, [0, 1, 2, 6]);
        assert!(g.group(&[Arc::clone(&codes), years]).unwrap());
        assert_eq!(g.group_of, [0, 1, 2, 3, 1, 4, 5]);
        // Keys the same on every row: one group.
        assert!(g.group(&[Arc::clone(&same)]).unwrap());
        assert_eq!(
            (g.group_of.as_slice(), g.first_rows.as_slice()),
            (&[0; 7][..], &[0][..])
        );
        // Longer than a view holds, or a float: not grouped here.
        let long: ArrayRef = Arc::new(StringViewArray::from(vec!["a code of 13 b"; 7]));
        let mixed: ArrayRef = Arc::new(StringViewArray::from(vec![
            "short",
            "short",
            "a code of 13 b",
            "x",
            "x",
            "y",
            "y",
        ]));
        assert!(g.group(&[Arc::clone(&long)]).unwrap());
        assert!(!g.group(&[mixed]).unwrap());
        let floats: ArrayRef =
            Arc::new(Float64Array::from(vec![1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0]));
        assert!(!g.group(&[floats]).unwrap());
        // A value with NULLs is not constant; NULLs only are; unsigned past i64::MAX and
        // dates have words.
        let nullish: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(1),
            None,
            Some(1),
            Some(1),
            None,
            Some(1),
            Some(1),
        ]));
        assert!(g.group(&[Arc::clone(&nullish)]).unwrap());
        assert_eq!(g.group_of, [0, 1, 0, 0, 1, 0, 0]);
        let no_value: ArrayRef = Arc::new(Int64Array::from(vec![None::<i64>; 7]));
        assert!(g.group(&[no_value, Arc::clone(&codes)]).unwrap());
        assert_eq!(g.group_of, [0, 1, 2, 0, 1, 2, 3]);
        let big: ArrayRef = Arc::new(arrow::array::UInt64Array::from(vec![
            u64::MAX,
            0,
            u64::MAX,
            1 << 63,
            0,
            1 << 63,
            u64::MAX,
        ]));
        assert!(g.group(&[big]).unwrap());
        assert_eq!(g.group_of, [0, 1, 0, 2, 1, 2, 0]);
        let days: ArrayRef = Arc::new(arrow::array::Date32Array::from(vec![
            -1, 0, -1, 0, 19000, 19000, -1,
        ]));
        assert!(g.group(&[days, nullish]).unwrap());
        assert_eq!(g.group_of, [0, 1, 0, 2, 3, 4, 0]);
    }
}
