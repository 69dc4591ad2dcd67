"""Hostile and odd images against `ordnance_db.imaging`.

Every file is generated here (no binary fixtures). Each corpus kind either decodes to an RGB/RGBA
image of a known size or is refused with one plain sentence; nothing else may escape, neither an
exception nor a decompression-bomb warning, and no metadata may survive.
"""

from __future__ import annotations

import io
import os
import random
import re
import struct
import threading
import warnings
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pillow_heif
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageCms, ImageFile, JpegImagePlugin, PngImagePlugin, features

from ordnance_db import imaging
from ordnance_db.imaging import ImageRefused, encode_jpeg, encode_png, load_image, thumbnail

NOT_AN_IMAGE = "This file is not an image we can read (JPEG, PNG, WebP, HEIC or GIF)."
DAMAGED = "The image file is truncated or damaged."
BOMB = "This image declares more pixels than can be opened safely."
HEIF_ENCODER = bool(pillow_heif.libheif_info().get("HEIF"))
NO_HEIF_ENCODER = "the installed pillow-heif wheel has no HEVC encoder, so no HEIC can be generated"
HEIF_UNAVAILABLE = None if HEIF_ENCODER else NO_HEIF_ENCODER
AVIF_UNAVAILABLE = None if features.check("avif") else "this Pillow build cannot write AVIF"
METADATA_KEYS = ("exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment", "dpi")
RED = (255, 0, 0)
WHITE = (255, 255, 255)


# --- generators -------------------------------------------------------------------------------


def encode(img: Image.Image, fmt: str, **options: Any) -> bytes:
    """Bytes of `img` saved by Pillow in `fmt`."""
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def marked(size: tuple[int, int] = (80, 40)) -> Image.Image:
    """White picture with a red block in the top-left corner, to see where rotation put it."""
    img = Image.new("RGB", size, WHITE)
    img.paste(RED, (0, 0, 12, 12))
    return img


@cache
def noise_jpeg() -> bytes:
    """A small JPEG with real entropy, so truncation cuts through scan data."""
    return encode(Image.effect_noise((64, 48), 60).convert("RGB"), "JPEG", quality=90)


@cache
def noise_png() -> bytes:
    """A small PNG with incompressible content."""
    return encode(Image.effect_noise((64, 48), 60).convert("RGB"), "PNG")


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk with a correct CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@cache
def png_declaring(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of any size; a 30000 x 30000 one is about 110 KB (decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return b"".join(
        (b"\x89PNG\r\n\x1a\n", png_chunk(b"IHDR", ihdr), png_chunk(b"IDAT", body), png_chunk(b"IEND", b""))
    )


def png_with_chunk(chunk: bytes) -> bytes:
    """A small PNG with `chunk` inserted right after IHDR."""
    png = encode(Image.new("RGB", (8, 8), (40, 80, 120)), "PNG")
    return png[:33] + chunk + png[33:]


def zero_width_png() -> bytes:
    """IHDR claiming a width of 0."""
    ihdr = struct.pack(">IIBBBBB", 0, 10, 8, 2, 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            png_chunk(b"IHDR", ihdr),
            png_chunk(b"IDAT", zlib.compress(b"")),
            png_chunk(b"IEND", b""),
        )
    )


def exif_block(entries: list[tuple[int, int, int, bytes]]) -> bytes:
    """Raw little-endian EXIF with one IFD of (tag, type, count, inline value) entries.

    Pillow refuses to write bogus types, so bad orientations are assembled by hand.
    """
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\x00") for tag, kind, count, value in entries
    )
    return b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd + b"\x00\x00\x00\x00"


def oriented_jpeg(orientation: int) -> bytes:
    """The marked picture with a SHORT orientation tag of any value, including invalid ones."""
    return encode(marked(), "JPEG", exif=exif_block([(0x0112, 3, 1, struct.pack("<H", orientation))]))


def oriented_exif(orientation: int) -> bytes:
    """Well-formed EXIF with just an orientation tag."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    return exif.tobytes()


def jpeg_with_exif(raw: bytes) -> bytes:
    """The marked picture with an arbitrary (possibly corrupt) APP1 EXIF payload."""
    return encode(marked(), "JPEG", exif=raw)


def gps_exif() -> Image.Exif:
    """EXIF with camera maker and GPS position: what a phone writes."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 29.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (37.0, 36.0, 1.0)
    return exif


@cache
def gps_jpeg() -> bytes:
    """A JPEG carrying every kind of metadata: EXIF with GPS, XMP with GPS, ICC profile, comment."""
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>48,51.29N</exif:GPSLatitude></x:xmpmeta>'
    return encode(
        marked(), "JPEG", exif=gps_exif().tobytes(), icc_profile=icc, xmp=xmp, comment=b"secret comment"
    )


def heic(img: Image.Image, **options: Any) -> bytes:
    """HEIC via pillow_heif's bundled x265 encoder."""
    return encode(img, "HEIF", quality=90, **options)


