"""The one door every image passes through: safe decoding, metadata stripping, thumbnails.

Volunteers upload phone photos, which are hostile input in two ways: the bytes may be crafted to
crash, exhaust or stall the decoder, and an honest photo may carry the GPS position of the person
who took it. So `load_image` only ever raises `ImageRefused` (a plain sentence a person can read),
and it always returns a fresh RGB or RGBA image whose `info` is empty, so no metadata can travel
further; `encode_png` and `encode_jpeg` write pixels and nothing else.

Decisions:

* Accepted formats are JPEG (and MPO, the multi-picture JPEG many phones write), PNG (APNG: first
  frame), WebP (first frame), GIF (first frame) and HEIC/HEIF. Everything else is refused,
  including TIFF: phones do not produce it, libtiff brings dozens of codecs and a long record of
  vulnerabilities, and tiles and pages make its memory use hard to bound from the header. Restricting
  Pillow to these formats also means a polyglot file can never be routed to a risky plugin (EPS, for
  instance, runs Ghostscript).
* Bytes are counted before anything is parsed, and a path is stat()ed before it is opened, so a
  100 MB file is refused without being read. A file is then read in one bounded read, so the bytes
  that were counted are the bytes that are decoded.
* The pixel count is checked from the header before decoding. Pillow's own decompression-bomb
  warning is turned into an error (`_ensure_bomb_filter`) so that a bomb always ends in a sentence.
* Decoded size is bounded per format (`MAX_DECODED_PIXELS`), also before decoding: a PNG, WebP,
  GIF or HEIC is decoded at full size whatever is asked for, and Pillow holds 4 bytes a pixel,
  so a 169 KB PNG declaring 6324 x 6324 (40 MP, under the pixel limit) cost 168 MB at its peak
  and a second of CPU; 30 of them at once took a server to 9.4 GB (issue 14). A JPEG is checked
  at the size it is actually decoded at (after draft mode), so a 40 MP phone photo stays welcome.
* Extreme aspect ratios (beyond `DEFAULT_MAX_ASPECT` to 1) are refused: no photo of an item is
  that shape, and reducing one leaves an image one pixel high that the matcher cannot use. The
  longest catalog drawing (a side view) is 8.6 to 1.
* `ImageFile.LOAD_TRUNCATED_IMAGES` is left False: a truncated upload is refused, not padded with
  grey. Code elsewhere must not switch it on.
* EXIF orientation is read defensively (same mapping as `ImageOps.exif_transpose`) and applied after
  downsizing, where it is cheaper. HEIF needs nothing: pillow_heif applies the container's rotation
  and resets the EXIF tag.
* Speed: a large JPEG is decoded by libjpeg at 1/2, 1/4 or 1/8 scale (Pillow's draft mode), then
  brought to `max_side` with bicubic below a 2x reduction (as sharp as Lanczos there, measured) and
  Lanczos above. `benchmarks/bench_imaging.py` measures this against a full decode.
* ICC profiles are dropped without colour conversion: parsing an attacker's profile is one more risk,
  and the small shift for wide-gamut photos does not matter for identification.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
import tempfile
import warnings
from pathlib import Path
from typing import Final

import numpy as np
import pillow_heif
from PIL import Image, JpegImagePlugin

from ordnance_db.var_files import usable_png

__all__ = [
    "ACCEPTED_FORMATS",
    "ANALYSIS_SIDE",
    "DEFAULT_MAX_ASPECT",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_SIDE",
    "MAX_DECODED_PIXELS",
    "ImageRefused",
    "encode_jpeg",
    "encode_png",
    "load_image",
    "photo_size",
    "thumbnail",
]

ACCEPTED_FORMATS: Final[tuple[str, ...]] = ("JPEG", "PNG", "WEBP", "GIF", "HEIF")
# Pillow reports a JPEG with a multi-picture extension as MPO; it is still a JPEG.
_RESULT_FORMATS: Final = frozenset({*ACCEPTED_FORMATS, "MPO"})
DEFAULT_MAX_BYTES: Final = 25 * 2**20
DEFAULT_MAX_PIXELS: Final = 40_000_000
DEFAULT_MAX_SIDE: Final = 1600
DEFAULT_MAX_ASPECT: Final = 12.0
"""Longest side over shortest side; a phone panorama is about 4 to 1."""
MAX_DECODED_PIXELS: Final[dict[str, int]] = {
    "JPEG": 40_000_000,  # after draft mode: a 40 MP photo analysed at 500 px decodes 0.6 MP
    "MPO": 40_000_000,
    "HEIF": 25_000_000,  # libheif decodes in full; an iPhone's default photo is 24.5 MP
    "PNG": 16_000_000,  # a 12 MP photo saved as PNG still opens; 64 MB decoded at most
    "WEBP": 16_000_000,
    "GIF": 16_000_000,
}
"""Most pixels a decoder may produce, per format, checked before decoding (Pillow: 4 bytes a pixel)."""
_FORMAT_LABELS: Final = {
    "JPEG": "JPEG",
    "MPO": "JPEG",
    "HEIF": "HEIC",
    "PNG": "PNG",
    "WEBP": "WebP",
    "GIF": "GIF",
}
ANALYSIS_SIDE: Final = 500
"""Longest side for photo analysis. 500 px lets a 12 MP (4000x3000) JPEG decode at exactly 1/8
scale with no resize, which is what makes analysis-size loading about 3x faster than a full decode."""
# A progressive JPEG with thousands of scans decodes for minutes (a "scan bomb"); real files have
# about ten. Counting FF DA pairs over-counts (the bytes can occur inside metadata), never under.
MAX_JPEG_SCANS: Final = 500
# Bump when the thumbnail pipeline changes, so cached thumbnails are regenerated.
_THUMBNAIL_VERSION: Final = b"ordnance-db thumbnail v1\n"

_NOT_AN_IMAGE: Final = "This file is not an image we can read (JPEG, PNG, WebP, HEIC or GIF)."
_EMPTY: Final = "The file is empty."
_DAMAGED: Final = "The image file is truncated or damaged."
_BOMB: Final = "This image declares more pixels than can be opened safely."
_SCAN_BOMB: Final = "This JPEG has too many scans to be decoded safely."
_NO_MEMORY: Final = "There is not enough memory to open this image."
_MISSING: Final = "The file does not exist."
_UNREADABLE: Final = "The file could not be read."
_NOT_A_FILE: Final = "This is not a regular file."

_TRANSPOSE: Final[dict[int, Image.Transpose]] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ORIENTATION_TAG: Final = 0x0112
_HEIF_BRANDS: Final = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
_ALPHA_MODES: Final = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_PNG_MODES: Final = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I;16"})
_BOMB_FILTER: Final = ("error", None, Image.DecompressionBombWarning, None, 0)

# Registered once, at import. Thumbnails, depth maps and auxiliary images are never used, so
# their parsing is switched off: less attacker-controlled data goes through libheif.
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)


class ImageRefused(ValueError):
    """An input that will not be decoded; `str()` is one sentence to show to the person."""


def _ensure_bomb_filter() -> None:
    """Make Pillow raise, not warn, on a decompression bomb, so a bomb is refused with a sentence.

    Process-wide on purpose (every image goes through this module). Re-checked on each call,
    because `warnings.catch_warnings` (test runners use it) restores the list and a later
    `simplefilter("always")` would otherwise take precedence.
    """
    if not warnings.filters or warnings.filters[0] != _BOMB_FILTER:
        warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


_ensure_bomb_filter()


def _format_bytes(count: int) -> str:
    """Human size for refusal sentences: 512 bytes, 12 KB, 31 MB."""
    if count < 1024:
        return f"{count} bytes"
    if count < 2**20:
        return f"{count // 1024} KB"
    return f"{count / 2**20:.1f}".removesuffix(".0") + " MB"


def _format_megapixels(pixels: int) -> str:
    """Megapixels with as many digits as are meaningful: 120, 1.5, 0.002."""
    value = pixels / 1_000_000
    if value >= 100:
        return f"{value:.0f}"
    if value >= 1:
        return f"{value:.1f}".removesuffix(".0")
    return f"{value:.2g}"


def _check_byte_count(count: int, max_bytes: int) -> None:
    """Refuse empty and oversized inputs before any parsing."""
    if count == 0:
        raise ImageRefused(_EMPTY)
    if count > max_bytes:
        raise ImageRefused(
            f"This file is too large: {_format_bytes(count)}; the limit is {_format_bytes(max_bytes)}."
        )


def _read_path(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """Read a regular file in one bounded read; stat first so a huge file is never read."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ImageRefused(_MISSING) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise ImageRefused(_UNREADABLE) from exc
    if not stat.S_ISREG(info.st_mode):
        raise ImageRefused(_NOT_A_FILE)
    _check_byte_count(info.st_size, max_bytes)
    # O_NONBLOCK: if the path was swapped for a FIFO since stat(), open() must not hang.
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
        with open(fd, "rb", closefd=True) as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise ImageRefused(_NOT_A_FILE)
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise ImageRefused(_MISSING) from None
    except OSError as exc:
        raise ImageRefused(_UNREADABLE) from exc
    _check_byte_count(len(data), max_bytes)  # the file may have changed since stat()
    return data


