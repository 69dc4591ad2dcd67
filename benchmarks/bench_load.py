"""Load test: many people using the app at once against one server, everything on loopback.

Run: `.venv/bin/python benchmarks/bench_load.py [--users 20] [--seconds 60] [--driver protocol]`.
Prints a table, then JSON figures; exits 1 if a target is missed. The server listens on 127.0.0.1
only and every address the users reach is on it (checked).

Two drivers play the users:

- `protocol` (the default): each user is a `StreamlitClient` (benchmarks/st_client.py), one
  websocket session speaking Streamlit's own protobuf protocol, as a browser tab does: the same
  script runs, the same uploads, and it downloads the pictures of every page it is shown (once
  per user, as a browser cache would). A user costs a few milliseconds of CPU per action, so on a
  2-core machine the latencies are the server's, not the load generator's.
- `browser`: each user is a Chromium browser context driven by Playwright (all in one Chromium;
  `--browsers N` spreads them over N). The browsers run on the same cores as the server and on
  2 cores take most of the CPU (a Browse rerun costs Chromium about 0.6 CPU seconds, the
  server a few tens of milliseconds), so the latencies mostly measure Chromium.

Before the clock starts: `python -m ordnance_db build` makes var/ current, the server starts
(tests/serving.py: a free port, headless, no usage statistics), a first visitor warms it up (pages
imported, match index loaded), one user alone measures the single-user figures with the same
driver, and then every user opens the app (`first_visit`).

For `--seconds`, each user then makes visits chosen at random (weights 3:3:4), moving between
pages with the sidebar's page links as people do (their filters stay set from page to page), with
a pause of 5-20 s after each action (`--think-min`, `--think-max`) to read what came back:

- browse: open Browse (`browse_open`), clear the filters if set and choose a category in the
  sidebar (`filter`), open the first card (`entry_open`);
- search: open Browse, clear the filters if set, type a name in the search box (`search`);
- identify: open Identify (`identify_open`) unless there, upload a photo (`match`: from choosing
  the file until every suggestion shows).

An action is served when the page then shows what the library says it should: Browse's result
count and exactly that many cards (at most a page), the first result of a search, the entry's
heading and its hazards, and each suggestion of the photo in order with the match message. With
the protocol driver this is read from the elements the finished script run sent; with the browser
driver from the page, waiting until nothing left over from the previous run remains. It is an
error when the action raises, shows something else, takes longer than `--timeout`, or the page
then holds a Streamlit exception, an error alert (other than the fixed "Do not go closer" and
hazards warnings) or a dialog, or the connection is lost. Tracebacks in the server log, failed
picture downloads and (browser) page script errors or requests to other hosts count as errors
too. Photos are held-out synthetic scenes (`ordnance_db.scenes`, recipe "heldout").

Targets (issue 8): no errors; p95 of `match` under load <= 5 x the single-user median of the same
run (nearest rank: with fewer than 20 matches p95 is the slowest one); after the load the server
still answers /_stcore/health and a new visitor gets Browse. Also reported: the server's peak RSS
(VmHWM), CPU seconds of the server, the load generator (this script, and Chromium with its
driver) and anything else on the machine, and each match's parts (protocol: the upload and the
script run; browser: until the server's last websocket message arrived, and the browser's rest).

Two options tell the server's part apart further: `--pin-server` (the server on a core of its
own, the load generator on the others) and `--server-timing` (the server logs the wall and CPU time
of every script run and match_photo call, through a wrapper around a private Streamlit method).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import io
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.st_client import (  # noqa: E402
    Page,
    StreamlitClient,
    multiselect_value,
    text_value,
    trigger,
)
from ordnance_db import db, scenes  # noqa: E402
from ordnance_db.catalog import load_catalog  # noqa: E402
from ordnance_db.matcher import load_matcher, match_photo  # noqa: E402
from ordnance_db.search import Query, Searcher  # noqa: E402
from ordnance_db.settings import CATALOG_DIR, IMAGES_DIR  # noqa: E402
from tests.serving import HOST, STREAMLIT, AppServer, chromium_options, healthy  # noqa: E402

if TYPE_CHECKING:
    from playwright.async_api import Browser, Locator, Playwright
    from playwright.async_api import Page as BrowserPage

MATCH_RATIO_TARGET = 5.0
DRIVERS = ("protocol", "browser")
VIEWPORT = {"width": 1400, "height": 1000}
KINDS = ("browse_open", "filter", "entry_open", "search", "identify_open", "match")
VISITS = ("browse", "search", "identify")
VISIT_WEIGHTS = (3, 3, 4)  # identifying a photo is what the app is most for
SEARCHES = ("ОФАБ", "PFM-1", "Grad", "ШОАБ", "M42", "F-1", "Mk 82", "ofab250", "butterfly", "بركان", "Ураган")
CATEGORIES = ("submunition", "rocket", "hand-grenade", "aircraft-bomb", "anti-personnel-mine", "mortar-bomb")
PHOTO_ENTRIES = 8  # entries photographed, spread over the catalog
PHOTOS_PER_ENTRY = 2
PHOTO_SEED = 8
MAX_VISITS_PER_USER = 10_000  # a bound on every loop, far above what the time allows
# Blocks holding warnings the pages show as error alerts on purpose: Identify's "Do not go closer",
# an entry's hazards.
FIXED_WARNING_KEYS = ("photo_warning", "hazards")
PAGE_SIZE = 24  # cards on one Browse page (views/browse.py)
PAGE_TITLES = {"browse": "Browse", "identify": "Identify from a photo"}  # app.py's page titles
MEDIA_PARALLEL = 6  # picture downloads at once per user, as a browser does per host

# --- what the pages should show, from the library ---------------------------------------------


@dataclass(frozen=True)
class Photo:
    path: Path
    entry_id: str
    message: str
    names: tuple[str, ...]
    """The suggestions' names, in rank order, as the library gives them for this photo."""
    data: bytes = field(repr=False, default=b"")


@dataclass(frozen=True)
class Expected:
    total: int
    names: dict[str, str]
    categories: tuple[tuple[str, int], ...]
    """(label typed in the category filter, result count)."""
    searches: tuple[tuple[str, int, str], ...]
    """(text typed in the search box, result count, first result's id)."""
    photos: tuple[Photo, ...]


def count_text(total: int) -> str:
    return f"{total} result{'s' if total != 1 else ''}"


