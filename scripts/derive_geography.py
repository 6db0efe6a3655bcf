#!/usr/bin/env python3
"""Re-derive the compact geography files committed under data/samples/geo/.

Source: the npm package ``@etalab/decoupage-administratif`` (data: Licence Ouverte 2.0,
code: MIT). Each package version corresponds to one COG millésime:

    1.1.1 -> 2021
    6.0.0 -> 2026

For every version the script runs ``npm pack @etalab/decoupage-administratif@<version>`` in a
temporary directory, unpacks the tarball, reads ``package/data/*.json`` and writes:

* ``communes_<millesime>.csv.gz``  -- one CSV row per object of ``communes.json`` (file order,
  every object kept: commune-actuelle, commune-deleguee, commune-associee,
  arrondissement-municipal, including the ``zone == "com"`` ones). Lists are joined with ``|``,
  a missing key gives an empty field, no value is changed.
* ``epci_<millesime>.json.gz``, ``departements_<millesime>.json.gz``,
  ``regions_<millesime>.json.gz`` -- the package JSON re-serialised minified.

All gzip output is byte-deterministic (mtime=0, no file name in the gzip header).

Usage (from the repository root):

    python3 scripts/derive_geography.py [--out data/samples/geo] [--npm-dir DIR]

``--npm-dir DIR`` uses already-downloaded tarballs / unpacked packages instead of calling npm:
DIR/<version>/package/data/*.json or DIR/etalab-decoupage-administratif-<version>.tgz.

Python 3.11+, standard library only.
"""

from __future__ import annotations

import argparse
import collections
import csv
import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "@etalab/decoupage-administratif"
VERSIONS = [("1.1.1", 2021), ("6.0.0", 2026)]

HEADER = [
    "code", "nom", "type", "departement", "region", "arrondissement", "zone", "siren",
    "population", "chef_lieu", "commune", "anciens_codes", "codes_postaux", "type_liaison",
    "rang_chef_lieu",
]
# CSV column -> JSON key
KEY_OF = {
    "chef_lieu": "chefLieu",
    "anciens_codes": "anciensCodes",
    "codes_postaux": "codesPostaux",
    "type_liaison": "typeLiaison",
    "rang_chef_lieu": "rangChefLieu",
}
JSON_FILES = ["epci", "departements", "regions"]


def write_gzip(path: str, payload: bytes) -> None:
    """Write ``payload`` gzip-compressed, byte-deterministically."""
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            gz.write(payload)


def fetch_package(version: str, workdir: str, npm_dir: str | None) -> str:
    """Return the path of the unpacked ``package/data`` directory for ``version``."""
    tgz_name = f"etalab-decoupage-administratif-{version}.tgz"
    if npm_dir:
        unpacked = os.path.join(npm_dir, version, "package", "data")
        if os.path.isdir(unpacked):
            return unpacked
        tgz = os.path.join(npm_dir, tgz_name)
        if not os.path.isfile(tgz):
            sys.exit(f"--npm-dir: neither {unpacked} nor {tgz} exists")
    else:
        print(f"npm pack {PACKAGE}@{version}", file=sys.stderr)
        subprocess.run(
            ["npm", "pack", "--silent", f"{PACKAGE}@{version}"],
            cwd=workdir, check=True, stdout=subprocess.DEVNULL,
        )
        tgz = os.path.join(workdir, tgz_name)
    dest = os.path.join(workdir, version)
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(tgz, "r:gz") as tar:
        tar.extractall(dest, filter="data")
    return os.path.join(dest, "package", "data")


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):  # not expected in this data; keep JSON spelling
        return "true" if value else "false"
    if isinstance(value, list):
        return "|".join(cell(v) for v in value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    raise TypeError(f"unexpected JSON value {value!r}")


def derive_communes(data_dir: str, out_path: str) -> collections.Counter:
    with open(os.path.join(data_dir, "communes.json"), encoding="utf-8") as f:
        communes = json.load(f)
    known = {KEY_OF.get(c, c) for c in HEADER}
    unknown = collections.Counter(k for o in communes for k in o if k not in known)
    if unknown:
        print(f"  WARNING: keys not exported: {dict(unknown)}", file=sys.stderr)
    missing = collections.Counter(
        c for c in HEADER for o in communes if KEY_OF.get(c, c) not in o
    )
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(HEADER)
    counts: collections.Counter = collections.Counter()
    for o in communes:
        w.writerow([cell(o.get(KEY_OF.get(c, c))) for c in HEADER])
        counts[o.get("type", "")] += 1
    write_gzip(out_path, buf.getvalue().encode("utf-8"))
    print(f"  {os.path.basename(out_path)}: {len(communes)} rows")
    absent = [c for c in HEADER if missing[c] == len(communes)]
    if absent:
        print(f"  columns absent from every object (left empty): {', '.join(absent)}")
    return counts


def derive_json(data_dir: str, name: str, out_path: str) -> None:
    src = os.path.join(data_dir, f"{name}.json")
    if not os.path.isfile(src):
        print(f"  {name}.json: missing in this version, skipped")
        return
    with open(src, encoding="utf-8") as f:
        obj = json.load(f)
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    write_gzip(out_path, text.encode("utf-8"))
    n = len(obj) if isinstance(obj, list) else 1
    print(f"  {os.path.basename(out_path)}: {n} objects")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="data/samples/geo")
    ap.add_argument("--npm-dir", default=None, help="use pre-downloaded packages (see docstring)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    all_counts = {}
    with tempfile.TemporaryDirectory(prefix="derive_geo_") as tmp:
        for version, millesime in VERSIONS:
            print(f"{PACKAGE}@{version} (millésime {millesime})")
            data_dir = fetch_package(version, tmp, args.npm_dir)
            all_counts[millesime] = derive_communes(
                data_dir, os.path.join(args.out, f"communes_{millesime}.csv.gz"))
            for name in JSON_FILES:
                derive_json(data_dir, name, os.path.join(args.out, f"{name}_{millesime}.json.gz"))

    # Markdown table of row counts per type per vintage (pasted into the README).
    types = sorted({t for c in all_counts.values() for t in c})
    years = [m for _, m in VERSIONS]
    print()
    print("| type | " + " | ".join(str(y) for y in years) + " |")
    print("|---|" + "---:|" * len(years))
    for t in types:
        print(f"| `{t}` | " + " | ".join(f"{all_counts[y][t]:,}".replace(",", " ") for y in years) + " |")
    print("| **total** | " + " | ".join(
        f"{sum(all_counts[y].values()):,}".replace(",", " ") for y in years) + " |")

    expected = {2021: 35059, 2026: 34969}
    for y, n in expected.items():
        got = all_counts[y]["commune-actuelle"]
        if got != n:
            sys.exit(f"check failed: {y} has {got} commune-actuelle rows, expected {n}")
    print("\ncheck ok: commune-actuelle 2021 = 35059, 2026 = 34969")

    print("\nsizes:")
    total = 0
    for fn in sorted(os.listdir(args.out)):
        if fn.endswith(".gz"):
            sz = os.path.getsize(os.path.join(args.out, fn))
            total += sz
            print(f"  {fn}: {sz} bytes")
    print(f"  total .gz: {total} bytes")


if __name__ == "__main__":
    main()
