"""Reference photos as catalog data: images/<id>/photos.yaml, checked on load, in the database."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import ExifTags, Image
from sqlalchemy.engine import Engine

from ordnance_db import catalog as catalog_mod
from ordnance_db import photos as photos_mod
from ordnance_db.catalog import check_catalog, load_catalog
from ordnance_db.db import build_database, ensure_built, load_photos
from ordnance_db.photos import PhotoError, add_photos

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
        ({"file": "../../etc/passwd.jpg"}, "file '../../etc/passwd.jpg' must be a plain name in this folder"),
        ({"file": "my photo.gif"}, "ending in .jpg, .jpeg, .png or .webp"),
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


# --- the photo commands ----------------------------------------------------------------------


def originals(
    folder: Path, count: int = 2, size: tuple[int, int] = (320, 240), seed: int = 100
) -> list[Path]:
    """A user's own phone photos (EXIF turned 90 degrees, GPS, XMP, ICC, comment), outside images/."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"IMG_{i:04d} Міна.JPG"
        path.write_bytes(jpeg_bytes(seed + i, size, orientation=6))
        paths.append(path)
    return paths


ADD = ("--licence", "CC-BY-SA-4.0", "--author", "A. Photographer", "--source", "https://example.org/p")


def test_add_strips_metadata_resizes_and_keeps_the_original(
    mini_catalog: Path, tmp_path: Path, run_cli
) -> None:
    small, large = originals(tmp_path / "phone", 1)[0], originals(tmp_path / "big", 1, (2400, 1800))[0]
    before = {p: p.read_bytes() for p in (small, large)}
    result = run_cli("photos", "add", "shoab-0-5", str(small), str(large), *ADD, "--view", "top")
    assert result.returncode == 0, result.stderr
    assert "2 photo(s) added" in result.stdout
    folder = tmp_path / "images" / "shoab-0-5"
    stored = sorted(folder.glob("*.jpg"))
    assert [p.name for p in stored] == ["img-0000-mina-2.jpg", "img-0000-mina.jpg"]
    for path in stored:
        data = path.read_bytes()
        with Image.open(path) as img:
            assert not img.getexif(), "EXIF (and with it GPS) must be gone"
            assert not {"exif", "xmp", "comment", "icc_profile"} & set(img.info)
            sizes = img.size
        assert b"photographer home address" not in data and b"taken near the school" not in data
        assert max(sizes) <= 1024
    with Image.open(folder / "img-0000-mina.jpg") as img:
        assert img.size == (240, 320)  # EXIF orientation applied before the metadata went
    with Image.open(folder / "img-0000-mina-2.jpg") as img:
        assert img.size == (768, 1024)
    assert all(p.read_bytes() == data for p, data in before.items()), "the user's files are untouched"
    rows = yaml.safe_load((folder / "photos.yaml").read_text())
    assert rows[0] == {
        "file": "img-0000-mina.jpg",
        "licence": "CC-BY-SA-4.0",
        "author": "A. Photographer",
        "source": "https://example.org/p",
        "view": "top",
    }
    assert run_cli("validate", str(mini_catalog)).returncode == 0
    listed = json.loads(run_cli("photos", "list", "shoab-0-5", "--format", "json").stdout)
    assert [(r["id"], r["file"], r["view"]) for r in listed] == [
        ("shoab-0-5", "img-0000-mina.jpg", "top"),
        ("shoab-0-5", "img-0000-mina-2.jpg", "top"),
    ]
    again = run_cli("photos", "add", "shoab-0-5", str(small), *ADD)
    assert again.returncode == 1 and "already stored as shoab-0-5/img-0000-mina.jpg" in again.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--licence", "CC-BY-NC-4.0"), "licence 'CC-BY-NC-4.0' is not one that allows redistribution"),
        (("--source", "my archive"), "source must be the http(s) address"),
        (("--shows", "How to defuse it safely."), "crosses the safety line"),
    ],
)
def test_add_refuses_bad_metadata_and_adds_nothing(
    mini_catalog: Path, tmp_path: Path, run_cli, args: tuple[str, ...], expected: str
) -> None:
    photo = originals(tmp_path / "phone", 1)[0]
    result = run_cli("photos", "add", "shoab-0-5", str(photo), *ADD, *args)
    assert result.returncode == 1
    assert expected in result.stderr and "nothing was added" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "images" / "shoab-0-5").exists()


