"""Flood test: 30 sessions upload hostile-but-valid photos at once while a few people browse.

Run: `.venv/bin/python benchmarks/bench_flood.py [--sessions 30] [--ordinary 3]`. Prints a table,
then JSON figures; exits 1 if a target is missed (issue 14).

Why: before photo work was bounded, 30 sessions each uploading one small PNG that declares
6324 x 6324 pixels drove the server from 0.5 GB to 9.4 GB and its health check went silent for
over 30 s. This replays that attack against the real app server (tests/serving.py: loopback, a
free port, headless, no usage statistics) with Streamlit's own protocol (benchmarks/st_client.py,
the client bench_load.py uses; a browser context per session would measure Chromium instead).

The inputs are synthetic hostile files made with Pillow at run time in a temporary folder, never
real photos:

- a PNG of one flat colour declaring 6324 x 6324 pixels (40.0 MP, just under the pixel limit; a
  few hundred kB on the wire, 120 MB once decoded);
- a JPEG of random noise of about 20 MB (under the 25 MB upload limit; noise does not compress).

Every hostile session opens Identify and uploads the PNG, then the JPEG, each answered by a
script run. An answer is "matched" (the suggestions' message), "refused" (the loader's sentence,
an error alert outside the fixed warnings), "busy" (the photo-slot sentence of ordnance_db/slots.py,
counted apart from errors) or an error (an exception on the page, a lost connection, a timeout).

Beside them, `--ordinary` people browse and search as bench_load.py's users do: each action must
show what the library says (Browse's count and cards, a search's first result, an entry's heading
and hazards); anything else, an exception or error alert, a lost connection or a timeout is an
ordinary-user error.

Throughout, every 0.25 s: GET /_stcore/health (latency; a failure or timeout counts as its
timeout) and the server's resident memory, VmRSS of its process and every descendant, from /proc
(psutil is not a dependency).

Targets: peak RSS <= 1.5 GB, every health answer within 2 s, 0 errors for ordinary users.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_load import Mismatch, check_browse  # noqa: E402
from benchmarks.st_client import StreamlitClient, text_value  # noqa: E402
from ordnance_db import db  # noqa: E402
from ordnance_db.search import Query, Searcher  # noqa: E402
from ordnance_db.slots import BUSY  # noqa: E402
from tests.serving import AppServer  # noqa: E402

PNG_SIDE = 6324  # 39,992,976 pixels: under the 40 MP limit, as in issue 14
JPEG_BYTES = 20 * 2**20
SEARCHES = ("ОФАБ", "PFM-1", "Grad", "ШОАБ", "M42", "F-1", "Mk 82", "ofab250", "butterfly", "Ураган")
FIXED_WARNING_KEYS = ("photo_warning", "hazards")  # error alerts the pages show on purpose
IDENTIFY_TITLE = "Identify from a photo"  # app.py's page title
POLL_S = 0.25
HEALTH_TIMEOUT_S = 10.0
RSS_TARGET_MB = 1536.0
HEALTH_TARGET_S = 2.0


# --- the hostile files ---------------------------------------------------------------------------


def hostile_png(side: int = PNG_SIDE) -> bytes:
    """One flat colour, `side` x `side`: tiny on the wire, huge decoded."""
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (118, 112, 84)).save(buffer, "PNG", compress_level=9)
    return buffer.getvalue()


def hostile_jpeg(target_bytes: int = JPEG_BYTES, seed: int = 14) -> bytes:
    """Random noise saved as JPEG, sized to about `target_bytes` (noise barely compresses)."""
    rng = np.random.default_rng(seed)

    def encode(width: int, height: int) -> bytes:
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=95)
        return buffer.getvalue()

    sample = encode(800, 600)
    per_pixel = len(sample) / (800 * 600)
    pixels = target_bytes / per_pixel
    width = int((pixels * 4 / 3) ** 0.5)
    return encode(width, int(width * 3 / 4))


# --- what the server does meanwhile --------------------------------------------------------------


def tree_rss_kb(root_pid: int) -> int:
    """VmRSS of a process and all its descendants (kB), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


