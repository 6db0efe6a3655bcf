//! Clustering (`target.cluster_by`): within each row group, rows are sorted by the declared
//! columns, so that the min/max statistics of row groups and pages each cover a narrow range
//! of those columns and readers skip what a filter on them excludes (`compte LIKE '6%'` reads
//! the pages of class 6 only). The order is local to each group of rows, not global: only
//! row groups are held in memory, never the table.

use std::collections::{HashMap, VecDeque};

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::row::{OwnedRow, Row, RowConverter, Rows, SortField};

use crate::scatter::{Buckets, scatter_batches};

/// Rows buffered over all partitions, in groups: past this, the largest buffer is sorted and
/// written early (a shorter row group) so that tables with many partitions stay in bounded
/// memory (1 Mi rows for the lake's groups of 128 Ki).
const MAX_PENDING_GROUPS: usize = 8;

pub struct Clusterer {
    /// Rows per sorted group: the row group size, so that each row group is one sorted run.
    group_rows: usize,
    /// The cluster columns, and their sortable form.
    keys: Vec<usize>,
    conv: RowConverter,
    partition_cols: Vec<usize>,
    /// None when the table is not partitioned.
    partition: Option<RowConverter>,
    /// Rows waiting for their group to fill up, per partition (rows of different partitions
    /// land in different files, so each partition's row groups are sorted on their own).
    /// (None: the table is not partitioned.)
    pending: HashMap<Option<OwnedRow>, Pending>,
    /// Partitions in the order they first came, so that output order is deterministic.
    order: Vec<Option<OwnedRow>>,
    pending_rows: usize,
}

#[derive(Default)]
struct Pending {
    batches: VecDeque<RecordBatch>,
    rows: usize,
}

impl Clusterer {
    /// Sorts by `cluster_by` (in order, nulls first) groups of `group_rows` rows of each
    /// partition.
    pub fn try_new(
        schema: SchemaRef,
        cluster_by: &[String],
        partition_by: &[String],
        group_rows: usize,
    ) -> Result<Self, ArrowError> {
        let index = |names: &[String]| -> Result<Vec<usize>, ArrowError> {
            names.iter().map(|n| schema.index_of(n)).collect()
        };
        let fields = |cols: &[usize]| -> Vec<SortField> {
            cols.iter()
                .map(|&i| SortField::new(schema.field(i).data_type().clone()))
                .collect()
        };
        let keys = index(cluster_by)?;
        let partition_cols = index(partition_by)?;
        let conv = RowConverter::new(fields(&keys))?;
        let partition = if partition_cols.is_empty() {
            None
        } else {
            Some(RowConverter::new(fields(&partition_cols))?)
        };
        Ok(Clusterer {
            group_rows: group_rows.max(1),
            keys,
            conv,
            partition_cols,
            partition,
            pending: HashMap::new(),
            order: Vec::new(),
            pending_rows: 0,
        })
    }

    /// Takes a batch; returns the groups it completes, each of one partition, to be sorted
    /// by [`Clusterer::sort`].
    pub fn push(&mut self, batch: RecordBatch) -> Result<Vec<Group>, ArrowError> {
        let mut out = Vec::new();
        match &self.partition {
            None => self.add(None, batch, &mut out),
            Some(conv) => {
                // Runs of equal partition values (usually one per source file).
                let cols: Vec<ArrayRef> = self
                    .partition_cols
                    .iter()
                    .map(|&i| batch.column(i).clone())
                    .collect();
                let rows = conv.convert_columns(&cols)?;
                let ranges = arrow::compute::partition(&cols)?.ranges();
                for r in ranges {
                    let key = rows.row(r.start).owned();
                    let slice = batch.slice(r.start, r.end - r.start);
                    self.add(Some(key), slice, &mut out);
                }
            }
        }
        // Bounded memory: the largest buffers go out early, as shorter sorted groups.
        while self.pending_rows > MAX_PENDING_GROUPS * self.group_rows {
            let Some(key) = self
                .order
                .iter()
                .max_by_key(|k| self.pending.get(*k).map_or(0, |p| p.rows))
                .cloned()
            else {
                break;
            };
            if let Some(b) = self.take(&key) {
                out.push(b);
            }
        }
        Ok(out)
    }

    /// The remainders of every partition.
    pub fn finish(&mut self) -> Vec<Group> {
        let mut out = Vec::new();
        for key in std::mem::take(&mut self.order) {
            if let Some(b) = self.take(&key) {
                out.push(b);
            }
        }
        self.pending.clear();
        self.pending_rows = 0;
        out
    }

    /// The group's rows in one batch, sorted by the cluster columns.
    pub fn sort(&self, group: Group) -> Result<RecordBatch, ArrowError> {
        sort_group(&self.conv, &self.keys, &group.0)
    }

