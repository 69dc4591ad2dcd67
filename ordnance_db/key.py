"""A step-by-step identification key: rank entries by soft fit to answers, ask the most telling question.

Each question has, for every entry, a likelihood row: the chance a person looking at that entry from
a safe distance gives each answer. It is built from the entry's facts, spread to neighbouring answers
a person could confuse (grey-green called "olive", folding fins called fins) and mixed with an error
rate, so a wrong answer lowers an entry but never removes it. The posterior over entries is the prior
(uniform, or a photo's suggestions) times the likelihoods of the answers given; "not sure" changes
nothing. The next question is the one with the highest expected information gain, weighted by how
often people can answer it at all. All of it is a few matrix products over an N x (all answers)
array, so choosing a question at 1,000 entries takes well under a millisecond.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr
from sqlalchemy.engine import Engine

from ordnance_db.i18n import N_
from ordnance_db.schema import Entry

NOT_SURE = "not-sure"
ERROR_RATE = 0.2
"""Share of answers assumed to be plain mistakes, spread evenly over every answer."""
NEIGHBOUR = 0.4
"""Weight of an answer a person could confuse with the true one (1 for the true one itself)."""
MIN_GAIN_BITS = 0.02
"""Below this expected gain a question is not worth asking: the key stops."""
LIKELY_SHARE = 0.01
"""Option counts cover entries whose score is at least this share of the best one."""
SIZE_SPREAD = 0.35
"""Standard deviation of a person's size estimate, in natural-log units (about ±40 %)."""

Labels = Mapping[str, Mapping[str, str]]
"""Vocabulary field ("shapes", "categories", ...) -> term id -> label."""


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class Question:
    """One question a person can answer from a safe distance."""

    field: str
    text: str
    options: tuple[Option, ...]
    answerable: float
    """How often people can answer it at all (the rest say "not sure"): weights its gain."""
    pictured: bool = False
    """Its answers have pictures made from the catalog's drawings (shape, tail, fins)."""

    def values(self) -> list[str]:
        return [o.value for o in self.options]


@dataclass(frozen=True)
class Candidate:
    id: str
    name: str
    score: float


@dataclass(frozen=True)
class Step:
    """Where the key stands: the next question (None when nothing is worth asking) and the ranking."""

    question: Question | None
    counts: dict[str, int]
    """Answer value -> how many entries still likely have it (not sure: every likely entry)."""
    candidates: list[Candidate]

    def as_dict(self) -> dict[str, object]:
        """The shape `key --format json` prints: question (or None) with counted options, candidates."""
        question = None
        if self.question is not None:
            options = [
                {"value": o.value, "label": o.label, "count": self.counts.get(o.value, 0)}
                for o in self.question.options
            ]
            options.append({"value": NOT_SURE, "label": "Not sure", "count": self.counts.get(NOT_SURE, 0)})
            question = {"field": self.question.field, "text": self.question.text, "options": options}
        candidates = [{"id": c.id, "name": c.name, "score": round(c.score, 4)} for c in self.candidates]
        return {"question": question, "candidates": candidates}


class AnswerError(ValueError):
    """An unknown question or answer; the message names the nearest valid ones."""


def parse_answers(texts: Iterable[str]) -> dict[str, str]:
    """FIELD=VALUE strings (as typed on the command line) -> answers; AnswerError if malformed."""
    answers: dict[str, str] = {}
    for text in texts:
        field, sep, value = text.partition("=")
        field, value = field.strip(), value.strip()
        if not sep or not field or not value:
            raise AnswerError(f"an answer is FIELD=VALUE, e.g. shape=disc (got {text!r})")
        if field in answers:
            raise AnswerError(f"{field!r} is answered twice")
        answers[field] = value
    return answers


# --- how answers are derived from an entry's facts ----------------------------------------------

