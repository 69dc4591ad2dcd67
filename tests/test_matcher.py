"""Photo matching on real renders: ranks, scores, hints, crops, refusals, persistence, CLI."""

from __future__ import annotations

import copy
import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from ordnance_db import matcher as matcher_module
from ordnance_db.catalog import Catalog, load_catalog
from ordnance_db.features import (
    _A_EDGES,
    _B_EDGES,
    _L_EDGES,
    SAME_OUTLINE,
    ImageFeatures,
    _add_if_new,
    _along_axis,
    _binned,
    _canonical,
    _solidity,
    cell_hog,
    colour_features_both_ways,
    find_object,
    find_objects,
)
from ordnance_db.matcher import (
    HOLDOUT_EVERY,
    IndexMismatch,
    MatchRefused,
    MatchResult,
    PhotoMatcher,
    Suggestion,
    _box_overlap,
    _entry_references,
    build_matcher,
    index_digest,
    index_path,
    load_matcher,
    match_photo,
    shared_category,
)
from ordnance_db.photo_index import PhotoIndex
from ordnance_db.photos import import_folder
from ordnance_db.scenes import compose, item_pictures, scenes
from tests.conftest import write_real_subset

# Six items that look different from one another, so every rank below must be earned.
IDS = ["ofab-250-270", "pfm-1", "f-1-grenade", "shoab-0-5", "pg-7v", "tm-62m"]


@pytest.fixture(scope="module")
def subset(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    root = tmp_path_factory.mktemp("subset")
    return load_catalog(write_real_subset(root, IDS), root / "images")


@pytest.fixture(scope="module")
def matcher(subset: Catalog) -> PhotoMatcher:
    return build_matcher(subset, views=12, n_jobs=2)


def heldout(catalog: Catalog, entry_id: str, count: int = 3, seed: int = 5) -> list[Image.Image]:
    return [s.image for s in scenes(catalog.entries[entry_id], catalog.colours(), count, seed, "heldout")]


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def test_held_out_photos_rank_their_entry_first(subset: Catalog, matcher: PhotoMatcher) -> None:
    ranks = []
    for entry_id in IDS:
        for image in heldout(subset, entry_id):
            ids = [s.id for s in matcher.match(image, top=6).suggestions]
            ranks.append(ids.index(entry_id))
    assert np.mean([r == 0 for r in ranks]) >= 0.8, ranks
    assert max(ranks) <= 2, ranks


def test_scores_and_reasons_are_in_range(subset: Catalog, matcher: PhotoMatcher) -> None:
    result = matcher.match(heldout(subset, "shoab-0-5", 1)[0], top=3)
    assert len(result.suggestions) == 3
    scores = [s.score for s in result.suggestions]
    assert scores == sorted(scores, reverse=True)
    for suggestion in result.suggestions:
        assert 0.0 <= suggestion.score <= 1.0
        assert set(suggestion.reasons) == {"shape", "colour", "texture"}
        assert all(0.0 <= v <= 1.0 for v in suggestion.reasons.values())
    assert all(s.tentative for s in result.suggestions[1:])
    assert result.suggestions[0].tentative == (not result.confident)


def test_user_crop_box_picks_the_object(subset: Catalog, matcher: PhotoMatcher) -> None:
    """Two items in one photo: the crop decides which one is matched."""
    rng = np.random.default_rng(3)
    left = compose(item_pictures(subset.entries["f-1-grenade"], subset.colours())[0], rng, "reference").image
    right = compose(item_pictures(subset.entries["pg-7v"], subset.colours())[0], rng, "reference").image
    both = Image.new("RGB", (left.width + right.width, left.height))
    both.paste(left, (0, 0))
    both.paste(right, (left.width, 0))
    first = matcher.match(both, crop=(0, 0, left.width, left.height)).suggestions[0].id
    second = matcher.match(both, crop=(left.width, 0, both.width, both.height)).suggestions[0].id
    assert (first, second) == ("f-1-grenade", "pg-7v")


def test_measuring_once_and_ranking_with_other_hints_equals_matching(
    subset: Catalog, matcher: PhotoMatcher
) -> None:
    image = heldout(subset, "ofab-250-270", 1, seed=8)[0]
    measured = matcher.measure(image)
    for hints in ({}, {"length_mm": 1500.0}, {"allowed": {"pfm-1"}}):
        assert matcher.rank(measured, top=4, **hints) == matcher.match(image, top=4, **hints)


def test_hints_and_size_re_rank(subset: Catalog, matcher: PhotoMatcher) -> None:
    image = heldout(subset, "f-1-grenade", 1)[0]
    plain_result = matcher.match(image, top=6)
    plain = [s.id for s in plain_result.suggestions]
    hinted = matcher.match(image, top=6, allowed={"tm-62m"})
    assert hinted.suggestions[0].id in ("tm-62m", "f-1-grenade")
    assert [s.id for s in hinted.suggestions].index("tm-62m") <= plain.index("tm-62m")
    assert hinted.suggestions[[s.id for s in hinted.suggestions].index("tm-62m")].reasons["hints"] == 1.0
    sized = matcher.match(image, top=6, length_mm=1460)  # the OFAB's length, not a grenade's

    def ofab_over_grenade(result: MatchResult) -> float:
        scores = {s.id: s.score for s in result.suggestions}
        return scores["ofab-250-270"] / scores["f-1-grenade"]

    # the grenade's size factor falls to its floor (0.2), the OFAB's stays near 1
    assert ofab_over_grenade(sized) > 4 * ofab_over_grenade(plain_result)
    sized_ids = [s.id for s in sized.suggestions]
    assert sized_ids.index("ofab-250-270") <= plain.index("ofab-250-270")
    assert sized.suggestions[sized_ids.index("ofab-250-270")].reasons["size"] > 0.9


def test_both_nose_directions_are_considered(subset: Catalog, matcher: PhotoMatcher) -> None:
    image = heldout(subset, "pg-7v", 1, seed=9)[0]
    mirrored = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    assert matcher.match(image).suggestions[0].id == matcher.match(mirrored).suggestions[0].id == "pg-7v"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty"),
        (b"not an image at all", "not an image"),
        (jpeg(Image.new("RGB", (400, 300), (120, 110, 90)))[:200], "truncated or damaged"),
        (jpeg(Image.new("RGB", (400, 300), (120, 110, 90))), "stands out"),
    ],
    ids=["empty", "text", "truncated", "nothing-in-it"],
)
def test_bad_photos_are_refused_with_a_sentence(matcher: PhotoMatcher, data: bytes, expected: str) -> None:
    with pytest.raises(MatchRefused) as info:
        match_photo(matcher, data)
    message = str(info.value)
    assert expected in message and "\n" not in message and message.endswith(".")


