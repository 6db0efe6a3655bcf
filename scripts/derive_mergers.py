#!/usr/bin/env python3
"""Derive data/samples/geo/fusions_communes.csv: when each commune merged since 2019 ceased
to be a commune, as far as the COG's yearly vintages tell.

Source: the npm package ``@etalab/decoupage-administratif`` (data: INSEE COG, Licence Ouverte
2.0), one version per COG millésime (the COG of year Y is the situation on 1 January Y):

    0.8.0 -> 2019, 1.1.1 -> 2021, 2.3.1 -> 2022, 3.1.1 -> 2023, 4.1.0 -> 2024,
    5.3.0 -> 2025, 6.0.0 -> 2026   (no version of the package carries the COG 2020)

A code that is a commune actuelle in one vintage and not in the next, and that a commune of
the next vintage lists in its ``anciensCodes``, left the list of communes between the two
1 January dates: merged into that commune, or, when that commune has the same name and was no
commune before, became it under a new code (a chef-lieu moved). One row each:
``ancien_code, nature (fusion | changement de code), nom, commune, dernier_cog,
premier_cog_sans``. The exact day is not in these files (INSEE's ``v_mvt_commune`` has
it; no package registry ships it): most communes nouvelles take effect on 1 January, some
during the year, so the portal says "au plus tard le 1er janvier <premier_cog_sans>". A code that disappears without such a
commune (a change of département, say), and a code that is a commune again in the last
vintage, are reported, not written. The script fails if an old code of the last vintage that
has no row was a commune in the first vintage (the portal says such codes merged before it).

Usage (from the repository root; Python 3.11+, standard library, ``npm`` on the PATH):

    python3 scripts/derive_mergers.py [--out data/samples/geo] [--npm-dir DIR]

``--npm-dir`` as in derive_geography.py. The output is deterministic (sorted rows).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from derive_geography import fetch_package  # noqa: E402  (one download routine)

VINTAGES = [("0.8.0", 2019), ("1.1.1", 2021), ("2.3.1", 2022), ("3.1.1", 2023),
            ("4.1.0", 2024), ("5.3.0", 2025), ("6.0.0", 2026)]
HEADER = ["ancien_code", "nature", "nom", "commune", "dernier_cog", "premier_cog_sans"]
MERGER, RECODED = "fusion", "changement de code"


def communes(data_dir: str) -> list[dict]:
    with open(os.path.join(data_dir, "communes.json"), encoding="utf-8") as f:
        return json.load(f)


def actual(objs: list[dict]) -> dict[str, str]:
    """Code -> name of the communes actuelles (0.x versions have no `type` on them)."""
    return {o["code"]: o["nom"] for o in objs
            if o.get("type", "commune-actuelle") == "commune-actuelle"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="data/samples/geo")
    ap.add_argument("--npm-dir", default=None)
    args = ap.parse_args()
    rows, unexplained = [], []
    with tempfile.TemporaryDirectory(prefix="derive_mergers_") as tmp:
        previous = first = None
        last_old_codes: list = []
        for version, year in VINTAGES:
            objs = communes(fetch_package(version, tmp, args.npm_dir))
            now = actual(objs)
            absorbed_by = {}
            for o in objs:
                if o.get("type", "commune-actuelle") == "commune-actuelle":
                    for old in o.get("anciensCodes") or []:
                        absorbed_by.setdefault(old, o["code"])
            if first is None:
                first = (now, year)
            last_old_codes = [o.get("anciensCodes") or [] for o in objs
                              if o.get("type", "commune-actuelle") == "commune-actuelle"]
            if previous is not None:
                before, before_year = previous
                for code in sorted(set(before) - set(now)):
                    into = absorbed_by.get(code)
                    if into is None:
                        unexplained.append(f"{code} ({before[code]}) after {before_year}")
                        continue
                    # The same commune under another code (a chef-lieu moved): no merger.
                    same = into not in before and now[into] == before[code]
                    nature = RECODED if same else MERGER
                    rows.append([code, nature, before[code], into, before_year, year])
            previous = (now, year)
    # A code that is a commune again in the last vintage (its commune re-established, or the
    # code given back) is no old code today.
    latest = previous[0] if previous else {}
    again = [r for r in rows if r[0] in latest]
    rows = [r for r in rows if r[0] not in latest]
    rows.sort()
    # The portal says of an old code the table lacks that it was no commune in the first
    # vintage already: check it on the first and the last vintages.
    written = {r[0] for r in rows}
    first_actual, last_old = first[0], {c for cs in last_old_codes for c in cs}
    wrong = sorted(c for c in last_old - written if c in first_actual)
    if wrong:
        sys.exit(f"old codes of {VINTAGES[-1][1]} that were communes in {VINTAGES[0][1]} "
                 f"but have no row: {', '.join(wrong)}")
    path = os.path.join(args.out, "fusions_communes.csv")
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(rows)
    merged = sum(r[1] == MERGER for r in rows)
    print(f"{path}: {merged} communes merged, {len(rows) - merged} codes changed, "
          f"{os.path.getsize(path)} bytes")
    if again:
        print(f"{len(again)} codes that are communes again in the last vintage (not written): "
              + ", ".join(f"{r[0]} ({r[2]})" for r in again))
    if unexplained:
        print(f"{len(unexplained)} codes gone without a commune listing them (not written): "
              + ", ".join(unexplained[:10]) + (" …" if len(unexplained) > 10 else ""))


if __name__ == "__main__":
    main()
