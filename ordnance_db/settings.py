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