def _sniff(data: bytes) -> str | None:
    """The accepted format the magic bytes claim, to tell 'damaged' from 'not an image'."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "HEIF"
    return None


def _fit(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """Size with the longest side at most max_side, aspect ratio kept, never below 1 pixel."""
    width, height = size
    longest = max(width, height)
    if max_side is None or longest <= max_side:
        return size
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _orientation(img: Image.Image) -> int:
    """EXIF orientation 2-8, or 1 for absent, bogus (0, 9, text, tuples) or unparsable EXIF."""
    try:
        value = img.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # corrupt EXIF must not cost the picture
        return 1
    return value if type(value) is int and value in _TRANSPOSE else 1


def _to_8bit_grey(img: Image.Image) -> Image.Image:
    """Scale 16-bit, 32-bit and float greys into 0-255; Pillow's convert() would clip them to white."""
    arr = np.asarray(img)
    if img.mode.startswith("I;16"):
        grey = (arr >> 8).astype(np.uint8)
    else:
        values = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        top = float(values.max()) if values.size else 0.0
        if arr.dtype.kind == "f" and top <= 1.0:
            factor = 255.0  # float images conventionally hold 0..1
        elif top <= 255:
            factor = 1.0
        elif top <= 65535:
            factor = 1 / 257  # 16-bit data stored in a 32-bit mode
        else:
            factor = 255.0 / top
        grey = np.clip(np.rint(values * factor), 0, 255).astype(np.uint8)
    return Image.fromarray(grey)