COLOUR_FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "green": (N_("Green or khaki (olive, dark or pale green)"), ("olive-green", "dark-green", "light-green")),
    "grey": (N_("Grey (light or dark)"), ("grey", "dark-grey")),
    "metal": (N_("Bare metal, silvery"), ("silver",)),
    "black": (N_("Black"), ("black",)),
    "white": (N_("White"), ("white",)),
    "brown": (N_("Brown, rust or copper"), ("brown", "rust", "copper")),
    "sand": (N_("Sand or tan"), ("sand",)),
    "yellow": (N_("Yellow or orange"), ("yellow", "orange")),
    "red": (N_("Red"), ("red",)),
    "blue": (N_("Blue"), ("blue",)),
}
"""A person names a family, not a paint shade: shades are grouped so "olive" finds every green."""
COLOUR_NEIGHBOURS = (
    ("green", "grey"),  # grey-green paint is called either
    ("green", "brown"),  # khaki
    ("green", "black"),
    ("grey", "metal"),
    ("grey", "black"),
    ("grey", "white"),
    ("white", "metal"),
    ("brown", "sand"),
    ("sand", "yellow"),
    ("yellow", "red"),
    ("brown", "red"),
)
SHAPE_NEIGHBOURS = (
    ("streamlined", "cylindrical"),
    ("streamlined", "teardrop"),
    ("streamlined", "ogival-projectile"),
    ("cylindrical", "ogival-projectile"),
    ("cylindrical", "can"),
    ("cylindrical", "bulbous-warhead"),
    ("cylindrical", "barrel"),
    ("teardrop", "bulbous-warhead"),
    ("can", "ovoid"),
    ("can", "spherical"),
    ("can", "disc"),
    ("can", "barrel"),
    ("ovoid", "spherical"),
    ("disc", "box"),
    ("box", "irregular"),
    ("butterfly", "irregular"),
)
TAIL_NEIGHBOURS = (
    ("fins", "folding-fins"),
    ("fins", "fins-ring-tail"),
    ("folding-fins", "fins-ring-tail"),
    ("fins", "vanes"),
    ("fins", "wing"),
    ("none", "spin"),
    ("none", "vanes"),
    ("ribbon", "parachute"),
    ("parachute", "inflatable-tail"),
    ("ribbon", "inflatable-tail"),
)
CATEGORY_NEIGHBOURS = (
    ("aircraft-bomb", "guided-bomb"),
    ("aircraft-bomb", "cluster-bomb"),
    ("guided-bomb", "cluster-bomb"),
    ("aircraft-bomb", "improvised"),
    ("rocket", "guided-missile"),
    ("rocket", "improvised"),
    ("submunition", "hand-grenade"),
    ("submunition", "grenade-launcher-ammunition"),
    ("submunition", "anti-personnel-mine"),
    ("hand-grenade", "grenade-launcher-ammunition"),
    ("mortar-bomb", "artillery-projectile"),
    ("mortar-bomb", "rocket"),
    ("anti-personnel-mine", "anti-vehicle-mine"),
    ("fuze", "submunition"),
)
SIZES: tuple[tuple[str, str, float], ...] = (
    ("hand", N_("Fits in a hand: smaller than a phone (under 15 cm)"), 150),
    ("football", N_("About a football (15-30 cm)"), 300),
    ("waist", N_("Bigger than a football, up to a person's waist (30 cm-1 m)"), 1000),
    ("person", N_("Up to a person's height (1-2 m)"), 2000),
    ("car", N_("Longer than a person is tall, up to a car (2-4 m)"), 4000),
    ("longer", N_("Longer than a car (over 4 m)"), float("inf")),
)
"""Answer, label and upper bound of the item's largest dimension in mm, against known objects."""
FIN_BINS: tuple[tuple[str, str, int, int], ...] = (
    ("0", N_("None"), 0, 0),
    ("1-4", N_("One to four"), 1, 4),
    ("5-8", N_("Five to eight"), 5, 8),
    ("9+", N_("More than eight"), 9, 99),
)
SCRIPTS_SEEN_NONE = 0.4
"""Markings fade, rust over or face the ground: an entry with markings is often seen without any."""
PARACHUTE_LOST = 0.4
"""A parachute or ribbon can be torn off or lie out of sight."""
SCATTERED = {"submunition": 0.85, "anti-personnel-mine": 0.6, "anti-vehicle-mine": 0.5}
"""Chance that several similar items lie around, by category (our reading: submunitions are
scattered by the hundred, mines laid in fields); 0.15 for every other category."""
COUNTRY_ERROR = 0.3
"""Where an item has been documented is never complete: a country not on record is far likelier
than a wrong shape."""