def expectations(folder: Path) -> Expected:
    """Counts, first results and match answers, from the same library and var/ the server uses."""
    engine = db.get_engine()
    db.ensure_built(engine)
    searcher = Searcher(engine)
    total = searcher.count()
    names = {hit.id: hit.name for hit in searcher.search(Query()).hits}
    labels = {t.id: t.label for t in db.load_vocabulary(engine)["categories"]}
    categories = []
    for category in CATEGORIES:
        label = labels[category]
        # typed into the multiselect, the label must pick this category and no other
        if any(label.lower() in other.lower() for c, other in labels.items() if c != category):
            continue
        count = searcher.search(Query.build(category=[category]), limit=0).total
        if 0 < count < total:
            categories.append((label, count))
    searches = []
    for text in SEARCHES:
        result = searcher.search(Query.build(text), limit=1)
        if 0 < result.total < total:
            searches.append((text, result.total, result.hits[0].id))

    catalog = load_catalog(CATALOG_DIR, IMAGES_DIR)
    matcher = load_matcher(catalog)[0]
    ids = sorted(catalog.entries)
    step = max(1, len(ids) // PHOTO_ENTRIES)
    photos = []
    for entry_id in ids[::step][:PHOTO_ENTRIES]:
        entry = catalog.entries[entry_id]
        for i, scene in enumerate(
            scenes.scenes(entry, catalog.colours(), PHOTOS_PER_ENTRY, PHOTO_SEED, "heldout")
        ):
            buffer = io.BytesIO()
            scene.image.convert("RGB").save(buffer, "JPEG", quality=90)
            data = buffer.getvalue()
            path = folder / f"{entry_id}-{i}.jpg"
            path.write_bytes(data)
            result = match_photo(matcher, data)
            names_ = tuple(s.name for s in result.suggestions)
            photos.append(Photo(path, entry_id, result.message, names_, data))
    if not (categories and searches and photos):
        raise RuntimeError("no category, search or photo to drive the app with")
    return Expected(total, names, tuple(categories), tuple(searches), tuple(photos))


# --- the server ---------------------------------------------------------------------------------


class LoadServer(AppServer):
    """The app server (tests/serving.py), logging to a file, and what the load test reads of it."""

    def __init__(self, log: Path, timing: bool = False) -> None:
        super().__init__(log, command=[sys.executable, __file__, SERVE_WITH_TIMING] if timing else STREAMLIT)

    def pin(self) -> None:
        """The server (every thread, and those it starts later) on the first core, this script and
        the browsers it starts on the others: the server then has a core of its own."""
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) < 2:
            raise RuntimeError("--pin-server needs at least 2 cores")
        for thread in os.listdir(f"/proc/{self.process.pid}/task"):
            os.sched_setaffinity(int(thread), {cores[0]})
        os.sched_setaffinity(0, set(cores[1:]))

    def timings(self, since: float, until: float) -> dict[str, dict[str, list[float]]]:
        """With --server-timing: wall and CPU seconds of script runs and match_photo calls that ended
        between two time.time() readings."""
        found: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for line in self.log_text().splitlines():
            parts = line.split()
            if len(parts) == 5 and parts[0] == "TIMING" and since <= float(parts[2]) <= until:
                found[parts[1]]["wall"].append(float(parts[3]))
                found[parts[1]]["cpu"].append(float(parts[4]))
        return found

    def status_kb(self, field_name: str) -> int:
        """A memory figure of the server process from /proc/<pid>/status (kB), e.g. VmHWM."""
        text = Path(f"/proc/{self.process.pid}/status").read_text()
        found = re.search(rf"^{field_name}:\s+(\d+) kB", text, re.M)
        return int(found.group(1)) if found else 0

    def cpu_s(self) -> float:
        """User + system CPU seconds of the server process (all its threads)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


def cpu_by_process(server_pid: int) -> Counter[str]:
    """CPU seconds so far of the server, this script (the protocol users), and the browsers and
    Playwright's driver this script started (Chromium run by anything else is "other")."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, tuple[str, int, float]] = {}  # pid -> (command, parent pid, CPU seconds)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        command = stat[stat.index("(") + 1 : stat.rindex(")")]
        found[int(entry.name)] = (command, int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)

    def started_here(pid: int) -> bool:
        for _ in range(64):  # up the parent chain, bounded
            pid = found[pid][1] if pid in found else 0
            if pid in (0, 1):
                return False
            if pid == os.getpid():
                return True
        return False

    groups: Counter[str] = Counter()
    for pid, (command, _, cpu) in found.items():
        if pid == server_pid:
            groups["server"] += cpu
        elif pid == os.getpid():
            groups["this script"] += cpu
        elif "chrom" in command and started_here(pid):
            groups["chromium"] += cpu
        elif command.startswith("node") and started_here(pid):
            groups["playwright driver"] += cpu
    return groups


async def sample_cpu(server: LoadServer, samples: list[tuple[float, float]], seconds: float) -> None:
    """Every second until cancelled (or `seconds` + 10 s): the server's cores used and the machine's
    busy share in that second."""
    last_server, last_machine = server.cpu_s(), machine_cpu()
    for _ in range(int(seconds) + 10):
        await asyncio.sleep(1)
        try:
            now_server, now_machine = server.cpu_s(), machine_cpu()
        except OSError:  # the server is gone: the run reports that
            return
        busy = (now_machine[0] - last_machine[0]) / max(1.0, now_machine[1] - last_machine[1])
        samples.append((now_server - last_server, busy))
        last_server, last_machine = now_server, now_machine


def tracebacks(log: str) -> list[str]:
    """The last line of every traceback in the server log."""
    found = []
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Traceback"):
            tail = next((x for x in lines[i + 1 :] if x and not x.startswith((" ", "\t"))), line)
            found.append(tail.strip()[:200])
    return found


# --- recording ----------------------------------------------------------------------------------


class Mismatch(AssertionError):
    """The page shows something other than what the library says it should."""


def check_browse(shown: Page, total: int, first_id: str = "") -> None:
    """Browse shows the count once, exactly that many cards (at most a page), `first_id` first."""
    counts = shown.find("result_count")
    if len(counts) != 1:
        raise Mismatch(f"{len(counts)} result counts")
    texts = [n.text for n in shown.inside(counts[0]) if n.kind == "markdown"]
    if not texts or texts[0] != count_text(total):
        raise Mismatch(f"count {texts[:1]}, expected {count_text(total)!r}")
    cards = shown.with_key_prefix("card_")
    if len(cards) != min(total, PAGE_SIZE):
        raise Mismatch(f"{len(cards)} cards for {total} results")
    if first_id and cards[0].key != f"card_{first_id}":
        raise Mismatch(f"first result {cards[0].key}, expected card_{first_id}")