    fn add(&mut self, key: Option<OwnedRow>, batch: RecordBatch, out: &mut Vec<Group>) {
        if !self.pending.contains_key(&key) {
            // A new partition usually means the previous ones are complete (sources come one
            // file, one year, at a time): their last rows go out now rather than all at the
            // end, when nothing else would run beside their encoding. Each partition starts
            // once, so interleaved partitions only cost short groups while they first appear.
            for k in self.order.clone() {
                if let Some(g) = self.take(&k) {
                    out.push(g);
                }
            }
            self.order.push(key.clone());
        }
        let p = self.pending.entry(key).or_default();
        p.rows += batch.num_rows();
        self.pending_rows += batch.num_rows();
        p.batches.push_back(batch);
        // Whole groups go out; the rest waits for the next batches.
        while p.rows >= self.group_rows {
            let mut group = Vec::new();
            let mut need = self.group_rows;
            while need > 0 {
                let Some(b) = p.batches.pop_front() else {
                    break;
                };
                if b.num_rows() <= need {
                    need -= b.num_rows();
                    group.push(b);
                } else {
                    group.push(b.slice(0, need));
                    p.batches.push_front(b.slice(need, b.num_rows() - need));
                    need = 0;
                }
            }
            p.rows -= self.group_rows;
            self.pending_rows -= self.group_rows;
            out.push(Group(group));
        }
    }

    /// Empties the buffer of one partition into a group (the partition keeps its place in
    /// `order`).
    fn take(&mut self, key: &Option<OwnedRow>) -> Option<Group> {
        let p = self.pending.get_mut(key).map(std::mem::take)?;
        self.pending_rows -= p.rows;
        (p.rows > 0).then(|| Group(p.batches.into_iter().collect()))
    }
}

/// Rows of one partition, in arrival order, to be sorted into one batch.
pub struct Group(Vec<RecordBatch>);

/// The rows of `group` (batches of one schema) in one batch, ordered by the `keys` columns;
/// equal keys keep their arrival order, so runs of the source's own order (communes, say)
/// stay together and compress well. Rows are copied once.
fn sort_group(
    conv: &RowConverter,
    keys: &[usize],
    group: &[RecordBatch],
) -> Result<RecordBatch, ArrowError> {
    let rows: Vec<Rows> = group
        .iter()
        .map(|b| {
            let cols: Vec<ArrayRef> = keys.iter().map(|&i| b.column(i).clone()).collect();
            conv.convert_columns(&cols)
        })
        .collect::<Result<_, _>>()?;
    let arrival: Vec<Row> = rows.iter().flat_map(|r| r.iter()).collect();
    let refs: Vec<&RecordBatch> = group.iter().collect();
    if arrival.windows(2).all(|w| w[0] <= w[1]) {
        return match group {
            [one] => Ok(one.clone()),
            _ => arrow::compute::concat_batches(&group[0].schema(), group),
        };
    }
    if let Some(buckets) = key_ranks(&arrival) {
        return scatter_batches(&refs, &buckets);
    }
    // Many distinct keys: a comparison sort (stable, and fast on presorted runs).
    let mut order: Vec<(usize, usize)> = rows
        .iter()
        .enumerate()
        .flat_map(|(b, r)| (0..r.num_rows()).map(move |i| (b, i)))
        .collect();
    order.sort_by(|&(a, i), &(b, j)| rows[a].row(i).cmp(&rows[b].row(j)));
    arrow::compute::interleave_record_batch(&refs, &order)
}

