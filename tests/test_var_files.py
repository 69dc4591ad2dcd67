"""A crafted file in place of every kind of file in var/ runs no code and is rebuilt (issue 14).

var/ holds derived files only, and whoever can write there can put anything in their place. For
each kind (the SQLite database, the match and photo indexes, the drawings stamp, thumbnails, key
pictures, the bold font) four crafted files are planted: garbage, a pickle that would create a
file if it were ever unpickled, a named pipe (which blocks whoever opens it for reading) and a
symbolic link to a file elsewhere. The code that uses the file must come back within seconds, never
run the pickle, never write through the link, and give a usable file (rebuilt) or a sentence.
"""

from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from ordnance_db import db, export, index_file, var_files
from ordnance_db.build import drawings_stamp, stale_drawings
from ordnance_db.catalog import load_catalog
from ordnance_db.imaging import thumbnail
from ordnance_db.key import Key
from ordnance_db.key_pictures import PICTURE_SIZE, answer_picture
from ordnance_db.settings import IMAGES_DIR
from tests.conftest import write_real_subset

CRAFTED = ("garbage", "pickle", "fifo", "link")
WAIT_S = 60.0  # generous on a loaded machine; a blocked open would never return


class Planted:
    """Creates `marker` when unpickled: proof that code from var/ ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def plant(target: Path, kind: str, tmp_path: Path) -> Path:
    """Put a crafted file of `kind` at `target`; returns the marker a run pickle would create."""
    target.parent.mkdir(parents=True, exist_ok=True)
    marker = tmp_path / "pickle-ran"
    if kind == "garbage":
        target.write_bytes(os.urandom(4096))
    elif kind == "pickle":
        target.write_bytes(pickle.dumps(Planted(marker)))
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        outside = tmp_path / "outside.txt"
        outside.write_text("not yours")
        target.symlink_to(outside)
    return marker


def finishes(work: Callable[[], Any]) -> Any:
    """Run `work` in a thread; fail (instead of hanging the test run) when it blocks."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = work()
        except BaseException as exc:  # handed to the test below
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(WAIT_S)
    assert not thread.is_alive(), f"blocked for {WAIT_S:g} s on a crafted file in var/"
    if "error" in result:
        raise result["error"]
    return result["value"]


def untouched(tmp_path: Path, marker: Path) -> None:
    assert not marker.exists(), "a pickle planted in var/ was run"
    outside = tmp_path / "outside.txt"
    if outside.exists():
        assert outside.read_text() == "not yours", "written through a link planted in var/"


@pytest.mark.parametrize("kind", CRAFTED)
@pytest.mark.parametrize("name", ["match-index.npz", "photo-index.npz"])
def test_indexes_are_data_and_a_crafted_one_is_a_mismatch(tmp_path: Path, name: str, kind: str) -> None:
    """Both indexes are read by index_file.read; anything it cannot use raises IndexMismatch, which
    their loaders answer by rebuilding (tests/test_matcher.py, tests/test_photo_index.py)."""
    path = tmp_path / "var" / name
    marker = plant(path, kind, tmp_path)
    with pytest.raises(index_file.IndexMismatch):
        finishes(lambda: index_file.read(path, "test-format"))
    untouched(tmp_path, marker)
    index_file.write(path, {"x": np.arange(3)}, {"format": "test-format"})  # replaced, not followed
    assert not path.is_symlink()
    arrays, header = index_file.read(path, "test-format")
    assert arrays["x"].tolist() == [0, 1, 2] and header["format"] == "test-format"
    untouched(tmp_path, marker)


@pytest.mark.parametrize("kind", CRAFTED)
def test_a_crafted_database_file_is_moved_aside_and_rebuilt(tmp_path: Path, kind: str) -> None:
    catalog_dir = write_real_subset(tmp_path, ["pmn", "ofab-250-270"])
    path = tmp_path / "var" / "ordnance.sqlite"
    marker = plant(path, kind, tmp_path)
    engine = db.get_engine(f"sqlite:///{path}")
    try:
        assert finishes(lambda: db.ensure_built(engine, catalog_dir, tmp_path / "images", read_only=False))
        assert var_files.ordinary(path)
        assert sorted(db.load_vocabulary(engine)) and db.read_meta(engine, "digest")
    finally:
        engine.dispose()
    assert list((tmp_path / "var").glob("ordnance.sqlite.damaged-*")), "the crafted file was not kept aside"
    untouched(tmp_path, marker)