@dataclass
class Recorder:
    """Latencies of served actions and every error, by action kind."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    parts: dict[str, dict[str, list[float]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    """Parts of a latency some actions report (match: upload and script run, or until the server's
    last message and after it)."""
    errors: list[dict[str, Any]] = field(default_factory=list)
    media: int = 0
    """Pictures downloaded."""
    media_dropped: int = 0
    """Pictures gone before their download because the page had moved on (not an error)."""

    def error(self, kind: str, user: int, what: str, detail: str) -> None:
        self.errors.append({"kind": kind, "user": user, "type": what, "detail": detail[:300]})

    async def run(
        self, kind: str, user: SimulatedUser, action: Callable[[], Awaitable[Any]], timeout_s: float
    ) -> bool:
        """Run one action; record its latency (seconds) if the page then shows no error."""
        step = getattr(action, "__name__", kind)
        try:
            latency = await asyncio.wait_for(action(), timeout_s)
            latency, parts = latency if isinstance(latency, tuple) else (latency, {})
        except Exception as exc:  # a timeout, a wrong page, a lost connection, or a slip of this script
            if isinstance(exc, TimeoutError) or type(exc).__name__ == "TimeoutError":
                what = "timeout"
            else:
                what = "wrong-content" if isinstance(exc, Mismatch) else "exception"
            detail = explain(exc) or f"not done in {timeout_s:g} s"
            self.error(kind, user.number, what, f"{step}: {type(exc).__name__}: {detail}")
            return False
        try:
            shown = await user.problems()
        except Exception as exc:
            self.error(kind, user.number, "exception", f"{step}: page check: {explain(exc)}")
            return False
        if shown:
            self.error(
                kind, user.number, "streamlit-error", f"{step}: {json.dumps(shown, ensure_ascii=False)}"
            )
            return False
        self.latencies[kind].append(latency)
        for name, value in parts.items():
            self.parts[kind][name].append(value)
        user.after_action()
        return True

    def served(self) -> int:
        return sum(len(v) for v in self.latencies.values())


def explain(exc: BaseException) -> str:
    """An exception's first line, and what Playwright was waiting for when it has a call log."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    waiting = [line for line in lines[1:] if line.startswith(("- waiting for", "waiting for"))]
    return " | ".join(lines[:1] + waiting[:1])


def error_samples(errors: list[dict[str, Any]], count: int = 10) -> list[dict[str, Any]]:
    """The first error of every kind and type, then the next ones, up to `count`."""
    seen: set[tuple[str, str]] = set()
    firsts = []
    for error in errors:
        if (error["kind"], error["type"]) not in seen:
            seen.add((error["kind"], error["type"]))
            firsts.append(error)
    return (firsts + [e for e in errors if e not in firsts])[:count]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ms = [v * 1000 for v in values]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms)),
        "p95_ms": round(percentile(ms, 0.95)),
        "max_ms": round(max(ms)),
    }


# --- one user: what the visits are, whatever plays them ------------------------------------------

Step = tuple[str, Callable[[], Awaitable[Any]]]


class SimulatedUser:
    """One person; each action returns its latency in seconds (match: also its parts).

    The user moves through the app as people do, with the sidebar's page links (a new session
    only on arrival), so the filters they chose stay set from page to page: the user remembers
    what Browse should show. After an error the page is in an unknown state and the next visit
    starts with a new session on Browse. A driver subclass says how each step is played and
    checked; this class keeps the plan and what the user expects.
    """

    def __init__(self, number: int, expected: Expected, seed: int, recorder: Recorder) -> None:
        self.number = number
        self.expected = expected
        self.recorder = recorder
        self.rng = random.Random(seed * 1000 + number)
        self.on_page = ""  # "browse", "entry", "identify" or "" (unknown: load the page afresh)
        self.browse_total = expected.total  # the count Browse shows with this user's filters
        self.filtered = False
        self.last_photo: Photo | None = None  # the session remembers its last photo's matches

    # --- the actions

    async def load_browse(self) -> float:
        """Browse by its address: a new session (arrival, or recovery after an error)."""
        self.on_page = ""
        took = await self.play_load(self.expected.total)
        self.on_page, self.browse_total, self.filtered = "browse", self.expected.total, False
        self.last_photo = None
        return took

    async def open_browse(self) -> float:
        self.on_page = "browse"
        return await self.play_go("browse", self.browse_total)

    async def clear_filters(self) -> float:
        took = await self.play_clear(self.expected.total)
        self.browse_total, self.filtered = self.expected.total, False
        return took

    async def choose_filter(self) -> float:
        label, total = self.rng.choice(self.expected.categories)
        self.filtered = True
        took = await self.play_choose(label, total)
        self.browse_total = total
        return took

    async def entry_open(self) -> float:
        self.on_page = "entry"
        return await self.play_open_first_card()

    async def search(self) -> float:
        text, total, first_id = self.rng.choice(self.expected.searches)
        self.filtered = True
        took = await self.play_search(text, total, first_id)
        self.browse_total = total
        return took

    async def open_identify(self) -> float:
        self.on_page = "identify"
        return await self.play_go("identify", 0)

    async def match(self, photo: Photo | None = None) -> tuple[float, dict[str, float]]:
        """From choosing the file until every suggestion shows, each checked against the library."""
        if photo is None:
            photo = self.rng.choice(self.other_photos())
        self.last_photo = photo
        return await self.play_match(photo)

    def other_photos(self) -> list[Photo]:
        """Photos whose suggestions differ from those on screen (and which the session has not matched
        last: it remembers that one's result)."""
        last = self.last_photo
        if last is None:
            return list(self.expected.photos)
        return [p for p in self.expected.photos if (p.message, p.names) != (last.message, last.names)]

    # --- the plan

    def visit(self, name: str) -> list[Step]:
        """The actions of one visit, from where the user is now."""
        steps: list[Step] = []
        if not self.on_page:  # a new session: Browse, no filters
            steps.append(("browse_open", self.load_browse))
            on_page, filtered = "browse", False
        else:
            on_page, filtered = self.on_page, self.filtered or self.browse_total != self.expected.total
        if name == "identify":
            if on_page != "identify":
                steps.append(("identify_open", self.open_identify))
            return [*steps, ("match", self.match)]
        if on_page != "browse":
            steps.append(("browse_open", self.open_browse))
        if filtered:  # from a filtered or searched list, the user clears the filters first
            steps.append(("filter", self.clear_filters))
        if name == "search":
            return [*steps, ("search", self.search)]
        return [*steps, ("filter", self.choose_filter), ("entry_open", self.entry_open)]

    def next_visit(self) -> str:
        return self.rng.choices(VISITS, weights=VISIT_WEIGHTS)[0]

    # --- what a driver plays: each returns once the page shows what it should (else raises)

    async def play_load(self, total: int) -> float:
        """A new session on Browse without filters; until `total` results show."""
        raise NotImplementedError

    async def play_go(self, page: str, total: int) -> float:
        """The sidebar link to "browse" (until `total` results show) or "identify" (until the photo
        warning and the upload widget show)."""
        raise NotImplementedError

    async def play_clear(self, total: int) -> float:
        raise NotImplementedError

    async def play_choose(self, label: str, total: int) -> float:
        """Choose the category `label` in the sidebar filter; until `total` results show."""
        raise NotImplementedError

    async def play_open_first_card(self) -> float:
        """Open the first result's entry; until its heading and hazards show."""
        raise NotImplementedError

    async def play_search(self, text: str, total: int, first_id: str) -> float:
        raise NotImplementedError

    async def play_match(self, photo: Photo) -> tuple[float, dict[str, float]]:
        raise NotImplementedError

    async def problems(self) -> dict[str, list[str]]:
        """Failures the page shows now (exceptions, error alerts, dialogs, lost connection)."""
        raise NotImplementedError

    def after_action(self) -> None:
        """Called after a served action (the protocol user downloads the page's pictures then)."""

    async def close(self) -> None:
        raise NotImplementedError


