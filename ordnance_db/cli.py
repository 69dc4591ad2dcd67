"""The command line: parse arguments, call one library function, print.

Exit codes: 0 success, 1 bad input (one clear line per problem on stderr), 2 usage errors.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, get_args

from pydantic import TypeAdapter
from sqlalchemy.exc import SQLAlchemyError

from ordnance_db import catalog as catalog_mod
from ordnance_db import db
from ordnance_db import photos as photos_mod
from ordnance_db.schema import LICENCE_HELP, Entry, Photo, PhotoCondition, PhotoView
from ordnance_db.search import (
    RANGE_FILTERS,
    SORTS,
    TERM_FILTERS,
    Query,
    Range,
    Searcher,
    UnresolvedName,
)
from ordnance_db.settings import CATALOG_DIR, IMAGES_DIR, ROOT


class UserError(Exception):
    """Bad input from the user: one line per problem, exit code 1."""

    def __init__(self, message: str, *more: str) -> None:
        super().__init__(message)
        self.lines = (message, *more)


PLAIN_EVERY_S = 15.0
"""Without a terminal (pipes, CI logs, `make run` under a supervisor), a count line this often."""


def _bar(items: Iterable[Any], description: str) -> Iterable[Any]:
    """Progress of one long step on stderr: a tqdm bar on a terminal, plain lines elsewhere.

    Either way the step ends with one line saying how many items it did and how long it took.
    """
    total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    return _steps(items, description, total, sys.stderr.isatty())


def _steps(items: Iterable[Any], description: str, total: int | None, tty: bool) -> Iterator[Any]:
    of = f"/{total}" if total is not None else ""
    start = last = time.monotonic()
    done = 0
    if tty:
        from tqdm import tqdm

        items = tqdm(items, desc=description, total=total, unit="entry", file=sys.stderr, leave=False)
    else:
        print(f"{description}… 0{of}", file=sys.stderr, flush=True)
    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if not tty and now - last >= PLAIN_EVERY_S:
            print(f"{description} {done}{of}", file=sys.stderr, flush=True)
            last = now
    elapsed = time.monotonic() - start
    print(f"{description} {done}{of} done in {elapsed:.1f} s", file=sys.stderr, flush=True)


def _progress(description: str) -> Callable[[Iterable[Any]], Iterable[Any]]:
    """For the short database build before a query: a bar on a terminal, silent in pipes (the
    query's output, and its one-line errors, stay alone)."""
    return lambda items: _bar(items, description) if sys.stderr.isatty() else items


def _engine() -> Any:
    engine = db.get_engine()
    try:
        db.ensure_built(engine, progress=_progress("building database"))
    except catalog_mod.CatalogError as exc:
        raise UserError(
            f"the catalog has {len(exc.problems)} problem(s); run 'python -m ordnance_db validate'"
        ) from exc
    return engine


def _print_records(records: list[dict[str, Any]], columns: Sequence[str], fmt: str) -> None:
    """Print records as an aligned table, JSON or CSV."""
    if fmt == "json":
        json.dump(records, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return
    rows = [[_cell(r.get(c)) for c in columns] for r in records]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        sys.stdout.write(buffer.getvalue())
        return
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    return str(value)


# -- commands ---------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    """Check every catalog file and print every problem with its file and line."""
    catalog_dir = Path(args.catalog_dir)
    images_dir = Path(args.images_dir) if args.images_dir else catalog_dir.parent / "images"
    catalog, problems = catalog_mod.check_catalog(catalog_dir, images_dir)
    for problem in problems:
        print(problem, file=sys.stderr)
    if catalog is None:
        print(f"{len(problems)} problem(s) found in {catalog_dir}", file=sys.stderr)
        return 1
    vocabulary = catalog.vocabulary
    terms = sum(len(getattr(vocabulary, f)) for f in type(vocabulary).model_fields)
    print(f"catalog OK: {len(catalog.entries)} entries, {len(catalog.sources)} sources, {terms} terms")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    """Derive the database and the match index from the catalog, and check the committed drawings
    against the renderer (each skipped when its inputs did not change; drawings are written only
    by `render`)."""
    from ordnance_db.build import build_all

    engine = db.get_engine()
    try:
        report = build_all(engine, force=args.force, index=not args.no_index, progress=_bar)
    except catalog_mod.CatalogError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise UserError(f"the catalog has {len(exc.problems)} problem(s); nothing was built") from exc
    state = "built" if report.database_built else "already up to date"
    where = engine.url.render_as_string(hide_password=True)
    print(f"database {state}: {report.entries} entries ({where})")
    if report.drawings_stale:
        ids = sorted({p.parent.name for p in report.drawings_stale})
        print(
            f"drawings: {len(report.drawings_stale)} file(s) under {IMAGES_DIR} differ from the renderer; "
            f"left alone (to rewrite them: python -m ordnance_db render {' '.join(ids)})"
        )
    elif report.drawings_checked:
        print("drawings checked: all match the renderer")
    else:
        print("drawings already checked")
    if report.index_skipped:
        print("match index not built (--no-index): the app builds it in the background")
    else:
        print("match index built" if report.index_built else "match index already up to date")
    return 0


def _load_catalog() -> catalog_mod.Catalog:
    try:
        return catalog_mod.load_catalog(CATALOG_DIR, IMAGES_DIR)
    except catalog_mod.CatalogError as exc:
        raise UserError(f"the catalog has {len(exc.problems)} problem(s); run validate") from exc


def cmd_render(args: argparse.Namespace) -> int:
    """Redraw images/<id>/side.png and drawing.svg for the given entries (all when none given)."""
    from ordnance_db.drawing import write_drawings

    catalog = _load_catalog()
    unknown = [i for i in args.ids if i not in catalog.entries]
    if unknown:
        raise UserError(f"unknown entry id(s): {', '.join(unknown)}")
    for entry_id in args.ids or list(catalog.entries):
        for path in write_drawings(catalog.entries[entry_id], catalog.colours(), IMAGES_DIR):
            print(path)
    return 0


def cmd_contact_sheet(args: argparse.Namespace) -> int:
    """One PNG with every entry's side view and name, for reviewing the drawings at a glance."""
    from ordnance_db.drawing import contact_sheet

    catalog = _load_catalog()
    sheet = contact_sheet(catalog.entries.values(), catalog.colours(), IMAGES_DIR, columns=args.columns)
    try:
        sheet.save(args.output, format="PNG")
    except OSError as exc:
        raise UserError(f"cannot write {args.output}: {exc.strerror or exc}") from exc
    print(f"wrote {args.output} ({len(catalog.entries)} entries)")
    return 0


def _query_from_args(args: argparse.Namespace) -> Query:
    text = " ".join(t for t in (getattr(args, "query", ""), args.text) if t)
    filters: dict[str, Any] = {f.name: getattr(args, f.dest) for f in TERM_FILTERS}
    try:
        for r in RANGE_FILTERS:
            value = getattr(args, r.name)
            if value:
                filters[r.name] = Range.parse(value)
        query = Query.build(text, tolerance=args.tolerance / 100, sort=args.sort, **filters)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    if any(query.terms.values()):
        unknown = Searcher(_engine()).unknown_terms(query)
        if unknown:
            raise UserError(*(f"{u}; see 'python -m ordnance_db facets'" for u in unknown))
    return query


SEARCH_COLUMNS = (
    "id",
    "name",
    "names",
    "category",
    "origin",
    "length_mm",
    "diameter_mm",
    "weight_kg",
    "match",
)


def cmd_search(args: argparse.Namespace) -> int:
    """List matching entries, best first."""
    query = _query_from_args(args)
    result = Searcher(_engine()).search(query, limit=args.limit)
    records = [h.as_dict() for h in result.hits]
    _print_records(records, SEARCH_COLUMNS, args.format)
    if args.format == "table":
        print(
            f"{result.total} result(s)"
            + (f", first {len(records)} shown" if len(records) < result.total else "")
        )
    return 0


def cmd_facets(args: argparse.Namespace) -> int:
    """How many results each filter value would give (what the app shows next to its filters)."""
    query = _query_from_args(args)
    facets = Searcher(_engine()).facets(query)
    records = [
        {"filter": name, "value": f.value, "count": f.count} for name, items in facets.items() for f in items
    ]
    _print_records(records, ("filter", "value", "count"), args.format)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """One entry, by id or any name, alias or spelling search accepts: a readable record, or every
    field (geometry included) with --format json."""
    engine = _engine()
    try:
        hit = Searcher(engine).resolve(args.id)
    except (UnresolvedName, ValueError) as exc:  # ValueError: a text beyond the search's length limit
        raise UserError(str(exc)) from exc
    entry = db.load_entry(engine, hit.id)
    if entry is None:  # the database was rebuilt between the two reads
        raise UserError(f"entry {hit.id!r} disappeared; run the command again")
    if hit.match not in ("id", "exact"):
        print(f"note: {args.id!r} matched {hit.name} ({hit.match}: {hit.matched})", file=sys.stderr)
    if args.format == "json":
        json.dump(entry.model_dump(mode="json", exclude_none=True), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(_record_text(entry, engine))
    return 0


def _record_text(entry: Entry, engine: Any) -> str:
    """The entry as a person reads it: labels instead of term ids, no drawing coordinates."""
    vocabulary = db.load_vocabulary(engine)
    labels = {name: {t.id: t.label for t in terms} for name, terms in vocabulary.items()}
    sources = db.load_sources(engine)

    def label(vocab: str, term: str) -> str:
        return labels.get(vocab, {}).get(term, term)

    def cited(key: str | None) -> str:
        return f" [{key}]" if key else ""

    lines = [f"{entry.name}  ({entry.id})"]

    def section(title: str, items: Iterable[str]) -> None:
        items = list(items)
        if items:
            lines.append(f"{title}:")
            lines.extend(f"  - {item}" for item in items)

    def field(title: str, value: str | None) -> None:
        if value:
            lines.append(f"{title}: {value}")

    field("other names", ", ".join(f"{v} ({k})" for k, v in entry.names.items()))
    field("aliases", ", ".join(entry.aliases))
    field("category", label("categories", entry.category))
    field("role", entry.role)
    field("origin", ", ".join(entry.origin))
    for title, parties in (("producers", entry.producers), ("suppliers", entry.suppliers)):
        section(
            title,
            (
                p.name
                + (f" ({p.country})" if p.country else "")
                + (f": {p.note}" if p.note else "")
                + cited(p.source)
                for p in parties
            ),
        )
    section(
        "used in",
        (
            f"{u.country} {u.years}" + (f": {u.note}" if u.note else "") + cited(u.source)
            for u in entry.used_in
        ),
    )
    dimensions = []
    for name, dim in entry.dimensions:
        if dim is not None:
            title, unit = name.rsplit("_", 1)
            basis = dim.basis + (f" {dim.source}" if dim.source else "")
            note = f"; {dim.note}" if dim.note else ""
            dimensions.append(f"{title.replace('_', ' ')}: {dim.value:g} {unit} ({basis}{note})")
    section("dimensions", dimensions)
    f = entry.features
    features = [
        f"shape: {label('shapes', f.shape)}",
        f"stabilisation: {label('stabilisation', f.stabilisation)}",
        f"fins: {f.fin_count}",
        f"fuze: {label('fuze_positions', f.fuze_position)}",
        f"colours: {', '.join(label('colours', c) for c in f.colours)}",
        f"marking script: {label('marking_scripts', f.marking_script)}",
    ]
    if f.marking_text:
        features.append(f"marking text: {', '.join(f.marking_text)}")
    if f.mechanical:
        features.append(f"mechanical: {', '.join(label('mechanical', m) for m in f.mechanical)}")
    if f.condition_notes:
        features.append(f"condition: {f.condition_notes}")
    if f.basis_note:
        features.append(f"basis: {f.basis_note}")
    section("visible features", features)
    section("hazards", entry.hazards)
    section("look-alikes", (f"{a.id}: {a.how_to_tell}" for a in entry.lookalikes))
    field("notes", entry.notes)
    section(
        "sources",
        (
            f"[{key}] "
            + (f"{s['title']}, {s['publisher']}, {s['date']}, {s['url']}" if (s := sources.get(key)) else "")
            for key in entry.sources
        ),
    )
    return "\n".join(lines) + "\n"


def cmd_i18n_extract(args: argparse.Namespace) -> int:
    """Regenerate locale/<domain>.pot from the code (and guidance.yaml) and merge it into every .po."""
    from ordnance_db.i18n import DOMAINS
    from ordnance_db.i18n_extract import extract

    for path in extract([args.domain] if args.domain else DOMAINS):
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


def cmd_coverage(args: argparse.Namespace) -> int:
    """Entries per category and country, how each number is known, producers and contacts."""
    from ordnance_db.stats import coverage_json, coverage_markdown

    catalog = _load_catalog()
    if args.format == "json":
        print(json.dumps(coverage_json(catalog), ensure_ascii=False, indent=2))
        return 0
    text = coverage_markdown(catalog)
    if args.write:
        (CATALOG_DIR / "README.md").write_text(text, encoding="utf-8")
        print(f"wrote {CATALOG_DIR / 'README.md'}")
    else:
        sys.stdout.write(text)
    return 0


def _matcher() -> Any:
    from ordnance_db.matcher import load_matcher

    matcher, built = load_matcher(_load_catalog(), progress=_bar)
    if built:
        print("match index built", file=sys.stderr)
    return matcher


def _crop(text: str | None) -> tuple[int, int, int, int] | None:
    if not text:
        return None
    try:
        x0, y0, x1, y1 = (int(float(v)) for v in text.split(","))
    except (ValueError, OverflowError) as exc:  # OverflowError: inf
        raise UserError(f"--crop takes x0,y0,x1,y1 in pixels, not {text!r}") from exc
    return x0, y0, x1, y1


def cmd_match(args: argparse.Namespace) -> int:
    """Ranked suggestions per photo, with a score in [0, 1], the reasons and what each was compared
    with (reference photos or the drawing only); every suggestion is tentative unless confident."""
    from ordnance_db.matcher import MatchRefused, match_photo

    query = _query_from_args(args)
    allowed = None
    if any(query.terms.values()):  # hints re-rank (or drop, --only-fitting); a size range only re-ranks
        hint = Query(terms=query.terms)
        allowed = {h.id for h in Searcher(_engine()).search(hint).hits}
    length = query.ranges.get("length")
    length_mm = None
    if length is not None:
        ends = [v for v in (length.low, length.high) if v is not None]
        length_mm = sum(ends) / len(ends)
    crop = _crop(args.crop)  # before the matcher loads: a wrong argument is told at once
    matcher = _matcher()
    results, failed = [], 0
    for photo in args.photos:
        try:
            result = match_photo(
                matcher,
                photo,
                top=args.top,
                crop=crop,
                allowed=allowed,
                length_mm=length_mm,
                only_fitting=args.only_fitting,
            )
        except MatchRefused as exc:
            print(f"{photo}: {exc}", file=sys.stderr)
            failed += 1
            continue
        results.append(
            {
                "photo": photo,
                "confident": result.confident,
                "message": result.message,
                "tentative_because": result.tentative_because,
                "category": result.category,
                "box": list(result.box),
                "matches": [s.as_dict() for s in result.suggestions],
            }
        )
    if args.format == "json":
        json.dump(results, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        rows = [
            {
                "photo": r["photo"],
                "rank": i + 1,
                "id": m["id"],
                "name": m["name"],
                "score": m["score"],
                "reasons": m["reasons"],
                "compared_with": m["compared_with"]["text"],
                "best_photo": m["best_photo"] or "",
                "label": "tentative" if m["tentative"] else "best match",
            }
            for r in results
            for i, m in enumerate(r["matches"])
        ]
        columns = ("photo", "rank", "id", "name", "score", "reasons", "compared_with", "best_photo", "label")
        _print_records(rows, columns, args.format)
        if args.format == "table":
            for r in results:
                print(f"{r['photo']}: {r['message']}")
                if r["category"]:
                    print(f"{r['photo']}: most suggestions are of category {r['category']}")
    return 1 if failed else 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Top-1 and top-K accuracy on DIR/<entry-id>/*.jpg|png, the most confused pairs, and the
    perceptual-hash baseline's figures from the same run."""
    from ordnance_db.evaluation import SIZE_ERROR, EvaluationError, evaluate

    matcher = _matcher()
    try:
        report = evaluate(matcher, Path(args.directory), top=args.top)
    except EvaluationError as exc:
        raise UserError(str(exc)) from exc
    figures = report.as_dict()
    if args.format == "json":
        json.dump(figures, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    k = args.top
    print(f"photos: {report.photos} (refused: {report.refused})")
    print(f"matcher:  top-1 {figures['top1_accuracy']:.3f}  top-{k} {figures[f'top{k}_accuracy']:.3f}")
    print(
        f"baseline: top-1 {figures['baseline_top1_accuracy']:.3f}  "
        f"top-{k} {figures[f'baseline_top{k}_accuracy']:.3f}  (perceptual hash, nearest reference view)"
    )
    print(
        f"with an approximate length (±{SIZE_ERROR:.0%}): top-1 {figures['with_length_top1_accuracy']:.3f}  "
        f"top-{k} {figures[f'with_length_top{k}_accuracy']:.3f}"
    )
    precision = figures["confident_precision"]
    print(
        f"confident: {figures['confident_share']:.3f} of photos, precision "
        + (f"{precision:.3f}" if precision is not None else "n/a")
    )
    errors = report.photos - report.top1
    print(
        f"top-1 errors whose first suggestion is a declared look-alike: {report.lookalike_errors} of {errors}"
    )
    print("most confused (true -> suggested first):")
    for c in figures["confusions"]:
        print(f"  {c['count']:3d}  {c['true']} -> {c['predicted']}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write reference sheets (PDF: one sheet, or a field booklet for several), CSV or JSON."""
    from ordnance_db import export  # fpdf2 loads only when exporting

    engine = _engine()
    query = _query_from_args(args)
    try:
        entries = export.select_entries(engine, args.ids, query)
        if args.pdf:
            selection = export.describe_selection(args.ids, query, lang=args.lang)
            path = export.write_pdf(
                engine,
                entries,
                args.pdf,
                paper=args.paper,
                selection=selection,
                lang=args.lang,
                country=args.country,
            )
        elif args.csv:
            path = export.write_csv(entries, args.csv)
        else:
            path = export.write_json(entries, args.json)
    except export.ExportError as exc:
        raise UserError(str(exc)) from exc
    n = len(entries)
    what = "reference sheet" if args.pdf and n == 1 else f"{n} entr{'y' if n == 1 else 'ies'}"
    print(f"wrote {what} to {path}")
    return 0


def cmd_key(args: argparse.Namespace) -> int:
    """The step-by-step key: the best next question and the entries ranked by fit to the answers."""
    from ordnance_db.key import AnswerError, Key, parse_answers

    key = Key.from_database(_engine())
    try:
        step = key.step(parse_answers(args.answer), top=args.top)
    except AnswerError as exc:
        raise UserError(str(exc)) from exc
    if args.format == "json":
        json.dump(step.as_dict(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    if step.question is None:
        print("No further question would tell the likely entries apart.")
    else:
        print(f"{step.question.text}  (--answer {step.question.field}=VALUE)")
        for option in step.as_dict()["question"]["options"]:  # type: ignore[index]
            print(f"  {option['value']}: {option['label']}  ({option['count']} likely)")
    print()
    _print_records([c.__dict__ for c in step.candidates], ("id", "name", "score"), "table")
    return 0


def _entry_ids() -> set[str]:
    """The catalog's ids (entry file names), without loading the whole catalog."""
    return {path.stem for path in catalog_mod.entry_files(CATALOG_DIR)}


def _photo_meta(args: argparse.Namespace) -> dict[str, str | None]:
    return {
        "licence": args.licence,
        "author": args.author,
        "source": args.source,
        "view": args.view,
        "condition": args.condition,
        "shows": args.shows,
    }


def _report_stored(stored: list[Any], verb: str) -> None:
    for item in stored:
        photo = item.photo
        print(f"{verb} {IMAGES_DIR / item.entry_id / photo.file} ({photo.licence}, {photo.author})")
    print(
        f"{len(stored)} photo(s) {verb}: metadata removed, long side at most {photos_mod.STORED_SIDE} px; "
        "your own files were left as they were"
    )


def _photo_command(work: Callable[[], Any]) -> Any:
    """Run a photo command; its problems are printed one per line and nothing was changed."""
    try:
        return work()
    except photos_mod.PhotoError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise UserError(str(exc)) from exc


def cmd_photos_add(args: argparse.Namespace) -> int:
    """Store photos of one entry in the images folder in use (ORDNANCE_IMAGES_DIR), resized and
    without metadata; every file is checked first, and if one is refused none is added."""
    files = [Path(f) for f in args.files]
    stored = _photo_command(
        lambda: photos_mod.add_photos(IMAGES_DIR, _entry_ids(), args.id, files, _photo_meta(args))
    )
    _report_stored(stored, "added")
    return 0


def cmd_photos_import(args: argparse.Namespace) -> int:
    """Import DIR/<entry-id>/* described by DIR/photos.csv (columns file, licence, author, source,
    view, condition, shows); if any row is wrong nothing is imported and every problem names its line."""
    stored = _photo_command(lambda: photos_mod.import_folder(Path(args.directory), IMAGES_DIR, _entry_ids()))
    _report_stored(stored, "imported")
    return 0


def cmd_photos_list(args: argparse.Namespace) -> int:
    """The reference photos of one entry (or of every entry), with licence, author and source."""
    if args.id is not None and args.id not in _entry_ids():
        raise UserError(photos_mod.unknown_entry(args.id, _entry_ids()))
    found = db.load_photos(_engine(), None if args.id is None else [args.id])
    records = [
        {"id": entry_id, **photo.model_dump(), "path": str(IMAGES_DIR / entry_id / photo.file)}
        for entry_id, rows in found.items()
        for photo in rows
    ]
    columns = ("id", "file", "licence", "author", "source", "view", "condition", "shows")
    _print_records(records, columns, args.format)
    return 0


def cmd_photos_remove(args: argparse.Namespace) -> int:
    """Delete one stored photo and its row from the images folder in use."""
    path = _photo_command(lambda: photos_mod.remove_photo(IMAGES_DIR, _entry_ids(), args.id, args.file))
    print(f"removed {path}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    """The JSON Schema of a catalog entry (or, with --photos, of images/<id>/photos.yaml), for
    editors that check YAML as it is typed."""
    schema = TypeAdapter(list[Photo]).json_schema() if args.photos else Entry.model_json_schema()
    json.dump(schema, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


# -- parser -----------------------------------------------------------------------------------


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")


def _add_filters(parser: argparse.ArgumentParser, positional: bool = True) -> None:
    if positional:
        parser.add_argument("query", nargs="?", default="", help="name in any script, alias or marking text")
    parser.add_argument("--text", default="", help="name in any script, alias or marking text")
    for f in TERM_FILTERS:
        parser.add_argument(
            f"--{f.name}",
            dest=f.dest,
            action="append",
            default=[],
            metavar=f.dest.upper(),
            help=f"{f.help} Repeatable.",
        )
    for r in RANGE_FILTERS:
        parser.add_argument(
            f"--{r.name}", metavar="MIN-MAX", help=f"{r.label} in {r.unit} (MIN-MAX, MIN-, -MAX or N)"
        )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=10.0,
        metavar="PCT",
        help="widen size ranges by PCT %% (default 10)",
    )
    parser.add_argument("--sort", choices=SORTS, default="relevance", help="order of results")


def _add_photo_commands(sub: Any) -> None:
    """`photos add | import | list | remove`."""
    help_text = "reference photos of entries: add, import, list, remove"
    photos = sub.add_parser("photos", help=help_text, description=help_text)
    commands = photos.add_subparsers(dest="photos_command", required=True, metavar="ACTION")

    p = commands.add_parser("add", help=cmd_photos_add.__doc__, description=cmd_photos_add.__doc__)
    p.add_argument("id", metavar="ID", help="entry id, e.g. pmn")
    p.add_argument("files", nargs="+", metavar="FILE", help="photo files (JPEG, PNG, WebP, HEIC, GIF)")
    p.add_argument("--licence", required=True, help=f"one of: {LICENCE_HELP}")
    p.add_argument("--author", required=True, help="who took the photo (the attribution)")
    p.add_argument(
        "--source", required=True, help="http(s) address where the photo and its licence can be checked"
    )
    p.add_argument("--view", choices=get_args(PhotoView), help="what side the photo shows")
    p.add_argument("--condition", choices=get_args(PhotoCondition), help="the item's state in the photo")
    p.add_argument("--shows", metavar="TEXT", help="what the photo shows, in a sentence")
    p.set_defaults(func=cmd_photos_add)

    p = commands.add_parser("import", help=cmd_photos_import.__doc__, description=cmd_photos_import.__doc__)
    p.add_argument("directory", metavar="DIR", help="folder holding photos.csv and <entry-id>/ folders")
    p.set_defaults(func=cmd_photos_import)

    p = commands.add_parser("list", help=cmd_photos_list.__doc__, description=cmd_photos_list.__doc__)
    p.add_argument("id", nargs="?", metavar="ID", help="entry id (default: every entry)")
    _add_format(p)
    p.set_defaults(func=cmd_photos_list)

    p = commands.add_parser("remove", help=cmd_photos_remove.__doc__, description=cmd_photos_remove.__doc__)
    p.add_argument("id", metavar="ID", help="entry id")
    p.add_argument("file", metavar="FILE", help="the stored file name, as 'photos list' shows it")
    p.set_defaults(func=cmd_photos_remove)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ordnance_db",
        description="UXO identification reference: catalog, search, photo matching, reference sheets. "
        "Identification aid only: never touch or move a suspected item; report it.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help=cmd_validate.__doc__, description=cmd_validate.__doc__)
    p.add_argument(
        "catalog_dir", nargs="?", default=str(CATALOG_DIR), help="catalog folder (default: ./catalog)"
    )
    p.add_argument("--images-dir", help="images folder (default: images/ beside the catalog folder)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("build", help=cmd_build.__doc__, description=cmd_build.__doc__)
    p.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    p.add_argument(
        "--no-index",
        action="store_true",
        help="skip the photo-match index (the app builds it in the background; `make run` uses this)",
    )
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("render", help=cmd_render.__doc__, description=cmd_render.__doc__)
    p.add_argument("ids", nargs="*", metavar="ID", help="entry ids (default: every entry)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("contact-sheet", help=cmd_contact_sheet.__doc__, description=cmd_contact_sheet.__doc__)
    p.add_argument("output", help="PNG file to write")
    p.add_argument("--columns", type=int, default=6, help="pictures per row")
    p.set_defaults(func=cmd_contact_sheet)

    p = sub.add_parser("search", help=cmd_search.__doc__, description=cmd_search.__doc__)
    _add_filters(p)
    p.add_argument("--limit", type=int, default=None, help="show at most this many results")
    _add_format(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("facets", help=cmd_facets.__doc__, description=cmd_facets.__doc__)
    _add_filters(p)
    _add_format(p)
    p.set_defaults(func=cmd_facets)

    p = sub.add_parser("show", help=cmd_show.__doc__, description=cmd_show.__doc__)
    p.add_argument("id", help="entry id or any name, e.g. ofab-250-270, 'ОФАБ-250-270', 'ofab 250'")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("i18n", help="translation catalogues", description="translation catalogues")
    actions = p.add_subparsers(dest="i18n_command", required=True, metavar="ACTION")
    p = actions.add_parser("extract", help=cmd_i18n_extract.__doc__, description=cmd_i18n_extract.__doc__)
    p.add_argument("--domain", choices=("app", "sheets"), help="one domain only (default: both)")
    p.set_defaults(func=cmd_i18n_extract)

    p = sub.add_parser("coverage", help=cmd_coverage.__doc__, description=cmd_coverage.__doc__)
    p.add_argument("--write", action="store_true", help="write catalog/README.md instead of printing")
    p.add_argument("--format", choices=("markdown", "json"), default="markdown", help="output format")
    p.set_defaults(func=cmd_coverage)

    p = sub.add_parser("match", help=cmd_match.__doc__, description=cmd_match.__doc__)
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="photo files (JPEG, PNG, WebP, HEIC, GIF)")
    p.add_argument("--top", type=int, default=5, help="suggestions per photo (default 5)")
    p.add_argument("--crop", metavar="x0,y0,x1,y1", help="box around the object, in pixels of the photo")
    p.add_argument(
        "--only-fitting",
        action="store_true",
        help="drop entries that contradict --category, --colour, --stabilisation... (default: they only "
        "rank lower, and are never first while one that fits is shown)",
    )
    _add_filters(p, positional=False)
    _add_format(p)
    p.set_defaults(func=cmd_match)

    p = sub.add_parser("evaluate", help=cmd_evaluate.__doc__, description=cmd_evaluate.__doc__)
    p.add_argument("directory", metavar="DIR", help="folder of DIR/<entry-id>/*.jpg|png")
    p.add_argument("--top", type=int, default=5, help="K for top-K accuracy (default 5)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export", help=cmd_export.__doc__, description=cmd_export.__doc__)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--pdf", metavar="FILE", help="one sheet, or a field booklet for several entries")
    target.add_argument("--csv", metavar="FILE", help="one row per entry, UTF-8, stable columns")
    target.add_argument("--json", metavar="FILE", help="full entries as a JSON list")
    p.add_argument("ids", nargs="*", metavar="ID", help="entry ids (default: every entry the filters match)")
    p.add_argument("--paper", choices=("A4", "Letter"), default="A4", help="PDF paper size (default A4)")
    p.add_argument(
        "--lang",
        default="en",
        metavar="CODE",
        help="language of the sheet's text: en, ar (right to left) or uk (default en; PDF only)",
    )
    p.add_argument(
        "--country",
        metavar="XX",
        help="two-letter country code (SY, IQ, UA...) whose reporting contacts the PDF shows; "
        "without it the PDF gives the general message and asks to choose a country",
    )
    _add_filters(p, positional=False)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("key", help=cmd_key.__doc__, description=cmd_key.__doc__)
    p.add_argument(
        "--answer",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="an answer so far (repeatable), e.g. shape=disc; VALUE not-sure is always allowed",
    )
    p.add_argument("--top", type=int, default=10, help="how many candidates to print (default 10)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    p.set_defaults(func=cmd_key)

    _add_photo_commands(sub)

    p = sub.add_parser("schema", help=cmd_schema.__doc__, description=cmd_schema.__doc__)
    p.add_argument("--photos", action="store_true", help="the schema of a photo list instead of an entry")
    p.set_defaults(func=cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UserError as exc:
        for line in exc.lines:
            print(f"error: {line}", file=sys.stderr)
        return 1
    except db.DatabaseFault as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:  # the database failed in the middle of a command
        print(f"error: {db.fault_message(exc, db.database_url())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