def _matrix(values: Sequence[str], neighbours: Iterable[tuple[str, str]]) -> np.ndarray:
    """Confusion weights between answers: 1 on the diagonal, NEIGHBOUR for confusable pairs."""
    index = {v: i for i, v in enumerate(values)}
    m = np.eye(len(values))
    for a, b in neighbours:
        if a in index and b in index:
            m[index[a], index[b]] = m[index[b], index[a]] = NEIGHBOUR
    return m


def _truth(values: Sequence[str], facts: Sequence[Mapping[str, float]]) -> np.ndarray:
    """N x K array: each entry's own weights over the answers (a uniform row when unknown)."""
    index = {v: i for i, v in enumerate(values)}
    t = np.zeros((len(facts), len(values)))
    for row, weights in enumerate(facts):
        for value, w in weights.items():
            if value in index:
                t[row, index[value]] += w
    empty = t.sum(axis=1) == 0
    t[empty] = 1.0
    return t / t.sum(axis=1, keepdims=True)


def largest_mm(entry: Entry) -> float | None:
    """The item's largest dimension (length, diameter or span; the drawing's length otherwise)."""
    d = entry.dimensions
    sizes = [x.value for x in (d.length_mm, d.diameter_mm, d.span_mm) if x is not None]
    if not sizes and entry.geometry is not None:
        sizes = [entry.geometry.length_mm]
    return max(sizes) if sizes else None


def _size_weights(size: float | None) -> dict[str, float]:
    """A rough estimate of `size` falls in each size answer with a log-normal spread."""
    if size is None:
        return {}
    edges = np.log([1e-9, *(s[2] for s in SIZES[:-1]), 1e12])
    cdf = ndtr((edges - np.log(size)) / SIZE_SPREAD)
    return {s[0]: float(p) for s, p in zip(SIZES, np.diff(cdf), strict=True)}


def _colour_weights(entry: Entry) -> dict[str, float]:
    """The first colour is the body's: half the weight; the others share the rest."""
    family = {shade: fam for fam, (_, shades) in COLOUR_FAMILIES.items() for shade in shades}
    colours = entry.features.colours
    weights: dict[str, float] = {}
    for i, shade in enumerate(colours):
        w = 1.0 if len(colours) == 1 else (0.5 if i == 0 else 0.5 / (len(colours) - 1))
        fam = family.get(shade)
        if fam:
            weights[fam] = weights.get(fam, 0.0) + w
    return weights


def _fin_bin(count: int) -> str:
    return next(b[0] for b in FIN_BINS if b[2] <= count <= b[3])


def _attached(entry: Entry) -> str:
    f = entry.features
    if f.stabilisation in ("parachute", "inflatable-tail") or "parachute" in f.mechanical:
        return "parachute"
    if f.stabilisation == "ribbon" or "ribbon" in f.mechanical:
        return "ribbon"
    return "none"


@dataclass(frozen=True)
class _Spec:
    """How one question is derived: its text, answers, each entry's facts and the confusions."""

    field: str
    text: str
    vocabulary: str | None
    answerable: float
    facts: Callable[[Entry], Mapping[str, float]]
    neighbours: tuple[tuple[str, str], ...] = ()
    options: tuple[tuple[str, str], ...] = ()
    pictured: bool = False
    error: float = ERROR_RATE
    seen_as: tuple[str, float] | None = None
    """(answer, share): every true answer is also seen as this one that often (markings -> none)."""