def _normalise_mode(img: Image.Image) -> Image.Image:
    """RGB, or RGBA when the image has any kind of transparency; may return img itself."""
    mode = img.mode
    has_key_colour = img.info.get("transparency") is not None
    if mode == "RGBA" or (mode == "RGB" and not has_key_colour):
        return img
    if mode in _ALPHA_MODES or (has_key_colour and mode in ("1", "L", "P", "RGB")):
        return img.convert("RGBA")
    if mode.startswith(("I", "F")):
        return _to_8bit_grey(img).convert("RGB")
    return img.convert("RGB")  # 1, L, P, CMYK, YCbCr, LAB, HSV


def _resize(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Downsize; bicubic for the last step below 2x (typically after a JPEG draft decode), Lanczos above.

    Measured on a 12 MP photo decoded at 1/2 scale and brought to 1600 px: bicubic scores the same
    PSNR as Lanczos against a full-resolution Lanczos reference (45.3 vs 45.2 dB) in 60% of the
    time, because the scaled IDCT has already low-pass filtered the image.
    """
    if max(img.size) < 2 * max(size):
        return img.resize(size, Image.Resampling.BICUBIC)
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _check_aspect(width: int, height: int, max_aspect: float | None) -> None:
    """Refuse an aspect ratio no photo of an item has (width and height are at least 1)."""
    ratio = max(width, height) / min(width, height)
    if max_aspect is not None and ratio > max_aspect:
        shown = f"{ratio:.1f}".removesuffix(".0")
        raise ImageRefused(
            f"This image is too long and narrow to be a photo of an item: {shown} to 1; "
            f"the limit is {max_aspect:g} to 1."
        )


def _check_decoded_size(fmt: str, width: int, height: int) -> None:
    """Refuse, before decoding, what this format's decoder would produce beyond its bound."""
    limit = MAX_DECODED_PIXELS[fmt]
    if width * height > limit:
        label = _FORMAT_LABELS[fmt]
        raise ImageRefused(
            f"This {label} image is too large to open safely: {_format_megapixels(width * height)} "
            f"megapixels; the limit for {label} is {_format_megapixels(limit)} (a JPEG photo is "
            f"accepted up to {_format_megapixels(MAX_DECODED_PIXELS['JPEG'])})."
        )


def _decode(data: bytes, max_pixels: int, max_side: int | None, max_aspect: float | None) -> Image.Image:
    """Identify, check the header, decode (reduced for JPEG), normalise, resize, orient."""
    claimed = _sniff(data)
    try:
        opened = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.UnidentifiedImageError:
        raise ImageRefused(_DAMAGED if claimed else _NOT_AN_IMAGE) from None
    with opened as img:
        if img.format not in _RESULT_FORMATS:
            raise ImageRefused(_NOT_AN_IMAGE)
        # Only progressive JPEGs can carry many scans (sequential ones have one per component);
        # counting just for them keeps the common case free of a pass over the whole file.
        if img.info.get("progressive") and data.count(b"\xff\xda") > MAX_JPEG_SCANS:
            raise ImageRefused(_SCAN_BOMB)
        width, height = img.size
        if width < 1 or height < 1:
            raise ImageRefused(_DAMAGED)
        if width * height > max_pixels:
            raise ImageRefused(
                f"This image is too large: {_format_megapixels(width * height)} megapixels; "
                f"the limit is {_format_megapixels(max_pixels)}."
            )
        _check_aspect(width, height, max_aspect)
        target = _fit(img.size, max_side)
        if target != img.size and isinstance(img, JpegImagePlugin.JpegImageFile):
            # libjpeg scales by 1/2, 1/4 or 1/8 while decoding: far less work than full size.
            img.draft("RGB", target)  # img.size is now the size the decoder will produce
        _check_decoded_size(img.format, *img.size)
        img.load()
        if img.size[0] * img.size[1] > max_pixels:
            raise ImageRefused(_BOMB)  # a decoder produced more than the header declared
        orientation = _orientation(img)
        out = _normalise_mode(img)
        target = _fit(out.size, max_side)
        if out.size != target:
            out = _resize(out, target)
        if orientation != 1:
            out = out.transpose(_TRANSPOSE[orientation])
        if out is img:
            out = img.copy()  # a plain Image, detached from the file object
    out.info = {}
    return out


def load_image(
    source: bytes | bytearray | memoryview | str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int | None = DEFAULT_MAX_SIDE,
    max_aspect: float | None = DEFAULT_MAX_ASPECT,
) -> Image.Image:
    """Decode an untrusted image into a new RGB/RGBA image with no metadata at all.

    `source` is the file's bytes, or a path. The longest side is reduced to `max_side` (None keeps
    the full size); images are never enlarged. `max_aspect` bounds longest over shortest side
    (None: any shape). Any problem with the input raises `ImageRefused` with one sentence; a wrong
    argument type is a caller's bug and raises TypeError.
    """
    if max_bytes < 1 or max_pixels < 1 or (max_side is not None and max_side < 1):
        raise ValueError("max_bytes, max_pixels and max_side must be positive")
    if max_aspect is not None and not max_aspect >= 1:  # also refuses NaN
        raise ValueError("max_aspect must be at least 1")
    if not isinstance(source, bytes | bytearray | memoryview | str | os.PathLike):
        # Not an input problem but a bug; an int in particular would be opened as a descriptor.
        raise TypeError(f"load_image takes bytes or a path, not {type(source).__name__}")
    _ensure_bomb_filter()
    try:
        if isinstance(source, str | os.PathLike):
            data = _read_path(source, max_bytes)
        else:
            _check_byte_count(memoryview(source).nbytes, max_bytes)
            data = bytes(source)
        return _decode(data, max_pixels, max_side, max_aspect)
    except ImageRefused:
        raise
    except MemoryError:
        raise ImageRefused(_NO_MEMORY) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRefused(_BOMB) from exc
    except Exception as exc:  # OSError, SyntaxError, struct.error, ValueError, EOFError, ...
        raise ImageRefused(_DAMAGED) from exc


def photo_size(source: bytes | bytearray | memoryview | str | os.PathLike[str]) -> tuple[int, int]:
    """Width and height of a photo as a person sees it (EXIF rotation applied), from its header only.

    Lets a crop box given in the original photo's pixels be mapped onto the reduced analysis image.
    """
    data = (
        bytes(source)
        if isinstance(source, bytes | bytearray | memoryview)
        else _read_path(source, DEFAULT_MAX_BYTES)
    )
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as img:
            width, height = img.size
            turned = _orientation(img) in (5, 6, 7, 8)
    except Exception as exc:  # any decoder complaint is a refusal, never a traceback
        raise ImageRefused(_NOT_AN_IMAGE) from exc
    return (height, width) if turned else (width, height)


def _clean(img: Image.Image, allowed_modes: frozenset[str]) -> Image.Image:
    """A copy in an encodable mode with nothing in `info` but the PNG key colour (pixel data)."""
    out = img.copy() if img.mode in allowed_modes else _normalise_mode(img)
    if out is img:
        out = img.copy()
    key_colour = out.info.get("transparency") if out.mode in ("1", "L", "P", "RGB", "I;16") else None
    out.info = {} if key_colour is None else {"transparency": key_colour}
    return out


def encode_png(img: Image.Image) -> bytes:
    """PNG bytes with pixels only: no EXIF, ICC, text, time or dpi chunks. Deterministic."""
    buffer = io.BytesIO()
    _clean(img, _PNG_MODES).save(buffer, "PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def encode_jpeg(img: Image.Image, quality: int = 90) -> bytes:
    """Baseline JPEG with pixels only (no EXIF, ICC, XMP, comment); transparency goes on white."""
    if not 1 <= quality <= 100:
        raise ValueError("quality must be between 1 and 100")
    rgb = _clean(img, frozenset({"RGB", "L"}))
    if rgb.mode == "RGBA":
        flat = Image.new("RGB", rgb.size, (255, 255, 255))
        flat.paste(rgb, mask=rgb.getchannel("A"))
        rgb = flat
    buffer = io.BytesIO()
    rgb.save(buffer, "JPEG", quality=quality, optimize=True, progressive=False, subsampling="4:2:0")
    return buffer.getvalue()


def thumbnail(path: Path, size: int, cache_dir: Path) -> Path:
    """Path of a cached PNG thumbnail (longest side `size`) of the image at `path`.

    Keyed by a hash of the file's bytes and `size`, so an edited source gets a new thumbnail and
    identical files share one. Written to a temporary file and renamed into place, so concurrent
    threads never see a half-written PNG. Raises `ImageRefused` like `load_image`.
    """
    if size < 1:
        raise ValueError("size must be positive")
    data = _read_path(path, DEFAULT_MAX_BYTES)
    digest = hashlib.sha256(_THUMBNAIL_VERSION)
    digest.update(f"{size}\n".encode())
    digest.update(data)
    cache_dir = Path(cache_dir)
    target = cache_dir / f"{digest.hexdigest()}.png"
    if usable_png(target, size):  # var/ is not trusted: a foreign or damaged file is made afresh
        return target
    write_atomically(target, encode_png(load_image(data, max_side=size)))
    return target


def write_atomically(target: Path, data: bytes) -> None:
    """Write to a temporary file and rename it into place: readers never see a half-written file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".tmp")
    try:
        with open(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # a crash must not leave an empty file under a valid key
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