@pytest.mark.parametrize("kind", CRAFTED)
def test_a_crafted_drawings_stamp_means_the_drawings_are_checked_again(tmp_path: Path, kind: str) -> None:
    catalog = load_catalog(write_real_subset(tmp_path, ["pmn"]), IMAGES_DIR)
    var_dir = tmp_path / "var"
    stamp = var_dir / "drawings.stamp"
    marker = plant(stamp, kind, tmp_path)
    checked, stale = finishes(lambda: stale_drawings(catalog, IMAGES_DIR, var_dir))
    assert checked and stale == []
    assert not stamp.is_symlink() and stamp.read_text() == drawings_stamp(catalog)
    assert stale_drawings(catalog, IMAGES_DIR, var_dir) == (False, [])  # now trusted: it is ours
    untouched(tmp_path, marker)


@pytest.mark.parametrize("kind", [*CRAFTED, "oversized picture"])
def test_a_crafted_thumbnail_is_made_afresh(tmp_path: Path, kind: str) -> None:
    source = IMAGES_DIR / "pmn" / "side.png"
    cache = tmp_path / "var" / "thumbnails"
    target = thumbnail(source, 64, cache)  # made once, then replaced by a crafted file
    fresh = target.read_bytes()
    target.unlink()
    if kind == "oversized picture":  # a real PNG, but not one the cache would write for 64 px
        Image.new("RGB", (4000, 10)).save(target, "PNG")
        marker = tmp_path / "pickle-ran"
    else:
        marker = plant(target, kind, tmp_path)
    again = finishes(lambda: thumbnail(source, 64, cache))
    assert again == target and not target.is_symlink() and target.read_bytes() == fresh
    untouched(tmp_path, marker)


@pytest.mark.parametrize("kind", CRAFTED)
def test_a_crafted_key_picture_is_drawn_again(tmp_path: Path, kind: str) -> None:
    catalog = load_catalog(write_real_subset(tmp_path, ["pmn", "ofab-250-270", "f-1-grenade"]), IMAGES_DIR)
    vocabulary = catalog.vocabulary
    labels = {f: {t.id: t.label for t in getattr(vocabulary, f)} for f in type(vocabulary).model_fields}
    key = Key(list(catalog.entries.values()), labels)
    cache = tmp_path / "var" / "key-pictures"
    first = answer_picture(key, "shape", "disc", IMAGES_DIR, cache)
    assert first is not None
    fresh = first.read_bytes()
    first.unlink()
    marker = plant(first, kind, tmp_path)
    again = finishes(lambda: answer_picture(key, "shape", "disc", IMAGES_DIR, cache))
    assert again == first and not first.is_symlink() and first.read_bytes() == fresh
    assert var_files.usable_png(first, max(PICTURE_SIZE))
    untouched(tmp_path, marker)


@pytest.fixture(scope="module")
def bold_font(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(variable font, its bold instance made once into a private var/fonts)."""
    import fontpkg

    var_dir = tmp_path_factory.mktemp("var")
    variable = Path(fontpkg.path(export.MAIN))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(export, "VAR_DIR", var_dir)
        made = export._bold_instance(variable)
    assert made is not None and made.parent == var_dir / "fonts"
    return variable, made


@pytest.mark.parametrize("kind", CRAFTED)
def test_a_crafted_bold_font_is_made_afresh(
    tmp_path: Path, bold_font: tuple[Path, Path], kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bold instance is cached in var/fonts (never in a fixed shared /tmp path); a crafted file
    there is not handed to the PDF writer but made again."""
    variable, made = bold_font
    var_dir = tmp_path / "var"
    target = var_dir / "fonts" / made.name
    marker = plant(target, kind, tmp_path)
    monkeypatch.setattr(export, "VAR_DIR", var_dir)
    again = finishes(lambda: export._bold_instance(variable))
    assert again == target and not target.is_symlink()
    assert export._usable_bold(target)  # fontTools stamps the time it was made: bytes differ
    untouched(tmp_path, marker)


def test_where_var_cannot_be_written_the_bold_font_goes_to_a_private_folder(
    tmp_path: Path, bold_font: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fixed shared /tmp path could be prepared by another user: the fallback is a fresh
    mkdtemp folder (mode 0700) of this process, never a name known in advance."""
    variable, _made = bold_font
    blocked = tmp_path / "var"
    blocked.write_text("a file where the var folder should be")  # var/fonts cannot be made
    monkeypatch.setattr(export, "VAR_DIR", blocked)
    first = export._bold_instance(variable)
    second = export._bold_instance(variable)
    assert first is not None and second is not None and first != second
    for path in (first, second):
        assert path.parent.name.startswith("ordnance-db-fonts-")
        assert (path.parent.stat().st_mode & 0o777) == 0o700
        assert export._usable_bold(path)