SPECS: tuple[_Spec, ...] = (
    _Spec("shape", N_("What is its overall shape?"), "shapes", 0.95,
          lambda e: {e.features.shape: 1}, SHAPE_NEIGHBOURS, pictured=True),
    _Spec("size", N_("How big is it, compared with things you know?"), None, 0.85,
          lambda e: _size_weights(largest_mm(e)), options=tuple((s[0], s[1]) for s in SIZES)),
    _Spec("colour", N_("What colour is most of it?"), None, 0.9, _colour_weights, COLOUR_NEIGHBOURS,
          options=tuple((k, v[0]) for k, v in COLOUR_FAMILIES.items())),
    _Spec("tail", N_("What does its tail end look like?"), "stabilisation", 0.75,
          lambda e: {e.features.stabilisation: 1}, TAIL_NEIGHBOURS, pictured=True),
    _Spec("fins", N_("How many fins can you count round the tail?"), None, 0.6,
          lambda e: {_fin_bin(e.features.fin_count): 1}, (("1-4", "5-8"), ("5-8", "9+"), ("0", "1-4")),
          options=tuple((b[0], b[1]) for b in FIN_BINS), pictured=True),
    _Spec("attached", N_("Is a parachute, ribbon or streamer attached or lying close by?"), None, 0.8,
          lambda e: {_attached(e): 1}, (("parachute", "ribbon"),),
          options=(("parachute", N_("A parachute or fabric tail")), ("ribbon", N_("A ribbon or streamer")),
                   ("none", N_("Neither"))), seen_as=("none", PARACHUTE_LOST)),
    _Spec("markings", N_("Can you see letters or markings? In which script?"), "marking_scripts", 0.6,
          lambda e: {e.features.marking_script: 1}, seen_as=("none", SCRIPTS_SEEN_NONE)),
    _Spec("many", N_("Are there several similar objects lying around?"), None, 0.8,
          lambda e: {"yes": SCATTERED.get(e.category, 0.15), "no": 1 - SCATTERED.get(e.category, 0.15)},
          options=(("yes", N_("Yes, several alike")), ("no", N_("No, only this one")))),
    _Spec("category", N_("What kind of object do you think it is?"), "categories", 0.5,
          lambda e: {e.category: 1}, CATEGORY_NEIGHBOURS),
    _Spec("country", N_("In which country is it? (ISO code)"), None, 0.98,
          lambda e: {u.country: 1 for u in e.used_in}, error=COUNTRY_ERROR),
)  # fmt: skip


# --- the key ---------------------------------------------------------------------------------------


