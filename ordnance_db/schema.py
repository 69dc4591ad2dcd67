"""Pydantic models for one catalog entry, the bibliography, the vocabulary and the guidance.

The models check shape and types only. Rules that need more than one file (vocabulary terms,
source keys, look-alikes, image files) live in `catalog.py`, which knows where each value came
from and can point at its line.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

ID_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
Slug = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=80)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
# ISO 3166-1 alpha-2, plus the historic codes SU (Soviet Union) and YU (Yugoslavia).
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
# BCP 47 primary language subtag, optionally with a script or region (ru, uk, ar, zh, zh-Hans).
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")]
MAX_MM = 100_000
"""100 m: longer than any munition; a bound keeps 1e300 out of drawings, exports and PostgreSQL."""
# Numbers are strict: a YAML int is a fine float, but true/false (YAML's yes/no/on/off) and text
# such as "12" or 1e400 (text to YAML 1.1) are refused instead of being quietly converted, and
# .inf/.nan are refused so that nothing downstream has to cope with them.
Real = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-MAX_MM, le=MAX_MM)]
Millimetres = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=MAX_MM)]
PositiveMm = Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0, le=MAX_MM)]
Count = Annotated[int, Field(strict=True, ge=0, le=16)]
Flag = Annotated[bool, Field(strict=True)]
Point = tuple[Real, Real]


class Model(BaseModel):
    """Base for every catalog model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Party(Model):
    """A producer or supplier, each documented by a source."""

    name: ShortText
    country: Country | None = None
    note: Text | None = None
    source: Slug


class Use(Model):
    """Documented use: where, when, by whom, according to which source."""

    country: Country
    years: Annotated[
        str,
        BeforeValidator(lambda v: str(v) if isinstance(v, int) else v),
        StringConstraints(pattern=r"^\d{4}(?:[-–]\d{4})?(?:, ?\d{4}(?:[-–]\d{4})?)*$"),
    ]
    note: Text | None = None
    source: Slug


Basis = Literal["source", "reference", "nominal", "estimate"]
BASES: tuple[str, ...] = ("source", "reference", "nominal", "estimate")
"""How a number is known, most trusted first (README, "How each number is known")."""


class Dimension(Model):
    """One number and how it is known.

    source: a reviewed source states it (`source` names it; the basis may be left out).
    reference: a commonly published figure whose primary source we have not reviewed; `source`
    says where it is quoted. nominal: the class in the designation (250 kg for a FAB-250).
    estimate: worked out from photographs or proportions. Nominal and estimate need a `note`
    saying how; they may cite the source they rest on.
    """

    value: Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0, le=MAX_MM)]
    """Millimetres or kilograms: positive, finite, at most 100,000."""
    source: Slug | None = None
    basis: Basis = "source"
    note: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _basis_without_source(cls, data: object) -> object:
        if isinstance(data, dict) and "basis" not in data and data.get("source") is None:
            raise ValueError("give 'source' (a source key) or a 'basis' (reference, nominal or estimate)")
        return data

    @model_validator(mode="after")
    def _provenance(self) -> Dimension:
        if self.basis in ("source", "reference") and self.source is None:
            raise ValueError(f"a value marked '{self.basis}' needs a 'source' saying where it is stated")
        if self.basis in ("nominal", "estimate") and self.note is None:
            raise ValueError(f"a value marked '{self.basis}' needs a 'note' saying how it was arrived at")
        return self

    @property
    def sourced(self) -> bool:
        """True when a reviewed source states the number."""
        return self.basis == "source"


class Dimensions(Model):
    length_mm: Dimension | None = None
    diameter_mm: Dimension | None = None
    weight_kg: Dimension | None = None
    span_mm: Dimension | None = None
    actual_weight_kg: Dimension | None = None
    """The published actual mass, when `weight_kg` is the nominal class in the name."""

    @model_validator(mode="after")
    def _actual_weight(self) -> Dimensions:
        if self.actual_weight_kg is None:
            return self
        if self.weight_kg is None or self.weight_kg.basis != "nominal":
            raise ValueError("'actual_weight_kg' is only for entries whose 'weight_kg' is the nominal class")
        if self.actual_weight_kg.basis not in ("source", "reference"):
            raise ValueError("'actual_weight_kg' needs a source (basis 'source' or 'reference')")
        return self