def test_features_follow_the_transformer_contract(subset: Catalog) -> None:
    extractor = ImageFeatures(subset.colours())
    obj = find_object(heldout(subset, "ofab-250-270", 1)[0])
    with pytest.raises(RuntimeError):
        extractor.transform([obj])
    rows = extractor.fit().transform([obj, obj.flipped()])
    assert rows.shape == (2, extractor.n_features_out_)
    assert set(extractor.group_slices_) == {"shape", "colour", "texture"}


def test_both_ways_rows_equal_the_flipped_objects_rows(subset: Catalog) -> None:
    extractor = ImageFeatures(subset.colours()).fit()
    outlines = find_objects(heldout(subset, "pg-7v", 1, seed=3)[0])
    direct = extractor.transform([way for obj in outlines for way in (obj, obj.flipped())])
    fast = extractor.transform_both_ways(outlines)
    colour = extractor.group_slices_["colour"]
    shares = slice(colour.start, colour.start + len(extractor.palette_.names))
    # identical but for the colour shares, counted on every nth pixel from the other end
    np.testing.assert_allclose(
        np.delete(fast, np.r_[shares], axis=1), np.delete(direct, np.r_[shares], axis=1), atol=1e-4
    )
    np.testing.assert_allclose(fast[:, shares], direct[:, shares], atol=0.02)
    texture = extractor.group_slices_["texture"]  # the mirrored HOGs reuse the smoothing: exact
    np.testing.assert_array_equal(fast[:, texture], direct[:, texture])


def test_alternative_outlines_come_after_the_usual_one(subset: Catalog) -> None:
    """Sticks and shadows: stricter thresholds and a wider cut give other outlines, the usual first."""
    found = []
    for image in heldout(subset, "ofab-250-270", 6, seed=21):
        outlines = find_objects(image)
        first = find_object(image)
        assert np.array_equal(outlines[0].mask, first.mask) and outlines[0].box == first.box
        assert all(not np.array_equal(a.mask, b.mask) for i, a in enumerate(outlines) for b in outlines[:i])
        found.append(len(outlines))
    # usual, 3 stricter, a wider cut, one along the axis
    assert max(found) > 1 and all(1 <= n <= 6 for n in found), found


def test_solidity_matches_the_rasterised_convex_hull() -> None:
    from skimage import draw, measure

    mask = np.zeros((80, 200), bool)
    mask[30:50, 20:180] = True  # body
    rr, cc = draw.polygon([30, 5, 5, 30], [150, 170, 185, 180])  # a swept fin
    mask[rr, cc] = True
    expected = measure.regionprops(mask.astype(np.uint8))[0].solidity
    assert abs(_solidity(mask) - expected) < 0.01
    assert _solidity(np.ones((1, 40), bool)) == 1.0