# --- the protocol driver -------------------------------------------------------------------------


class ProtocolUser(SimulatedUser):
    """A user as a `StreamlitClient` session: the checks read the elements the finished run sent."""

    def __init__(
        self, number: int, expected: Expected, seed: int, recorder: Recorder, url: str, timeout_s: float
    ):
        super().__init__(number, expected, seed, recorder)
        self.url = url
        self.timeout_s = timeout_s
        self.client: StreamlitClient | None = None
        self.downloaded: set[str] = set()  # a browser's cache: each picture once per user
        self.downloads: set[asyncio.Task[None]] = set()
        self.gate = asyncio.Semaphore(MEDIA_PARALLEL)

    @property
    def session(self) -> StreamlitClient:
        if self.client is None:
            raise RuntimeError("no session")
        return self.client

    async def play_load(self, total: int) -> float:
        if self.client is not None:
            await self.client.close()
        self.client = StreamlitClient(self.url, self.timeout_s)
        started = time.perf_counter()
        await self.client.connect()
        check_browse(self.client.page, total)
        return time.perf_counter() - started

    async def play_go(self, page: str, total: int) -> float:
        session = self.session
        took = await session.rerun(page_hash=session.pages[PAGE_TITLES[page]])
        if page == "browse":
            check_browse(session.page, total)
        else:
            shown = session.page
            if "Do not go closer" not in shown.text(shown.one("photo_warning")):
                raise Mismatch("Identify without its photo warning")
            if [n.kind for n in shown.find("photo_upload")] != ["file_uploader"]:
                raise Mismatch("Identify without its upload widget")
        return took

    async def play_clear(self, total: int) -> float:
        session = self.session
        took = await session.rerun(widgets=[trigger(session.page.one("clear_filters").id)])
        check_browse(session.page, total)
        return took

    async def play_choose(self, label: str, total: int) -> float:
        session = self.session
        widget = session.page.one("filter_category")
        # the option as the list shows it, "Submunition (17)"
        pattern = re.compile(rf"^{re.escape(label)} \(\d+\)$")
        option = next((o for o in widget.proto.options if pattern.match(o)), None)
        if option is None:
            raise Mismatch(f"no category option {label!r} in {list(widget.proto.options)}")
        took = await session.rerun(widgets=[multiselect_value(widget.id, [option])])
        check_browse(session.page, total)
        return took

    async def play_open_first_card(self) -> float:
        session = self.session
        shown = session.page
        cards = shown.with_key_prefix("card_")
        if not cards:
            raise Mismatch("no result card to open")
        entry_id = cards[0].key.removeprefix("card_")
        link = next((n.proto for n in shown.inside(cards[0]) if n.kind == "page_link"), None)
        if link is None or f"id={entry_id}" not in link.query_string:
            raise Mismatch(f"the card of {entry_id} has no link to its entry")
        took = await session.rerun(page_hash=link.page_script_hash, query_string=link.query_string)
        shown = session.page
        name = self.expected.names[entry_id]
        if not any(n.text == name for n in shown.of_kind("heading")):
            raise Mismatch(f"entry page without the heading {name!r}")
        if not shown.find("hazards"):
            raise Mismatch(f"entry page of {entry_id} without its hazards")
        return took

    async def play_search(self, text: str, total: int, first_id: str) -> float:
        session = self.session
        took = await session.rerun(widgets=[text_value(session.page.one("text").id, text)])
        check_browse(session.page, total, first_id)
        return took

    async def play_match(self, photo: Photo) -> tuple[float, dict[str, float]]:
        session = self.session
        uploader = session.page.one("photo_upload")
        started = time.perf_counter()
        state = await session.upload(uploader.id, photo.path.name, photo.data, "image/jpeg")
        uploaded = time.perf_counter()
        await session.rerun(widgets=[state])
        shown = session.page
        messages = shown.find("match_message")
        if len(messages) != 1 or photo.message not in shown.text(messages[0]):
            raise Mismatch(f"match message is not {photo.message!r}")
        suggestions = shown.with_key_prefix("suggestion_")
        if len(suggestions) != len(photo.names):
            raise Mismatch(f"{len(suggestions)} suggestions, expected {len(photo.names)}")
        for rank, name in enumerate(photo.names, 1):
            card = shown.find(f"suggestion_{rank}")
            if len(card) != 1 or f"{rank}. {name}" not in shown.text(card[0]):
                raise Mismatch(f"suggestion {rank} is not {name!r}")
        done = time.perf_counter()
        return done - started, {"upload": uploaded - started, "script_run": done - uploaded}

    async def problems(self) -> dict[str, list[str]]:
        session = self.session
        found = session.page.problems(FIXED_WARNING_KEYS)
        if session.session_events:
            found["session"] = list(session.session_events)
        if session.lost is not None:
            found["connection"] = [repr(session.lost)]
        return found

    def after_action(self) -> None:
        """Download the page's pictures that this user has not seen yet, as a browser does."""
        session = self.session
        for url in session.page.media_urls():
            if url not in self.downloaded:
                self.downloaded.add(url)
                task = asyncio.create_task(self.download(session, url, session.reruns_requested))
                self.downloads.add(task)
                task.add_done_callback(self.downloads.discard)

    async def download(self, session: StreamlitClient, url: str, run: int) -> None:
        if urlsplit(urljoin(self.url + "/", url)).hostname != HOST:
            self.recorder.error("media", self.number, "outside-request", url)
            return
        async with self.gate:
            try:
                response = await session.fetch(url)
            except Exception as exc:
                self.recorder.error("media", self.number, "exception", f"{url}: {explain(exc)}")
                return
        if response.status == 200 and response.body:
            self.recorder.media += 1
        elif response.status == 404 and session.reruns_requested != run:
            # The user had moved on: Streamlit lets a session's pictures go when its next run starts
            # (until that run draws them again), and a browser drops them with the old page.
            self.recorder.media_dropped += 1
        else:
            self.recorder.error("media", self.number, "http-error", f"{url}: {response.status}")

    async def close(self) -> None:
        for task in list(self.downloads):
            task.cancel()
        await asyncio.gather(*self.downloads, return_exceptions=True)
        if self.client is not None:
            await self.client.close()


