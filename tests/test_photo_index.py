"""Photo-to-photo matching on real image files: scikit-image's photographs (public domain / CC0)
stored as an entry's reference photos through `photos add`, and committed drawings."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from ordnance_db import photo_index
from ordnance_db.catalog import load_catalog
from ordnance_db.photo_index import IndexMismatch, PhotoHit, PhotoIndex, index_digest, load_index
from ordnance_db.photos import add_photos

ROOT = Path(__file__).resolve().parent.parent
META = {"licence": "CC0-1.0", "author": "scikit-image contributors", "source": "https://scikit-image.org"}
INTERNAL = {"licence": "internal", "author": "Demining NGO library", "source": "Shelf 4, box 2"}


def _jpeg(tmp_path: Path, name: str, image: Image.Image) -> Path:
    path = tmp_path / "incoming" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    image.convert("RGB").save(path, "JPEG", quality=90)
    return path


@pytest.fixture
def catalog_with_photos(mini_catalog: Path, tmp_path: Path) -> Path:
    """shoab-0-5 has two photos of the cat (one internal), fab-250 one of the coffee cup and one
    of the rocket; the other entries have none."""
    cat = Image.fromarray(data.chelsea())
    images = mini_catalog.parent / "images"
    ids = set(load_catalog(mini_catalog).entries)
    add_photos(images, ids, "shoab-0-5", [_jpeg(tmp_path, "cat.jpg", cat)], META)
    mirrored = cat.transpose(Image.Transpose.FLIP_LEFT_RIGHT).crop((30, 0, 451, 300))
    add_photos(images, ids, "shoab-0-5", [_jpeg(tmp_path, "cat-shelf.jpg", mirrored)], INTERNAL)
    cup = _jpeg(tmp_path, "cup.jpg", Image.fromarray(data.coffee()))
    rocket = _jpeg(tmp_path, "rocket.jpg", Image.fromarray(data.rocket()))
    add_photos(images, ids, "fab-250", [cup, rocket], META)
    return mini_catalog


def test_a_photo_finds_the_entry_of_its_reference_photo(catalog_with_photos: Path) -> None:
    catalog = load_catalog(catalog_with_photos)
    index = PhotoIndex.build(catalog)
    assert len(index) == 4  # the internal photo is matched against like any other
    query = Image.fromarray(data.chelsea()).crop((40, 20, 420, 300)).point(lambda v: int(v * 0.85))
    hits = index.query(query)
    assert [h.entry_id for h in hits] == ["shoab-0-5", "fab-250"]  # only entries with photos
    first = hits[0]
    assert isinstance(first, PhotoHit) and first.photos == 2
    assert first.photo_file in {"cat.jpg", "cat-shelf.jpg"}
    assert (catalog.images_dir / "shoab-0-5" / first.photo_file).is_file()
    assert hits[1].photos == 2 and hits[1].photo_file in {"cup.jpg", "rocket.jpg"}
    assert -1.0 <= hits[1].similarity < first.similarity <= 1.0
    cup_hits = index.query(Image.fromarray(data.coffee()).resize((300, 200)), top=1)
    assert [(h.entry_id, h.photo_file) for h in cup_hits] == [("fab-250", "cup.jpg")]


def test_leave_one_out_rank_skips_the_photo_itself(catalog_with_photos: Path) -> None:
    index = PhotoIndex.build(load_catalog(catalog_with_photos))
    cup = int(np.flatnonzero(index.files == "cup.jpg")[0])
    alone = index.rank(index.vectors[cup])
    assert alone[0].photo_file == "cup.jpg" and alone[0].similarity == pytest.approx(1.0, abs=1e-5)
    left_out = index.rank(index.vectors[cup], exclude=cup)
    fab = next(h for h in left_out if h.entry_id == "fab-250")
    assert fab.photo_file == "rocket.jpg"


def test_no_photos_no_hits(mini_catalog: Path) -> None:
    index = PhotoIndex.build(load_catalog(mini_catalog))
    assert len(index) == 0
    drawing = Image.open(ROOT / "images" / "pmn" / "side.png")
    assert index.query(drawing) == []


def test_an_unreadable_photo_is_left_out(tmp_path: Path) -> None:
    good = _jpeg(tmp_path, "good.jpg", Image.fromarray(data.astronaut()))
    broken = tmp_path / "incoming" / "broken.jpg"
    broken.write_bytes(good.read_bytes()[:300])
    index = PhotoIndex.from_files({"a": [broken, good], "b": [broken]})
    assert index.files.tolist() == ["good.jpg"] and index.entries.tolist() == ["a"]


def test_saved_index_loads_the_same_and_refuses_foreign_files(
    catalog_with_photos: Path, tmp_path: Path
) -> None:
    catalog = load_catalog(catalog_with_photos)
    index = PhotoIndex.build(catalog)
    digest = index_digest(catalog)
    path = tmp_path / "var" / "photo-index.npz"
    index.save(path, digest)
    loaded = PhotoIndex.load(path, digest)
    query = Image.fromarray(data.coffee())
    assert loaded.query(query) == index.query(query)
    with pytest.raises(IndexMismatch, match="other photos"):
        PhotoIndex.load(path, "another digest")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(IndexMismatch, match="unreadable"):
        PhotoIndex.load(path, digest)
    # An archive holding a pickled object array is never unpickled.
    buffer = io.BytesIO()
    np.savez(buffer, vectors=np.array([object()], dtype=object), header=np.array("{}"))
    path.write_bytes(buffer.getvalue())
    with pytest.raises(IndexMismatch, match="unreadable"):
        PhotoIndex.load(path, digest)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "not an index")
    with pytest.raises(IndexMismatch):
        PhotoIndex.load(path, digest)


def test_load_index_reuses_then_rebuilds_when_a_photo_changes(
    catalog_with_photos: Path, tmp_path: Path
) -> None:
    catalog = load_catalog(catalog_with_photos)
    var = tmp_path / "var"
    first, built = load_index(catalog, var)
    assert built and photo_index.index_path(var).is_file()
    again, built = load_index(catalog, var)
    assert not built and again.files.tolist() == first.files.tolist()
    cup = catalog.images_dir / "fab-250" / "cup.jpg"
    Image.fromarray(data.camera()).convert("RGB").save(cup, "JPEG")
    _, built = load_index(load_catalog(catalog_with_photos), var)
    assert built


def test_load_matcher_attaches_the_photo_index_only_when_there_are_photos(
    catalog_with_photos: Path, tmp_path: Path
) -> None:
    """The matcher the app and the CLI load matches entries with photos photo to photo: the
    photo index is built into var/ beside the drawing index, and reused from there."""
    from ordnance_db.matcher import load_matcher, match_photo
    from tests.conftest import write_real_subset

    catalog = load_catalog(catalog_with_photos)
    var = tmp_path / "var"
    matcher, _ = load_matcher(catalog, var, views=4, n_jobs=1)
    assert matcher.photo_index is not None and len(matcher.photo_index) == 4
    assert photo_index.index_path(var).is_file()
    query = tmp_path / "query.jpg"
    Image.fromarray(data.coffee()).resize((300, 200)).save(query, "JPEG")
    first = match_photo(matcher, str(query)).suggestions[0]
    assert (first.id, first.compared_with, first.photos, first.best_photo) == (
        "fab-250",
        "photos",
        2,
        "cup.jpg",
    )
    again, built = load_matcher(catalog, var, views=4, n_jobs=1)
    assert not built and again.photo_index is not None and len(again.photo_index) == 4
    plain_root = tmp_path / "plain"
    plain = load_catalog(write_real_subset(plain_root, ["pfm-1", "shoab-0-5"]), plain_root / "images")
    drawings_only, _ = load_matcher(plain, plain_root / "var", views=4, n_jobs=1)
    assert drawings_only.photo_index is None
    assert not photo_index.index_path(plain_root / "var").exists()
