"""Image embedding for photo-to-photo matching: EfficientNet-Lite0 (ImageNet) run by onnxruntime.

A photo becomes a 1,280-number description (the network's pooled layer before its classifier),
scaled to length 1 so that the dot product of two descriptions is their cosine similarity. Two
photos of the same kind of item, taken differently, come out closer than photos of different items:
measured on real photos by `benchmarks/bench_real_photos.py`.

The model file ships in the package (`models/efficientnet_lite0.onnx`, made once by
`tools/convert_embedding.py`; licence and origin in `models/NOTICE`); nothing is downloaded. Its
sha256 is checked before it is loaded, so a damaged or replaced file is refused with a sentence.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

MODEL_PATH = Path(__file__).resolve().parent / "models" / "efficientnet_lite0.onnx"
MODEL_SHA256 = "687f5fb49bec2ef85c1e8c3b5d7e145480c6bcc0c6adc74c4ae53fefbf157523"
INPUT_SIDE = 224
DIMENSIONS = 1280
BATCH = 8
"""Photos run through the network together: 8 x 3 x 224 x 224 floats is 4.8 MB of input, and the
activations stay in the tens of megabytes, so memory is bounded whatever the number of photos."""
THREADS = 2

_lock = threading.Lock()
_sessions: dict[Path, object] = {}


class EmbeddingUnavailable(RuntimeError):
    """The model file is missing or is not the one this code was written for."""


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def session(path: Path = MODEL_PATH, sha256: str = MODEL_SHA256):  # -> onnxruntime.InferenceSession
    """The checked, loaded model; loaded once per process and shared (sessions are thread-safe)."""
    import onnxruntime  # imported here: only photo matching needs it

    with _lock:
        if path in _sessions:
            return _sessions[path]
        if not path.is_file():
            raise EmbeddingUnavailable(
                f"The image-embedding model {path.name} is missing; reinstall the package."
            )
        if _file_sha256(path) != sha256:
            raise EmbeddingUnavailable(
                f"The image-embedding model {path.name} is damaged or was replaced (checksum differs); "
                "reinstall the package."
            )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = THREADS
        options.inter_op_num_threads = 1
        loaded = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        _sessions[path] = loaded
        return loaded


def preprocess(image: Image.Image) -> np.ndarray:
    """RGB pixels 0-255 as the network expects them: (3, 224, 224) float32, the whole picture.

    The photo is squeezed to a square rather than centre-cropped: the object is not always in the
    middle, and a crop from the user's box has already framed it. Normalisation ((x - 127) / 128)
    is inside the model graph.
    """
    rgb = image.convert("RGB") if image.mode != "RGB" else image
    resized = rgb.resize((INPUT_SIDE, INPUT_SIDE), Image.Resampling.BICUBIC, reducing_gap=3.0)
    return np.asarray(resized, dtype=np.float32).transpose(2, 0, 1)


def _batches(images: Iterable[Image.Image], size: int) -> Iterator[np.ndarray]:
    batch: list[np.ndarray] = []
    for image in images:
        batch.append(preprocess(image))
        if len(batch) == size:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)


def embed(images: Iterable[Image.Image], *, flip: bool = True, model: Path = MODEL_PATH) -> np.ndarray:
    """(N, 1280) float32 unit vectors, one per image, in order; (0, 1280) for no images.

    With `flip`, each image is described as the mean of itself and its mirror image, so an item
    photographed facing the other way is described alike (measured: README, real photos).
    """
    run = session(model)
    out = []
    for pixels in _batches(images, BATCH):
        features = run.run(None, {"pixels": pixels})[0]
        if flip:
            features = features + run.run(None, {"pixels": np.ascontiguousarray(pixels[..., ::-1])})[0]
        out.append(features)
    if not out:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = np.concatenate(out).astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
