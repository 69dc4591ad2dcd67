"""Search by name in any script and by visible characteristics, with facet counts.

Filters run in SQL against the derived database. Name matching runs over an in-memory index of
every normalised name (loaded once per database build), because ranking exact, prefix, substring
and fuzzy matches across scripts is what makes a search like "ofab250" or "ШОАБ" useful, and doing
that per row in SQL would be both slower and dialect-specific.
"""

from __future__ import annotations

import bisect
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from rapidfuzz import fuzz, process
from sqlalchemy import Select, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ordnance_db.db import EntryRow, MetaRow, NameRow, TermRow, VocabularyRow
from ordnance_db.i18n import N_
from ordnance_db.text import normalise


@dataclass(frozen=True)
class TermFilter:
    """A filter on one vocabulary field; adding a filter is adding a row to TERM_FILTERS."""

    name: str
    vocabulary: str | None
    label: str
    help: str

    @property
    def dest(self) -> str:
        """The name as a Python identifier (argparse's attribute for --supplied-by)."""
        return self.name.replace("-", "_")


TERM_FILTERS: tuple[TermFilter, ...] = (
    TermFilter("category", "categories", N_("Category"), N_("What kind of munition it is.")),
    TermFilter("origin", None, N_("Origin"), N_("Country of origin (ISO code; SU is the Soviet Union).")),
    TermFilter("shape", "shapes", N_("Shape"), N_("The overall form of the body.")),
    TermFilter(
        "stabilisation", "stabilisation", N_("Stabilisation"), N_("Fins, ring tail, ribbon, parachute...")
    ),
    TermFilter("fins", None, N_("Number of fins"), N_("How many fins, counted round the tail (0 if none).")),
    TermFilter("fuze", "fuze_positions", N_("Fuze position"), N_("Where the fuze sits, if it is visible.")),
    TermFilter("colour", "colours", N_("Colour"), N_("Main colours of the body and its bands.")),
    TermFilter("script", "marking_scripts", N_("Marking script"), N_("The alphabet of stencilled markings.")),
    TermFilter(
        "mechanical", "mechanical", N_("Mechanical features"), N_("Lugs, driving band, lever, pull ring...")
    ),
    TermFilter("made-in", None, N_("Made in"), N_("Country of a producer a source names (ISO code).")),
    TermFilter(
        "supplied-by", None, N_("Supplied by"), N_("Country a source says supplied it to a user (ISO code).")
    ),
    TermFilter("used-in", None, N_("Used in"), N_("Country where a source documents its use (ISO code).")),
)
TERM_FILTER_NAMES = tuple(f.name for f in TERM_FILTERS)


@dataclass(frozen=True)
class RangeFilter:
    """A numeric filter on one dimension column."""

    name: str
    column: str
    unit: str
    label: str


RANGE_FILTERS: tuple[RangeFilter, ...] = (
    RangeFilter("length", "length_mm", "mm", N_("Length")),
    RangeFilter("diameter", "diameter_mm", "mm", N_("Diameter")),
    RangeFilter("weight", "weight_kg", "kg", N_("Weight")),
)
DEFAULT_TOLERANCE = 0.10
"""Sizes measured in the field are rough: a range is widened by this fraction on each side."""

Sort = Literal["relevance", "name", "length", "diameter", "weight"]
SORTS: tuple[str, ...] = ("relevance", "name", "length", "diameter", "weight")


MAX_QUERY_CHARS: Final = 200
"""Longest search text. The longest name in the catalog has 55 characters; a 1 MB text cost 10 s."""
MAX_RANGE_CHARS: Final = 40


def check_text(text: str) -> None:
    """Refuse a search text beyond MAX_QUERY_CHARS with a sentence, before any work is done on it."""
    if len(text) > MAX_QUERY_CHARS:
        raise ValueError(
            f"The search text is too long: {len(text)} characters; the limit is {MAX_QUERY_CHARS}."
        )