class Features(Model):
    """What a person can see. Terms come from catalog/vocabulary.yaml."""

    shape: Slug
    stabilisation: Slug
    fin_count: Count = 0
    fuze_position: Slug
    colours: list[Slug] = Field(min_length=1)
    marking_script: Slug
    marking_text: list[ShortText] = []
    mechanical: list[Slug] = []
    condition_notes: Text | None = None
    sources: list[Slug] = []
    """Sources that describe the appearance. Empty means the description is our own reading."""
    basis_note: Text | None = None


class Lookalike(Model):
    id: Slug
    how_to_tell: Text


FileName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")]
"""A plain file name inside images/<entry-id>/: no folders, so it cannot point elsewhere."""


class Image(Model):
    """A drawing under images/<entry-id>/ with its licence and attribution (photos: `Photo`)."""

    file: FileName
    kind: Literal["drawing", "side-view"]
    licence: ShortText
    author: ShortText
    source: ShortText
    caption: Text | None = None


# --- reference photos ------------------------------------------------------------------------

INTERNAL = "internal"
"""The licence of an organisation's own photos: matched and shown to its users, never published."""
LICENCE_HELP = (
    "public-domain, CC0-1.0, CC-BY-<version> or CC-BY-SA-<version> (e.g. CC-BY-SA-4.0), "
    "or internal for an organisation's own library"
)
PhotoView = Literal["side", "top", "end", "marking", "remnant"]
PhotoCondition = Literal["intact", "damaged", "remnant", "buried"]
_PHOTO_FILE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,115}\.(?i:jpe?g|png|webp)$"


def _photo_file(value: str) -> str:
    if not re.match(_PHOTO_FILE, value):
        raise ValueError(
            f"file {value!r} must be a plain name in this folder (letters, digits, '.', '_', '-'; "
            "no spaces or folders) ending in .jpg, .jpeg, .png or .webp"
        )
    return value


PhotoFile = Annotated[
    str, AfterValidator(_photo_file), WithJsonSchema({"type": "string", "pattern": _PHOTO_FILE})
]
"""A photo's plain file name inside images/<entry-id>/ (JPEG, PNG or WebP)."""


def _licence(value: object) -> object:
    """The canonical spelling of a licence that allows redistribution, or `internal`.

    Anything else (NC, ND, "all rights reserved", unknown) is refused: a photo committed here is
    redistributed with the catalog, so its licence must allow that.
    """
    if not isinstance(value, str):
        return value
    text = re.sub(r"[\s_]+", "-", value.strip().lower())
    if text in ("public-domain", "pd"):
        return "public-domain"
    if text in ("cc0", "cc0-1.0"):
        return "CC0-1.0"
    if text == INTERNAL:
        return INTERNAL
    by = re.fullmatch(r"cc-by(-sa)?-([1-4]\.[05])", text)
    if by and by.group(2) in ("1.0", "2.0", "2.5", "3.0", "4.0"):
        return f"CC-BY{'-SA' if by.group(1) else ''}-{by.group(2)}"
    raise ValueError(f"licence {value!r} is not one that allows redistribution; use {LICENCE_HELP}")


Licence = Annotated[str, BeforeValidator(_licence)]


