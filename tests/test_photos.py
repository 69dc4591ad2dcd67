"""Reference photos as catalog data: images/<id>/photos.yaml, checked on load, in the database."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import ExifTags, Image
from sqlalchemy.engine import Engine

from ordnance_db import catalog as catalog_mod
from ordnance_db.catalog import check_catalog, load_catalog
from ordnance_db.db import build_database, ensure_built, load_photos

GPS = {1: "N", 2: (50.0, 27.0, 1.5), 3: "E", 4: (30.0, 31.0, 2.0)}
"""A real EXIF GPS position (Kyiv), written into test photos so its removal can be checked."""


def jpeg_bytes(seed: int, size: tuple[int, int] = (320, 240), orientation: int = 1) -> bytes:
    """A real JPEG of random pixels carrying EXIF (camera, orientation, GPS), XMP, ICC and a comment."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0110] = "Test phone"  # camera model
    exif[0x0112] = orientation
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(GPS)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(
        buffer,
        "JPEG",
        exif=exif,
        xmp=b"<x:xmpmeta>photographer home address</x:xmpmeta>",
        comment=b"taken near the school",
        icc_profile=b"not really a profile",
    )
    return buffer.getvalue()


def photo_row(file: str, **overrides: Any) -> dict[str, Any]:
    row = {
        "file": file,
        "licence": "CC-BY-SA-4.0",
        "author": "A. Photographer",
        "source": "https://commons.wikimedia.org/wiki/File:Example.jpg",
        "view": "top",
        "condition": "intact",
        "shows": "The mine lying on gravel, seen from above.",
    }
    row.update(overrides)
    return row


def write_photos(images: Path, entry_id: str, rows: list[dict[str, Any]], seed: int = 0) -> Path:
    """images/<id>/ with a real JPEG for every row and the photos.yaml listing them."""
    folder = images / entry_id
    folder.mkdir(parents=True, exist_ok=True)
    for i, row in enumerate(rows):
        if not (folder / row["file"]).exists():
            (folder / row["file"]).write_bytes(jpeg_bytes(seed + i))
    (folder / "photos.yaml").write_text(yaml.safe_dump(rows, allow_unicode=True, sort_keys=False))
    return folder


def problems(catalog: Path) -> str:
    found, listed = check_catalog(catalog)
    assert found is None, "expected problems"
    return "\n".join(map(str, listed))


def test_listed_photos_load_into_the_catalog(mini_catalog: Path) -> None:
    images = mini_catalog.parent / "images"
    write_photos(images, "shoab-0-5", [photo_row("a.jpg"), photo_row("b.jpg", licence="cc0", view=None)])
    catalog = load_catalog(mini_catalog)
    photos = catalog.photos["shoab-0-5"]
    assert [p.file for p in photos] == ["a.jpg", "b.jpg"]
    assert photos[1].licence == "CC0-1.0"  # spelled canonically
    assert photos[0].public and photos[1].view is None
    assert catalog.photo_path("shoab-0-5", photos[0]).is_file()
    assert "fab-250" not in catalog.photos


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"licence": "CC-BY-NC-4.0"}, "licence 'CC-BY-NC-4.0' is not one that allows redistribution"),
        ({"licence": "all rights reserved"}, "is not one that allows redistribution"),
        ({"author": ""}, "author"),
        ({"source": "a book"}, "source must be the http(s) address"),
        ({"view": "underneath"}, "view"),
        ({"condition": "defused"}, "condition"),
        ({"file": "../../etc/passwd.jpg"}, "file"),
        ({"colour": "green"}, "unknown key 'colour'"),
    ],
)
def test_a_photo_without_a_redistributable_licence_and_attribution_is_refused(
    mini_catalog: Path, override: dict[str, Any], expected: str
) -> None:
    row = photo_row("a.jpg")
    folder = write_photos(mini_catalog.parent / "images", "shoab-0-5", [row])
    (folder / "photos.yaml").write_text(yaml.safe_dump([{**row, **override}]))
    text = problems(mini_catalog)
    assert "images/shoab-0-5/photos.yaml:" in text
    assert expected in text


def test_author_is_required(mini_catalog: Path) -> None:
    row = {k: v for k, v in photo_row("a.jpg").items() if k != "author"}
    images = mini_catalog.parent / "images"
    (images / "shoab-0-5").mkdir(parents=True)
    (images / "shoab-0-5" / "a.jpg").write_bytes(jpeg_bytes(1))
    (images / "shoab-0-5" / "photos.yaml").write_text(yaml.safe_dump([row]))
    assert "missing required key '0.author'" in problems(mini_catalog)


