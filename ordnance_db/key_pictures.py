"""Pictures for the key's answers: the silhouette of a catalog drawing that has that answer alone.

A person who does not know the words "ogive" or "ring tail" can still pick the outline that looks
like what they see. The silhouette is the drawing's shape in one grey: it shows the form, not one
item's paint, so it does not suggest a colour. Each is written once under var/key-pictures/, named
by a hash of the drawing it comes from, so a redrawn entry gets a new picture.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from PIL import Image

from ordnance_db.imaging import ImageRefused, encode_png, load_image, write_atomically
from ordnance_db.key import Key
from ordnance_db.settings import IMAGES_DIR, VAR_DIR
from ordnance_db.var_files import usable_png

PICTURE_SIZE = (160, 72)
INK = (59, 70, 80, 255)
_VERSION = b"key-picture-1\n"
CACHE_DIR = VAR_DIR / "key-pictures"


def answer_picture(
    key: Key, field: str, value: str, images_dir: Path = IMAGES_DIR, cache_dir: Path = CACHE_DIR
) -> Path | None:
    """A PNG of the answer `value` to question `field`, or None when no drawing shows it alone."""
    example = key.example(field, value)
    source = images_dir / example / "side.png" if example else None
    if source is None or not source.is_file():
        return None
    data = source.read_bytes()
    target = cache_dir / f"{hashlib.sha256(_VERSION + data).hexdigest()}.png"
    if not usable_png(target, max(PICTURE_SIZE)):  # a foreign or damaged file in var/ is redrawn
        try:
            write_atomically(target, encode_png(silhouette(load_image(data, max_side=None))))
        except ImageRefused:
            return None
    return target


def silhouette(drawing: Image.Image) -> Image.Image:
    """The drawing's opaque pixels in one grey, fitted and centred in PICTURE_SIZE."""
    alpha = drawing.convert("RGBA").getchannel("A").point(lambda a: 255 if a > 40 else 0)
    shape = Image.new("RGBA", drawing.size, (0, 0, 0, 0))
    shape.paste(INK, mask=alpha)
    box = alpha.getbbox()
    if box is not None:
        shape = shape.crop(box)
    shape.thumbnail((PICTURE_SIZE[0] - 8, PICTURE_SIZE[1] - 8), Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", PICTURE_SIZE, (0, 0, 0, 0))
    canvas.paste(shape, ((PICTURE_SIZE[0] - shape.width) // 2, (PICTURE_SIZE[1] - shape.height) // 2))
    return canvas