def heic_declaring(width: int, height: int) -> bytes:
    """A small real HEIC whose 'ispe' box (the declared size Pillow reports) claims width x height.

    Encoding a 25 MP HEIC takes x265 half a minute; the size check must refuse it from the header.
    """
    data = bytearray(heic(marked((64, 64))))
    at = data.index(b"ispe") + 8  # after the box type and its version and flags
    data[at : at + 8] = struct.pack(">II", width, height)
    return bytes(data)


def frames(fmt: str) -> bytes:
    """Three frames, red then green then blue."""
    first, *rest = (Image.new("RGB", (32, 32), colour) for colour in (RED, (0, 255, 0), (0, 0, 255)))
    extra = {"lossless": True} if fmt == "WEBP" else {}
    return encode(first, fmt, save_all=True, append_images=rest, **extra)


def mpo() -> bytes:
    """A two-picture MPO, the JPEG variant several phones write."""
    return encode(marked(), "MPO", save_all=True, append_images=[marked().rotate(180)])


def palette(fmt: str) -> bytes:
    """4 x 4 palette image, red, with one pixel in the transparent index."""
    img = Image.new("P", (4, 4), 0)
    img.putpalette([255, 0, 0, 0, 0, 255])
    img.putpixel((1, 1), 1)
    return encode(img, fmt, transparency=1)


def key_colour_png() -> bytes:
    """Truecolour PNG whose tRNS chunk makes one colour transparent."""
    img = Image.new("RGB", (4, 4), (10, 20, 30))
    img.putpixel((0, 0), (1, 2, 3))
    return encode(img, "PNG", transparency=(1, 2, 3))


def grey16_png() -> bytes:
    """16-bit greyscale (Pillow mode I;16): black, middle grey, white."""
    return encode(Image.fromarray(np.array([[0, 257 * 128, 65535]], dtype=np.uint16)), "PNG")


def one_bit_png() -> bytes:
    """Bilevel image, one white pixel."""
    img = Image.new("1", (4, 4), 0)
    img.putpixel((0, 0), 1)
    return encode(img, "PNG")


def xmp_oriented_png() -> bytes:
    """PNG whose only orientation is an XMP tiff:Orientation="6"."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", '<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>')
    return encode(marked(), "PNG", pnginfo=info)


def gif_js_polyglot() -> bytes:
    """GIF whose header starts a JavaScript comment: 'GIF89a/*' ... '*/=1;alert(1);'.

    The '/*' bytes become a logical screen width of 10799; the file is still a decodable GIF.
    """
    gif = bytearray(encode(Image.new("P", (10, 10), 1), "GIF"))
    gif[6:8] = b"/*"
    return bytes(gif) + b"*/=1;alert(1);"


def gif_frame_bomb() -> bytes:
    """10 x 10 GIF whose first frame descriptor claims 65535 x 65535."""
    gif = bytearray(encode(Image.new("P", (10, 10), 1), "GIF"))
    start = gif.index(b",")
    gif[start + 5 : start + 9] = struct.pack("<HH", 65535, 65535)
    return bytes(gif)


def zip_with_image() -> bytes:
    """A zip archive holding a JPEG: starts with 'PK', so it is not an image."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.jpg", noise_jpeg())
    return buffer.getvalue()


def jpeg_scan_bomb() -> bytes:
    """Progressive JPEG with 600 SOS marker byte pairs, over the scan limit (a cheap scan-bomb stand-in)."""
    jpeg = encode(Image.effect_noise((64, 48), 60).convert("RGB"), "JPEG", quality=90, progressive=True)
    comment = b"\xff\xfe" + struct.pack(">H", 2 + 2 * 600) + b"\xff\xda" * 600
    return jpeg[:2] + comment + jpeg[2:]


def flip_byte(data: bytes, offset: int) -> bytes:
    """`data` with one byte inverted."""
    changed = bytearray(data)
    changed[offset] ^= 0xFF
    return bytes(changed)


# --- checks -----------------------------------------------------------------------------------


def close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    """Colours equal within JPEG/HEIC noise."""
    return all(abs(a - b) <= tolerance for a, b in zip(actual, expected, strict=True))


def marker_at(corner: str) -> Callable[[Image.Image], None]:
    """Check that the red marker ended in `corner` (top-left, top-right, bottom-left, bottom-right)."""

    def check(img: Image.Image) -> None:
        width, height = img.size
        x = 3 if corner.endswith("left") else width - 4
        y = 3 if corner.startswith("top") else height - 4
        assert close(img.getpixel((x, y)), RED), f"marker not at {corner}"

    return check


def pixels(*expected: tuple[tuple[int, int], tuple[int, ...]]) -> Callable[[Image.Image], None]:
    """Check exact pixel values (lossless sources)."""

    def check(img: Image.Image) -> None:
        for xy, colour in expected:
            assert img.getpixel(xy) == colour, (xy, img.getpixel(xy), colour)

    return check