def test_add_refuses_a_non_image_and_an_unknown_entry_with_the_nearest_ids(
    mini_catalog: Path, tmp_path: Path, run_cli
) -> None:
    good = originals(tmp_path / "phone", 1)[0]
    notes = tmp_path / "phone" / "notes.jpg"
    notes.write_text("not a photo")
    result = run_cli("photos", "add", "shoab-0-5", str(good), str(notes), *ADD)
    assert result.returncode == 1
    assert f"{notes}: This file is not an image we can read" in result.stderr
    assert not (tmp_path / "images" / "shoab-0-5").exists(), "one bad file and nothing is added"
    result = run_cli("photos", "add", "shoab-05", str(good), *ADD)
    assert (
        result.returncode == 1 and "'shoab-05' is not a catalog entry (nearest: shoab-0-5)" in result.stderr
    )
    result = run_cli("photos", "list", "fab250")
    assert result.returncode == 1 and "nearest: fab-250" in result.stderr


def write_csv(directory: Path, lines: list[str]) -> None:
    (directory / "photos.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_import_reports_every_bad_row_by_line_and_imports_nothing(
    mini_catalog: Path, tmp_path: Path, run_cli
) -> None:
    drop = tmp_path / "drop"
    originals(drop / "shoab-0-5", 2)
    originals(drop / "m67-grenade", 1, seed=200)
    (drop / "m67-grenade" / "IMG_0000 Міна.JPG").rename(drop / "m67-grenade" / "side.jpg")
    header = "file,licence,author,source,view,condition"
    good = [
        "shoab-0-5/IMG_0000 Міна.JPG,CC0-1.0,B. Author,https://example.org/1,top,intact",
        "m67-grenade/side.jpg,CC-BY-4.0,C. Author,https://example.org/2,side,damaged",
    ]
    bad = [
        "shoab-0-5/IMG_0001 Міна.JPG,CC-BY-NC-4.0,B. Author,https://example.org/3,top,intact",
        "shoab-05/x.jpg,CC0-1.0,B. Author,https://example.org/4,,",
        "fab-250/missing.jpg,CC0-1.0,B. Author,https://example.org/5,,",
        "m67-grenade/side.jpg,CC0-1.0,,https://example.org/6,,",
        "m67-grenade/side.jpg,CC0-1.0,D. Author,https://example.org/6,underneath,",
    ]
    write_csv(drop, [header, *good, *bad])
    result = run_cli("photos", "import", str(drop))
    assert result.returncode == 1
    err = result.stderr
    assert "photos.csv line 4: shoab-0-5/IMG_0001 Міна.JPG: licence 'CC-BY-NC-4.0'" in err
    assert "photos.csv line 5: 'shoab-05' is not a catalog entry (nearest: shoab-0-5)" in err
    assert "photos.csv line 6: fab-250/missing.jpg: The file does not exist." in err
    assert "photos.csv line 7: author is empty" in err
    assert "photos.csv line 8: m67-grenade/side.jpg is already on line 3" in err
    assert "nothing was imported" in err
    assert list((tmp_path / "images").iterdir()) == [], "nothing is imported when a row is wrong"

    write_csv(drop, [header, *good, bad[0].replace("CC-BY-NC-4.0", "CC-BY-SA-3.0")])
    result = run_cli("photos", "import", str(drop))
    assert result.returncode == 0, result.stderr
    assert "3 photo(s) imported" in result.stdout
    assert run_cli("validate", str(mini_catalog)).returncode == 0
    listed = json.loads(run_cli("photos", "list", "--format", "json").stdout)
    assert [(r["id"], r["licence"], r["condition"]) for r in listed] == [
        ("m67-grenade", "CC-BY-4.0", "damaged"),
        ("shoab-0-5", "CC0-1.0", "intact"),
        ("shoab-0-5", "CC-BY-SA-3.0", "intact"),
    ]
    with Image.open(tmp_path / "images" / "m67-grenade" / "side.jpg") as img:
        assert not img.getexif()


def test_import_refuses_a_photo_without_a_row_and_a_broken_header(
    mini_catalog: Path, tmp_path: Path, run_cli
) -> None:
    drop = tmp_path / "drop"
    originals(drop / "shoab-0-5", 2)
    write_csv(
        drop, ["file,licence,author,source", "shoab-0-5/IMG_0000 Міна.JPG,CC0-1.0,B,https://example.org/1"]
    )
    result = run_cli("photos", "import", str(drop))
    assert result.returncode == 1
    assert "shoab-0-5/IMG_0001 Міна.JPG has no row in photos.csv" in result.stderr
    write_csv(drop, ["file,licence,photographer,source"])
    result = run_cli("photos", "import", str(drop))
    assert "photos.csv line 1: missing column(s) author" in result.stderr
    assert "unknown column(s) photographer" in result.stderr
    (drop / "photos.csv").unlink()
    assert "photos.csv does not exist" in run_cli("photos", "import", str(drop)).stderr