class Photo(Model):
    """One reference photo of an entry: a row of images/<entry-id>/photos.yaml.

    The file beside it is stored resized and without metadata (`photos add` / `photos import`).
    """

    file: PhotoFile
    licence: Licence
    author: ShortText
    """Who took the photo (or the organisation holding it): the attribution every licence needs."""
    source: ShortText
    """Where the photo and its licence can be checked: an http(s) address (any text if internal)."""
    view: PhotoView | None = None
    condition: PhotoCondition | None = None
    shows: Text | None = None
    """What the photo shows, in a sentence (not how to handle it)."""

    @model_validator(mode="after")
    def _source_is_checkable(self) -> Photo:
        if self.licence != INTERNAL and not re.match(r"^https?://\S+$", self.source):
            raise ValueError(
                "source must be the http(s) address where the photo and its licence can be checked"
            )
        return self

    @property
    def public(self) -> bool:
        """True when the photo may be redistributed (exports, the repository); False if internal."""
        return self.licence != INTERNAL


# --- geometry, for the renderer ------------------------------------------------------------


class Fins(Model):
    """A set of identical fins spaced evenly round the body (span is tip to tip)."""

    count: Annotated[Count, Field(ge=1)]
    span_mm: PositiveMm
    root_chord_mm: PositiveMm
    tip_chord_mm: Millimetres
    position_mm: Millimetres
    """Distance from the nose to the fin's leading edge at the root."""
    sweep_mm: Real = 0
    """How far the tip's leading edge lies aft of the root's leading edge."""
    colour: Slug | None = None


class RingTail(Model):
    """A cylindrical ring joining the fin tips (FAB family, many mortar bombs)."""

    position_mm: Millimetres
    length_mm: PositiveMm
    diameter_mm: PositiveMm


class Band(Model):
    """A painted or raised band round the body: colour code, driving band, marking band."""

    position_mm: Millimetres
    width_mm: PositiveMm
    colour: Slug
    raised_mm: Millimetres = 0


class Part(Model):
    """Any extra outline drawn over the side view: a lever, ring, ribbon, lug, vane, handle."""

    name: ShortText
    colour: Slug
    points: list[Point] = Field(min_length=3)
    view: Literal["side", "top"] = "side"
    behind: Flag = False
    """Drawn before the body, so the body hides part of it."""


class Geometry(Model):
    """Schematic geometry in millimetres; x runs from the nose (0) to the tail, y is up.

    form=revolution: `profile` gives (x, radius) stations of a body of revolution.
    form=outline: `side` (and optionally `top`) give closed polygons (x, y) of a flat or boxy form.
    """

    form: Literal["revolution", "outline"]
    schematic: Flag = True
    """True when no source gives the proportions: drawings then say so."""
    note: Text | None = None
    body_colour: Slug
    profile: list[Point] = []
    side: list[Point] = []
    top: list[Point] = []
    surface: Literal["smooth", "segmented", "ribbed"] = "smooth"
    reference_view: Literal["side", "top"] = "side"
    """The view a person usually sees: "top" for flat items lying on the ground (butterfly mines).
    It is the picture written to side.png and the one photos are matched against."""
    fins: Fins | None = None
    ring_tail: RingTail | None = None
    bands: list[Band] = []
    parts: list[Part] = []

    @model_validator(mode="after")
    def _form_has_outline(self) -> Geometry:
        if self.form == "revolution":
            if len(self.profile) < 2:
                raise ValueError("a body of revolution needs at least two 'profile' stations")
            xs = [x for x, _ in self.profile]
            if xs != sorted(xs):
                raise ValueError("'profile' stations must run from nose to tail (x increasing)")
            if any(r < 0 for _, r in self.profile):
                raise ValueError("'profile' radii cannot be negative")
        elif len(self.side) < 3:
            raise ValueError("an outline form needs a 'side' polygon of at least three points")
        if self.reference_view == "top" and (self.form != "outline" or len(self.top) < 3):
            raise ValueError("reference_view 'top' needs an outline form with a 'top' polygon")
        return self

    @property
    def length_mm(self) -> float:
        xs = [x for x, _ in (self.profile or self.side)]
        return max(xs) - min(xs)


