"""Derived indexes on disk: plain NumPy arrays and a JSON header in one .npz, never a pickle.

Both the drawing match index and the photo index live in `var/`, which anyone with write access
to the machine can replace: a file there is data, read with `allow_pickle=False`, and any file
that cannot be used as it is raises IndexMismatch so that the caller rebuilds it.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ordnance_db.var_files import open_ordinary

HEADER = "header"


class IndexMismatch(ValueError):
    """A stored index that cannot be used as it is (foreign, damaged or out of date): it is rebuilt."""


def write(path: Path, arrays: dict[str, np.ndarray], header: dict[str, Any]) -> None:
    """Write `arrays` and `header` to `path` atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = {**arrays, HEADER: np.array(json.dumps(header, allow_nan=False))}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as out:
            np.savez(out, allow_pickle=False, **stored)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read(path: Path, index_format: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and the header of a file written by `write` in `index_format`; else IndexMismatch."""
    try:
        # an ordinary file only: a named pipe put in its place would block np.load forever
        with open_ordinary(Path(path)) as handle, np.load(handle, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
        header = json.loads(str(arrays.pop(HEADER)))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise IndexMismatch(f"unreadable: {exc}") from exc
    if not isinstance(header, dict) or header.get("format") != index_format:
        raise IndexMismatch("another index format")
    return arrays, header