def test_remove_deletes_the_photo_and_its_row(mini_catalog: Path, tmp_path: Path, run_cli) -> None:
    photos = originals(tmp_path / "phone", 2)
    assert run_cli("photos", "add", "shoab-0-5", *map(str, photos), *ADD).returncode == 0
    folder = tmp_path / "images" / "shoab-0-5"
    result = run_cli("photos", "remove", "shoab-0-5", "nope.jpg")
    assert result.returncode == 1
    assert (
        "shoab-0-5 has no photo 'nope.jpg' (its photos: img-0000-mina.jpg, img-0001-mina.jpg)"
        in result.stderr
    )
    assert run_cli("photos", "remove", "shoab-0-5", "img-0000-mina.jpg").returncode == 0
    assert not (folder / "img-0000-mina.jpg").exists()
    assert [r["file"] for r in yaml.safe_load((folder / "photos.yaml").read_text())] == ["img-0001-mina.jpg"]
    assert run_cli("photos", "remove", "shoab-0-5", "img-0001-mina.jpg").returncode == 0
    assert not (folder / "photos.yaml").exists()
    assert run_cli("validate", str(mini_catalog)).returncode == 0


def test_internal_photos_cannot_be_added_to_the_repository_images_folder(
    mini_catalog: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = tmp_path / "images"
    photo = originals(tmp_path / "phone", 1)
    meta = {"licence": "internal", "author": "Our NGO", "source": "Field library, box 3"}
    stored = add_photos(images, {"shoab-0-5"}, "shoab-0-5", photo, meta)
    assert stored[0].photo.licence == "internal"  # an organisation's own folder: fine
    monkeypatch.setattr(catalog_mod, "REPOSITORY_IMAGES", images)
    with pytest.raises(PhotoError) as info:
        add_photos(images, {"shoab-0-5"}, "shoab-0-5", originals(tmp_path / "more", 1, (100, 80)), meta)
    assert "set ORDNANCE_IMAGES_DIR" in info.value.problems[0]


def test_a_failed_write_puts_everything_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = tmp_path / "images"
    meta = {"licence": "CC0-1.0", "author": "A", "source": "https://example.org/a"}
    add_photos(images, {"pmn"}, "pmn", originals(tmp_path / "first", 1), meta)
    list_before = (images / "pmn" / "photos.yaml").read_bytes()
    real_write = photos_mod._write_atomic

    def failing(path: Path, data: bytes) -> None:
        if path.name == "photos.yaml":
            raise OSError(28, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(photos_mod, "_write_atomic", failing)
    with pytest.raises(OSError):
        add_photos(images, {"pmn"}, "pmn", originals(tmp_path / "second", 2, (200, 100)), meta)
    assert sorted(p.name for p in (images / "pmn").iterdir()) == ["img-0000-mina.jpg", "photos.yaml"]
    assert (images / "pmn" / "photos.yaml").read_bytes() == list_before


def test_internal_photos_are_never_exported(tmp_path: Path) -> None:
    """Exports (JSON, CSV, PDF) carry entries only: nothing of an organisation's internal photo."""
    from pypdf import PdfReader
    from sqlalchemy import create_engine

    from ordnance_db import export
    from tests.conftest import write_real_subset

    catalog_dir = write_real_subset(tmp_path, ["pmn", "pmn-2"])
    images = tmp_path / "images"
    meta = {"licence": "internal", "author": "Confidential Survey Team", "source": "Case 2024-117"}
    add_photos(images, {"pmn"}, "pmn", originals(tmp_path / "phone", 1), meta)
    engine = create_engine(f"sqlite:///{tmp_path / 'export.sqlite'}")
    build_database(load_catalog(catalog_dir, images), engine)
    assert load_photos(engine)["pmn"][0].licence == "internal"
    entries = export.select_entries(engine, ["pmn"])
    pdf_text = "".join(
        page.extract_text() for page in PdfReader(io.BytesIO(export.pdf_bytes(engine, entries))).pages
    )
    for text in (
        export.json_bytes(entries).decode(),
        export.csv_bytes(entries).decode("utf-8-sig"),
        pdf_text,
    ):
        assert "PMN" in text
        for secret in ("Confidential Survey Team", "Case 2024-117", "img-0000-mina"):
            assert secret not in text


def test_the_photo_list_has_a_json_schema_for_editors(run_cli) -> None:
    result = run_cli("schema", "--photos")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    photo = schema["$defs"]["Photo"]
    assert schema["type"] == "array"
    assert set(photo["required"]) == {"file", "licence", "author", "source"}
    assert photo["additionalProperties"] is False
