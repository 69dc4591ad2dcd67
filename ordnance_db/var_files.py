"""Reading derived files in `var/` without trusting them.

Everything in `var/` (the database, the match and photo indexes, the drawings stamp, thumbnails,
key pictures, the bold font) is derived, and anyone who can write there can put any file in its
place: a pickle, garbage, a huge file, a named pipe that blocks whoever opens it, a symbolic link
elsewhere. So a file there is opened only when it is an ordinary file (not followed through a link,
checked on the open descriptor), read within a size bound, parsed as data (never unpickled or run),
and checked for what it must be; anything else counts as missing and is rebuilt (issue 14).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

__all__ = ["NotOrdinary", "open_ordinary", "ordinary", "read_bytes", "usable_png"]


class NotOrdinary(OSError):
    """A path in var/ that is not an ordinary file, or is larger than it may be."""


def open_ordinary(path: Path, max_bytes: int | None = None) -> BinaryIO:
    """Open `path` for reading only if it is an ordinary file (no link, pipe, device or folder) of at
    most `max_bytes`; else NotOrdinary. O_NONBLOCK: opening a named pipe never waits for a writer."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise NotOrdinary(f"{path}: cannot be opened as an ordinary file: {exc.strerror}") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise NotOrdinary(f"{path}: not an ordinary file")
    if max_bytes is not None and info.st_size > max_bytes:
        os.close(fd)
        raise NotOrdinary(f"{path}: {info.st_size} bytes, more than the {max_bytes} it may have")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def ordinary(path: Path, max_bytes: int | None = None) -> bool:
    """Whether `path` is an ordinary file (not a link) of at most `max_bytes`."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and (max_bytes is None or info.st_size <= max_bytes)


def read_bytes(path: Path, max_bytes: int) -> bytes | None:
    """The bytes of an ordinary file of at most `max_bytes`; None when missing or anything else."""
    try:
        with open_ordinary(path, max_bytes) as handle:
            data = handle.read(max_bytes + 1)
    except OSError:
        return None
    return data if len(data) <= max_bytes else None


def usable_png(path: Path, max_side: int, max_bytes: int = 4 * 2**20) -> bool:
    """Whether a cached picture is what the cache writes: an ordinary, intact PNG of at most
    `max_side` pixels a side. A foreign, damaged or oversized file is not, and is made afresh."""
    from PIL import Image, UnidentifiedImageError  # here: the database and CLI import this module

    try:
        with open_ordinary(path, max_bytes) as handle, Image.open(handle, formats=["PNG"]) as img:
            width, height = img.size
            if not (0 < width <= max_side and 0 < height <= max_side):
                return False
            img.verify()  # checks the chunks' checksums without decoding the pixels
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False
    return True


def remove_quietly(path: Path) -> None:
    """Remove a file that failed its checks (a pipe, a link or garbage); never follows a link."""
    with contextlib.suppress(OSError):
        if not Path(path).is_dir() or Path(path).is_symlink():
            os.unlink(path)