def test_cell_hog_equals_skimage_hog(subset: Catalog) -> None:
    from skimage.feature import hog

    rng = np.random.default_rng(5)
    obj = find_object(heldout(subset, "pg-7v", 1, seed=3)[0])
    grey = np.asarray(
        Image.fromarray((obj.rgb.mean(axis=2) * 255).astype(np.uint8)).resize((96, 40)), np.float32
    )
    for image in (grey / 255, rng.random((40, 96)), np.round(rng.random((43, 101)) * 3) / 3):
        expected = hog(image, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(1, 1))
        np.testing.assert_allclose(cell_hog(image), expected, atol=1e-6)
    # a stack of images is described image by image, in one call
    stack = np.stack([grey / 255, rng.random((40, 96)), np.zeros((40, 96))])
    np.testing.assert_array_equal(cell_hog(stack), [cell_hog(image) for image in stack])
    np.testing.assert_array_equal(
        cell_hog(np.stack([stack, stack[::-1]])), [cell_hog(stack), cell_hog(stack[::-1])]
    )


def test_colour_histogram_bins_equal_numpys() -> None:
    rng = np.random.default_rng(8)
    edge_cases = [[-40, -40], [40, 60], [0, 10], [41, 61], [-40.5, 0], [20, 35], [-20.0000001, 59.9999]]
    chroma = np.vstack([edge_cases, rng.uniform(-60, 80, (500, 2))])
    a, b = _binned(chroma[:, 0], _A_EDGES), _binned(chroma[:, 1], _B_EDGES)
    inside = (a >= 0) & (b >= 0)
    ours = np.bincount(a[inside] * 4 + b[inside], minlength=16)
    theirs, _, _ = np.histogram2d(chroma[:, 0], chroma[:, 1], bins=4, range=[[-40, 40], [-40, 60]])
    np.testing.assert_array_equal(ours, theirs.ravel())
    light = np.concatenate([[0, 25, 100, 100.01, -0.01], rng.uniform(-10, 110, 500)])
    index = _binned(light, _L_EDGES)
    expected = np.histogram(light, bins=4, range=(0, 100))[0]
    np.testing.assert_array_equal(np.bincount(index[index >= 0], minlength=4), expected)


def test_colour_features_hold_numpys_histograms(subset: Catalog) -> None:
    from skimage import color

    palette = ImageFeatures(subset.colours()).fit().palette_
    obj = find_object(heldout(subset, "pg-7v", 1, seed=3)[0])
    pixels = color.rgb2lab(obj.rgb)[obj.mask]
    chroma, _, _ = np.histogram2d(pixels[:, 1], pixels[:, 2], bins=4, range=[[-40, 40], [-40, 60]])
    light = np.histogram(pixels[:, 0], bins=4, range=(0, 100))[0]
    expected = np.concatenate([chroma.ravel(), light]) / len(pixels)
    after_shares = slice(len(palette.names), len(palette.names) + len(expected))
    for row in colour_features_both_ways(obj, palette):  # the same in both directions
        np.testing.assert_allclose(row[after_shares], expected, rtol=1e-6)