class Entry(Model):
    """One munition: one file catalog/<id>.yaml."""

    id: Slug
    name: ShortText
    names: dict[Language, ShortText] = {}
    """The designation in other scripts, keyed by language: {ru: ОФАБ-250-270}."""
    aliases: list[ShortText] = []
    category: Slug
    role: Text
    origin: list[Country] = Field(min_length=1)
    producers: list[Party] = []
    suppliers: list[Party] = []
    used_in: list[Use] = []
    dimensions: Dimensions = Dimensions()
    features: Features
    hazards: list[Text] = Field(min_length=1)
    lookalikes: list[Lookalike] = []
    sources: list[Slug] = Field(min_length=1)
    images: list[Image] = []
    geometry: Geometry | None = None
    notes: Text | None = None

    def all_names(self) -> list[str]:
        """Every way this item is written: designation, other scripts, aliases."""
        return [self.name, *self.names.values(), *self.aliases]

    def cited_sources(self) -> set[str]:
        """Every source key this entry cites anywhere."""
        keys = set(self.sources) | set(self.features.sources)
        keys |= {p.source for p in (*self.producers, *self.suppliers)}
        keys |= {u.source for u in self.used_in}
        for dim in self.dimensions.model_dump().values():
            if dim and dim.get("source"):
                keys.add(dim["source"])
        return keys


def _url(value: str) -> str:
    if not re.match(r"^https?://\S+$", value):
        raise ValueError("must be an http(s) URL")
    return value


Url = Annotated[str, AfterValidator(_url)]


class Source(Model):
    """One item of the bibliography (catalog/sources.yaml, keyed by its slug)."""

    title: ShortText
    publisher: ShortText
    url: Url
    date: Annotated[str, StringConstraints(pattern=r"^\d{4}(?:-\d{2}(?:-\d{2})?)?$")]
    """Publication date, or the date we accessed it when none is given (see `accessed`)."""
    accessed: Flag = False
    language: Language | None = None
    note: Text | None = None


class Term(Model):
    id: Slug
    label: ShortText
    description: ShortText
    rgb: Annotated[str, StringConstraints(pattern=r"^#[0-9a-f]{6}$")] | None = None
    """Colours only: the display colour used by drawings and the matcher."""


class Vocabulary(Model):
    """Controlled terms for every filterable feature (catalog/vocabulary.yaml)."""

    categories: list[Term]
    shapes: list[Term]
    stabilisation: list[Term]
    fuze_positions: list[Term]
    colours: list[Term]
    marking_scripts: list[Term]
    mechanical: list[Term]

    @model_validator(mode="after")
    def _colours_have_rgb(self) -> Vocabulary:
        missing = [t.id for t in self.colours if t.rgb is None]
        if missing:
            raise ValueError(f"colours need an 'rgb' value: {', '.join(missing)}")
        return self


class Contact(Model):
    """A national reporting contact from a public source: telephone numbers, or a channel (a web
    address such as a messaging channel) where that is how an authority takes reports."""

    country: Country
    label: ShortText
    numbers: list[Annotated[str, StringConstraints(pattern=r"^[0-9 +()-]{2,20}$")]] = []
    channels: list[Url] = []
    note: Text | None = None
    source: Slug

    @model_validator(mode="after")
    def _reachable(self) -> Contact:
        if not self.numbers and not self.channels:
            raise ValueError("a contact needs at least one of 'numbers' or 'channels'")
        return self

    def reach(self) -> str:
        """Numbers and channels as one short text: '101 / 102', 'https://t.me/...'."""
        return " / ".join([*self.numbers, *self.channels])


class Guidance(Model):
    """The fixed safety panel, category warnings and reporting contacts (catalog/guidance.yaml)."""

    title: ShortText
    panel: list[Text] = Field(min_length=3)
    standards: list[Slug] = Field(min_length=1)
    """Source keys of the public standards the panel follows."""
    category_warnings: dict[Slug, list[Text]] = {}
    contacts: list[Contact] = []