@dataclass
class Watch:
    """Health latency and tree RSS every POLL_S, each in its own thread (apart from the clients'
    event loop, so a busy loop does not delay the samples)."""

    url: str
    pid: int
    health_s: list[float] = field(default_factory=list)
    health_failures: int = 0
    rss_kb: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _health(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=HEALTH_TIMEOUT_S) as r:
                    ok = r.status == 200
            except OSError:
                ok = False
            took = time.perf_counter() - started
            if not ok:
                self.health_failures += 1
                took = max(took, HEALTH_TIMEOUT_S)
            self.health_s.append(took)
            self._stop.wait(max(0.0, POLL_S - took))

    def _rss(self) -> None:
        while not self._stop.is_set():
            self.rss_kb.append(tree_rss_kb(self.pid))
            self._stop.wait(POLL_S)

    def __enter__(self) -> Watch:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
        urllib.request.install_opener(opener)
        self._threads = [threading.Thread(target=t, daemon=True) for t in (self._health, self._rss)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


# --- the people ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    total: int
    searches: tuple[tuple[str, int, str], ...]
    """(text typed in the search box, result count, first result's id)."""
    names: dict[str, str]


def expectations() -> Expected:
    """What Browse and search should show, from the same library and database the server uses."""
    engine = db.get_engine()
    db.ensure_built(engine)
    searcher = Searcher(engine)
    total = searcher.count()
    names = {hit.id: hit.name for hit in searcher.search(Query()).hits}
    searches = []
    for text in SEARCHES:
        result = searcher.search(Query.build(text), limit=1)
        if 0 < result.total < total:
            searches.append((text, result.total, result.hits[0].id))
    return Expected(total, tuple(searches), names)


def page_problems(client: StreamlitClient, allowed: tuple[str, ...] = FIXED_WARNING_KEYS) -> list[str]:
    found = client.page.problems(allowed)
    problems = [f"{kind}: {text}" for kind, texts in found.items() for text in texts]
    if client.lost is not None:
        problems.append(f"connection: {client.lost!r}")
    return problems


@dataclass
class Tally:
    ordinary_actions: int = 0
    ordinary_errors: list[str] = field(default_factory=list)
    ordinary_s: list[float] = field(default_factory=list)
    hostile: Counter[str] = field(default_factory=Counter)
    hostile_errors: list[str] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)
    """The sentences refused uploads were answered with."""
    hostile_s: list[float] = field(default_factory=list)


async def ordinary_user(
    number: int, url: str, expected: Expected, tally: Tally, stop: asyncio.Event, timeout_s: float
) -> None:
    """Browse, search and open entries until told to stop; every wrong page is an error."""
    rng = random.Random(number)
    client: StreamlitClient | None = None
    while not stop.is_set():
        started = time.perf_counter()
        action = "load"
        try:
            if client is None or client.lost is not None:
                if client is not None:
                    await client.close()
                client = StreamlitClient(url, timeout_s)
                await client.connect()
                check_browse(client.page, expected.total)
            else:
                action = rng.choice(("search", "search", "entry"))
                if action == "search":
                    text, total, first_id = rng.choice(expected.searches)
                    await client.rerun(widgets=[text_value(client.page.one("text").id, text)])
                    check_browse(client.page, total, first_id)
                else:
                    await open_first_card(client, expected)
                    client_ = client
                    client = None  # back to a fresh Browse next time
                    await client_.close()
            if client is not None and (problems := page_problems(client)):
                raise Mismatch("; ".join(problems))
            tally.ordinary_s.append(time.perf_counter() - started)
        except Exception as exc:  # every failure is counted, the user carries on afresh
            tally.ordinary_errors.append(f"user {number} {action}: {type(exc).__name__}: {exc}"[:300])
            if client is not None:
                await client.close()
            client = None
        tally.ordinary_actions += 1
        with contextlib.suppress(TimeoutError):  # a pause to read, cut short by the stop
            await asyncio.wait_for(stop.wait(), rng.uniform(0.5, 2.0))
    if client is not None:
        await client.close()