/// Each row's bucket is the rank of its key among the distinct keys: a counting sort, linear
/// in the rows when keys repeat (accounts, codes, years), which is what clustering is for.
/// None when more than one row in 8 has a key of its own.
fn key_ranks(arrival: &[Row]) -> Option<Buckets> {
    let limit = arrival.len() / 8 + 1;
    let mut ids: HashMap<Row, u32, foldhash::fast::RandomState> = HashMap::default();
    let mut of_row = Vec::with_capacity(arrival.len());
    for &key in arrival {
        let next = ids.len() as u32;
        of_row.push(*ids.entry(key).or_insert(next));
        if ids.len() > limit {
            return None;
        }
    }
    let mut distinct: Vec<(Row, u32)> = ids.into_iter().collect();
    distinct.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut rank = vec![0u32; distinct.len()];
    for (i, (_, id)) in distinct.iter().enumerate() {
        rank[*id as usize] = i as u32;
    }
    for b in of_row.iter_mut() {
        *b = rank[*b as usize];
    }
    Some(Buckets::new(of_row, distinct.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray, Int16Array, Int32Array, StringArray};
    use arrow::datatypes::{DataType, Field, Int32Type, Schema};
    use std::sync::Arc;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("year", DataType::Int16, false),
            Field::new("code", DataType::Utf8, true),
            Field::new("n", DataType::Int32, false),
        ]))
    }

    /// Rows (year, code, n).
    fn batch(rows: &[(i16, Option<&str>, i32)]) -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int16Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1))),
                Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.2))),
            ],
        )
        .unwrap()
    }

    /// (year, code, n) of each sorted group.
    fn sorted(c: &Clusterer, groups: Vec<Group>) -> Vec<Vec<(i16, Option<String>, i32)>> {
        groups
            .into_iter()
            .map(|g| {
                let b = c.sort(g).unwrap();
                let year = b.column(0).as_primitive::<arrow::datatypes::Int16Type>();
                let code = b.column(1).as_string::<i32>();
                let n = b.column(2).as_primitive::<Int32Type>();
                (0..b.num_rows())
                    .map(|i| {
                        let code = code.is_valid(i).then(|| code.value(i).to_string());
                        (year.value(i), code, n.value(i))
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn groups_of_one_partition_are_sorted_stably_and_a_new_partition_closes_the_last() {
        let mut c = Clusterer::try_new(schema(), &["code".into()], &["year".into()], 4).unwrap();
        // 2023: six rows in two batches; then 2024 starts inside the second batch.
        let first = c
            .push(batch(&[
                (2023, Some("7"), 1),
                (2023, Some("6"), 2),
                (2023, None, 3),
            ]))
            .unwrap();
        assert!(first.is_empty());
        let groups = c
            .push(batch(&[
                (2023, Some("6"), 4),
                (2023, Some("1"), 5),
                (2023, Some("6"), 6),
                (2024, Some("2"), 7),
            ]))
            .unwrap();
        let s = |v: &str| Some(v.to_string());
        // A full group of 2023 (nulls first, equal codes in arrival order), then the rest of
        // 2023 as soon as 2024 begins.
        assert_eq!(
            sorted(&c, groups),
            vec![
                vec![
                    (2023, None, 3),
                    (2023, s("6"), 2),
                    (2023, s("6"), 4),
                    (2023, s("7"), 1)
                ],
                vec![(2023, s("1"), 5), (2023, s("6"), 6)],
            ]
        );
        let rest = c.finish();
        assert_eq!(sorted(&c, rest), vec![vec![(2024, s("2"), 7)]]);
    }

    #[test]
    fn keys_that_rarely_repeat_are_sorted_by_comparison() {
        let mut c = Clusterer::try_new(schema(), &["n".into()], &[], 64).unwrap();
        let rows: Vec<(i16, Option<&str>, i32)> =
            (0..64).map(|i| (2024, Some("x"), (i * 37) % 64)).collect();
        let groups = c.push(batch(&rows)).unwrap();
        let out = sorted(&c, groups);
        assert_eq!(out.len(), 1);
        let n: Vec<i32> = out[0].iter().map(|r| r.2).collect();
        assert_eq!(n, (0..64).collect::<Vec<_>>());
    }

    #[test]
    fn several_columns_sort_by_the_first_then_the_next() {
        // `year` only numbers the rows here (no partition), to check the order among equals.
        let mut c = Clusterer::try_new(schema(), &["code".into(), "n".into()], &[], 64).unwrap();
        let rows: Vec<(i16, Option<&str>, i32)> = (0..64)
            .map(|i| (i as i16, Some(["b", "a"][i % 2]), ((i / 2) % 3) as i32))
            .collect();
        let groups = c.push(batch(&rows)).unwrap();
        let out = sorted(&c, groups).concat();
        let mut want: Vec<(i16, Option<String>, i32)> = rows
            .iter()
            .map(|r| (r.0, r.1.map(str::to_string), r.2))
            .collect();
        want.sort_by(|x, y| (&x.1, x.2, x.0).cmp(&(&y.1, y.2, y.0)));
        assert_eq!(out, want);
        assert_eq!((out[0].1.as_deref(), out[0].2), (Some("a"), 0));
    }

    #[test]
    fn rows_of_interleaved_partitions_stay_bounded() {
        let mut c = Clusterer::try_new(schema(), &["code".into()], &["year".into()], 4).unwrap();
        let mut written = 0;
        // 20 partitions seen once, then rows alternating between them: no group fills up.
        for round in 0..5 {
            let rows: Vec<(i16, Option<&str>, i32)> = (0..20)
                .map(|y| (2000 + y as i16, Some("6"), round))
                .collect();
            for g in c.push(batch(&rows)).unwrap() {
                written += c.sort(g).unwrap().num_rows();
            }
            assert!(
                c.pending_rows <= MAX_PENDING_GROUPS * 4,
                "{}",
                c.pending_rows
            );
        }
        written += c
            .finish()
            .into_iter()
            .map(|g| c.sort(g).unwrap().num_rows())
            .sum::<usize>();
        assert_eq!(written, 100, "every row comes out once");
    }
}
