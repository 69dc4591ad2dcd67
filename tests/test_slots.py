"""The per-process bound on photo work (`ordnance_db.slots`), with real threads."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ordnance_db.catalog import Catalog
from ordnance_db.matcher import PhotoMatcher
from ordnance_db.slots import (
    BUSY,
    PHOTO_WORK,
    ServerBusy,
    Slots,
    SlotsMisconfigured,
    from_environment,
    release_memory,
)
from tests.test_app import (  # noqa: F401 (fixtures)
    app,
    catalog,
    matcher,
    no_exception,
    open_identify,
    photo_bytes,
    searcher,
    suggestion_names,
)

ROOT = Path(__file__).resolve().parent.parent


def test_no_more_than_size_threads_hold_a_slot_at_once() -> None:
    """Eight threads through two slots: never more than two inside, and every one gets its turn."""
    slots = Slots(2, wait_s=30)
    inside = 0
    most = 0
    done: list[int] = []
    lock = threading.Lock()

    def work(number: int) -> None:
        nonlocal inside, most
        with slots.hold():
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.05)
            with lock:
                inside -= 1
                done.append(number)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(done) == list(range(8))
    assert most == 2


def test_a_full_server_says_busy_in_one_sentence_and_frees_up() -> None:
    """While both slots are held the third caller is told, after the wait; then it gets a slot."""
    slots = Slots(2, wait_s=0.2)
    holding = threading.Barrier(3)
    release = threading.Event()

    def hold() -> None:
        with slots.hold():
            holding.wait(timeout=10)
            release.wait(timeout=10)

    holders = [threading.Thread(target=hold) for _ in range(2)]
    for thread in holders:
        thread.start()
    holding.wait(timeout=10)
    started = time.monotonic()
    with pytest.raises(ServerBusy) as busy, slots.hold():
        pytest.fail("a third slot was handed out")
    assert time.monotonic() - started >= 0.2
    assert str(busy.value) == BUSY == "The server is busy with other photos; try again in a minute."
    release.set()
    for thread in holders:
        thread.join(timeout=10)
    with slots.hold():  # free again
        pass


def test_a_slot_is_freed_when_the_work_fails() -> None:
    slots = Slots(1, wait_s=0)
    with pytest.raises(ZeroDivisionError), slots.hold():
        _ = 1 / 0
    with slots.hold():
        pass


def test_bad_sizes_are_a_callers_bug() -> None:
    for size, wait in ((0, 1.0), (1, -1.0), (1, float("nan"))):
        with pytest.raises(ValueError):
            Slots(size, wait)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_release_memory_returns_freed_heap_to_the_system() -> None:
    """Freed small blocks stay in the process until malloc_trim hands their pages back."""
    blocks = [bytearray(100_000) for _ in range(2000)]  # 200 MB in blocks below the mmap threshold
    del blocks[::2]  # 100 MB freed in holes between live blocks: not returned by free() alone
    before = resident_mb()
    assert release_memory() is True
    assert before - resident_mb() > 50
    del blocks


def resident_mb() -> float:
    """This process's resident memory, from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_sizes_come_from_the_environment() -> None:
    """ORDNANCE_PHOTO_SLOTS and ORDNANCE_PHOTO_WAIT_S set the process's slots."""
    code = "from ordnance_db.slots import PHOTO_WORK as w; print(w.size, w.wait_s)"
    env = {**os.environ, "ORDNANCE_PHOTO_SLOTS": "3", "ORDNANCE_PHOTO_WAIT_S": "1.5"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.split() == ["3", "1.5"], out.stderr


@pytest.mark.parametrize(
    ("name", "raw", "kind"),
    [
        ("ORDNANCE_PHOTO_SLOTS", "many", "whole number"),
        ("ORDNANCE_PHOTO_SLOTS", "0", "whole number"),
        ("ORDNANCE_PHOTO_SLOTS", "1.5", "whole number"),
        ("ORDNANCE_PHOTO_WAIT_S", "inf", "number"),
        ("ORDNANCE_PHOTO_WAIT_S", "-2", "number"),
    ],
)
def test_a_bad_setting_is_one_sentence_when_photo_work_starts(name: str, raw: str, kind: str) -> None:
    """A bad value no longer stops the import (every page module imports slots, and the app showed a
    traceback): the process starts, and each photo is answered with the sentence naming the setting."""
    code = (
        "from ordnance_db.slots import PHOTO_WORK as w, ServerBusy\n"
        "try:\n    w.hold().__enter__()\nexcept ServerBusy as e:\n    print(e)\n"
    )
    env = {**os.environ, name: raw}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and not out.stderr, out.stderr
    assert out.stdout.strip() == (
        f"Photo identification is switched off on this server: {name} must be a positive {kind}, "
        f"not {raw!r}. Ask whoever runs it to correct the setting."
    )


def test_unusable_slots_never_run_the_work() -> None:
    slots = from_environment({"ORDNANCE_PHOTO_SLOTS": "many"})
    ran = []
    with pytest.raises(SlotsMisconfigured, match="ORDNANCE_PHOTO_SLOTS"), slots.hold():
        ran.append(True)
    assert ran == []
    assert isinstance(from_environment({}), Slots) and from_environment({}).size >= 1


def test_the_process_has_slots() -> None:
    assert PHOTO_WORK.size >= 1 and PHOTO_WORK.wait_s > 0


def test_the_identify_page_says_a_bad_setting_in_one_sentence(
    app: AppTest,  # noqa: F811 (the fixtures imported above)
    catalog: Catalog,  # noqa: F811
    matcher: PhotoMatcher,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The app as started with ORDNANCE_PHOTO_SLOTS=many: the page runs, and a photo is answered
    with the sentence naming the setting, never a traceback."""
    from ordnance_db import slots

    monkeypatch.setattr(slots, "PHOTO_WORK", from_environment({"ORDNANCE_PHOTO_SLOTS": "many"}))
    open_identify(app)
    no_exception(app)
    data = photo_bytes(catalog, "pfm-1")
    app.file_uploader(key="photo_upload").set_value(("item.jpg", data, "image/jpeg")).run()
    no_exception(app)
    shown = [w.value for w in app.container("server_busy").warning]
    assert shown == [
        "Photo identification is switched off on this server: ORDNANCE_PHOTO_SLOTS must be a "
        "positive whole number, not 'many'. Ask whoever runs it to correct the setting."
    ]
    assert not suggestion_names(app)