class ProtocolDriver:
    """Users as protocol sessions: nothing to start."""

    name = "protocol"
    arrivals_at_once = 5

    def __init__(self, url: str) -> None:
        self.url = url

    async def __aenter__(self) -> ProtocolDriver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    async def new_user(
        self, number: int, expected: Expected, seed: int, recorder: Recorder, timeout_s: float
    ) -> SimulatedUser:
        return ProtocolUser(number, expected, seed, recorder, self.url, timeout_s)


# --- the browser driver --------------------------------------------------------------------------

POLL_MS = 50  # how often a page checks what it shows while a user waits
FIXED_WARNINGS = ", ".join(f".st-key-{key}" for key in FIXED_WARNING_KEYS)
# Browse shows `label` ("17 results") once, exactly `cards` cards, the first one `first` if given,
# and nothing left over from the previous run (stale elements go when the run finishes).
SHOWS_JS = """([label, cards, first]) => {
  const counts = document.querySelectorAll('.st-key-result_count');
  if (counts.length !== 1) return false;
  const count = counts[0].querySelector('p');
  if (!count || count.textContent.trim() !== label) return false;
  const shown = document.querySelectorAll("[class*='st-key-card_']");
  if (shown.length !== cards) return false;
  if (first && !(cards && shown[0].classList.contains('st-key-card_' + first))) return false;
  return document.querySelectorAll('[data-stale=true]').length === 0;
}"""
# Identify shows `message` once and exactly the suggestions `names`, in order, and nothing left
# over from the previous run.
SUGGESTS_JS = """([message, names]) => {
  const messages = document.querySelectorAll('.st-key-match_message');
  if (messages.length !== 1 || !messages[0].textContent.includes(message)) return false;
  if (document.querySelectorAll("[class*='st-key-suggestion_']").length !== names.length) return false;
  for (let i = 0; i < names.length; i++) {
    const card = document.querySelector('.st-key-suggestion_' + (i + 1));
    if (!card || !card.textContent.includes((i + 1) + '. ' + names[i])) return false;
  }
  if (document.querySelectorAll('[data-stale=true]').length) return false;
  return {now: performance.now(), lastMessage: window.__lastMessage || 0};
}"""
# In every page: when the last websocket message from the server arrived (performance.now()), to
# split a match's latency into the server's part (until its last message) and the browser's.
WS_CLOCK_JS = """(() => {
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', () => { window.__lastMessage = performance.now(); });
    }
  };
})();"""
PAGE_CHECK_JS = """(fixedWarnings) => {
  const all = s => Array.from(document.querySelectorAll(s));
  const text = e => e.innerText.trim().slice(0, 200);
  const found = {
    exception: all('[data-testid=stException]').map(text),
    error: all('[data-testid=stAlertContentError]')
      .filter(e => !e.closest(fixedWarnings)).map(text),
    connection: all('[data-testid=stConnectionStatus]').map(text),
    dialog: all('[data-testid=stDialog]').map(text),
  };
  return Object.fromEntries(Object.entries(found).filter(([, v]) => v.length));
}"""


class BrowserUser(SimulatedUser):
    """A user as one Chromium browser context: the checks wait until the page shows the answer."""

    def __init__(
        self, number: int, expected: Expected, seed: int, recorder: Recorder, url: str, page: BrowserPage
    ) -> None:
        super().__init__(number, expected, seed, recorder)
        self.url = url
        self.page = page

    async def play_load(self, total: int) -> float:
        started = time.perf_counter()
        await self.page.goto(self.url)
        await self.shows(total)
        return time.perf_counter() - started

    async def play_go(self, page: str, total: int) -> float:
        started = time.perf_counter()
        await self.nav_link(PAGE_TITLES[page]).click()
        if page == "browse":
            await self.shows(total)
        else:
            await self.page.locator(".st-key-photo_warning").get_by_text("Do not go closer").wait_for()
            await self.page.locator("[data-testid=stFileUploaderDropzoneInput]").wait_for(state="attached")
        return time.perf_counter() - started

    async def play_clear(self, total: int) -> float:
        started = time.perf_counter()
        await self.page.locator(".st-key-clear_filters button").click()
        await self.shows(total)
        return time.perf_counter() - started

    async def play_choose(self, label: str, total: int) -> float:
        await self.page.locator(".st-key-filter_category input").click()
        await self.page.keyboard.type(label)
        # the option as the list shows it, "Submunition (17)": chosen once it is there
        option = self.page.get_by_role("option", name=re.compile(rf"^{re.escape(label)} \(\d+\)$"))
        await option.wait_for()
        started = time.perf_counter()
        await option.click()
        await self.shows(total)
        elapsed = time.perf_counter() - started
        await self.page.keyboard.press("Escape")
        return elapsed

    async def play_open_first_card(self) -> float:
        first = self.page.locator("[class*='st-key-card_']").first
        found = re.search(r"st-key-card_(\S+)", await first.get_attribute("class") or "")
        if not found:
            raise Mismatch("no result card to open")
        entry_id = found.group(1)
        started = time.perf_counter()
        await first.get_by_text("Open entry").click()
        heading = self.page.get_by_role("heading", name=self.expected.names[entry_id], exact=True)
        await heading.wait_for()
        await self.page.locator(".st-key-hazards").wait_for()
        elapsed = time.perf_counter() - started
        if f"id={entry_id}" not in self.page.url:
            raise Mismatch(f"entry page for {entry_id} has the address {self.page.url}")
        return elapsed

    async def play_search(self, text: str, total: int, first_id: str) -> float:
        box = self.page.locator(".st-key-text input")
        await box.click()
        await box.press_sequentially(text, delay=20)
        started = time.perf_counter()
        await box.press("Enter")
        await self.shows(total, first_id)
        return time.perf_counter() - started

    async def play_match(self, photo: Photo) -> tuple[float, dict[str, float]]:
        """Also returns its parts: until the last websocket message from the server arrived (upload,
        script run, sending, and the browser's delay in taking the messages), and after it."""
        clock = await self.page.evaluate("performance.now()")
        started = time.perf_counter()
        await self.page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(photo.path))
        done = await self.page.wait_for_function(
            SUGGESTS_JS, arg=[photo.message, list(photo.names)], polling=POLL_MS
        )
        elapsed = time.perf_counter() - started
        times = await done.json_value()
        to_last = min(elapsed, max(0.0, times["lastMessage"] - clock) / 1000)
        return elapsed, {"to_last_message": to_last, "after_last_message": elapsed - to_last}

    def nav_link(self, title: str) -> Locator:
        return self.page.locator("[data-testid=stSidebarNav] a").filter(has_text=title)

    async def shows(self, total: int, first_id: str = "") -> None:
        """Wait until Browse shows this count and its cards only (the run's stale elements gone)."""
        await self.page.wait_for_function(
            SHOWS_JS, arg=[count_text(total), min(total, PAGE_SIZE), first_id], polling=POLL_MS
        )

    async def problems(self) -> dict[str, list[str]]:
        return dict(await self.page.evaluate(PAGE_CHECK_JS, FIXED_WARNINGS))

    async def close(self) -> None:
        await self.page.context.close()


