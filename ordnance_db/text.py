"""Text normalisation shared by the database build and search."""

from __future__ import annotations

import re
import unicodedata

from unidecode import unidecode

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def normalise(text: str) -> str:
    """A search key that ignores case, punctuation, spaces and script.

    Transliterating to Latin letters first means ОФАБ-250-270, OFAB 250-270 and ofab250270 share one
    key, and ШОАБ-0,5 meets ShOAB-0.5.
    """
    latin = unidecode(unicodedata.normalize("NFKC", text))
    return _NOT_ALNUM.sub("", latin.lower())