def test_missing_file_duplicates_and_non_images_are_refused(mini_catalog: Path) -> None:
    images = mini_catalog.parent / "images"
    folder = write_photos(images, "shoab-0-5", [photo_row("a.jpg"), photo_row("b.jpg")])
    (folder / "b.jpg").write_bytes((folder / "a.jpg").read_bytes())  # the same picture twice
    (folder / "c.jpg").write_text("not a picture")
    rows = [photo_row(name) for name in ("a.jpg", "b.jpg", "c.jpg", "a.jpg", "d.jpg")]
    (folder / "photos.yaml").write_text(yaml.safe_dump(rows))
    (folder / "stray.jpg").write_bytes(jpeg_bytes(9))
    text = problems(mini_catalog)
    assert "b.jpg is the same picture as" in text
    assert "c.jpg: This file is not an image we can read" in text
    assert "a.jpg is listed twice" in text
    assert "d.jpg does not exist" in text
    assert "stray.jpg has no licence: add it with 'python -m ordnance_db photos add'" in text
    lines = (folder / "photos.yaml").read_text().splitlines()
    d_line = next(i for i, line in enumerate(lines, 1) if "d.jpg" in line)
    assert f"photos.yaml:{d_line}:" in text  # each problem names its line


def test_photos_of_an_unknown_entry_and_a_photo_list_that_is_not_a_list(mini_catalog: Path) -> None:
    images = mini_catalog.parent / "images"
    write_photos(images, "no-such-entry", [photo_row("a.jpg")])
    (images / "fab-250").mkdir()
    (images / "fab-250" / "photos.yaml").write_text("file: a.jpg\n")
    text = problems(mini_catalog)
    assert "photos for 'no-such-entry', which is not a catalog entry" in text
    assert "photos.yaml must be a list of photos" in text


def test_a_shows_text_that_reads_like_a_procedure_is_refused(mini_catalog: Path) -> None:
    row = photo_row("a.jpg", shows="How to defuse it: unscrew the fuze first.")
    write_photos(mini_catalog.parent / "images", "shoab-0-5", [row])
    assert "crosses the safety line" in problems(mini_catalog)


def test_internal_photos_only_outside_the_repository_images_folder(
    mini_catalog: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = mini_catalog.parent / "images"
    write_photos(images, "shoab-0-5", [photo_row("a.jpg", licence="internal", source="Library shelf 4")])
    photo = load_catalog(mini_catalog).photos["shoab-0-5"][0]
    assert photo.licence == "internal" and not photo.public
    # The same folder treated as the repository's own images/: refused, with what to do instead.
    monkeypatch.setattr(catalog_mod, "REPOSITORY_IMAGES", images)
    assert "set ORDNANCE_IMAGES_DIR to your organisation's own folder" in problems(mini_catalog)


def test_the_repository_images_folder_holds_no_internal_photo() -> None:
    """The committed folder itself: every photo list there is public (validation checks the rest)."""
    for path in catalog_mod.photo_lists(catalog_mod.REPOSITORY_IMAGES):
        rows = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        assert all(str(r.get("licence", "")).lower() != "internal" for r in rows), path


def test_the_database_holds_photos_per_entry_and_follows_the_photo_list(
    mini_catalog: Path, engine: Engine
) -> None:
    images = mini_catalog.parent / "images"
    internal = photo_row("b.jpg", licence="internal", source="x")
    write_photos(images, "shoab-0-5", [photo_row("a.jpg"), internal])
    write_photos(images, "m67-grenade", [photo_row("side.jpg", view="side")], seed=5)
    build_database(load_catalog(mini_catalog), engine)
    photos = load_photos(engine)
    assert sorted(photos) == ["m67-grenade", "shoab-0-5"]
    assert [(p.file, p.public) for p in photos["shoab-0-5"]] == [("a.jpg", True), ("b.jpg", False)]
    assert photos["shoab-0-5"][0].shows == "The mine lying on gravel, seen from above."
    assert list(load_photos(engine, ["m67-grenade", "fab-250"])) == ["m67-grenade"]
    # A new photo list changes the digest, so the database is rebuilt with it.
    assert ensure_built(engine, mini_catalog, images) is False
    write_photos(images, "fab-250", [photo_row("f.jpg")], seed=7)
    assert ensure_built(engine, mini_catalog, images) is True
    assert [p.file for p in load_photos(engine, ["fab-250"])["fab-250"]] == ["f.jpg"]
