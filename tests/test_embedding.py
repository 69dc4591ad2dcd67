"""The ONNX image embedding on real images: shape, unit length, determinism, the model's checksum."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from ordnance_db import embedding

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    """Two real photographs (scikit-image's cat and coffee cup) and a committed drawing."""
    drawing = Image.open(ROOT / "images" / "pmn" / "side.png").convert("RGB")
    return [Image.fromarray(data.chelsea()), Image.fromarray(data.coffee()), drawing]


def test_vectors_have_the_model_width_and_unit_length(photos: list[Image.Image]) -> None:
    vectors = embedding.embed(photos)
    assert vectors.shape == (3, embedding.DIMENSIONS)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedding.embed([]).shape == (0, embedding.DIMENSIONS)


def test_same_image_same_vector_and_batches_do_not_mix(photos: list[Image.Image]) -> None:
    together = embedding.embed(photos)
    alone = np.concatenate([embedding.embed([p]) for p in photos])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_array_equal(embedding.embed(photos[:1]), embedding.embed(photos[:1]))


def test_a_variant_of_a_photo_is_closer_than_another_photo(photos: list[Image.Image]) -> None:
    cat, coffee, _ = photos
    darker_crop = cat.crop((20, 10, cat.width - 30, cat.height)).point(lambda v: int(v * 0.8))
    cat_v, coffee_v, crop_v = embedding.embed([cat, coffee, darker_crop])
    assert float(cat_v @ crop_v) > float(cat_v @ coffee_v) + 0.2


def test_flip_makes_mirror_images_alike(photos: list[Image.Image]) -> None:
    cat = photos[0]
    mirrored = cat.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    a, b = embedding.embed([cat, mirrored], flip=True)
    assert float(a @ b) > 0.999


def test_preprocess_gives_the_network_input(photos: list[Image.Image]) -> None:
    pixels = embedding.preprocess(photos[0].convert("L"))
    assert pixels.shape == (3, embedding.INPUT_SIDE, embedding.INPUT_SIDE)
    assert pixels.dtype == np.float32
    assert pixels.min() >= 0 and pixels.max() <= 255


def test_a_tampered_model_file_is_refused(tmp_path: Path, photos: list[Image.Image]) -> None:
    tampered = tmp_path / "efficientnet_lite0.onnx"
    shutil.copyfile(embedding.MODEL_PATH, tampered)
    with tampered.open("r+b") as handle:
        handle.seek(tampered.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(embedding.EmbeddingUnavailable, match="damaged or was replaced"):
        embedding.embed(photos[:1], model=tampered)
    with pytest.raises(embedding.EmbeddingUnavailable, match="missing"):
        embedding.embed(photos[:1], model=tmp_path / "absent.onnx")


def test_the_committed_model_matches_its_recorded_checksum() -> None:
    notice = (embedding.MODEL_PATH.parent / "NOTICE").read_text(encoding="utf-8")
    assert embedding.MODEL_SHA256 in notice
    assert "Apache License 2.0" in notice
