"""Bounded photo work per server process: at most a few decodes and matches at once.

Every Streamlit session runs its script in its own thread, so without a bound 30 people uploading
at once meant 30 decodes and matches at once: 9.4 GB of memory and a health check silent for over
30 s (issue 14). A photo now waits for one of `PHOTO_SLOTS` slots, at most `PHOTO_WAIT_S`
seconds; after that the person is told, in one sentence, to try again
(their photo and hints stay on the page). Releasing a slot hands freed memory back to the system:
glibc keeps what each thread's arena freed, which is how 4.2 GB stayed held after a flood.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache

from ordnance_db.i18n import N_


def _positive(environ: Mapping[str, str], name: str, default: float, whole: bool = False) -> float:
    """A positive number from the environment, else SlotsMisconfigured naming the variable.

    Read here, not in settings.py: only photo work needs it, so a bad value never stops the
    other commands.
    """
    raw = environ.get(name, "").strip()
    try:
        value = float(raw) if raw else float(default)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf") or (whole and not value.is_integer()):
        kind = "whole number" if whole else "number"
        raise SlotsMisconfigured(
            f"Photo identification is switched off on this server: {name} must be a positive "
            f"{kind}, not {raw!r}. Ask whoever runs it to correct the setting."
        )
    return value


BUSY = N_("The server is busy with other photos; try again in a minute.")


class ServerBusy(RuntimeError):
    """No slot freed in time; `str()` is the sentence to show. Nothing was started."""


class SlotsMisconfigured(ServerBusy, ValueError):
    """The slot settings are not numbers: `str()` is the sentence. A ServerBusy, so a page that
    tells people the server is busy shows this sentence instead of a traceback."""


__all__ = [
    "BUSY",
    "PHOTO_SLOTS",
    "PHOTO_WAIT_S",
    "PHOTO_WORK",
    "ServerBusy",
    "Slots",
    "SlotsMisconfigured",
    "from_environment",
    "release_memory",
]


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None elsewhere (musl, macOS, Windows)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_memory() -> bool:
    """Return the C heap's free pages to the system; True when memory was actually released."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False


class Slots:
    """A fixed number of slots; `hold()` waits for one up to `wait_s`, else raises ServerBusy."""

    def __init__(self, size: int, wait_s: float) -> None:
        if size < 1 or not wait_s >= 0:
            raise ValueError("a positive number of slots and a wait of zero or more seconds are needed")
        self.size = size
        self.wait_s = wait_s
        self._free = threading.BoundedSemaphore(size)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Run the block in a slot; the caller drops its large objects before the block ends."""
        if not self._free.acquire(timeout=self.wait_s):
            raise ServerBusy(BUSY)
        try:
            yield
        finally:
            self._free.release()
            release_memory()


class Unusable(Slots):
    """Slots from settings that are not numbers: every `hold()` raises SlotsMisconfigured, so the
    page says what is wrong in one sentence (the import itself never fails; issue 14)."""

    def __init__(self, problem: SlotsMisconfigured) -> None:
        super().__init__(1, 0)
        self.problem = problem

    @contextmanager
    def hold(self) -> Iterator[None]:
        raise self.problem
        yield  # a generator, for contextmanager


def from_environment(environ: Mapping[str, str] = os.environ) -> Slots:
    """The slots ORDNANCE_PHOTO_SLOTS and ORDNANCE_PHOTO_WAIT_S ask for; Unusable when either is
    not a positive number."""
    try:
        size = int(_positive(environ, "ORDNANCE_PHOTO_SLOTS", min(os.cpu_count() or 1, 4), whole=True))
        wait_s = _positive(environ, "ORDNANCE_PHOTO_WAIT_S", 5.0)
    except SlotsMisconfigured as problem:
        return Unusable(problem)
    return Slots(size, wait_s)


PHOTO_WORK = from_environment()
"""The process's slots for decoding and matching uploaded photos."""
PHOTO_SLOTS = PHOTO_WORK.size
"""Photo decodes and matches one server process runs at once; more wait (bounded memory and CPU)."""
PHOTO_WAIT_S = PHOTO_WORK.wait_s
"""How long a photo waits for a free slot before the person is told the server is busy."""