@dataclass(frozen=True)
class Range:
    low: float | None
    high: float | None

    @classmethod
    def parse(cls, text: str) -> Range:
        """Read "1400-1600", "1500" (about this), "1400-" or "-1600"; raise ValueError otherwise.

        Bounded and unambiguous: the earlier pattern's runs of optional spaces backtracked
        cubically, so 1000 spaces and an 'x' cost 26 minutes of CPU.
        """
        if len(text) > MAX_RANGE_CHARS:
            raise ValueError(f"A size range is at most {MAX_RANGE_CHARS} characters, such as 1400-1600.")
        match = re.fullmatch(r"(\d+(?:\.\d+)?)?\s*(?:(-)\s*)?(\d+(?:\.\d+)?)?", text.strip())
        if not match or not (match[1] or match[3]) or (match[1] and match[3] and not match[2]):
            raise ValueError(f"not a range: {text!r} (use MIN-MAX, MIN-, -MAX or one number)")
        low = float(match[1]) if match[1] else None
        high = float(match[3]) if match[3] else None
        if not match[2]:
            high = low
        if low is not None and high is not None and low > high:
            raise ValueError(f"range {text!r} runs backwards")
        return cls(low, high)

    def widened(self, tolerance: float) -> tuple[float | None, float | None]:
        low = self.low * (1 - tolerance) if self.low is not None else None
        high = self.high * (1 + tolerance) if self.high is not None else None
        return low, high


@dataclass(frozen=True)
class Query:
    """Everything a search can ask. Empty means "everything"."""

    text: str = ""
    terms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    ranges: Mapping[str, Range] = field(default_factory=dict)
    tolerance: float = DEFAULT_TOLERANCE
    sort: Sort = "relevance"

    def __post_init__(self) -> None:
        check_text(self.text)
        unknown = set(self.terms) - set(TERM_FILTER_NAMES)
        unknown |= set(self.ranges) - {r.name for r in RANGE_FILTERS}
        if unknown:
            raise ValueError(f"unknown filter: {', '.join(sorted(unknown))}")
        if not 0 <= self.tolerance < 1:
            raise ValueError("tolerance must be between 0 and 1 (e.g. 0.1 for 10 %)")
        if self.sort not in SORTS:
            raise ValueError(f"unknown sort {self.sort!r}; choose one of {', '.join(SORTS)}")

    @classmethod
    def build(
        cls,
        text: str = "",
        *,
        tolerance: float = DEFAULT_TOLERANCE,
        sort: Sort = "relevance",
        **filters: Iterable[str] | str | int | Range | None,
    ) -> Query:
        """Convenience constructor: Query.build("grad", category=["rocket"], length="2800-3000")."""
        terms: dict[str, tuple[str, ...]] = {}
        ranges: dict[str, Range] = {}
        range_names = {r.name for r in RANGE_FILTERS}
        for name, value in filters.items():
            if value is None or value == "" or value == ():
                continue
            if name in range_names:
                ranges[name] = value if isinstance(value, Range) else Range.parse(str(value))
            elif isinstance(value, str | int):
                terms[name] = (str(value),)
            else:
                values = tuple(str(v) for v in value)
                if values:
                    terms[name] = values
        return cls(text=text, terms=terms, ranges=ranges, tolerance=tolerance, sort=sort)

    @property
    def key(self) -> str:
        return normalise(self.text)