async def open_first_card(client: StreamlitClient, expected: Expected) -> None:
    page = client.page
    cards = page.with_key_prefix("card_")
    if not cards:
        raise Mismatch("no result card to open")
    entry_id = cards[0].key.removeprefix("card_")
    link = next((n.proto for n in page.inside(cards[0]) if n.kind == "page_link"), None)
    if link is None:
        raise Mismatch(f"the card of {entry_id} has no link")
    await client.rerun(page_hash=link.page_script_hash, query_string=link.query_string)
    shown = client.page
    if not any(n.text == expected.names[entry_id] for n in shown.of_kind("heading")):
        raise Mismatch(f"entry page without the heading of {entry_id}")
    if not shown.find("hazards"):
        raise Mismatch(f"entry page of {entry_id} without its hazards")
    if problems := page_problems(client):
        raise Mismatch("; ".join(problems))


def answer(client: StreamlitClient, tally: Tally) -> str:
    """What Identify said to an upload: matched, refused, busy, or an error (raises)."""
    page = client.page
    if page.find("server_busy"):
        if BUSY not in page.text(page.one("server_busy")):
            raise Mismatch("busy block without the busy sentence")
        return "busy"
    problems = page_problems(client)
    exceptions = [p for p in problems if not p.startswith("error: ")]
    if exceptions:
        raise Mismatch("; ".join(exceptions))
    if problems:  # the loader's or the matcher's sentence as an error alert
        tally.refusals.update(p.removeprefix("error: ") for p in problems)
        return "refused"
    if page.find("match_message"):
        return "matched"
    raise Mismatch("neither suggestions nor a sentence after the upload")


async def hostile_session(
    number: int, url: str, files: list[tuple[str, bytes, str]], tally: Tally, timeout_s: float
) -> None:
    """Open Identify and upload each hostile file in turn, as fast as the server answers."""
    client = StreamlitClient(url, timeout_s)
    try:
        await client.connect()
        await client.rerun(page_hash=client.pages[IDENTIFY_TITLE])
        for name, data, content_type in files:
            started = time.perf_counter()
            try:
                uploader = client.page.one("photo_upload")
                state = await client.upload(uploader.id, name, data, content_type)
                await client.rerun(widgets=[state])
                tally.hostile[f"{name}: {answer(client, tally)}"] += 1
            except Exception as exc:
                tally.hostile[f"{name}: error"] += 1
                tally.hostile_errors.append(f"session {number} {name}: {type(exc).__name__}: {exc}"[:300])
                return
            finally:
                tally.hostile_s.append(time.perf_counter() - started)
    except Exception as exc:
        tally.hostile["open: error"] += 1
        tally.hostile_errors.append(f"session {number} open: {type(exc).__name__}: {exc}"[:300])
    finally:
        await client.close()


