"""Issue 21's Decimal64 measurement (bench/README.md, "Decimal64, measured"): one lake file
written again by pyarrow with the lake's settings, amounts as decimal128(18, 2) and as
decimal64(18, 2), both stored as INT64, so that only the Arrow type the reader builds differs.

    python decimal64_files.py LAKE_FILE OUT_DECIMAL128 OUT_DECIMAL64

Then `cargo run --profile bench-fast -p oc-sql --example scan_paths -- 9 LAKE_FILE
OUT_DECIMAL128 OUT_DECIMAL64` times the same queries on the three files.
"""

import sys

import pyarrow as pa
import pyarrow.parquet as pq


def write(table, path, amounts, strings):
    # The lake's writer settings (crates/oc-lake/src/write/): zstd 3, 128 Ki-row groups,
    # dictionary pages for strings only, delta-packed amounts, page index.
    pq.write_table(table, path, compression="zstd", compression_level=3,
                   row_group_size=131072, use_dictionary=strings,
                   column_encoding={a: "DELTA_BINARY_PACKED" for a in amounts},
                   write_page_index=True, write_statistics=True,
                   store_decimal_as_integer=True)


def main():
    src, out128, out64 = sys.argv[1:4]
    table = pq.read_table(src)
    amounts = [f.name for f in table.schema if pa.types.is_decimal(f.type)]
    strings = [f.name for f in table.schema if pa.types.is_string(f.type)]
    write(table, out128, amounts, strings)
    as64 = pa.schema([pa.field(f.name, pa.decimal64(18, 2) if f.name in amounts else f.type)
                      for f in table.schema])
    write(table.cast(as64), out64, amounts, strings)
    for path in (out128, out64):
        f = pq.ParquetFile(path)
        print(path, f.metadata.num_rows, "rows, amounts", f.schema_arrow.field(amounts[0]).type)


if __name__ == "__main__":
    main()