@dataclass(frozen=True)
class Hit:
    """One result: enough to show a card or a table row."""

    id: str
    name: str
    names: dict[str, str]
    category: str
    origin: list[str]
    length_mm: float | None
    diameter_mm: float | None
    weight_kg: float | None
    match: str
    """How the text matched: exact, prefix, contains, fuzzy; or "filter" without text."""
    matched: str | None
    """The name, alias or marking that matched."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "names": self.names,
            "category": self.category,
            "origin": self.origin,
            "length_mm": self.length_mm,
            "diameter_mm": self.diameter_mm,
            "weight_kg": self.weight_kg,
            "match": self.match,
            "matched": self.matched,
        }


@dataclass(frozen=True)
class SearchResult:
    total: int
    hits: list[Hit]


@dataclass(frozen=True)
class Facet:
    value: str
    count: int


@dataclass(frozen=True)
class RangeStats:
    low: float | None
    high: float | None
    known: int


_HISTORIC_COUNTRIES: Final = {"SU": "Soviet Union", "YU": "Yugoslavia"}


def _country_label(code: str) -> str:
    """'SU Soviet Union': an origin code with its English name (CLDR, and the historic codes)."""
    from babel import Locale  # CLDR data, loaded only when a filter value is unknown

    name = _HISTORIC_COUNTRIES.get(code) or Locale("en").territories.get(code, "")
    return f"{code} {name}".strip()


@dataclass(frozen=True)
class UnknownTerm:
    """A filter value that is neither a vocabulary term nor a value any entry has."""

    filter: str
    value: str
    nearest: tuple[str, ...]

    def __str__(self) -> str:
        nearest = f"; nearest: {', '.join(self.nearest)}" if self.nearest else ""
        return f"unknown {self.filter} {self.value!r}{nearest}"


class UnresolvedName(LookupError):
    """A name or id that matches no entry, or several equally well; `candidates` are the closest."""

    def __init__(self, text: str, candidates: list[Hit], ambiguous: bool) -> None:
        self.text = text
        self.candidates = candidates
        self.ambiguous = ambiguous
        listed = ", ".join(f"{h.id} ({h.name})" for h in candidates)
        if ambiguous:
            message = f"{text!r} matches several entries: {listed}; give one of these ids"
        else:
            message = f"no entry matches {text!r}" + (f"; closest: {listed}" if listed else "")
        super().__init__(message)


RESOLVE_CANDIDATES = 5
"""How many candidates an unresolved name lists."""


@dataclass
class _NameIndex:
    """Every distinct normalised name, sorted for prefix search and joined for substring search."""

    build_id: str | None
    keys: list[str]
    owners: list[list[tuple[str, str, str]]]  # per key: (entry_id, kind, original text)
    joined: str
    offsets: list[int]
    sort_keys: dict[str, str]

    @classmethod
    def load(cls, session: Session, build_id: str | None) -> _NameIndex:
        by_key: dict[str, list[tuple[str, str, str]]] = {}
        for entry_id, kind, text, key in session.execute(
            select(NameRow.entry_id, NameRow.kind, NameRow.text, NameRow.key)
        ):
            by_key.setdefault(key, []).append((entry_id, kind, text))
        keys = sorted(by_key)
        offsets, position = [], 0
        for key in keys:
            offsets.append(position)
            position += len(key) + 1
        sort_keys = dict(session.execute(select(EntryRow.id, EntryRow.sort_key)).all())
        return cls(build_id, keys, [by_key[k] for k in keys], "\n".join(keys), offsets, sort_keys)


_Match = tuple[int, float, str, str]
"""(tier, score, match kind, matched text); a lower tier ranks first."""
_RANK = {("exact", True): 0, ("exact", False): 1, ("prefix", True): 2, ("prefix", False): 3}


class Searcher:
    """Runs queries against one database. Thread-safe: share one per process (st.cache_resource)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._index: _NameIndex | None = None
        self._lock = threading.Lock()

    # -- public API ---------------------------------------------------------------------------

    def search(self, query: Query, limit: int | None = None, offset: int = 0) -> SearchResult:
        """Entries matching every filter, best first."""
        with Session(self.engine) as session:
            ranked, matches = self._ranked_ids(session, query)
            page = ranked[offset : offset + limit if limit is not None else None]
            hits = self._hits(session, page, matches)
        return SearchResult(total=len(ranked), hits=hits)

    def facets(self, query: Query) -> dict[str, list[Facet]]:
        """For every term filter, how many results each value would give with the other filters kept."""
        result: dict[str, list[Facet]] = {}
        with Session(self.engine) as session:
            text_ids = self._text_ids(session, query)
            for f in TERM_FILTERS:
                ids = self._filtered(query, skip=f.name)
                stmt = (
                    select(TermRow.value, func.count(TermRow.entry_id))
                    .where(TermRow.field == f.name, TermRow.entry_id.in_(ids))
                    .group_by(TermRow.value)
                )
                if text_ids is not None:
                    stmt = stmt.where(TermRow.entry_id.in_(list(text_ids)))
                counts = session.execute(stmt).all()
                result[f.name] = sorted((Facet(v, c) for v, c in counts), key=lambda x: (-x.count, x.value))
        return result

    def range_stats(self, query: Query) -> dict[str, RangeStats]:
        """Smallest and largest known value of each dimension in the results, without its own filter."""
        stats: dict[str, RangeStats] = {}
        with Session(self.engine) as session:
            text_ids = self._text_ids(session, query)
            for r in RANGE_FILTERS:
                column = getattr(EntryRow, r.column)
                stmt = select(func.min(column), func.max(column), func.count(column)).where(
                    EntryRow.id.in_(self._filtered(query, skip=r.name))
                )
                if text_ids is not None:
                    stmt = stmt.where(EntryRow.id.in_(list(text_ids)))
                low, high, known = session.execute(stmt).one()
                stats[r.name] = RangeStats(low, high, known)
        return stats

    def known_terms(self) -> dict[str, list[str]]:
        """Filter name -> the values it accepts: its vocabulary's terms, else the values entries have."""
        with Session(self.engine) as session:
            vocabulary: dict[str, list[str]] = {}
            for vocab_field, term in session.execute(
                select(VocabularyRow.field, VocabularyRow.id).order_by(VocabularyRow.position)
            ):
                vocabulary.setdefault(vocab_field, []).append(term)
            present: dict[str, list[str]] = {}
            for name, value in session.execute(
                select(TermRow.field, TermRow.value).distinct().order_by(TermRow.value)
            ):
                present.setdefault(name, []).append(value)
        return {
            f.name: vocabulary.get(f.vocabulary, []) if f.vocabulary else present.get(f.name, [])
            for f in TERM_FILTERS
        }

    def unknown_terms(self, query: Query, nearest: int = 3) -> list[UnknownTerm]:
        """Every filter value in the query that no entry could ever match, with the nearest valid ones."""
        known = self.known_terms()
        problems = []
        for name, values in query.terms.items():
            valid = known.get(name, [])
            # Origins are ISO codes: compared with their English country names as well, so that
            # "Soviet" suggests SU rather than the codes that look like it (ES, PS, SE).
            labels = [_country_label(v) for v in valid] if name == "origin" else valid
            folded = {label.casefold(): v for label, v in zip(labels, valid, strict=True)}
            for value in values:
                if value in valid:
                    continue
                exact = [v for v in valid if v.casefold() == value.casefold()]
                choices = exact or [
                    folded[c]
                    for c, _s, _i in process.extract(
                        value.casefold(), list(folded), scorer=fuzz.WRatio, limit=nearest, score_cutoff=40
                    )
                ]
                problems.append(UnknownTerm(name, value, tuple(choices)))
        return problems

    def resolve(self, text: str) -> Hit:
        """The one entry a name or id means, spelled any way search accepts.

        An entry id wins; otherwise the single best text match, when no other entry matches as well
        (exact before prefix before contains before fuzzy; one match of any kind is enough). Raises
        UnresolvedName, with the closest candidates, when nothing or several entries match, and
        ValueError for a text beyond MAX_QUERY_CHARS.
        """
        check_text(text)
        key = normalise(text)
        with Session(self.engine) as session:
            if session.get(EntryRow, text.strip()) is not None:
                entry_id = text.strip()
                return self._hits(session, [entry_id], {entry_id: (0, 1.0, "id", entry_id)})[0]
            index = self._name_index(session)
            matches = self._text_matches(index, key) if key else {}
            ranked = self._sorted(session, list(matches), Query(text=text), matches, index)
            if ranked:
                best_tier = matches[ranked[0]][0]
                tied = [i for i in ranked if matches[i][0] == best_tier]
                if len(tied) == 1 and (best_tier <= 3 or len(ranked) == 1):
                    return self._hits(session, ranked[:1], matches)[0]
                top = tied if len(tied) > 1 else ranked
                raise UnresolvedName(text, self._hits(session, top[:RESOLVE_CANDIDATES], matches), True)
            nearest: list[str] = []
            if key:
                for _key, _score, pos in process.extract(key, index.keys, scorer=fuzz.WRatio, limit=50):
                    for entry_id, _kind, _text in index.owners[pos]:
                        if entry_id not in nearest:
                            nearest.append(entry_id)
            raise UnresolvedName(text, self._hits(session, nearest[:RESOLVE_CANDIDATES], {}), False)

    def count(self) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(EntryRow)) or 0

    # -- internals ------------------------------------------------------------------------------

    def _name_index(self, session: Session) -> _NameIndex:
        """The cached name index, reloaded when another process rebuilt the database."""
        build_id = session.scalar(select(MetaRow.value).where(MetaRow.key == "build_id"))
        with self._lock:
            if self._index is None or self._index.build_id != build_id:
                self._index = _NameIndex.load(session, build_id)
            return self._index

    def _filtered(self, query: Query, skip: str | None = None) -> Select[tuple[str]]:
        """SELECT of the ids passing every filter except `skip`."""
        stmt = select(EntryRow.id)
        for name, values in query.terms.items():
            if name != skip and values:
                stmt = stmt.where(
                    EntryRow.id.in_(
                        select(TermRow.entry_id).where(TermRow.field == name, TermRow.value.in_(values))
                    )
                )
        for r in RANGE_FILTERS:
            wanted = query.ranges.get(r.name)
            if wanted is None or r.name == skip:
                continue
            column = getattr(EntryRow, r.column)
            low, high = wanted.widened(query.tolerance)
            if low is not None:
                stmt = stmt.where(column >= low)
            if high is not None:
                stmt = stmt.where(column <= high)
        return stmt

    def _has_filters(self, query: Query) -> bool:
        return any(query.terms.values()) or bool(query.ranges)

    def _text_ids(self, session: Session, query: Query) -> set[str] | None:
        if not query.key:
            return None
        return set(self._text_matches(self._name_index(session), query.key))

    def _text_matches(self, index: _NameIndex, q: str) -> dict[str, _Match]:
        """entry id -> (tier, score, match kind, matched text); lower tier is better."""
        best: dict[str, _Match] = {}

        def offer(key_pos: int, kind: str, score: float) -> None:
            for entry_id, name_kind, text in index.owners[key_pos]:
                tier = _RANK.get((kind, name_kind == "name"), {"contains": 4, "fuzzy": 5}.get(kind, 3))
                current = best.get(entry_id)
                if current is None or (tier, -score) < (current[0], -current[1]):
                    best[entry_id] = (tier, score, kind, text)

        start = bisect.bisect_left(index.keys, q)
        end = bisect.bisect_left(index.keys, q + "\x7f")
        for pos in range(start, end):
            key = index.keys[pos]
            offer(pos, "exact" if key == q else "prefix", len(q) / len(key))
        if len(q) >= 2:
            for m in re.finditer(re.escape(q), index.joined):
                pos = bisect.bisect_right(index.offsets, m.start()) - 1
                if not start <= pos < end:
                    offer(pos, "contains", len(q) / len(index.keys[pos]))
        if len(q) >= 3:
            for _key, score, pos in process.extract(
                q, index.keys, scorer=fuzz.ratio, score_cutoff=75, limit=50
            ):
                offer(pos, "fuzzy", score / 100)
        return best

    def _ranked_ids(self, session: Session, query: Query) -> tuple[list[str], dict[str, _Match]]:
        allowed: set[str] | None = None
        if self._has_filters(query):
            allowed = set(session.scalars(self._filtered(query)).all())
        index = self._name_index(session)
        matches: dict[str, _Match] = {}
        if query.key:
            matches = self._text_matches(index, query.key)
            if allowed is not None:
                matches = {k: v for k, v in matches.items() if k in allowed}
            ids = list(matches)
        else:
            ids = list(allowed) if allowed is not None else list(index.sort_keys)
        return self._sorted(session, ids, query, matches, index), matches

    def _sorted(
        self,
        session: Session,
        ids: list[str],
        query: Query,
        matches: dict[str, _Match],
        index: _NameIndex,
    ) -> list[str]:
        names = index.sort_keys
        if query.sort in ("relevance", "name"):
            if query.sort == "relevance" and matches:
                return sorted(ids, key=lambda i: (matches[i][0], -matches[i][1], names.get(i, ""), i))
            return sorted(ids, key=lambda i: (names.get(i, ""), i))
        column = getattr(EntryRow, next(r.column for r in RANGE_FILTERS if r.name == query.sort))
        values = dict(session.execute(select(EntryRow.id, column).where(EntryRow.id.in_(ids))).all())
        return sorted(ids, key=lambda i: (values.get(i) is None, values.get(i) or 0, names.get(i, ""), i))

    def _hits(self, session: Session, ids: list[str], matches: dict[str, _Match]) -> list[Hit]:
        if not ids:
            return []
        rows = {
            row.id: row
            for row in session.execute(
                select(
                    EntryRow.id,
                    EntryRow.name,
                    EntryRow.category,
                    EntryRow.length_mm,
                    EntryRow.diameter_mm,
                    EntryRow.weight_kg,
                    EntryRow.document["names"].label("names"),
                    EntryRow.document["origin"].label("origin"),
                ).where(EntryRow.id.in_(ids))
            )
        }
        hits = []
        for i in ids:
            row = rows[i]
            match = matches.get(i)
            hits.append(
                Hit(
                    id=row.id,
                    name=row.name,
                    names=dict(row.names or {}),
                    category=row.category,
                    origin=list(row.origin or []),
                    length_mm=row.length_mm,
                    diameter_mm=row.diameter_mm,
                    weight_kg=row.weight_kg,
                    match=match[2] if match else "filter",
                    matched=match[3] if match else None,
                )
            )
        return hits
