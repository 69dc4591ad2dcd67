"""The identification key played by a simulated user, on the real catalog and on synthetic larger ones.

    .venv/bin/python benchmarks/bench_key.py [--seeds 3]

For every entry a simulated user answers each question the key asks, truthfully from that entry's
own facts (an answer drawn from the entry's weights: one of its colours, a size estimate with the
key's ±40 % spread). Printed per catalog: mean and 90th percentile of the number of questions until
the entry is among the top 3 (an entry never reaching it counts as every question plus one), the
share never reaching it; with one answer in five replaced by a wrong one (at random), the share of
entries in the top 5 once the key stops; and the time to choose the next question. The synthetic
catalogs of 200, 500 and 1,000 entries are real entries perturbed (sizes, a colour, fins, the
countries, the script), so they are harder than ours in one way (near twins) and easier in another
(their facts are all there). A simulated user answering from our own facts is not a real user:
these figures bound what the key can do, they do not measure it in the field.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ordnance_db.catalog import load_catalog
from ordnance_db.key import Key, Labels
from ordnance_db.schema import Dimension, Entry, Use
from ordnance_db.settings import CATALOG_DIR, IMAGES_DIR

WRONG_SHARE = 0.2


def play(key: Key, row: int, rng: np.random.Generator, wrong: float, skip: set[str]) -> tuple[int, int]:
    """(questions until the entry is in the top 3, or every question + 1; its rank when the key stops)."""
    answers: dict[str, str] = {}
    reached = 0 if _rank(key.posterior(answers), row) < 3 else None
    while True:
        posterior = key.posterior(answers)
        question = key.next_question(posterior, answers.keys() | skip)
        if question is None:
            break
        values = question.values()
        weights = key.truth[question.field][row]
        choice = int(rng.choice(len(values), p=weights))
        if wrong and rng.random() < wrong:
            choice = int(rng.choice([i for i in range(len(values)) if i != choice]))
        answers[question.field] = values[choice]
        if reached is None and _rank(key.posterior(answers), row) < 3:
            reached = len(answers)
    limit = len(key.questions) - len(skip) + 1
    return (limit if reached is None else reached), _rank(key.posterior(answers), row)


def _rank(posterior: np.ndarray, row: int) -> int:
    return int((posterior >= posterior[row]).sum()) - 1  # ties count against the entry


def synthetic(entries: list[Entry], size: int, colours: list[str], seed: int = 0) -> list[Entry]:
    """The real entries plus perturbed copies of them, `size` in all (synthetic: a development aid)."""
    rnd = random.Random(seed)
    countries = sorted({u.country for e in entries for u in e.used_in})
    out = list(entries)
    while len(out) < size:
        base = rnd.choice(entries)
        f = base.features
        dims = {}
        for name in ("length_mm", "diameter_mm", "span_mm", "weight_kg"):
            d = getattr(base.dimensions, name)
            if d is not None:
                dims[name] = Dimension(
                    value=d.value * rnd.lognormvariate(0, 0.25), basis="estimate", note="x"
                )
        new_colours = list(f.colours)
        if rnd.random() < 0.4:
            new_colours[rnd.randrange(len(new_colours))] = rnd.choice(colours)
        fins = f.fin_count
        if fins and rnd.random() < 0.2:
            fins = rnd.choice([3, 4, 6, 8, 10])
        script = (
            rnd.choice(["cyrillic", "latin", "arabic", "chinese", "none"]) if rnd.random() < 0.15 else None
        )
        used = [Use(country=c, years="2000", source="x") for c in rnd.sample(countries, rnd.randint(0, 3))]
        features = f.model_copy(
            update={
                "colours": list(dict.fromkeys(new_colours)),
                "fin_count": fins,
                "marking_script": script or f.marking_script,
            }
        )
        out.append(
            base.model_copy(
                update={
                    "id": f"{base.id}-syn{len(out)}",
                    "name": f"{base.name} (synthetic {len(out)})",
                    "dimensions": base.dimensions.model_copy(update=dims),
                    "features": features,
                    "used_in": used if rnd.random() < 0.7 else base.used_in,
                }
            )
        )
    return out


def measure(key: Key, seeds: int, skip: set[str]) -> dict[str, float]:
    asked: list[int] = []
    kept: list[bool] = []
    for seed in range(seeds):
        for row in range(len(key.ids)):
            asked.append(play(key, row, np.random.default_rng([seed, row, 0]), 0.0, skip)[0])
            kept.append(play(key, row, np.random.default_rng([seed, row, 1]), WRONG_SHARE, skip)[1] < 5)
    limit = len(key.questions) - len(skip) + 1
    return {
        "mean": float(np.mean(asked)),
        "p90": float(np.percentile(asked, 90)),
        "never": float(np.mean(np.array(asked) == limit)),
        "top5_wrong": float(np.mean(kept)),
    }


def choice_ms(key: Key, repeats: int = 300) -> float:
    """Median time to rank the entries and choose the next question, after two answers."""
    answers = {"shape": key.question("shape").values()[0], "colour": "green"}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        key.next_question(key.posterior(answers), answers)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="simulated users per entry")
    args = parser.parse_args()
    catalog = load_catalog(CATALOG_DIR, IMAGES_DIR)
    vocab = catalog.vocabulary
    labels: Labels = {f: {t.id: t.label for t in getattr(vocab, f)} for f in type(vocab).model_fields}
    entries = list(catalog.entries.values())
    colours = [t.id for t in vocab.colours]
    print(
        f"{'catalog':<22} {'entries':>7} {'mean Q to top 3':>15} {'p90':>5} {'never':>6} "
        f"{'top 5, 1 in 5 wrong':>19} {'choice ms':>9} {'key built s':>11}"
    )
    for size in (len(entries), 200, 500, 1000):
        pool = entries if size == len(entries) else synthetic(entries, size, colours)
        start = time.perf_counter()
        key = Key(pool, labels)
        built = time.perf_counter() - start
        name = "real" if size == len(entries) else "synthetic"
        for skip, note in ((set(), ""), ({"country"}, ", no country")):
            m = measure(key, args.seeds, skip)
            print(
                f"{name + note:<22} {size:>7} {m['mean']:>15.2f} {m['p90']:>5.1f} {m['never']:>6.1%} "
                f"{m['top5_wrong']:>19.1%} {choice_ms(key):>9.3f} {built:>11.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