async def flood(
    args: argparse.Namespace, server: AppServer, expected: Expected, files: list[tuple[str, bytes, str]]
) -> tuple[Tally, dict[str, float]]:
    url = server.url
    tally = Tally()
    stop = asyncio.Event()
    # the server warmed up first: pages imported and the match index loaded, as after `make run`
    warm = StreamlitClient(url, args.timeout)
    await warm.connect()
    await warm.rerun(page_hash=warm.pages[IDENTIFY_TITLE])
    await warm.close()
    rss_warm = tree_rss_kb(server.process.pid)
    people = [
        asyncio.create_task(ordinary_user(i, url, expected, tally, stop, args.timeout))
        for i in range(args.ordinary)
    ]
    await asyncio.sleep(args.lead)  # ordinary use before the flood, for comparison
    started = time.perf_counter()
    await asyncio.gather(*(hostile_session(i, url, files, tally, args.timeout) for i in range(args.sessions)))
    flood_s = time.perf_counter() - started
    await asyncio.sleep(args.lead)  # and after
    stop.set()
    await asyncio.gather(*people)
    rss_done = tree_rss_kb(server.process.pid)
    return tally, {"flood_s": flood_s, "rss_warm_kb": rss_warm, "rss_done_kb": rss_done}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))] if ordered else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30, help="hostile sessions at once")
    parser.add_argument("--ordinary", type=int, default=3, help="ordinary users beside them")
    parser.add_argument("--timeout", type=float, default=120.0, help="slower script runs are errors (s)")
    parser.add_argument("--lead", type=float, default=5.0, help="ordinary use before and after the flood (s)")
    parser.add_argument("--settle", type=float, default=10.0, help="wait before 'RSS after' (s)")
    args = parser.parse_args()
    if args.sessions < 1 or args.ordinary < 0 or args.timeout <= 0 or args.lead < 0 or args.settle < 0:
        parser.error("--sessions must be positive; --ordinary, --timeout, --lead, --settle not negative")

    subprocess.run(
        [sys.executable, "-m", "ordnance_db", "build"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL
    )
    png, jpeg = hostile_png(), hostile_jpeg()
    expected = expectations()
    with tempfile.TemporaryDirectory(prefix="bench-flood-") as tmp:
        folder = Path(tmp)
        (folder / "flat.png").write_bytes(png)
        (folder / "noise.jpg").write_bytes(jpeg)
        files = [("flat.png", png, "image/png"), ("noise.jpg", jpeg, "image/jpeg")]
        with AppServer(folder / "server.log") as server:
            rss_before = tree_rss_kb(server.process.pid)
            with Watch(server.url, server.process.pid) as watch:
                tally, times = asyncio.run(flood(args, server, expected, files))
                time.sleep(args.settle)
            rss_after = tree_rss_kb(server.process.pid)
            log = server.log_text()
    health = watch.health_s
    result: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end",
        "inputs": {
            "png": f"{PNG_SIDE} x {PNG_SIDE} flat colour, {len(png) / 1024:.0f} kB",
            "jpeg": f"noise, {Image.open(io.BytesIO(jpeg)).size}, {len(jpeg) / 2**20:.1f} MB",
        },
        "sessions": args.sessions,
        "flood_s": round(times["flood_s"], 1),
        "rss_before_mb": round(rss_before / 1024),
        "rss_warm_mb": round(times["rss_warm_kb"] / 1024),
        "rss_when_sessions_closed_mb": round(times["rss_done_kb"] / 1024),
        "rss_timeline_mb": [round(kb / 1024) for kb in watch.rss_kb[::4]],
        "rss_peak_mb": round(max(watch.rss_kb, default=0) / 1024),
        "rss_after_mb": round(rss_after / 1024),
        "health_p50_s": round(statistics.median(health), 3) if health else None,
        "health_max_s": round(max(health), 3) if health else None,
        "health_polls": len(health),
        "health_failures": watch.health_failures,
        "hostile_answers": dict(sorted(tally.hostile.items())),
        "hostile_errors": tally.hostile_errors[:10],
        "refusals": dict(tally.refusals.most_common()),
        "hostile_answer_p50_s": round(statistics.median(tally.hostile_s), 2) if tally.hostile_s else None,
        "hostile_answer_max_s": round(max(tally.hostile_s), 2) if tally.hostile_s else None,
        "ordinary_users": args.ordinary,
        "ordinary_actions": tally.ordinary_actions,
        "ordinary_errors": len(tally.ordinary_errors),
        "ordinary_error_samples": tally.ordinary_errors[:10],
        "ordinary_p95_s": round(percentile(tally.ordinary_s, 0.95), 2) if tally.ordinary_s else None,
        "server_tracebacks": log.count("Traceback"),
    }
    missed = []
    if result["rss_peak_mb"] > RSS_TARGET_MB:
        missed.append(f"peak RSS {result['rss_peak_mb']} MB > {RSS_TARGET_MB:.0f} MB")
    if not health or max(health) > HEALTH_TARGET_S or watch.health_failures:
        missed.append(f"health max {result['health_max_s']} s (failures {watch.health_failures}) > 2 s")
    if tally.ordinary_errors or (args.ordinary and not tally.ordinary_s):
        missed.append(f"{len(tally.ordinary_errors)} ordinary-user errors")
    rows = [
        ("peak RSS (server + children)", f"{result['rss_peak_mb']} MB", "<= 1536 MB"),
        ("RSS warm / after", f"{result['rss_warm_mb']} / {result['rss_after_mb']} MB", ""),
        ("health p50 / max", f"{result['health_p50_s']} / {result['health_max_s']} s", "max <= 2 s"),
        ("ordinary-user errors", f"{result['ordinary_errors']} of {tally.ordinary_actions}", "0"),
        ("hostile answers", ", ".join(f"{k} {v}" for k, v in result["hostile_answers"].items()), ""),
    ]
    for name, value, target in rows:
        print(f"{name:30} {value:40} {target}")
    print(json.dumps(result, indent=2, ensure_ascii=False))
    for line in missed:
        print(f"MISSED: {line}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
