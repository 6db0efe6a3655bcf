"""A/B of two running `opencoll serve --http` servers on the same lake (issue 21): the same
queries sent to each in turn (interleaved, so that the machine's drift hits both alike),
HTTP round trip per query, median after two warm-up rounds; the answers must be equal.

    python3 bench/serve_ab.py URL_A URL_B [RUNS]

e.g. two builds serving ~/.cache/opencoll-bench/20M/project with `serve --no-auth --http
127.0.0.1:8931` and `:8932`. Queries: a point query (one commune, one exercice: row groups
pruned by statistics, where reading the files' metadata weighs most), q2 and q4 of
bench/queries.py.
"""

import json
import os
import statistics
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from queries import QUERIES  # noqa: E402

POINT = "SELECT count(*) FROM bench.balances WHERE exercice = 2024 AND code_insee = '01001'"


def ask(url, sql):
    req = urllib.request.Request(f"{url}/sql", data=json.dumps({"sql": sql}).encode(),
                                 headers={"Content-Type": "application/json"})
    t = time.perf_counter()
    body = urllib.request.urlopen(req).read()
    return time.perf_counter() - t, body


def main():
    a, b = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    for name, sql in [("point", POINT), ("q2_top_dette", QUERIES["q2_top_dette"]),
                      ("q4_communes", QUERIES["q4_communes"])]:
        times, bodies = {a: [], b: []}, {}
        for i in range(runs + 2):
            for url in (a, b):
                dt, bodies[url] = ask(url, sql)
                if i >= 2:
                    times[url].append(dt)
        ma, mb = (statistics.median(times[u]) * 1000 for u in (a, b))
        print(f"{name}: A {ma:.1f} ms, B {mb:.1f} ms (median of {runs}); "
              f"same answer: {bodies[a] == bodies[b]}")


if __name__ == "__main__":
    main()