def test_canonical_turns_colour_and_mask_as_two_separate_rotations_would() -> None:
    """One RGBX rotation for both: Pillow must not premultiply or skip the fourth channel."""
    from skimage import draw, measure

    rng = np.random.default_rng(4)
    rgb = rng.random((90, 120, 3)).astype(np.float32)
    mask = np.zeros((90, 120), bool)
    rr, cc = draw.ellipse(45, 60, 12, 40, rotation=0.6)
    mask[rr, cc] = True
    rgb_c, mask_c = _canonical(rgb, mask)

    props = measure.regionprops(mask.astype(np.uint8))[0]
    angle = -np.degrees(props.orientation) + 90.0
    y0, x0, y1, x1 = props.bbox

    def turn(picture: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(picture).rotate(angle, Image.Resampling.BILINEAR, expand=True))

    mask_r = turn(mask[y0:y1, x0:x1].astype(np.uint8) * 255) > 127
    rgb_r = turn((np.clip(rgb[y0:y1, x0:x1], 0, 1) * 255).astype(np.uint8)).astype(np.float32) / 255
    ys, xs = np.nonzero(mask_r)
    window = np.s_[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    expected_mask, expected_rgb = mask_r[window], rgb_r[window]
    if expected_mask.shape[0] > expected_mask.shape[1]:
        expected_mask, expected_rgb = expected_mask.T, expected_rgb.transpose(1, 0, 2)
    np.testing.assert_array_equal(mask_c, expected_mask)
    np.testing.assert_array_equal(rgb_c[mask_c], expected_rgb[expected_mask])
    background = rgb_c[~mask_c]
    assert len(background) > 0
    np.testing.assert_allclose(
        background, np.broadcast_to(expected_rgb[expected_mask].mean(axis=0), background.shape), rtol=1e-6
    )


def test_an_outline_nearly_equal_to_one_found_is_not_added_again() -> None:
    base = np.zeros((60, 100), bool)
    base[10:50, 10:90] = True  # 3,200 pixels
    masks = [base.copy()]
    _add_if_new(masks, None, 10)
    _add_if_new(masks, base.copy(), 10)  # the same
    _add_if_new(masks, np.pad(base[2:, :], ((0, 2), (0, 0))) & base, 10)  # 10:48: IoU 0.95, kept
    assert len(masks) == 2
    nearly = masks[1].copy()
    nearly[47, 10:50] = False  # IoU with the second 0.987, with the first 0.938: not kept
    _add_if_new(masks, nearly, 10)
    assert len(masks) == 2
    small = np.zeros_like(base)
    small[0:2, 0:2] = True
    _add_if_new(masks, small, 10)  # too small
    assert len(masks) == 2
    assert SAME_OUTLINE > 0.95


def test_a_stick_as_thick_as_the_body_is_cut_off_along_the_axis() -> None:
    """A rocket-like body with fins, and a stick of the same thickness lying across it."""
    from skimage import draw

    body = np.zeros((120, 260), bool)
    body[52:64, 20:240] = True  # 12 px thick, 220 px long
    for root, tip in ((52, 44), (64, 72)):  # fins reaching 8 px beyond the body
        rr, cc = draw.polygon([root, tip, tip, root], [215, 225, 240, 240])
        body[rr, cc] = True
    stick = np.zeros_like(body)
    rr, cc = draw.polygon([2, 8, 118, 112], [100, 94, 150, 156])  # crosses the body, ~10 px wide
    stick[rr, cc] = True
    cut = _along_axis(body | stick)
    assert cut is not None
    assert (cut & stick & ~body).sum() < 0.1 * (stick & ~body).sum()  # the stick outside is gone
    assert (cut & body).sum() == body.sum()  # the body and its fins stay, where crossed too
    assert _along_axis(body) is None  # nothing to cut: no extra outline


def test_a_stick_longer_than_the_object_does_not_become_its_axis() -> None:
    """A ball-shaped bomblet with a long stick across it: the stick is the longest straight run,
    so a cut along it would keep the stick and drop the ball; no such outline is offered."""
    from skimage import draw

    ball = np.zeros((240, 240), bool)
    rr, cc = draw.disk((120, 120), 20)
    ball[rr, cc] = True
    stick = np.zeros_like(ball)
    rr, cc = draw.polygon([116, 124, 124, 116], [20, 20, 220, 220])  # 200 px long, 8 px wide
    stick[rr, cc] = True
    cut = _along_axis(ball | stick)
    assert cut is None or (cut & ball).sum() > 0.9 * ball.sum()
    assert _along_axis(np.eye(50, dtype=bool)) is None  # one pixel wide: nothing beside the axis


def test_box_overlap_is_intersection_over_union() -> None:
    assert _box_overlap((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert _box_overlap((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0  # touching, not overlapping
    assert _box_overlap((0, 0, 10, 10), (30, 30, 40, 40)) == 0.0
    assert _box_overlap((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)


def test_reference_rows_hashes_outlines_and_held_back_flags_line_up(subset: Catalog) -> None:
    """Extra rows (a view's better-fitting outline) are never held back, and every fifth *view*,
    not every fifth row, is held back with all the outlines a photo of it would be matched with."""
    entry = subset.entries["ofab-250-270"]
    refs = _entry_references(entry.model_dump_json(), subset.colours(), [], 20)
    rows = len(refs.rows)
    assert rows >= 20 and len(refs.hashes) == len(refs.alternates) == len(refs.held) == rows
    extra = [i for i in range(1, rows) if refs.hashes[i] == refs.hashes[i - 1]]  # same picture again
    views = [i for i in range(rows) if i not in extra]
    assert len(views) == 20
    assert [refs.held[i] for i in views] == [k % HOLDOUT_EVERY == 0 for k in range(len(views))]
    assert not any(refs.held[i] for i in extra)
    for i in range(rows):
        assert (len(refs.alternates[i]) > 0) == refs.held[i]  # its other nose direction at least


def test_index_is_persisted_and_rebuilt_when_the_catalog_changes(tmp_path: Path) -> None:
    ids = ["pfm-1", "shoab-0-5"]
    catalog_dir = write_real_subset(tmp_path, ids)
    catalog = load_catalog(catalog_dir, tmp_path / "images")
    first, built = load_matcher(catalog, tmp_path / "var", views=4, n_jobs=1)
    assert built and (tmp_path / "var" / "match-index.npz").exists()
    again, built_again = load_matcher(catalog, tmp_path / "var", views=4, n_jobs=1)
    assert not built_again
    image = heldout(catalog, "pfm-1", 1)[0]
    assert again.match(image) == first.match(image)  # the same scores, reasons and call, exactly
    np.testing.assert_array_equal(again.measure(image).distances, first.measure(image).distances)
    path = catalog_dir / "pfm-1.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("Lepestok", "Lepestok-M"), encoding="utf-8")
    _, rebuilt = load_matcher(
        load_catalog(catalog_dir, tmp_path / "images"), tmp_path / "var", views=4, n_jobs=1
    )
    assert rebuilt


CLI_IDS = ["pfm-1", "f-1-grenade", "shoab-0-5"]
CLI_VIEWS = 6
"""Views per entry of the CLI tests' index: the CLI itself would render 36 (VIEWS_PER_ENTRY), which
took over the subprocess's 120 s on two busy cores."""
INTERNAL_CSV = {"licence": "internal", "author": "Demining NGO library", "source": "Shelf 4, box 2"}


def photo_folder(root: Path) -> Path:
    """A `photos import` folder of real photographs (scikit-image's, public domain / CC0) standing
    in for a deployment's internal library: two of the cat as pfm-1, the coffee cup as shoab-0-5."""
    folder = root / "library"
    cat = Image.fromarray(skdata.chelsea())
    pictures = {
        "pfm-1/cat.jpg": cat,
        "pfm-1/cat-shelf.jpg": cat.transpose(Image.Transpose.FLIP_LEFT_RIGHT).crop((30, 0, 451, 300)),
        "shoab-0-5/cup.jpg": Image.fromarray(skdata.coffee()),
    }
    for name, picture in pictures.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        picture.save(folder / name, "JPEG", quality=90)
    with (folder / "photos.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, ["file", *INTERNAL_CSV])
        writer.writeheader()
        writer.writerows({"file": name, **INTERNAL_CSV} for name in pictures)
    return folder


def _built_index(root: Path, with_photos: bool) -> Path:
    catalog_dir = write_real_subset(root, CLI_IDS)
    if with_photos:
        import_folder(photo_folder(root), root / "images", set(CLI_IDS))
    catalog = load_catalog(catalog_dir, root / "images")
    path = index_path(root / "var")
    build_matcher(catalog, views=CLI_VIEWS, n_jobs=2).save(path, index_digest(catalog))
    return path


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CLI catalog's drawing index, built once with few views: its digest is the catalog's, so
    the CLI run on an identical catalog loads a copy of it as its own."""
    return _built_index(tmp_path_factory.mktemp("cli-index"), with_photos=False)


@pytest.fixture(scope="module")
def cli_photo_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same, for the catalog after `photos import` of `photo_folder` (the photos are in the digest)."""
    return _built_index(tmp_path_factory.mktemp("cli-photo-index"), with_photos=True)


def cli_catalog(tmp_path: Path, index: Path) -> Path:
    """The CLI tests' catalog in tmp_path, with the prebuilt index copied into its var/."""
    catalog_dir = write_real_subset(tmp_path, CLI_IDS)
    (tmp_path / "var").mkdir(exist_ok=True)
    shutil.copy(index, index_path(tmp_path / "var"))
    return catalog_dir


def test_cli_match_json_one_object_per_photo_in_order(
    tmp_path: Path, run_cli, subset: Catalog, cli_index: Path
) -> None:
    catalog_dir = cli_catalog(tmp_path, cli_index)
    photos = []
    for entry_id in ("shoab-0-5", "f-1-grenade"):
        path = tmp_path / f"{entry_id}.jpg"
        path.write_bytes(jpeg(heldout(subset, entry_id, 1, seed=11)[0]))
        photos.append(str(path))
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    result = run_cli(
        "match", photos[0], str(bad), photos[1], "--format", "json", "--top", "3", catalog=catalog_dir
    )
    assert result.returncode == 1, result.stderr
    assert "match index built" not in result.stderr  # the copied index was used
    assert "broken.jpg: The image file is truncated or damaged." in result.stderr
    assert "Traceback" not in result.stderr
    records = json.loads(result.stdout)
    assert [r["photo"] for r in records] == [photos[0], photos[1]]
    for record, truth in zip(records, ("shoab-0-5", "f-1-grenade"), strict=True):
        assert set(record) >= {"photo", "confident", "matches", "tentative_because"}
        assert record["matches"][0]["id"] == truth
        assert set(record["matches"][0]) >= {"id", "name", "score", "reasons", "compared_with", "best_photo"}
        # no reference photos: every suggestion rests on the drawing, and none is confident
        assert not record["confident"] and record["tentative_because"] == "drawings"
        for match in record["matches"]:
            assert match["compared_with"] == {"kind": "drawing", "photos": 0, "text": "drawing only"}
            assert match["best_photo"] is None and match["tentative"]


def test_cli_match_hints_exclude_with_only_fitting(
    tmp_path: Path, run_cli, subset: Catalog, cli_index: Path
) -> None:
    catalog_dir = cli_catalog(tmp_path, cli_index)
    path = tmp_path / "shoab.jpg"
    path.write_bytes(jpeg(heldout(subset, "shoab-0-5", 1, seed=11)[0]))
    hinted = ["match", str(path), "--format", "json", "--category", "hand-grenade"]
    ranked = json.loads(run_cli(*hinted, catalog=catalog_dir).stdout)[0]["matches"]
    assert ranked[0]["id"] == "f-1-grenade"  # contradicting entries are never first
    assert {m["id"] for m in ranked} == set(CLI_IDS)
    only = run_cli(*hinted, "--only-fitting", catalog=catalog_dir)
    assert only.returncode == 0, only.stderr
    assert [m["id"] for m in json.loads(only.stdout)[0]["matches"]] == ["f-1-grenade"]
    nothing = run_cli(*hinted[:-1], "anti-vehicle-mine", "--only-fitting", catalog=catalog_dir)
    assert nothing.returncode == 1 and "No catalog entry fits your hints" in nothing.stderr


def test_cli_match_with_an_imported_internal_library(tmp_path: Path, run_cli, cli_photo_index: Path) -> None:
    """A deployment's own photos (`photos import`, licence internal) are matched photo to photo;
    entries without photos are still compared with their drawings, and each says which."""
    catalog_dir = cli_catalog(tmp_path, cli_photo_index)
    imported = run_cli("photos", "import", str(photo_folder(tmp_path)), catalog=catalog_dir)
    assert imported.returncode == 0, imported.stderr
    query = tmp_path / "query.jpg"
    cat = Image.fromarray(skdata.chelsea()).crop((40, 20, 420, 300)).point(lambda v: int(v * 0.85))
    cat.save(query, "JPEG", quality=85)
    result = run_cli("match", str(query), "--format", "json", "--top", "3", catalog=catalog_dir)
    assert result.returncode == 0, result.stderr
    assert "match index built" not in result.stderr  # the copied drawing index was used
    record = json.loads(result.stdout)[0]
    first, second, third = record["matches"]
    assert first["id"] == "pfm-1" and first["compared_with"]["kind"] == "photos"
    assert first["compared_with"]["photos"] == 2 and first["compared_with"]["text"] == "2 photos"
    assert first["best_photo"] in {"cat.jpg", "cat-shelf.jpg"}
    assert (tmp_path / "images" / "pfm-1" / first["best_photo"]).is_file()
    assert second["compared_with"]["text"] == "drawing only" and second["best_photo"] is None
    assert second["id"] == "f-1-grenade"  # the only entry without photos
    assert third["id"] == "shoab-0-5" and third["compared_with"]["text"] == "1 photo"
    # no threshold is measured on real photos: tentative, and it says why
    assert not record["confident"] and record["tentative_because"] == "unmeasured"
    assert all(m["tentative"] for m in record["matches"])
    assert (tmp_path / "var" / "photo-index.npz").is_file()
    table = run_cli("match", str(query), catalog=catalog_dir)
    assert "2 photos" in table.stdout and "drawing only" in table.stdout
    assert "no similarity threshold has been measured on real photos yet" in table.stdout


def test_cli_evaluate_reports_matcher_and_baseline(
    tmp_path: Path, run_cli, subset: Catalog, cli_index: Path
) -> None:
    catalog_dir = cli_catalog(tmp_path, cli_index)
    for entry_id in CLI_IDS:
        folder = tmp_path / "eval" / entry_id
        folder.mkdir(parents=True)
        for i, image in enumerate(heldout(subset, entry_id, 2, seed=13)):
            image.save(folder / f"{i}.jpg")
    result = run_cli(
        "evaluate", str(tmp_path / "eval"), "--top", "2", "--format", "json", catalog=catalog_dir
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["photos"] == 6
    assert figures["top1_accuracy"] >= 0.8
    assert figures["confident_share"] == 0.0  # drawings alone are never confident
    assert "baseline_top1_accuracy" in figures and "confusions" in figures
    unknown = tmp_path / "eval" / "no-such-entry"
    unknown.mkdir()
    refused = run_cli("evaluate", str(tmp_path / "eval"), catalog=catalog_dir)
    assert refused.returncode == 1 and "not a catalog entry id" in refused.stderr


# --- photo-to-photo wiring, confidence, categories, hints ---------------------------------------


def with_photos(matcher: PhotoMatcher, tmp_path: Path) -> PhotoMatcher:
    """A copy of the fitted matcher with real reference photos attached: two of the cat as tm-62m,
    the coffee cup as pg-7v; the other entries keep their drawings only."""
    folder = photo_folder(tmp_path)
    index = PhotoIndex.from_files(
        {
            "tm-62m": [folder / "pfm-1" / "cat.jpg", folder / "pfm-1" / "cat-shelf.jpg"],
            "pg-7v": [folder / "shoab-0-5" / "cup.jpg"],
        }
    )
    return copy.copy(matcher).attach_photos(index)


def cat_query() -> Image.Image:
    return Image.fromarray(skdata.chelsea()).crop((40, 20, 420, 300)).point(lambda v: int(v * 0.85))


def test_drawing_only_suggestions_are_never_confident(subset: Catalog, matcher: PhotoMatcher) -> None:
    for entry_id in IDS:
        for image in heldout(subset, entry_id, 2):
            result = matcher.match(image, top=6)
            assert not result.confident and result.tentative_because == "drawings"
            assert all(
                s.tentative and s.compared_with == "drawing" and s.photos == 0 for s in result.suggestions
            )
            assert "drawings only" in result.message


def test_photo_suggestions_interleave_with_drawing_ones(
    subset: Catalog, matcher: PhotoMatcher, tmp_path: Path
) -> None:
    photographed = with_photos(matcher, tmp_path)
    assert matcher.photo_index is None  # the fixture's matcher is untouched
    result = photographed.match(cat_query(), top=6)
    kinds = [s.compared_with for s in result.suggestions]
    assert kinds[:4] == ["photos", "drawing", "photos", "drawing"]  # photo list first, then alternating
    first = result.suggestions[0]
    assert first.id == "tm-62m" and first.photos == 2 and first.best_photo in {"cat.jpg", "cat-shelf.jpg"}
    assert first.reasons["photo"] == first.score > result.suggestions[2].score
    assert result.suggestions[2].id == "pg-7v" and result.suggestions[2].best_photo == "cup.jpg"
    drawn = [s.id for s in result.suggestions if s.compared_with == "drawing"]
    assert "tm-62m" not in drawn and "pg-7v" not in drawn  # an entry with photos is ranked by them
    assert not result.confident and result.tentative_because == "unmeasured"
    assert all(s.tentative for s in result.suggestions)
    assert matcher_module.PHOTO_CONFIDENT_SIMILARITY is None  # nothing measured on real photos yet


def test_only_a_measured_photo_threshold_is_confident(
    subset: Catalog, matcher: PhotoMatcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If a threshold were measured, a photo-backed first suggestion above it is confident, one
    below it is not, and a drawing-only first suggestion never is."""
    photographed = with_photos(matcher, tmp_path)
    monkeypatch.setattr(matcher_module, "PHOTO_CONFIDENT_SIMILARITY", 0.5)
    above = photographed.match(cat_query())
    assert above.confident and not above.suggestions[0].tentative and above.tentative_because is None
    assert all(s.tentative for s in above.suggestions[1:])
    assert above.message.startswith("Possible match found")
    monkeypatch.setattr(matcher_module, "PHOTO_CONFIDENT_SIMILARITY", 1.01)
    assert photographed.match(cat_query()).tentative_because == "below"
    monkeypatch.setattr(matcher_module, "PHOTO_CONFIDENT_SIMILARITY", -1.0)
    drawn_first = photographed.match(cat_query(), allowed={"f-1-grenade"})
    assert drawn_first.suggestions[0].id == "f-1-grenade"  # the hint puts a drawing-only entry first
    assert not drawn_first.confident and drawn_first.tentative_because == "drawings"


def test_photo_side_answers_when_nothing_stands_out(matcher: PhotoMatcher, tmp_path: Path) -> None:
    plain = Image.new("RGB", (400, 300), (120, 110, 90))
    with pytest.raises(MatchRefused, match="stands out"):
        matcher.match(plain)
    photographed = with_photos(matcher, tmp_path)
    result = photographed.match(plain)
    assert {s.id for s in result.suggestions} == {"tm-62m", "pg-7v"}
    assert result.box == (0, 0, 400, 300) and result.size == (400, 300)
    assert photographed.match(plain, crop=(300, 250, 20, 10)).box == (20, 10, 300, 250)  # the user's box
    with pytest.raises(MatchRefused, match="too small or outside"):
        photographed.match(plain, crop=(500, 400, 600, 500))


def test_hints_exclude_or_never_put_a_contradicting_entry_first(
    subset: Catalog, matcher: PhotoMatcher, tmp_path: Path
) -> None:
    image = heldout(subset, "pfm-1", 1)[0]
    mines = {"pfm-1", "tm-62m"}
    only = matcher.match(image, top=6, allowed=mines, only_fitting=True)
    assert {s.id for s in only.suggestions} == mines
    assert all(s.reasons["hints"] == 1.0 for s in only.suggestions)
    grenade = heldout(subset, "f-1-grenade", 1)[0]
    for m in (matcher, with_photos(matcher, tmp_path)):
        hinted = m.match(grenade, top=6, allowed={"shoab-0-5"})
        assert hinted.suggestions[0].id == "shoab-0-5" and len(hinted.suggestions) == 6
        assert m.match(grenade, top=6, allowed={"shoab-0-5"}, only_fitting=True).suggestions[0].id == (
            "shoab-0-5"
        )
    with pytest.raises(MatchRefused, match="No catalog entry fits your hints"):
        matcher.match(grenade, allowed=set(), only_fitting=True)


def _suggestion(entry_id: str) -> Suggestion:
    return Suggestion(entry_id, entry_id, 0.1, {}, tentative=True)


def test_the_shared_category_is_named_when_types_disagree(subset: Catalog, matcher: PhotoMatcher) -> None:
    categories = {e.id: e.category for e in subset.entries.values()}
    categories |= {"pmn": "anti-personnel-mine", "ozm-72": "anti-personnel-mine"}
    three_ap = [_suggestion(i) for i in ("pfm-1", "pmn", "f-1-grenade", "ozm-72", "tm-62m")]
    assert shared_category(three_ap, categories) == "anti-personnel-mine"
    two_of_five = [_suggestion(i) for i in ("pfm-1", "pmn", "f-1-grenade", "pg-7v", "tm-62m")]
    assert shared_category(two_of_five, categories) is None
    assert shared_category([_suggestion("pfm-1")], categories) is None  # one suggestion: a type
    assert matcher.categories == {e.id: e.category for e in subset.entries.values()}
    image = heldout(subset, "pfm-1", 1)[0]
    mines = {"pfm-1", "tm-62m"}
    both = matcher.match(image, top=2, allowed=mines, only_fitting=True)
    assert both.category is None  # one anti-personnel, one anti-tank mine


class _Marker:
    """Unpickling this writes a file: proof that code from var/ ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (self.path, "code from var/ ran"))


def test_a_crafted_index_file_is_never_unpickled_and_is_rebuilt(tmp_path: Path) -> None:
    """The index is data: a pickle planted in var/, as a bare pickle or inside an .npz, runs nothing."""
    import pickle

    catalog = load_catalog(write_real_subset(tmp_path, ["pfm-1", "shoab-0-5"]), tmp_path / "images")
    var = tmp_path / "var"
    var.mkdir()
    marker = tmp_path / "ran.txt"
    planted = [
        pickle.dumps({"digest": index_digest(catalog), "matcher": _Marker(marker)}),  # the old joblib way
    ]
    buffer = io.BytesIO()
    np.savez(buffer, header=np.array([_Marker(marker)], dtype=object), allow_pickle=True)
    planted.append(buffer.getvalue())  # an .npz whose array is a pickled object
    planted.append(b"PK\x03\x04 not really a zip")
    for data in planted:
        (var / "match-index.npz").write_bytes(data)
        (var / "match-index.joblib").write_bytes(planted[0])  # the old file name is never read
        _, built = load_matcher(catalog, var, views=4, n_jobs=1)
        assert built and not marker.exists()
        with np.load(var / "match-index.npz", allow_pickle=False) as stored:  # rewritten as plain data
            assert all(stored[key].dtype != object for key in stored.files)


def test_an_index_with_wrong_contents_is_rebuilt(tmp_path: Path) -> None:
    catalog = load_catalog(write_real_subset(tmp_path, ["pfm-1", "shoab-0-5"]), tmp_path / "images")
    var = tmp_path / "var"
    load_matcher(catalog, var, views=4, n_jobs=1)
    path = var / "match-index.npz"
    with np.load(path, allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}
    arrays["references.labels"] = arrays["references.labels"][:-1]  # one label short
    np.savez(path, **arrays)
    with pytest.raises(IndexMismatch, match="different lengths"):
        PhotoMatcher.load(path, index_digest(catalog))
    _, built = load_matcher(catalog, var, views=4, n_jobs=1)
    assert built
    with pytest.raises(IndexMismatch, match="another catalog"):
        PhotoMatcher.load(path, "0" * 64)
