#!/usr/bin/env python3
"""Re-derive the compact geography files committed under data/samples/geo/.

Source: the npm package ``@etalab/decoupage-administratif`` (data: Licence Ouverte 2.0,
code: MIT). Each package version corresponds to one COG millésime:

    1.1.1 -> 2021      (derived by default, committed)
    2.3.1 -> 2022
    3.1.1 -> 2023
    4.1.0 -> 2024
    5.3.0 -> 2025
    6.0.0 -> 2026      (derived by default, committed)

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
    python3 scripts/derive_geography.py --version 3.1.1:2023 [--version ...] [--out ...]

Without ``--version`` the two committed vintages (1.1.1:2021 and 6.0.0:2026) are derived.
``--version VERSION:MILLESIME`` (repeatable) derives only the given package versions, each
labelled with the given millésime, and then prints the one-line change to make to
``vars: { millesime: [...] }`` in the four ``pipelines/ref`` pipelines that read these files
(communes, departements, regions, epci_membres). The count of commune-actuelle rows is checked
for the versions whose count is known (``EXPECTED_COMMUNES``); others are only reported.

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
import re
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "@etalab/decoupage-administratif"
# The vintages derived when no --version is given (the committed files).
VERSIONS = [("1.1.1", 2021), ("6.0.0", 2026)]
# Package version -> COG millésime, as published (used to warn about an unusual pairing).
KNOWN_MILLESIMES = {
    "1.1.1": 2021, "2.3.1": 2022, "3.1.1": 2023, "4.1.0": 2024, "5.3.0": 2025, "6.0.0": 2026,
}
# Expected number of commune-actuelle rows, for the (version, millésime) pairs that were checked:
# INSEE's count of communes on 1 January (34 965 in 2021, 34 955 in 2022, 34 945 in 2023,
# 34 935 in 2024, 34 875 in 2025) plus the 94 communes of the collectivités d'outre-mer that the
# package also lists. Other pairs are derived all the same, their count only reported.
EXPECTED_COMMUNES = {
    ("1.1.1", 2021): 35059, ("2.3.1", 2022): 35049, ("3.1.1", 2023): 35039,
    ("4.1.0", 2024): 35029, ("5.3.0", 2025): 34969, ("6.0.0", 2026): 34969,
}
# The pipelines whose `vars: { millesime: [...] }` list the vintages read from --out.
REF_PIPELINES = ["communes", "departements", "regions", "epci_membres"]
VARS_RE = re.compile(r"vars:\s*\{\s*millesime:\s*\[([^\]]*)\]\s*\}")

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
        try:
            subprocess.run(
                ["npm", "pack", "--silent", f"{PACKAGE}@{version}"],
                cwd=workdir, check=True, stdout=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            sys.exit("npm not found on the PATH: install Node.js/npm, or pass --npm-dir DIR")
        except subprocess.CalledProcessError as e:
            sys.exit(f"`npm pack {PACKAGE}@{version}` failed (exit {e.returncode}): "
                     "is the version published? (`npm view "
                     f"{PACKAGE} versions`)")
        tgz = os.path.join(workdir, tgz_name)
    dest = os.path.join(workdir, version)
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(tgz, "r:gz") as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4+
            tar.extractall(dest, filter="data")
        else:
            tar.extractall(dest)
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


def parse_version(arg: str) -> tuple[str, int]:
    """``VERSION:MILLESIME`` (e.g. ``3.1.1:2023``) -> ``("3.1.1", 2023)``."""
    version, sep, year = arg.partition(":")
    if not sep or not version or not year:
        raise argparse.ArgumentTypeError(
            f"{arg!r}: expected VERSION:MILLESIME, e.g. 3.1.1:2023")
    if not re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?", version):
        raise argparse.ArgumentTypeError(
            f"{arg!r}: {version!r} is not an npm package version such as 3.1.1")
    if not re.fullmatch(r"[0-9]{4}", year):
        raise argparse.ArgumentTypeError(
            f"{arg!r}: the millésime {year!r} is not a year (four digits, e.g. 2023)")
    return version, int(year)


def project_of(out: str) -> str:
    """The project whose pipelines read ``out``: ``<project>/data/samples/geo`` when ``out`` is
    that folder of a project, else the repository this script belongs to."""
    out = os.path.abspath(out)
    parent = os.path.dirname(os.path.dirname(os.path.dirname(out)))
    if out.replace(os.sep, "/").endswith("/data/samples/geo") and \
            os.path.isdir(os.path.join(parent, "pipelines", "ref")):
        return parent
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def print_vars_change(out: str, millesimes: list[int]) -> None:
    """Print the one-line change that makes the ref pipelines load ``millesimes``."""
    project = project_of(out)
    folder = "pipelines/ref/"
    if os.path.abspath(project) != os.path.abspath(os.getcwd()):
        folder = os.path.join(project, "pipelines", "ref") + os.sep
    names = folder + ", ".join(f"{n}.yaml" for n in REF_PIPELINES)
    lists = {}
    for n in REF_PIPELINES:
        path = os.path.join(project, "pipelines", "ref", f"{n}.yaml")
        try:
            with open(path, encoding="utf-8") as f:
                m = VARS_RE.search(f.read())
        except OSError:
            m = None
        if m:
            items = [x.strip() for x in m.group(1).split(",") if x.strip()]
            if all(x.isdigit() for x in items):
                lists[n] = [int(x) for x in items]
    def spelled(years: list[int]) -> str:
        ys = [str(y) for y in years]
        return ys[0] if len(ys) == 1 else ", ".join(ys[:-1]) + " and " + ys[-1]

    print()
    if len(lists) != len(REF_PIPELINES) or len({tuple(v) for v in lists.values()}) != 1:
        print(f"next: add {spelled(millesimes)} to `vars: {{ millesime: [...] }}` in {names}"
              " (could not read one common list there), then run `opencoll refresh`")
        return
    current = next(iter(lists.values()))
    wanted = sorted(set(current) | set(millesimes))
    added = spelled([y for y in wanted if y not in current]) if wanted != current else ""
    if wanted == current:
        print(f"{names} already list millésimes {current}: nothing to change;"
              " run `opencoll refresh`")
        return
    fmt = lambda ys: "vars: { millesime: [" + ", ".join(str(y) for y in ys) + "] }"
    print(f"next: add {added} to `vars: {{ millesime: [...] }}` in {names}:")
    print(f"  {fmt(current)}  ->  {fmt(wanted)}")
    print("then run `opencoll refresh`.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="data/samples/geo")
    ap.add_argument("--npm-dir", default=None, help="use pre-downloaded packages (see docstring)")
    ap.add_argument(
        "--version", dest="versions", action="append", type=parse_version, default=None,
        metavar="VERSION:MILLESIME",
        help="package version and the COG millésime it carries, e.g. 3.1.1:2023 (repeatable; "
             "default: " + ", ".join(f"{v}:{m}" for v, m in VERSIONS) + ")")
    args = ap.parse_args()
    versions = args.versions or VERSIONS
    seen: dict[int, str] = {}
    for version, millesime in versions:
        if millesime in seen:
            ap.error(f"argument --version: millésime {millesime} given twice "
                     f"({seen[millesime]} and {version})")
        seen[millesime] = version
        known = KNOWN_MILLESIMES.get(version)
        if known is not None and known != millesime:
            print(f"WARNING: {PACKAGE}@{version} carries the COG {known}, "
                  f"not {millesime}; writing it as millésime {millesime} as asked", file=sys.stderr)
    os.makedirs(args.out, exist_ok=True)

    all_counts = {}
    with tempfile.TemporaryDirectory(prefix="derive_geo_") as tmp:
        for version, millesime in versions:
            print(f"{PACKAGE}@{version} (millésime {millesime})")
            data_dir = fetch_package(version, tmp, args.npm_dir)
            all_counts[millesime] = derive_communes(
                data_dir, os.path.join(args.out, f"communes_{millesime}.csv.gz"))
            for name in JSON_FILES:
                derive_json(data_dir, name, os.path.join(args.out, f"{name}_{millesime}.json.gz"))

    # Markdown table of row counts per type per vintage (pasted into the README).
    types = sorted({t for c in all_counts.values() for t in c})
    years = [m for _, m in versions]
    print()
    print("| type | " + " | ".join(str(y) for y in years) + " |")
    print("|---|" + "---:|" * len(years))
    for t in types:
        print(f"| `{t}` | " + " | ".join(f"{all_counts[y][t]:,}".replace(",", " ") for y in years) + " |")
    print("| **total** | " + " | ".join(
        f"{sum(all_counts[y].values()):,}".replace(",", " ") for y in years) + " |")

    checked, unchecked = [], []
    for version, millesime in versions:
        n = EXPECTED_COMMUNES.get((version, millesime))
        got = all_counts[millesime]["commune-actuelle"]
        if n is None:
            unchecked.append(f"{millesime} ({version}) = {got}")
        elif got != n:
            sys.exit(f"check failed: {millesime} has {got} commune-actuelle rows, expected {n}")
        else:
            checked.append(f"{millesime} = {n}")
    if checked:
        print("\ncheck ok: commune-actuelle " + ", ".join(checked))
    if unchecked:
        print("\nno expected count known (not checked): commune-actuelle " + ", ".join(unchecked))

    print("\nsizes:")
    total = 0
    for fn in sorted(os.listdir(args.out)):
        if fn.endswith(".gz"):
            sz = os.path.getsize(os.path.join(args.out, fn))
            total += sz
            print(f"  {fn}: {sz} bytes")
    print(f"  total .gz: {total} bytes")

    if args.versions:
        print_vars_change(args.out, years)


if __name__ == "__main__":
    main()