def pixels_near(*expected: tuple[tuple[int, int], tuple[int, ...]]) -> Callable[[Image.Image], None]:
    """Check pixel values within lossy-codec noise."""

    def check(img: Image.Image) -> None:
        for xy, colour in expected:
            assert close(img.getpixel(xy), colour), (xy, img.getpixel(xy), colour)

    return check


def first_frame_red(img: Image.Image) -> None:
    """Animated sources must give their first (red) frame."""
    assert close(img.getpixel((16, 16)), RED)


def no_zip_inside(img: Image.Image) -> None:
    """The appended archive must not survive a re-encode."""
    assert b"PK\x03\x04" not in encode_png(img)


def assert_sentence(message: str) -> None:
    """One plain sentence: capital, single line, one final full stop, short, no traceback."""
    assert re.fullmatch(r"[A-Z][^\n]*[^.]\.", message), message
    assert ". " not in message and "Traceback" not in message and "Error" not in message, message
    assert len(message) < 200


def assert_clean(img: Image.Image) -> None:
    """A detached plain image, RGB or RGBA, with no metadata."""
    assert type(img) is Image.Image
    assert img.mode in ("RGB", "RGBA")
    assert img.info == {}
    assert not img.getexif()


# --- the corpus -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One kind of input and what must happen to it; mode None means it must be refused."""

    name: str
    make: Callable[[], bytes]
    mode: str | None = None
    size: tuple[int, int] | None = None
    message: str | None = None
    check: Callable[[Image.Image], None] | None = None
    filename: str = "upload"
    options: Mapping[str, Any] = field(default_factory=dict)
    unavailable: str | None = None  # why this kind cannot be generated here, if it cannot


