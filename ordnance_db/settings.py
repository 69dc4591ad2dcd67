"""Where things live. Paths default to the project checkout, so commands work from any folder."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATALOG_DIR = Path(os.environ.get("ORDNANCE_CATALOG_DIR", ROOT / "catalog"))
IMAGES_DIR = Path(os.environ.get("ORDNANCE_IMAGES_DIR", ROOT / "images"))
VAR_DIR = Path(os.environ.get("ORDNANCE_VAR_DIR", ROOT / "var"))
"""Derived artefacts (database, match index, thumbnails): git-ignored, rebuilt from the catalog."""
DB_READ_ONLY = os.environ.get("ORDNANCE_DB_READ_ONLY", "") not in ("", "0")
"""A replica with a read-only database role: it serves the release in the database, never builds."""


def _positive(name: str, default: float) -> float:
    """A positive number from the environment; a bad value stops the server with one line."""
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a positive number, not {raw!r}")
    return value


PHOTO_SLOTS = int(_positive("ORDNANCE_PHOTO_SLOTS", min(os.cpu_count() or 1, 4)))
"""Photo decodes and matches one server process runs at once; more wait (bounded memory and CPU)."""
PHOTO_WAIT_S = _positive("ORDNANCE_PHOTO_WAIT_S", 5.0)
"""How long a photo waits for a free slot before the person is told the server is busy."""
