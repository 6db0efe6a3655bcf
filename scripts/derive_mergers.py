#!/usr/bin/env python3
"""Derive data/samples/geo/fusions_communes.csv: when each commune merged since 2019 ceased
to be a commune, as far as the COG's yearly vintages tell.

Source: the npm package ``@etalab/decoupage-administratif`` (data: INSEE COG, Licence Ouverte
2.0), one version per COG millésime (the COG of year Y is the situation on 1 January Y):

    0.8.0 -> 2019, 1.1.1 -> 2021, 2.3.1 -> 2022, 3.1.1 -> 2023, 4.1.0 -> 2024,
    5.3.0 -> 2025, 6.0.0 -> 2026   (no version of the package carries the COG 2020)

A code that is a commune actuelle in one vintage and not in the next, and that a commune of
the next vintage lists in its ``anciensCodes``, merged into that commune between the two
1 January dates: one row ``ancien_code, nom, commune, dernier_cog, premier_cog_sans``. The
exact day is not in these files (INSEE's ``v_mvt_commune`` has it; no package registry ships
it): most communes nouvelles take effect on 1 January, some during the year, so the portal
says "au plus tard le 1er janvier <premier_cog_sans>". A code that disappears without such a
commune (a change of département, say), a code whose commune kept its name under another
code (a chef-lieu moved), and a code that is a commune again in the last vintage are
reported, not written.

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
HEADER = ["ancien_code", "nom", "commune", "dernier_cog", "premier_cog_sans"]


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
    rows, unexplained, recoded = [], [], []
    with tempfile.TemporaryDirectory(prefix="derive_mergers_") as tmp:
        previous = None
        for version, year in VINTAGES:
            objs = communes(fetch_package(version, tmp, args.npm_dir))
            now = actual(objs)
            absorbed_by = {}
            for o in objs:
                if o.get("type", "commune-actuelle") == "commune-actuelle":
                    for old in o.get("anciensCodes") or []:
                        absorbed_by.setdefault(old, o["code"])
            if previous is not None:
                before, before_year = previous
                for code in sorted(set(before) - set(now)):
                    into = absorbed_by.get(code)
                    if into is None:
                        unexplained.append(f"{code} ({before[code]}) after {before_year}")
                        continue
                    if into not in before and now[into] == before[code]:
                        # The same commune under another code (a chef-lieu moved): no merger.
                        recoded.append(f"{code} -> {into} ({before[code]}) after {before_year}")
                        continue
                    rows.append([code, before[code], into, before_year, year])
            previous = (now, year)
    # A code that is a commune again in the last vintage (its commune re-established, or the
    # code given back) is no old code today.
    latest = previous[0] if previous else {}
    again = [r for r in rows if r[0] in latest]
    rows = [r for r in rows if r[0] not in latest]
    rows.sort()
    path = os.path.join(args.out, "fusions_communes.csv")
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(rows)
    print(f"{path}: {len(rows)} communes merged, {os.path.getsize(path)} bytes")
    for what, items in [("codes changed, same commune (not written)", recoded),
                        ("codes that are communes again in the last vintage (not written)",
                         [f"{r[0]} ({r[1]})" for r in again])]:
        if items:
            print(f"{len(items)} {what}: " + ", ".join(items))
    if unexplained:
        print(f"{len(unexplained)} codes gone without a commune listing them (not written): "
              + ", ".join(unexplained[:10]) + (" …" if len(unexplained) > 10 else ""))


if __name__ == "__main__":
    main()