class Key:
    """Every entry's likelihood rows for every question, ready for posterior and gain in numpy."""

    def __init__(self, entries: Sequence[Entry], labels: Labels) -> None:
        self.ids = [e.id for e in entries]
        self.names = [e.name for e in entries]
        self._row = {entry_id: i for i, entry_id in enumerate(self.ids)}
        questions: list[Question] = []
        tables: list[np.ndarray] = []
        truths: dict[str, np.ndarray] = {}
        for spec in SPECS:
            facts = [spec.facts(e) for e in entries]
            pairs = spec.options or _vocabulary_options(spec, labels, facts)
            if not pairs:
                continue
            values = [v for v, _ in pairs]
            truth = _truth(values, facts)
            seen = truth @ _matrix(values, spec.neighbours)
            seen /= seen.sum(axis=1, keepdims=True)
            if spec.seen_as and spec.seen_as[0] in values:
                seen *= 1 - spec.seen_as[1]
                seen[:, values.index(spec.seen_as[0])] += spec.seen_as[1]
            tables.append((1 - spec.error) * seen + spec.error / len(values))
            truths[spec.field] = truth
            options = tuple(Option(v, label) for v, label in pairs)
            questions.append(Question(spec.field, spec.text, options, spec.answerable, spec.pictured))
        self.questions = tuple(questions)
        self._by_field = {q.field: q for q in self.questions}
        self.truth = truths
        """Field -> N x K: each entry's own facts over the answers (for simulated users and counts)."""
        self._likelihood = {q.field: t for q, t in zip(self.questions, tables, strict=True)}
        self._all = np.hstack(tables) if tables else np.zeros((len(entries), 0))
        sizes = [len(q.options) for q in self.questions]
        self._starts = np.cumsum([0, *sizes[:-1]])
        self._answerable = np.array([q.answerable for q in self.questions])
        self._row_entropy = np.stack([_entropy(t) for t in tables], axis=1)

    @classmethod
    def from_database(cls, engine: Engine) -> Key:
        """The key over every entry in the database (the app and the CLI use this)."""
        from ordnance_db import db
        from ordnance_db.search import Query, Searcher

        ids = [hit.id for hit in Searcher(engine).search(Query(sort="name")).hits]
        vocabulary = db.load_vocabulary(engine)
        labels = {name: {t.id: t.label for t in terms} for name, terms in vocabulary.items()}
        return cls(db.load_entries(engine, ids), labels)

    def question(self, field: str) -> Question:
        return self._by_field[field]

    def likelihood(self, field: str) -> np.ndarray:
        return self._likelihood[field]

    def check(self, answers: Mapping[str, str]) -> None:
        """Raise AnswerError naming the nearest valid field or answer for anything unknown."""
        for field, value in answers.items():
            if field not in self._by_field:
                raise AnswerError(f"unknown question {field!r}; {_nearest(field, list(self._by_field))}")
            values = [*self._by_field[field].values(), NOT_SURE]
            if value not in values:
                raise AnswerError(f"unknown answer {value!r} to {field!r}; {_nearest(value, values)}")

    def log_posterior(self, answers: Mapping[str, str], prior: np.ndarray | None = None) -> np.ndarray:
        """Unnormalised log scores: log prior plus the log likelihood of every answer given."""
        self.check(answers)
        log_p = np.zeros(len(self.ids)) if prior is None else np.log(np.maximum(prior, 1e-12))
        for field, value in answers.items():
            if value != NOT_SURE:
                column = self._by_field[field].values().index(value)
                log_p = log_p + np.log(self._likelihood[field][:, column])
        return log_p

    def posterior(self, answers: Mapping[str, str], prior: np.ndarray | None = None) -> np.ndarray:
        """Scores summing to 1 over the entries."""
        log_p = self.log_posterior(answers, prior)
        p = np.exp(log_p - log_p.max())
        return p / p.sum()

    def gains(self, posterior: np.ndarray, asked: Iterable[str] = ()) -> np.ndarray:
        """Expected information gain in bits of each question, times its answerability; 0 if asked."""
        predictive = posterior @ self._all
        h = -np.add.reduceat(predictive * np.log2(np.maximum(predictive, 1e-300)), self._starts)
        gain = (h - posterior @ self._row_entropy) * self._answerable
        done = set(asked)
        for i, q in enumerate(self.questions):
            if q.field in done:
                gain[i] = 0.0
        return gain

    def next_question(self, posterior: np.ndarray, asked: Iterable[str] = ()) -> Question | None:
        gains = self.gains(posterior, asked)
        best = int(np.argmax(gains)) if len(gains) else -1
        return self.questions[best] if best >= 0 and gains[best] >= MIN_GAIN_BITS else None

    def prior(self, scores: Mapping[str, float], floor: float = 0.02) -> np.ndarray:
        """A prior from a photo's suggestion scores; entries not suggested keep a small floor."""
        p = np.full(len(self.ids), floor)
        for entry_id, score in scores.items():
            if entry_id in self._row:
                p[self._row[entry_id]] += score
        return p / p.sum()

    def step(self, answers: Mapping[str, str], prior: np.ndarray | None = None, top: int = 10) -> Step:
        """The next question and the ranked candidates after `answers` (field -> answer value)."""
        posterior = self.posterior(answers, prior)
        question = self.next_question(posterior, answers)
        counts: dict[str, int] = {}
        if question is not None:
            likely = posterior >= posterior.max() * LIKELY_SHARE
            has = self.truth[question.field][likely] > 0
            counts = {o.value: int(n) for o, n in zip(question.options, has.sum(axis=0), strict=True)}
            counts[NOT_SURE] = int(likely.sum())
        order = np.argsort(-posterior, kind="stable")[:top]
        candidates = [Candidate(self.ids[i], self.names[i], float(posterior[i])) for i in order]
        return Step(question, counts, candidates)

    def example(self, field: str, value: str) -> str | None:
        """An entry whose facts give this answer alone: its drawing illustrates the answer."""
        values = self._by_field[field].values()
        column = self.truth[field][:, values.index(value)]
        best = int(np.argmax(column))
        return self.ids[best] if column[best] == 1.0 else None


def _vocabulary_options(
    spec: _Spec, labels: Labels, facts: Sequence[Mapping[str, float]]
) -> tuple[tuple[str, str], ...]:
    """The vocabulary's terms (in its order) that some entry has; countries sorted by how common."""
    used: dict[str, int] = {}
    for weights in facts:
        for value in weights:
            used[value] = used.get(value, 0) + 1
    if spec.vocabulary is None:
        return tuple((v, v) for v in sorted(used, key=lambda v: (-used[v], v)))
    terms = labels.get(spec.vocabulary, {})
    return tuple((v, label) for v, label in terms.items() if v in used)


def _entropy(table: np.ndarray) -> np.ndarray:
    return -(table * np.log2(table)).sum(axis=1)


def _nearest(text: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(text, valid, n=3, cutoff=0.3)
    return f"nearest: {', '.join(close)}" if close else f"valid: {', '.join(valid)}"