class BrowserDriver:
    """Users as Chromium browser contexts, spread over `browsers` Chromium processes."""

    name = "browser"
    arrivals_at_once = 2  # a fresh context compiling Streamlit's front end costs more than anything later

    def __init__(self, url: str, browsers: int) -> None:
        self.url = url
        self.count = browsers
        self.playwright: Playwright | None = None
        self.browsers: list[Browser] = []

    async def __aenter__(self) -> BrowserDriver:
        from playwright.async_api import async_playwright

        self.playwright = await async_playwright().start()
        try:
            for _ in range(self.count):
                self.browsers.append(await self.playwright.chromium.launch(**chromium_options()))
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        for browser in self.browsers:
            await browser.close()
        if self.playwright is not None:
            await self.playwright.stop()

    async def new_user(
        self, number: int, expected: Expected, seed: int, recorder: Recorder, timeout_s: float
    ) -> SimulatedUser:
        context = await self.browsers[number % len(self.browsers)].new_context(viewport=VIEWPORT)
        context.set_default_timeout(timeout_s * 1000)
        page = await context.new_page()

        def on_request(request: Any) -> None:
            parts = urlsplit(request.url)
            if parts.scheme in {"http", "https", "ws", "wss"} and parts.hostname != HOST:
                recorder.error("request", number, "outside-request", request.url)

        context.on("request", on_request)
        await context.add_init_script(WS_CLOCK_JS)
        page.on("pageerror", lambda exc: recorder.error("page", number, "page-script-error", str(exc)))
        return BrowserUser(number, expected, seed, recorder, self.url, page)


Driver = ProtocolDriver | BrowserDriver


# --- the run ------------------------------------------------------------------------------------


async def run_visit(
    user: SimulatedUser,
    name: str,
    recorder: Recorder,
    timeout_s: float,
    until: float | None = None,
    think: tuple[float, float] = (0.0, 0.0),
) -> int:
    """One visit's actions, a pause after each; none starts after `until`. Returns actions tried."""
    tried = 0
    for kind, action in user.visit(name):
        if until is not None and time.monotonic() >= until:
            break
        tried += 1
        if not await recorder.run(kind, user, action, timeout_s):
            user.on_page = ""  # unknown state: the next visit loads Browse afresh
            break
        pause = user.rng.uniform(*think)
        if until is not None:
            pause = min(pause, max(0.0, until - time.monotonic()))
        await asyncio.sleep(pause)
    return tried


async def user_loop(
    user: SimulatedUser, recorder: Recorder, deadline: float, think: tuple[float, float], timeout_s: float
) -> int:
    """Visits until the deadline: no action starts after it. Returns the number of actions tried."""
    await asyncio.sleep(user.rng.uniform(0, think[1]))  # not everyone clicks in the same second
    tried = 0
    visit = VISITS[user.number % len(VISITS)]  # the first visits are spread over the three kinds
    for _ in range(MAX_VISITS_PER_USER):
        if time.monotonic() >= deadline:
            break
        tried += await run_visit(user, visit, recorder, timeout_s, deadline, think)
        visit = user.next_visit()
    return tried


def make_driver(args: argparse.Namespace, url: str) -> Driver:
    if args.driver == "browser":
        return BrowserDriver(url, max(1, min(args.browsers, args.users)))
    return ProtocolDriver(url)