CORPUS: list[Kind] = [
    # Not images at all.
    Kind("empty", lambda: b"", message="The file is empty."),
    Kind("random-bytes", lambda: random.Random(0).randbytes(4096), message=NOT_AN_IMAGE),
    Kind("text-named-jpg", lambda: b"Shopping list:\n- bread\n", message=NOT_AN_IMAGE, filename="photo.jpg"),
    Kind(
        "svg-with-script",
        lambda: (
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            b"<script>alert(document.cookie)</script><rect width='10' height='10'/></svg>"
        ),
        message=NOT_AN_IMAGE,
        filename="photo.svg",
    ),
    Kind(
        "html",
        lambda: b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>",
        message=NOT_AN_IMAGE,
    ),
    Kind(
        "pdf",
        lambda: b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n",
        message=NOT_AN_IMAGE,
    ),
    Kind(
        "eps-ghostscript-bait",
        lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n(x) print showpage\n",
        message=NOT_AN_IMAGE,
    ),
    Kind("tiff-refused-by-policy", lambda: encode(marked(), "TIFF"), message=NOT_AN_IMAGE),
    Kind("bmp-refused-by-policy", lambda: encode(marked(), "BMP"), message=NOT_AN_IMAGE),
    Kind(
        "avif-refused-by-policy",
        lambda: encode(marked(), "AVIF"),
        message=NOT_AN_IMAGE,
        unavailable=AVIF_UNAVAILABLE,
    ),
    Kind("zip-holding-a-jpeg", zip_with_image, message=NOT_AN_IMAGE),
    # Damaged images.
    Kind("truncated-jpeg", lambda: noise_jpeg()[: len(noise_jpeg()) // 2], message=DAMAGED),
    Kind("truncated-jpeg-header", lambda: noise_jpeg()[:100], message=DAMAGED),
    Kind("jpeg-soi-only", lambda: b"\xff\xd8\xff", message=DAMAGED),
    Kind("truncated-png", lambda: noise_png()[: len(noise_png()) // 2], message=DAMAGED),
    Kind(
        "png-corrupt-idat", lambda: flip_byte(noise_png(), noise_png().index(b"IDAT") + 20), message=DAMAGED
    ),
    Kind("png-bad-ihdr-crc", lambda: flip_byte(noise_png(), 29), message=DAMAGED),
    Kind("png-zero-width", zero_width_png, message=DAMAGED),
    Kind(
        "truncated-gif",
        lambda: (gif := encode(Image.effect_noise((64, 48), 60), "GIF"))[: len(gif) // 2],
        message=DAMAGED,
    ),
    Kind(
        "truncated-webp",
        lambda: (webp := encode(Image.effect_noise((64, 48), 60), "WEBP"))[: len(webp) // 2],
        message=DAMAGED,
    ),
    Kind(
        "truncated-heic",
        lambda: (data := heic(marked()))[: len(data) // 2],
        message=DAMAGED,
        unavailable=HEIF_UNAVAILABLE,
    ),
    # Resource exhaustion.
    Kind(
        "over-byte-limit",
        noise_jpeg,
        message=f"This file is too large: {len(noise_jpeg()) // 1024} KB; the limit is 1000 bytes.",
        options={"max_bytes": 1000},
    ),
    Kind(
        "bomb-png-64-megapixels",
        lambda: png_declaring(8000, 8000),
        message="This image is too large: 64 megapixels; the limit is 40.",
    ),
    Kind("bomb-png-100-megapixels", lambda: png_declaring(10000, 10000), message=BOMB),
    Kind("bomb-png-900-megapixels", lambda: png_declaring(30000, 30000), message=BOMB),
    Kind("bomb-gif-frame-65535-square", gif_frame_bomb, message=BOMB),
    Kind(
        "bomb-png-ztxt-20mb",
        lambda: png_with_chunk(png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * 20 * 2**20, 9))),
        message=DAMAGED,
    ),
    Kind(
        "bomb-png-iccp-20mb",
        lambda: png_with_chunk(png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(b"A" * 20 * 2**20, 9))),
        message=DAMAGED,
    ),
    Kind("jpeg-scan-bomb", jpeg_scan_bomb, message="This JPEG has too many scans to be decoded safely."),
    Kind(
        "small-pixel-limit",
        lambda: encode(marked(), "PNG"),
        message="This image is too large: 0.0032 megapixels; the limit is 0.001.",
        options={"max_pixels": 1000},
    ),
    # Polyglots: decided behaviour is 'decode the image, keep nothing else'.
    Kind(
        "polyglot-jpeg-plus-zip",
        lambda: noise_jpeg() + zip_with_image(),
        mode="RGB",
        size=(64, 48),
        check=no_zip_inside,
    ),
    Kind(
        "polyglot-gif-javascript",
        gif_js_polyglot,
        message="This image is too long and narrow to be a photo of an item: 1079.9 to 1; "
        "the limit is 12 to 1.",
    ),
    Kind(
        "polyglot-gif-javascript-any-shape",
        gif_js_polyglot,
        mode="RGB",
        size=(1600, 1),
        options={"max_aspect": None},
    ),
    Kind(
        "png-html-in-text-chunk",
        lambda: png_with_chunk(png_chunk(b"tEXt", b"Comment\x00<script>alert(1)</script>")),
        mode="RGB",
        size=(8, 8),
    ),
    # Frames and containers.
    Kind("animated-gif", lambda: frames("GIF"), mode="RGB", size=(32, 32), check=first_frame_red),
    Kind("animated-webp", lambda: frames("WEBP"), mode="RGB", size=(32, 32), check=first_frame_red),
    Kind("animated-png", lambda: frames("PNG"), mode="RGB", size=(32, 32), check=first_frame_red),
    Kind("mpo-two-pictures", mpo, mode="RGB", size=(80, 40), check=marker_at("top-left")),
    Kind("progressive-jpeg", lambda: encode(marked(), "JPEG", progressive=True), mode="RGB", size=(80, 40)),
    Kind(
        "large-jpeg-draft-decoded",
        lambda: encode(marked((3200, 2400)), "JPEG", quality=90),
        mode="RGB",
        size=(1600, 1200),
        check=marker_at("top-left"),
    ),
    # Pixel formats.
    Kind(
        "cmyk-jpeg",
        lambda: encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG"),
        mode="RGB",
        size=(16, 16),
        check=pixels_near(((8, 8), RED)),
    ),
    Kind(
        "png-16-bit-grey",
        grey16_png,
        mode="RGB",
        size=(3, 1),
        check=pixels(((0, 0), (0, 0, 0)), ((1, 0), (128, 128, 128)), ((2, 0), WHITE)),
    ),
    Kind(
        "palette-png-transparency",
        lambda: palette("PNG"),
        mode="RGBA",
        size=(4, 4),
        check=pixels(((0, 0), (255, 0, 0, 255)), ((1, 1), (0, 0, 255, 0))),
    ),
    Kind(
        "palette-gif-transparency",
        lambda: palette("GIF"),
        mode="RGBA",
        size=(4, 4),
        check=pixels(((0, 0), (255, 0, 0, 255)), ((1, 1), (0, 0, 255, 0))),
    ),
    Kind(
        "rgb-png-key-colour",
        key_colour_png,
        mode="RGBA",
        size=(4, 4),
        check=pixels(((0, 0), (1, 2, 3, 0)), ((1, 1), (10, 20, 30, 255))),
    ),
    Kind(
        "la-png",
        lambda: encode(Image.new("LA", (4, 4), (100, 50)), "PNG"),
        mode="RGBA",
        size=(4, 4),
        check=pixels(((0, 0), (100, 100, 100, 50))),
    ),
    Kind(
        "l-png",
        lambda: encode(Image.new("L", (4, 4), 77), "PNG"),
        mode="RGB",
        size=(4, 4),
        check=pixels(((0, 0), (77, 77, 77))),
    ),
    Kind(
        "one-bit-png",
        one_bit_png,
        mode="RGB",
        size=(4, 4),
        check=pixels(((0, 0), WHITE), ((1, 1), (0, 0, 0))),
    ),
    Kind(
        "rgba-webp",
        lambda: encode(Image.new("RGBA", (8, 8), (0, 0, 255, 128)), "WEBP", lossless=True),
        mode="RGBA",
        size=(8, 8),
        check=pixels(((0, 0), (0, 0, 255, 128))),
    ),
    # Orientation.
    Kind(
        "exif-orientation-6",
        lambda: oriented_jpeg(6),
        mode="RGB",
        size=(40, 80),
        check=marker_at("top-right"),
    ),
    Kind(
        "exif-orientation-3",
        lambda: oriented_jpeg(3),
        mode="RGB",
        size=(80, 40),
        check=marker_at("bottom-right"),
    ),
    Kind(
        "exif-orientation-8",
        lambda: oriented_jpeg(8),
        mode="RGB",
        size=(40, 80),
        check=marker_at("bottom-left"),
    ),
    Kind(
        "exif-orientation-0", lambda: oriented_jpeg(0), mode="RGB", size=(80, 40), check=marker_at("top-left")
    ),
    Kind(
        "exif-orientation-9", lambda: oriented_jpeg(9), mode="RGB", size=(80, 40), check=marker_at("top-left")
    ),
    Kind(
        "exif-orientation-65535",
        lambda: oriented_jpeg(65535),
        mode="RGB",
        size=(80, 40),
        check=marker_at("top-left"),
    ),
    Kind(
        "exif-orientation-as-text",
        lambda: jpeg_with_exif(exif_block([(0x0112, 2, 4, b"six\x00")])),
        mode="RGB",
        size=(80, 40),
        check=marker_at("top-left"),
    ),
    Kind(
        "exif-orientation-unknown-type",
        lambda: jpeg_with_exif(exif_block([(0x0112, 99, 1, b"\x06")])),
        mode="RGB",
        size=(80, 40),
        check=marker_at("top-left"),
    ),
    Kind(
        "exif-orientation-huge-count",
        lambda: jpeg_with_exif(exif_block([(0x0112, 3, 0x7FFFFFFF, b"\x06")])),
        mode="RGB",
        size=(80, 40),
        check=marker_at("top-left"),
    ),
    Kind(
        "exif-garbage",
        lambda: jpeg_with_exif(b"Exif\x00\x00" + bytes(range(256)) * 4),
        mode="RGB",
        size=(80, 40),
        check=marker_at("top-left"),
    ),
    Kind(
        "exif-offset-past-end",
        lambda: jpeg_with_exif(b"Exif\x00\x00II*\x00\xff\xff\xff\x7f"),
        mode="RGB",
        size=(80, 40),
        check=marker_at("top-left"),
    ),
    Kind(
        "exif-ifd-points-to-itself",
        lambda: jpeg_with_exif(
            b"Exif\x00\x00II*\x00" + struct.pack("<IHHHII", 8, 1, 0x8769, 4, 1, 8) + bytes(4)
        ),
        mode="RGB",
        size=(80, 40),
        check=marker_at("top-left"),
    ),
    Kind("xmp-orientation-6-png", xmp_oriented_png, mode="RGB", size=(40, 80), check=marker_at("top-right")),
    # Metadata.
    Kind("jpeg-gps-xmp-icc-comment", gps_jpeg, mode="RGB", size=(80, 40), check=marker_at("top-left")),
    Kind(
        "heic",
        lambda: heic(marked()),
        mode="RGB",
        size=(80, 40),
        check=marker_at("top-left"),
        unavailable=HEIF_UNAVAILABLE,
    ),
    Kind(
        "heic-orientation-6",
        lambda: heic(marked(), exif=oriented_exif(6)),
        mode="RGB",
        size=(40, 80),
        check=marker_at("top-right"),
        unavailable=HEIF_UNAVAILABLE,
    ),
    Kind(
        "heic-gps",
        lambda: heic(marked(), exif=gps_exif().tobytes()),
        mode="RGB",
        size=(80, 40),
        unavailable=HEIF_UNAVAILABLE,
    ),
    # Extreme shapes: refused by default, decodable when a caller allows any shape.
    Kind(
        "one-by-200000",
        lambda: png_declaring(1, 200_000),
        message="This image is too long and narrow to be a photo of an item: 200000 to 1; "
        "the limit is 12 to 1.",
    ),
    Kind(
        "13-to-1",
        lambda: encode(marked((1300, 100)), "PNG"),
        message="This image is too long and narrow to be a photo of an item: 13 to 1; the limit is 12 to 1.",
    ),
    Kind("12-to-1", lambda: encode(marked((1200, 100)), "PNG"), mode="RGB", size=(1200, 100)),
    Kind(
        "200000-by-one-any-shape",
        lambda: png_declaring(200_000, 1),
        mode="RGB",
        size=(1600, 1),
        options={"max_aspect": None},
    ),
    Kind(
        "200000-by-one-full-size",
        lambda: png_declaring(200_000, 1),
        mode="RGB",
        size=(200_000, 1),
        options={"max_side": None, "max_aspect": None},
    ),
    # Decoded-size bounds per format, checked before decoding (issue 14: a 169 KB PNG declaring
    # 6324 x 6324 cost 168 MB to decode).
    Kind(
        "png-6324-square-under-the-pixel-limit",
        lambda: png_declaring(6324, 6324),
        message="This PNG image is too large to open safely: 40 megapixels; the limit for PNG is 16 "
        "(a JPEG photo is accepted up to 40).",
    ),
    Kind(
        "webp-16.8-megapixels",
        lambda: encode(Image.new("RGB", (4100, 4100), (10, 20, 30)), "WEBP", lossless=True),
        message="This WebP image is too large to open safely: 16.8 megapixels; the limit for WebP is 16 "
        "(a JPEG photo is accepted up to 40).",
    ),
    Kind(
        "gif-16.8-megapixels",
        lambda: encode(Image.new("P", (4100, 4100), 1), "GIF"),
        message="This GIF image is too large to open safely: 16.8 megapixels; the limit for GIF is 16 "
        "(a JPEG photo is accepted up to 40).",
    ),
    Kind(
        "heic-declaring-25.5-megapixels",
        lambda: heic_declaring(5100, 5000),
        message="This HEIC image is too large to open safely: 25.5 megapixels; the limit for HEIC is 25 "
        "(a JPEG photo is accepted up to 40).",
        unavailable=HEIF_UNAVAILABLE,
    ),
    Kind("png-16-megapixels", lambda: png_declaring(4000, 4000), mode="RGB", size=(1600, 1600)),
    Kind(
        "jpeg-32-megapixels-at-analysis-size",
        lambda: encode(marked((8000, 4000)), "JPEG"),
        mode="RGB",
        size=(500, 250),
        options={"max_side": 500},
    ),
]


def test_corpus_is_big_enough() -> None:
    """The brief asks for at least 15 kinds; names must be unique test ids."""
    names = [kind.name for kind in CORPUS]
    assert len(names) >= 15
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("via", ["bytes", "path"])
@pytest.mark.parametrize("kind", CORPUS, ids=lambda kind: kind.name)
def test_corpus(kind: Kind, via: str, tmp_path: Path) -> None:
    """Each kind decodes to the expected image or is refused with a sentence; nothing else."""
    if kind.unavailable:
        pytest.skip(kind.unavailable)
    data = kind.make()
    source: bytes | Path = data
    if via == "path":
        source = tmp_path / kind.filename
        source.write_bytes(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if kind.mode is None:
            with pytest.raises(ImageRefused) as refused:
                load_image(source, **kind.options)
            assert_sentence(str(refused.value))
            if kind.message is not None:
                assert str(refused.value) == kind.message
        else:
            img = load_image(source, **kind.options)
            assert_clean(img)
            assert (img.mode, img.size) == (kind.mode, kind.size)
            if kind.check is not None:
                kind.check(img)
    bomb_warnings = [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert not bomb_warnings, "a decompression bomb must be refused, not warned about"


# --- metadata ---------------------------------------------------------------------------------


def assert_no_metadata(encoded: bytes) -> None:
    """Reopen encoded bytes: no EXIF, XMP, ICC, comment or text, and no GPS bytes anywhere."""
    with Image.open(io.BytesIO(encoded)) as reopened:
        assert not reopened.getexif()
        for key in METADATA_KEYS:
            assert key not in reopened.info, key
        assert not getattr(reopened, "text", {})
    for secret in (b"Exif\x00\x00", b"PhoneMaker", b"GPSLatitude", b"secret comment", b"acsp"):
        assert secret not in encoded, secret


@pytest.mark.parametrize("encoder", [encode_png, encode_jpeg], ids=["png", "jpeg"])
def test_gps_never_survives(encoder: Callable[[Image.Image], bytes]) -> None:
    """A phone photo's GPS position must not reach anything the project writes."""
    with Image.open(io.BytesIO(gps_jpeg())) as original:  # the fixture really carries it
        assert original.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert {"exif", "xmp", "icc_profile", "comment"} <= set(original.info)
    img = load_image(gps_jpeg())
    assert_clean(img)
    assert_no_metadata(encoder(img))


@pytest.mark.skipif(not HEIF_ENCODER, reason=NO_HEIF_ENCODER)
def test_heic_gps_never_survives() -> None:
    """Same for HEIC, the iPhone default."""
    img = load_image(heic(marked(), exif=gps_exif().tobytes()))
    assert_clean(img)
    assert_no_metadata(encode_png(img))
    assert_no_metadata(encode_jpeg(img))


def test_encoders_strip_metadata_from_any_image() -> None:
    """Even an image that did not come from load_image is written with pixels only."""
    with Image.open(io.BytesIO(gps_jpeg())) as img:
        img.load()
        assert_no_metadata(encode_png(img))
        assert_no_metadata(encode_jpeg(img))


def test_encoders_are_deterministic() -> None:
    """Same pixels, same bytes: caches and content hashes stay stable."""
    img = load_image(noise_jpeg())
    assert encode_png(img) == encode_png(img.copy())
    assert encode_jpeg(img) == encode_jpeg(img.copy())
    assert encode_jpeg(img, quality=50) != encode_jpeg(img)


def test_encode_png_keeps_alpha_and_jpeg_flattens_on_white() -> None:
    """PNG is lossless with transparency; JPEG has no alpha, so transparent becomes white."""
    img = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    with Image.open(io.BytesIO(encode_png(img))) as png:
        assert png.mode == "RGBA" and png.getpixel((0, 0)) == (0, 0, 0, 0)
    with Image.open(io.BytesIO(encode_jpeg(img))) as jpeg:
        assert jpeg.mode == "RGB" and close(jpeg.getpixel((0, 0)), WHITE, 2)


def test_encode_jpeg_rejects_bad_quality() -> None:
    """A quality outside 1-100 is a caller's bug."""
    with pytest.raises(ValueError):
        encode_jpeg(Image.new("RGB", (2, 2)), quality=0)


# --- sources and limits -----------------------------------------------------------------------


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview, str, Path], ids=lambda w: w.__name__)
def test_source_types(wrap: type, tmp_path: Path) -> None:
    """Bytes-like objects are data; str and PathLike are paths. All decode the same."""
    data = encode(marked(), "PNG")
    if wrap in (str, Path):
        path = tmp_path / "marked.png"
        path.write_bytes(data)
        source = wrap(path)
    else:
        source = wrap(data)
    assert load_image(source).tobytes() == marked().tobytes()


def test_wrong_type_is_a_callers_bug() -> None:
    """An int would be a file descriptor to open(); it must never be read."""
    with pytest.raises(TypeError):
        load_image(0)  # type: ignore[arg-type]


def test_missing_file(tmp_path: Path) -> None:
    """A missing path is refused with a sentence."""
    with pytest.raises(ImageRefused, match=r"^The file does not exist\.$"):
        load_image(tmp_path / "nope.jpg")


def test_directory(tmp_path: Path) -> None:
    """A directory is not a regular file."""
    with pytest.raises(ImageRefused, match=r"^This is not a regular file\.$"):
        load_image(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """Opening a FIFO for reading would block forever; it must be refused from stat()."""
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(ImageRefused, match=r"^This is not a regular file\.$"):
        load_image(fifo)


def test_nul_in_path_is_refused() -> None:
    """A NUL byte makes os.stat raise ValueError; that is still a refusal."""
    with pytest.raises(ImageRefused):
        load_image("photo\x00.jpg")


def test_huge_file_is_refused_without_being_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 100 MB file is refused from stat(): never opened, never read."""
    big = tmp_path / "big.jpg"
    with big.open("wb") as handle:
        handle.truncate(100 * 2**20)  # sparse: costs no disk

    def forbidden(*args: object, **kwargs: object) -> int:
        raise AssertionError("the file was opened")

    monkeypatch.setattr(imaging.os, "open", forbidden)
    with pytest.raises(ImageRefused) as refused:
        load_image(big)
    assert str(refused.value) == "This file is too large: 100 MB; the limit is 25 MB."


def test_bad_limits_are_a_callers_bug() -> None:
    """Zero or negative limits are programming errors, not refusals."""
    for options in ({"max_bytes": 0}, {"max_pixels": 0}, {"max_side": 0}, {"max_aspect": 0.5}):
        with pytest.raises(ValueError) as error:
            load_image(b"x", **options)
        assert not isinstance(error.value, ImageRefused)


def test_max_side_none_keeps_size_and_small_images_are_not_enlarged() -> None:
    """Downsizing only ever shrinks."""
    data = encode(marked((2000, 1000)), "PNG")
    assert load_image(data, max_side=None).size == (2000, 1000)
    assert load_image(data).size == (1600, 800)
    assert load_image(encode(marked(), "PNG"), max_side=4000).size == (80, 40)


def test_jpeg_is_decoded_in_draft_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """A large JPEG is decoded at reduced scale, not at full size and then shrunk."""
    calls: list[tuple[str | None, tuple[int, int] | None]] = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self: JpegImagePlugin.JpegImageFile, mode: str | None, size: tuple[int, int] | None) -> Any:
        calls.append((mode, size))
        return original(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    assert load_image(encode(marked((4000, 3000)), "JPEG")).size == (1600, 1200)
    assert calls == [("RGB", (1600, 1200))]


def test_truncated_images_stay_refused_globally() -> None:
    """The module must not switch on Pillow's global 'load truncated images' switch."""
    with pytest.raises(ImageRefused):
        load_image(noise_jpeg()[:-200])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_bomb_is_refused_even_when_warnings_are_shown() -> None:
    """A `simplefilter('always')` set after import must not turn the bomb back into a warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageRefused, match=re.escape(BOMB)):
            load_image(png_declaring(10000, 10000), max_pixels=10**9)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


SEEDS: dict[str, Callable[[], bytes]] = {
    "jpeg": noise_jpeg,
    "png": noise_png,
    "gif": lambda: frames("GIF"),
    "webp": lambda: frames("WEBP"),
    "heic": lambda: heic(marked()) if HEIF_ENCODER else noise_jpeg(),
}


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(sorted(SEEDS)),
    edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.one_of(st.none(), st.integers(min_value=0)),
)
def test_mutated_images_only_ever_refuse(seed: str, edits: list[tuple[int, int]], cut: int | None) -> None:
    """Random byte edits and truncations: a clean image or ImageRefused, never anything else."""
    data = bytearray(SEEDS[seed]())
    for offset, value in edits:
        data[offset % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Pillow warns about the corrupt EXIF it skips
        try:
            img = load_image(bytes(data))
        except ImageRefused as refused:
            assert_sentence(str(refused))
        else:
            assert_clean(img)


# --- thumbnails -------------------------------------------------------------------------------


def test_thumbnail_is_cached_and_regenerated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same bytes and size: the cached file. New bytes: a new thumbnail. Another size: another."""
    source = tmp_path / "photo.jpg"
    source.write_bytes(encode(marked((800, 400)), "JPEG"))
    cache_dir = tmp_path / "cache"

    first = thumbnail(source, 200, cache_dir)
    assert first.parent == cache_dir and first.suffix == ".png"
    with Image.open(first) as thumb:
        assert thumb.format == "PNG" and thumb.size == (200, 100)
    written = first.stat().st_mtime_ns

    def no_decoding(*args: object, **kwargs: object) -> Image.Image:
        raise AssertionError("a cache hit must not decode")

    with monkeypatch.context() as patched:
        patched.setattr(imaging, "load_image", no_decoding)
        assert thumbnail(source, 200, cache_dir) == first
    assert first.stat().st_mtime_ns == written

    other_size = thumbnail(source, 100, cache_dir)
    assert other_size != first
    with Image.open(other_size) as thumb:
        assert thumb.size == (100, 50)

    source.write_bytes(encode(Image.new("RGB", (800, 400), (0, 0, 255)), "JPEG"))
    changed = thumbnail(source, 200, cache_dir)
    assert changed != first
    with Image.open(changed) as thumb:
        assert close(thumb.getpixel((100, 50)), (0, 0, 255))
    assert sorted(p.name for p in cache_dir.iterdir()) == sorted(p.name for p in (first, other_size, changed))


def test_thumbnail_strips_metadata(tmp_path: Path) -> None:
    """Thumbnails are written by encode_png: no GPS."""
    source = tmp_path / "photo.jpg"
    source.write_bytes(gps_jpeg())
    assert_no_metadata(thumbnail(source, 32, tmp_path / "cache").read_bytes())


def test_thumbnail_refuses_hostile_files_and_writes_nothing(tmp_path: Path) -> None:
    """A refused source leaves no file (and no temporary file) in the cache."""
    source = tmp_path / "bomb.png"
    source.write_bytes(png_declaring(30000, 30000))
    cache_dir = tmp_path / "cache"
    with pytest.raises(ImageRefused):
        thumbnail(source, 64, cache_dir)
    assert not cache_dir.exists() or not any(cache_dir.iterdir())


def test_thumbnail_concurrent_threads(tmp_path: Path) -> None:
    """Many threads asking at once all get the same complete PNG; no temporary files remain."""
    source = tmp_path / "photo.jpg"
    source.write_bytes(encode(marked((1200, 900)), "JPEG"))
    cache_dir = tmp_path / "cache"
    barrier = threading.Barrier(8)
    results: list[Path] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            path = thumbnail(source, 300, cache_dir)
            with Image.open(path) as thumb:
                thumb.load()  # raises if a reader ever saw a partial file
            results.append(path)
        except BaseException as exc:  # reported below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == 8 and len(set(results)) == 1
    assert [p.name for p in cache_dir.iterdir()] == [results[0].name]


def test_thumbnail_rejects_bad_size(tmp_path: Path) -> None:
    """A zero size is a caller's bug."""
    with pytest.raises(ValueError):
        thumbnail(tmp_path / "x.jpg", 0, tmp_path)


def test_committed_catalog_images_pass_the_default_limits() -> None:
    """The aspect and decoded-size bounds must leave every committed drawing and photo loadable."""
    images = Path(__file__).resolve().parent.parent / "images"
    files = [path for path in sorted(images.rglob("*")) if path.suffix in (".png", ".jpg", ".jpeg", ".webp")]
    assert len(files) >= 50
    for path in files:
        img = load_image(path)
        assert img.width >= 1 and img.height >= 1, path
