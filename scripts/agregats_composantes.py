#!/usr/bin/env python3
"""Flattens the derived agrégats of data/reference/agregats.csv (`sens = derive`, `formule` =
sums and differences of other agrégats) into their base components with a sign, so that SQL
can compute every derived agrégat with one join. Writes data/reference/agregats_composantes.csv.

Run after editing agregats.csv:  python3 scripts/agregats_composantes.py
"""
import csv
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "data/reference/agregats.csv"
OUT = ROOT / "data/reference/agregats_composantes.csv"

rows = [r for r in csv.DictReader(SRC.open(encoding="utf-8")) if not r["exercice_max"]]
names = {r["agregat"] for r in rows}
formulas = {r["agregat"]: r["formule"] for r in rows if r["sens"] == "derive"}


def terms(formula):
    # Split on " + " / " - " between known agrégat names (names may contain " - ").
    out, sign, rest = [], 1, formula.strip()
    while rest:
        for name in sorted(names, key=len, reverse=True):
            if rest.startswith(name):
                out.append((name, sign))
                rest = rest[len(name):].strip()
                break
        else:
            raise SystemExit(f"cannot parse {formula!r} at {rest!r}")
        m = re.match(r"^([+-])\s*", rest)
        if m:
            sign = 1 if m.group(1) == "+" else -1
            rest = rest[m.end():]
    return out


def flatten(name, sign=1):
    if name not in formulas:
        return [(name, sign)]
    out = []
    for t, s in terms(formulas[name]):
        out.extend(flatten(t, sign * s))
    return out


with OUT.open("w", encoding="utf-8", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["agregat", "composante", "signe"])
    for name in sorted(formulas):
        acc = {}
        for comp, s in flatten(name):
            acc[comp] = acc.get(comp, 0) + s
        for comp, s in sorted(acc.items()):
            if s:
                w.writerow([name, comp, s])
print(f"wrote {OUT.relative_to(ROOT)}")