async def drive(args: argparse.Namespace, server: LoadServer, expected: Expected) -> dict[str, Any]:
    timeout_s = args.timeout
    think = (args.think_min, max(args.think_min, args.think_max))
    single = Recorder()
    arrivals = Recorder()
    load = Recorder()
    after = Recorder()
    async with make_driver(args, server.url) as driver:
        # Warm-up, not measured: the first visitor makes Streamlit import the pages and load the
        # match index; thumbnails are made on first use.
        warm = Recorder()
        user = await driver.new_user(-1, expected, args.seed, warm, 120)
        for name in ("browse", "search", "identify"):
            await run_visit(user, name, warm, 120)
        await user.close()
        if warm.errors:
            raise RuntimeError(f"warm-up failed: {warm.errors}")

        # One user alone: the reference for the figures under load.
        single_since = time.time()
        user = await driver.new_user(0, expected, args.seed, single, timeout_s)
        await single.run("first_visit", user, user.load_browse, timeout_s)
        for i in range(args.single):  # the same visits as under load, a short pause after each action
            await run_visit(user, "identify", single, timeout_s, think=(1.0, 1.0))
            if i % 2:
                await run_visit(user, ("browse", "search")[i // 2 % 2], single, timeout_s, think=(1.0, 1.0))
        await user.close()
        single_until = time.time()
        rss_before_kb = server.status_kb("VmRSS")

        # Arrivals, before the clock: each user opens the app.
        users = [await driver.new_user(i, expected, args.seed, load, timeout_s) for i in range(args.users)]
        gate = asyncio.Semaphore(driver.arrivals_at_once)

        async def arrive(user: SimulatedUser) -> None:
            async with gate:
                if not await arrivals.run("first_visit", user, user.load_browse, timeout_s):
                    user.on_page = ""

        await asyncio.gather(*(arrive(u) for u in users))

        # The load: every user busy for --seconds; no action starts after that.
        log_offset = len(server.log_text())
        cpu_server_0, (busy_0, all_0) = server.cpu_s(), machine_cpu()
        processes_0 = cpu_by_process(server.process.pid)
        samples: list[tuple[float, float]] = []
        sampler = asyncio.create_task(sample_cpu(server, samples, args.seconds))
        load_since = time.time()
        started = time.monotonic()
        deadline = started + args.seconds
        loops = asyncio.gather(*(user_loop(u, load, deadline, think, timeout_s) for u in users))
        try:
            tried = await asyncio.wait_for(loops, args.seconds + think[1] + 4 * (timeout_s + 5) + 30)
        except TimeoutError:
            load.error("run", -1, "timeout", "the users did not stop in time")
            tried = []
        wall = time.monotonic() - started
        load_until = time.time()
        sampler.cancel()
        cpu_server = server.cpu_s() - cpu_server_0
        busy_1, all_1 = machine_cpu()
        processes = cpu_by_process(server.process.pid)
        processes.subtract(processes_0)
        # whatever else ran on the machine meanwhile (another test run disturbs the figures)
        processes["other processes"] = (busy_1 - busy_0) / os.sysconf("SC_CLK_TCK") - sum(processes.values())
        log_during = server.log_text()[log_offset:]
        for user in users:
            await user.close()

        # Does the server keep serving? Its health check, and a new visitor gets Browse.
        user = await driver.new_user(-2, expected, args.seed, after, timeout_s)
        browse_after = await after.run("browse_open", user, user.load_browse, timeout_s)
        await user.close()
        health_after = healthy(server.url)

    for problem in tracebacks(log_during):
        load.error("server", -1, "server-traceback", problem)
    return {
        "driver": driver.name,
        "windows": {"single_user": (single_since, single_until), "load": (load_since, load_until)},
        "cpu_s_by_process": {k: round(v, 1) for k, v in processes.items()},
        "server_cores_max_1s": round(max((c for c, _ in samples), default=0.0), 2),
        "machine_saturated_s": sum(1 for _, busy in samples if busy >= 0.95),
        "server_log": log_during,
        "single": single,
        "arrivals": arrivals,
        "load": load,
        "tried": sum(tried),
        "wall_s": wall,
        "rss_before_kb": rss_before_kb,
        "server_cpu_s": cpu_server,
        "machine_busy": (busy_1 - busy_0) / max(1.0, all_1 - all_0),
        "cores": os.cpu_count() or 1,
        "health_after": health_after,
        "browse_after": browse_after,
        "browse_after_s": after.latencies["browse_open"][0] if browse_after else None,
        "after_errors": after.errors,
    }


def report(
    args: argparse.Namespace, figures: dict[str, Any], peak_rss_kb: int
) -> tuple[dict[str, Any], list[str]]:
    single: Recorder = figures["single"]
    arrivals: Recorder = figures["arrivals"]
    load: Recorder = figures["load"]
    single_match = statistics.median(single.latencies["match"]) if single.latencies["match"] else None
    load_match = load.latencies["match"]
    p95_match = percentile(load_match, 0.95) if load_match else None
    ratio = p95_match / single_match if single_match and p95_match else None
    by_type = Counter(e["type"] for e in load.errors)
    by_kind = Counter(e["kind"] for e in load.errors)
    keeps_serving = bool(figures["health_after"] and figures["browse_after"])
    wall = figures["wall_s"]
    generator = ("this script", "chromium", "playwright driver")
    generator_cpu = sum(figures["cpu_s_by_process"].get(name, 0.0) for name in generator)
    result = {
        "driver": figures["driver"],
        "users": args.users,
        "seconds": args.seconds,
        "browsers": max(1, min(args.browsers, args.users)) if figures["driver"] == "browser" else 0,
        "think_s": [args.think_min, max(args.think_min, args.think_max)],
        "timeout_s": args.timeout,
        "single_user": {kind: summary(single.latencies[kind]) for kind in ("first_visit", *KINDS)},
        "single_user_match_ms_median": round(single_match * 1000) if single_match else None,
        "single_user_errors": single.errors,
        "arrivals": summary(arrivals.latencies["first_visit"]),
        "arrival_errors": arrivals.errors,
        "load": {kind: summary(load.latencies[kind]) for kind in KINDS},
        "requests_served": load.served(),
        "actions_tried": figures["tried"],
        "served_per_s": round(load.served() / wall, 2),
        "pictures_downloaded": load.media,
        "pictures_dropped": load.media_dropped,
        "load_wall_s": round(wall, 1),
        "errors": len(load.errors),
        "errors_by_type": dict(by_type),
        "errors_by_kind": dict(by_kind),
        "error_samples": error_samples(load.errors),
        "match_p95_over_single_median": round(ratio, 2) if ratio else None,
        "server_timing": figures["server_timing"] if args.server_timing else None,
        "match_parts": {
            "single_user": {part: summary(v) for part, v in single.parts["match"].items()},
            "load": {part: summary(v) for part, v in load.parts["match"].items()},
        },
        "server_peak_rss_mb": round(peak_rss_kb / 1024, 1),
        "server_rss_before_load_mb": round(figures["rss_before_kb"] / 1024, 1),
        "server_cpu_s": round(figures["server_cpu_s"], 1),
        "server_cores_used": round(figures["server_cpu_s"] / wall, 2),
        "load_generator_cpu_s": round(generator_cpu, 1),
        "load_generator_cpu_ms_per_action": round(1000 * generator_cpu / max(1, load.served()), 1),
        "machine_cpu_busy": round(figures["machine_busy"], 2),
        "machine_saturated_s": figures["machine_saturated_s"],
        "server_cores_max_1s": figures["server_cores_max_1s"],
        "cpu_s_by_process": figures["cpu_s_by_process"],
        "server_tracebacks": dict(Counter(tracebacks(figures["server_log"]))),
        "cores": figures["cores"],
        "server_keeps_serving": keeps_serving,
        "browse_after_load_ms": round(figures["browse_after_s"] * 1000)
        if figures["browse_after_s"]
        else None,
        "targets": {
            "errors": 0,
            "match_p95_over_single_median": MATCH_RATIO_TARGET,
            "server_keeps_serving": True,
        },
    }
    missed = []
    other = figures["cpu_s_by_process"].get("other processes", 0.0)
    if other > 0.1 * wall * figures["cores"]:
        print(
            f"WARNING: other processes used {other:.0f} CPU seconds during the load "
            f"({other / wall:.1f} cores): the figures are disturbed",
            file=sys.stderr,
        )
    if single_match is None or single.errors:
        missed.append(f"single-user run: {len(single.errors)} errors {single.errors[:2]}")
    if arrivals.errors:
        missed.append(f"{len(arrivals.errors)} users could not open the app: {arrivals.errors[:2]}")
    if load.errors:
        missed.append(f"{len(load.errors)} errors under load: {dict(by_type)}")
    if ratio is None:
        missed.append("no match was served under load")
    elif ratio > MATCH_RATIO_TARGET:
        missed.append(
            f"match p95 under load {p95_match * 1000:.0f} ms is {ratio:.1f} x the single-user median "
            f"{single_match * 1000:.0f} ms (target <= {MATCH_RATIO_TARGET:g} x)"
        )
    if not keeps_serving:
        missed.append(f"server stopped serving: health {figures['health_after']}, {figures['after_errors']}")
    return result, missed


def table(r: dict[str, Any]) -> str:
    think = f"{r['think_s'][0]:g}-{r['think_s'][1]:g} s"
    driver = f"{r['browsers']} Chromium" if r["driver"] == "browser" else "protocol clients"
    lines = [
        f"{r['users']} users for {r['seconds']:g} s, pause {think} after each action, {driver}",
        f"{'action':<14}{'alone p50':>10}{'served':>8}{'p50 ms':>8}{'p95 ms':>8}{'max ms':>8}{'errors':>8}",
    ]
    rows = [("first_visit", r["single_user"]["first_visit"], r["arrivals"], len(r["arrival_errors"]))]
    rows += [
        (kind, r["single_user"][kind], r["load"][kind], r["errors_by_kind"].get(kind, 0)) for kind in KINDS
    ]
    for kind, one, many, errors in rows:
        lines.append(
            f"{kind:<14}{one.get('p50_ms', '-')!s:>10}{many['n']:>8}{many.get('p50_ms', '-')!s:>8}"
            f"{many.get('p95_ms', '-')!s:>8}{many.get('max_ms', '-')!s:>8}{errors:>8}"
        )
    other = sum(n for kind, n in r["errors_by_kind"].items() if kind not in KINDS)
    lines += [
        "(first_visit: users opening the app, before the clock; not counted in served)",
        f"served {r['requests_served']} actions in {r['load_wall_s']} s ({r['served_per_s']}/s)"
        + (
            f", {r['pictures_downloaded']} pictures downloaded "
            f"({r['pictures_dropped']} gone with their page); "
            if r["driver"] == "protocol"
            else "; "
        )
        + f"errors {r['errors']} {r['errors_by_type'] or ''}{f' ({other} outside actions)' if other else ''}",
        f"match p95 under load / alone p50: {r['match_p95_over_single_median']} "
        f"(target <= {MATCH_RATIO_TARGET:g})",
        "match parts, p50/p95 ms: "
        + "; ".join(
            f"{when}: "
            + ", ".join(f"{part} {s.get('p50_ms')}/{s.get('p95_ms')}" for part, s in parts.items())
            for when, parts in r["match_parts"].items()
        ),
        f"server peak RSS {r['server_peak_rss_mb']} MB "
        f"(before the load {r['server_rss_before_load_mb']} MB); "
        f"server used {r['server_cores_used']} cores, the machine was {r['machine_cpu_busy']:.0%} busy "
        f"({r['cores']} cores)",
        "CPU seconds during the load: "
        + ", ".join(f"{name} {cpu}" for name, cpu in sorted(r["cpu_s_by_process"].items()))
        + f"; load generator {r['load_generator_cpu_ms_per_action']} ms per action served"
        + f"; machine saturated (>= 95 % busy) {r['machine_saturated_s']} s; "
        f"server's busiest second {r['server_cores_max_1s']} cores",
        *(
            f"inside the server, {window}: {kind} wall p50/p95/max {t['wall'].get('p50_ms')}/"
            f"{t['wall'].get('p95_ms')}/{t['wall'].get('max_ms')} ms, CPU p50 {t['cpu'].get('p50_ms')} ms "
            f"(n={t['wall']['n']})"
            for window, kinds in (r["server_timing"] or {}).items()
            for kind, t in kinds.items()
        ),
        f"server keeps serving: {r['server_keeps_serving']} (new visitor after the load: "
        f"{r['browse_after_load_ms']} ms)",
    ]
    return "\n".join(lines)


SERVE_WITH_TIMING = "--serve-with-timing"  # how this file starts the server for --server-timing


def serve_with_timing(streamlit_args: list[str]) -> None:
    """`streamlit run` that writes the wall and CPU time of every script run and every match_photo
    call to its log ("TIMING kind end wall cpu"). Only with --server-timing: it wraps a private
    Streamlit method (ScriptRunner._run_script) and the library's match_photo."""
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.web import cli

    from ordnance_db import matcher

    def timed(kind: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                took, used = time.perf_counter() - wall, time.thread_time() - cpu
                print(f"TIMING {kind} {time.time():.3f} {took:.4f} {used:.4f}", file=sys.stderr, flush=True)

        return wrapper

    runner = script_runner.ScriptRunner
    runner._run_script = timed("script_run", runner._run_script)  # type: ignore[method-assign]
    matcher.match_photo = timed("match_photo", matcher.match_photo)  # the pages import it on every run
    sys.argv = ["streamlit", *streamlit_args]
    cli.main()


def main() -> int:
    if sys.argv[1:2] == [SERVE_WITH_TIMING]:
        serve_with_timing(sys.argv[2:])
        return 0

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20, help="simultaneous users")
    parser.add_argument("--seconds", type=float, default=60, help="how long the load lasts")
    parser.add_argument(
        "--driver",
        choices=DRIVERS,
        default="protocol",
        help="protocol: Streamlit's websocket protocol, no browser (default); browser: Chromium contexts",
    )
    parser.add_argument("--browsers", type=int, default=1, help="with --driver browser: Chromium processes")
    parser.add_argument("--single", type=int, default=5, help="uploads by one user alone, for the reference")
    parser.add_argument("--think-min", type=float, default=5.0, help="shortest pause after an action (s)")
    parser.add_argument("--think-max", type=float, default=20.0, help="longest pause after an action (s)")
    parser.add_argument("--timeout", type=float, default=30.0, help="slower actions are errors (s)")
    parser.add_argument(
        "--pin-server", action="store_true", help="the server on a core of its own, the users on the rest"
    )
    parser.add_argument(
        "--server-timing",
        action="store_true",
        help="also time script runs and match_photo inside the server (wraps a private Streamlit method)",
    )
    parser.add_argument("--seed", type=int, default=8, help="for the users' random choices")
    parser.add_argument("--server-log", type=Path, help="keep the server's log in this file")
    args = parser.parse_args()
    if args.users < 1 or args.seconds <= 0 or args.single < 1 or args.timeout <= 0 or args.think_min < 0:
        parser.error("--users, --seconds, --single and --timeout must be positive, --think-min not negative")

    # The database and match index must be current before the clock starts (as `make run` does).
    build = [sys.executable, "-m", "ordnance_db", "build"]
    subprocess.run(build, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        folder = Path(tmp)
        expected = expectations(folder)
        server = LoadServer(folder / "server.log", timing=args.server_timing)
        try:
            server.wait_healthy()
            if args.pin_server:
                server.pin()
            figures = asyncio.run(drive(args, server, expected))
            peak_rss_kb = server.status_kb("VmHWM")
            figures["server_timing"] = {
                window: {
                    kind: {"wall": summary(times["wall"]), "cpu": summary(times["cpu"])}
                    for kind, times in sorted(server.timings(*span).items())
                }
                for window, span in figures["windows"].items()
            }
        finally:
            server.stop()
            if args.server_log:
                shutil.copyfile(server.log, args.server_log)
    result, missed = report(args, figures, peak_rss_kb)
    print(table(result))
    print(json.dumps(result, indent=2, ensure_ascii=False))
    for line in missed:
        print(f"MISSED: {line}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
