//! The Parquet layout of lake files, chosen for the analysts' queries (figures in
//! bench/README.md): LZ4, row groups of 128 Ki rows with statistics and page indexes,
//! dictionaries for codes and labels, delta-encoded amounts.

use arrow::datatypes::{DataType, Schema};
use parquet::basic::{Compression, Encoding};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use super::ROW_GROUP_ROWS;

/// Parquet settings of the lake's files.
/// - LZ4 (`LZ4_RAW`, the framing of the Parquet spec, not the deprecated Hadoop one) rather
///   than zstd: a query of the lake is mostly page decompression and decoding, from the page
///   cache, and LZ4 decompresses several times faster for files 7 % larger (dictionary keys
///   and delta-packed amounts leave zstd little to gain). At 20M rows: the six bench queries
///   3–11 % faster, the ingest 9 % (bench/README.md, "LZ4 for the lake's files"). Published
///   releases, downloaded rather than queried, stay zstd (oc-engine's publish).
/// - Row groups of 128 Ki rows (DuckDB writes 122,880): finer min/max pruning, a file split
///   over more cores, and less memory while writing than 1 Mi rows (bench q1 at 20M rows
///   0.46 → 0.38 s, ingest 24.2 → 23.4 s, RSS 406 → 369 MB).
/// - Dictionary encoding for codes and labels (few distinct values) but not for amounts and
///   measures: nearly every value differs, so the writer hashed each one only to fall back to
///   plain pages after the first megabyte, and readers decoded a mix of both (ingest at 20M
///   rows 27.1 → 24.2 s; bench q6 0.98 → 0.84 s).
/// - Amounts (decimal up to 18 digits, stored as 64-bit integers) delta-encoded: half the
///   bytes of plain values before zstd, so less to decompress (bench at 20M rows: q1 0.38 →
///   0.32 s, q5 0.56 → 0.45 s, q6 0.84 → 0.69 s, ingest 21.5 → 19.5 s), for files 17 %
///   larger (zstd packs plain amounts tighter). DuckDB, Polars, pyarrow and Spark read it.
pub fn writer_properties(schema: &Schema) -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::LZ4_RAW)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    for f in schema.fields() {
        let column = || ColumnPath::from(f.name().as_str());
        match f.data_type() {
            DataType::Decimal128(precision, _) => {
                props = props.set_column_dictionary_enabled(column(), false);
                if *precision <= 18 {
                    props = props.set_column_encoding(column(), Encoding::DELTA_BINARY_PACKED);
                }
            }
            DataType::Float32 | DataType::Float64 => {
                props = props.set_column_dictionary_enabled(column(), false);
            }
            _ => {}
        }
    }
    props.build()
}
