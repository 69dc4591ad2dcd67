"""Benchmark: build and search a synthetic 10,000-entry catalog.

Run: `.venv/bin/python benchmarks/bench_catalog.py [--entries N]`. Prints build time, peak memory of
the build process, and search latency (p50/p95) over a fixed mix of text and filter queries.
Targets (issue 2): build <= 60 s and <= 500 MB peak; search p95 <= 20 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ordnance_db.search import Query, Searcher  # noqa: E402

CYRILLIC = dict(zip("ABVGDEZIKLMNOPRSTUFH", "АБВГДЕЗИКЛМНОПРСТУФХ", strict=True))


def synthetic_catalog(folder: Path, count: int, seed: int = 7) -> list[str]:
    """Write `count` valid entries with varied names, features and sizes; return their names."""
    rng = random.Random(seed)
    vocab = yaml.safe_load((ROOT / "catalog" / "vocabulary.yaml").read_text(encoding="utf-8"))
    ids = {k: [t["id"] for t in v] for k, v in vocab.items()}
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "catalog" / "vocabulary.yaml", folder / "vocabulary.yaml")
    sources = {
        f"src-{i}": {
            "title": f"Report {i}",
            "publisher": "Bench",
            "url": f"https://example.org/{i}",
            "date": "2020",
        }
        for i in range(50)
    }
    (folder / "sources.yaml").write_text(yaml.safe_dump(sources), encoding="utf-8")
    names = []
    for i in range(count):
        prefix = "".join(rng.choice(list(CYRILLIC)) for _ in range(rng.randint(2, 5)))
        name = f"{prefix}-{rng.randint(1, 999)}-{i}"
        names.append(name)
        entry = {
            "id": f"item-{i:05d}",
            "name": name,
            "names": {"ru": "".join(CYRILLIC.get(c, c) for c in name)},
            "aliases": [f"{prefix} {i}", f"type {i}"],
            "category": rng.choice(ids["categories"]),
            "role": "Synthetic benchmark entry.",
            "origin": [rng.choice(["SU", "RU", "US", "CN", "GB", "FR"])],
            "dimensions": {
                "length_mm": {"value": rng.randint(50, 6000), "source": f"src-{i % 50}"},
                "diameter_mm": {"value": rng.randint(20, 600), "basis": "estimate", "note": "synthetic"},
                "weight_kg": {"value": round(rng.uniform(0.05, 1500), 2), "source": f"src-{(i + 1) % 50}"},
            },
            "features": {
                "shape": rng.choice(ids["shapes"]),
                "stabilisation": rng.choice(ids["stabilisation"]),
                "fin_count": rng.choice([0, 3, 4, 6]),
                "fuze_position": rng.choice(ids["fuze_positions"]),
                "colours": rng.sample(ids["colours"], 2),
                "marking_script": rng.choice(ids["marking_scripts"]),
                "marking_text": [name],
                "mechanical": rng.sample(ids["mechanical"], 2),
            },
            "hazards": ["Keep away and report it."],
            "sources": [f"src-{i % 50}"],
        }
        (folder / f"{entry['id']}.yaml").write_text(
            yaml.safe_dump(entry, allow_unicode=True), encoding="utf-8"
        )
    return names


BUILD_SCRIPT = """
import sys, time
from pathlib import Path
from sqlalchemy import create_engine
from ordnance_db.catalog import load_catalog
from ordnance_db.db import build_database
started = time.perf_counter()
catalog = load_catalog(Path(sys.argv[1]))
loaded = time.perf_counter()
build_database(catalog, create_engine(sys.argv[2]))
print(loaded - started, time.perf_counter() - loaded)
"""


def query_mix(names: list[str], rng: random.Random) -> list[Query]:
    """A fixed mix: exact names, Cyrillic names, prefixes, typos, filters, filters with text."""
    queries: list[Query] = []
    for _ in range(40):
        name = rng.choice(names)
        queries.append(Query(text=name))
        queries.append(Query(text="".join(CYRILLIC.get(c, c) for c in name)))
        queries.append(Query(text=name.split("-")[0]))
        queries.append(Query(text=name[:-1] + "9"))
        queries.append(Query.build(category=["submunition"], colour=["olive-green", "grey"], fins=4))
        queries.append(Query.build(shape="streamlined", length="1400-1600"))
        queries.append(Query.build(name.split("-")[0], origin="SU", weight="100-300"))
    return queries


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "catalog"
        started = time.perf_counter()
        names = synthetic_catalog(folder, args.entries)
        print(f"generated {args.entries} entries in {time.perf_counter() - started:.1f} s")
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", BUILD_SCRIPT, str(folder), url],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        ).stdout
        build_s = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        load_s, write_s = (float(x) for x in out.split())

        from sqlalchemy import create_engine

        searcher = Searcher(create_engine(url))
        rng = random.Random(11)
        queries = query_mix(names, rng)
        searcher.search(queries[0], limit=50)  # loads the name index once, as the app does
        latencies = []
        for query in queries:
            t0 = time.perf_counter()
            searcher.search(query, limit=50)
            latencies.append((time.perf_counter() - t0) * 1000)
        facet_latencies = []
        for query in queries[::7]:
            t0 = time.perf_counter()
            searcher.facets(query)
            facet_latencies.append((time.perf_counter() - t0) * 1000)

    figures = {
        "entries": args.entries,
        "build_s": round(build_s, 2),
        "build_load_validate_s": round(load_s, 2),
        "build_write_db_s": round(write_s, 2),
        "build_peak_mb": round(peak_mb, 1),
        "queries": len(latencies),
        "search_p50_ms": round(statistics.median(latencies), 2),
        "search_p95_ms": round(percentile(latencies, 95), 2),
        "facets_p50_ms": round(statistics.median(facet_latencies), 2),
        "facets_p95_ms": round(percentile(facet_latencies, 95), 2),
    }
    print(json.dumps(figures, indent=2))
    ok = figures["build_s"] <= 60 and figures["build_peak_mb"] <= 500 and figures["search_p95_ms"] <= 20
    print("targets met" if ok else "TARGETS MISSED: build <= 60 s, <= 500 MB, search p95 <= 20 ms")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
