"""Catalog reading and validation on real YAML files: every problem, with its file and line."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from ordnance_db.catalog import CatalogError, catalog_digest, check_catalog, load_catalog, read_yaml
from tests.conftest import MINI_ENTRIES, SOURCES, make_entry, write_catalog

ONLY_A = {"test-source-a": SOURCES["test-source-a"]}


def test_mini_catalog_loads(mini_catalog: Path) -> None:
    catalog = load_catalog(mini_catalog)
    assert list(catalog.entries) == sorted(e["id"] for e in MINI_ENTRIES)
    assert catalog.entries["ofab-250-270"].names["ru"] == "ОФАБ-250-270"
    assert catalog.digest and len(catalog.digest) == 64


def test_four_problems_each_with_file_and_line(tmp_path: Path, run_cli) -> None:
    """The issue's example: broken indentation, unknown key, bad term, dangling look-alike."""
    entries = [
        make_entry("good-one", lookalikes=[{"id": "no-such-entry", "how_to_tell": "Smaller."}]),
        make_entry("bad-term", features={**make_entry("x")["features"], "shape": "hexagonal"}),
        make_entry("extra-key", colour_of_sky="blue"),
    ]
    catalog = write_catalog(tmp_path, entries, sources=ONLY_A)
    (catalog / "broken.yaml").write_text("id: broken\nname: Broken\n  category: rocket\n", encoding="utf-8")

    result = run_cli("validate", str(catalog))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()

    def line_for(name: str) -> str:
        found = [line for line in lines if line.startswith(f"catalog/{name}.yaml:")]
        assert found, f"no problem reported for {name}: {result.stderr}"
        return found[0]

    assert line_for("broken").startswith("catalog/broken.yaml:3:")
    assert "YAML syntax error" in line_for("broken")
    assert "unknown key 'colour_of_sky'" in line_for("extra-key")
    bad_line = yaml_line(catalog / "bad-term.yaml", "shape:")
    assert line_for("bad-term").startswith(f"catalog/bad-term.yaml:{bad_line}:")
    assert "unknown shapes term 'hexagonal'" in line_for("bad-term")
    assert "'no-such-entry' is not a catalog entry" in line_for("good-one")
    assert "4 problem(s)" in lines[-1]


def yaml_line(path: Path, text: str) -> int:
    """1-based line of the first line containing `text`."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


def problems_for(tmp_path: Path, entries: list[dict], **kwargs) -> list[str]:
    catalog_dir = write_catalog(tmp_path, entries, **kwargs)
    catalog, problems = check_catalog(catalog_dir)
    assert catalog is None
    return [str(p) for p in problems]


def test_every_problem_is_collected_not_just_the_first(tmp_path: Path) -> None:
    entries = [make_entry(f"item-{i}", category="nonsense") for i in range(5)]
    problems = problems_for(tmp_path, entries)
    assert len([p for p in problems if "unknown categories term 'nonsense'" in p]) == 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &a [1]\nb: *a\n", "anchors and aliases"),
        ("x: !!python/object/apply:os.system ['echo hi']\n", "tag"),
        ("x: !custom 3\n", "tag"),
        ("a: 1\na: 2\n", "duplicate key 'a'"),
        ("a: [1, 2\n", "YAML syntax error"),
        ("--- 1\n--- 2\n", "YAML syntax error"),
    ],
    ids=["alias", "python-tag", "custom-tag", "duplicate-key", "unclosed", "two-documents"],
)
def test_hostile_yaml_is_refused_with_a_located_message(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    doc, problems = read_yaml(path)
    assert doc is None
    assert len(problems) == 1 and expected in problems[0].message
    assert problems[0].line >= 1


def test_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join(['*a' + str(i - 1)] * 9)}]" for i in range(1, 10)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    started = time.perf_counter()
    doc, problems = read_yaml(path)
    assert time.perf_counter() - started < 1.0  # would be ~10^9 strings if expanded
    assert doc is None and "aliases" in problems[0].message


def test_invalid_utf8_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"id: ok\nname: caf\xe9\n")
    _, problems = read_yaml(path)
    assert (problems[0].line, problems[0].message) == (2, "file is not valid UTF-8 text")


def test_enormous_file_is_refused_without_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("name: " + "x" * (600 * 1024) + "\n", encoding="utf-8")
    _, problems = read_yaml(path)
    assert "limit" in problems[0].message


def test_id_must_match_file_name(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path, [make_entry("right-name")])
    (catalog / "right-name.yaml").rename(catalog / "wrong-name.yaml")
    _, problems = check_catalog(catalog)
    assert any("does not match the file name 'wrong-name'" in str(p) for p in problems)


def test_duplicate_ids_in_sub_folders(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path, [make_entry("twin")])
    (catalog / "bombs").mkdir()
    (catalog / "bombs" / "twin.yaml").write_text((catalog / "twin.yaml").read_text())
    _, problems = check_catalog(catalog)
    assert any("duplicate id 'twin'" in str(p) for p in problems)


def test_lookalikes_must_be_mutual(tmp_path: Path) -> None:
    entries = [
        make_entry("a-one", lookalikes=[{"id": "b-two", "how_to_tell": "Bigger."}]),
        make_entry("b-two"),
    ]
    problems = problems_for(tmp_path, entries)
    assert any("does not list 'a-one' back" in p for p in problems)


def test_unknown_and_unused_sources(tmp_path: Path) -> None:
    entries = [make_entry("a-one", sources=["not-there"])]
    problems = problems_for(tmp_path, entries)
    assert any("unknown source key 'not-there'" in p for p in problems)
    assert any("source 'test-source-b' is not cited by any entry" in p for p in problems)


def test_dimension_needs_source_or_basis(tmp_path: Path) -> None:
    entries = [make_entry("a-one", dimensions={"length_mm": {"value": 10}})]
    problems = problems_for(tmp_path, entries)
    assert any("give 'source' (a source key) or a 'basis'" in p for p in problems)
    entries = [make_entry("a-one", dimensions={"length_mm": {"value": 10, "basis": "estimate"}})]
    assert any("needs a 'note'" in p for p in problems_for(tmp_path / "2", entries))
    entries = [
        make_entry("a-one", dimensions={"length_mm": {"value": 10, "basis": "reference", "note": "x"}})
    ]
    assert any("'reference' needs a 'source'" in p for p in problems_for(tmp_path / "3", entries))
    entries = [make_entry("a-one", dimensions={"length_mm": {"value": 10, "basis": "guess", "note": "x"}})]
    assert any("length_mm.basis" in p for p in problems_for(tmp_path / "4", entries))


def test_an_encyclopaedia_is_a_reference_not_a_reviewed_source(tmp_path: Path) -> None:
    """Wikipedia quotes figures from elsewhere: a number resting on it is 'reference', never 'source'."""

    sources = {
        **SOURCES,
        "test-source-b": {**SOURCES["test-source-b"], "url": "https://ja.wikipedia.org/wiki/PMN"},
    }
    quoted = {"value": 112, "source": "test-source-b"}
    entries = [
        make_entry("a-one", dimensions={"diameter_mm": quoted}, sources=["test-source-a", "test-source-b"])
    ]
    problems = problems_for(tmp_path, entries, sources=sources)
    assert any("a-one.yaml" in p and "is an encyclopaedia" in p and "basis: reference" in p for p in problems)
    entries[0]["dimensions"]["diameter_mm"]["basis"] = "reference"
    _, problems = check_catalog(write_catalog(tmp_path / "2", entries, sources=sources))
    assert not [p for p in problems if "encyclopaedia" in str(p)]


def test_actual_weight_only_beside_a_nominal_weight(tmp_path: Path) -> None:
    actual = {"value": 232, "source": "test-source-a"}
    sourced = {"value": 227, "source": "test-source-a"}
    entries = [make_entry("a-one", dimensions={"weight_kg": sourced, "actual_weight_kg": actual})]
    assert any(
        "only for entries whose 'weight_kg' is the nominal" in p for p in problems_for(tmp_path, entries)
    )
    nominal = {"value": 227, "basis": "nominal", "note": "500 lb class"}
    estimate = {"value": 232, "basis": "estimate", "note": "from photos"}
    entries = [make_entry("a-one", dimensions={"weight_kg": nominal, "actual_weight_kg": estimate})]
    assert any("'actual_weight_kg' needs a source" in p for p in problems_for(tmp_path / "2", entries))
    entries = [make_entry("a-one", dimensions={"weight_kg": nominal, "actual_weight_kg": actual})]
    assert not [p for p in problems_for(tmp_path / "3", entries) if "_kg" in p]


def test_images_must_exist_and_carry_a_licence(tmp_path: Path) -> None:
    image = {"file": "photo.jpg", "kind": "drawing", "licence": "CC-BY-4.0", "author": "A", "source": "B"}
    entries = [make_entry("a-one", images=[image]), make_entry("b-two")]
    catalog = write_catalog(tmp_path, entries)
    (tmp_path / "images" / "b-two").mkdir(parents=True)
    (tmp_path / "images" / "b-two" / "unlisted.jpg").write_bytes(b"x")
    (tmp_path / "images" / "b-two" / "side.png").write_bytes(b"x")  # derived: needs no licence
    _, problems = check_catalog(catalog)
    text = "\n".join(map(str, problems))
    assert "photo.jpg does not exist" in text
    assert "unlisted.jpg has no licence" in text
    assert "side.png" not in text
    image_without = {k: v for k, v in image.items() if k != "licence"}
    problems = problems_for(tmp_path / "3", [make_entry("c-three", images=[image_without])])
    assert any("missing required key 'images.0.licence'" in p for p in problems)


def test_image_path_cannot_escape_images_folder(tmp_path: Path) -> None:
    image = {"file": "../../etc/passwd", "kind": "drawing", "licence": "x", "author": "A", "source": "B"}
    problems = problems_for(tmp_path, [make_entry("a-one", images=[image])])
    assert any("images.0.file" in p for p in problems)


def test_load_catalog_raises_with_all_problems(tmp_path: Path) -> None:
    catalog = write_catalog(
        tmp_path, [make_entry("a-one", category="x"), make_entry("b-two", category="y")], sources=ONLY_A
    )
    with pytest.raises(CatalogError) as info:
        load_catalog(catalog)
    assert len(info.value.problems) == 2


def test_yaml_dates_stay_text(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path)
    text = (catalog / "sources.yaml").read_text().replace("'2020-01-01'", "2020-01-01")
    (catalog / "sources.yaml").write_text(text)
    assert yaml.safe_load(text)  # unquoted date in the file
    assert load_catalog(catalog).sources["test-source-a"].date == "2020-01-01"


def test_enormous_string_is_refused_with_its_line(tmp_path: Path) -> None:
    problems = problems_for(tmp_path, [make_entry("a-one", role="x" * 200_000)])
    assert any("a-one.yaml" in p and "role" in p and "at most 4000 characters" in p for p in problems)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path as the working folder, so that problems read catalog/<file>:<line>: as a user sees them."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def edited_problems(in_tmp: Path, old: str, new: str, name: str = "fab-250") -> tuple[list[str], int]:
    """Replace `old` with `new` in one file of the mini catalog; its problems and the edited line."""
    catalog = write_catalog(in_tmp)
    path = catalog / f"{name}.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    _, problems = check_catalog(catalog)
    return [str(p) for p in problems if p.path == path], yaml_line(path, new.splitlines()[0])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (".inf", "must be a finite number, not inf"),
        ("-.inf", "must be a finite number, not -inf"),
        (".nan", "must be a finite number, not nan"),
        ("1.0e+400", "must be a finite number, not inf"),
        ("1e400", "must be a finite number, not '1e400'"),  # text to YAML 1.1, infinite to float()
        ("yes", "must be a number, not true (YAML reads yes, no, on, off, true and false as true or false)"),
        ("'12'", "must be a number, not the text '12': write it without quotes"),
        (
            "1e3",
            "must be a number, not the text '1e3': "
            "YAML needs a decimal point and a sign in an exponent: 1.5e+3",
        ),
        ("-5", "must be greater than 0, not -5"),
        ("0", "must be greater than 0, not 0"),
        ("1.0e+300", "must be at most 100000, not 1e+300"),
        ("1" + "0" * 400, "must be a number of a sensible size, not a 401-digit number"),
    ],
    ids=[
        "inf",
        "minus-inf",
        "nan",
        "overflow",
        "1e400",
        "yes",
        "quoted",
        "exponent-text",
        "negative",
        "zero",
        "too-large",
        "huge-int",
    ],
)
def test_odd_numbers_are_refused_at_their_line(in_tmp: Path, value: str, expected: str) -> None:
    problems, line = edited_problems(in_tmp, "value: 1960", f"value: {value}")
    assert problems == [f"catalog/fab-250.yaml:{line}:5: dimensions.length_mm.value: {expected}"], problems


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "yes",
            "must be a whole number, not true (YAML reads yes, no, on, off, true and false as true or false)",
        ),
        ("'4'", "must be a whole number, not the text '4': write it without quotes"),
        ("4.0", "must be a whole number, not 4.0"),
        ("17", "must be at most 16, not 17"),
    ],
    ids=["yes", "quoted", "float", "too-many"],
)
def test_counts_are_strict_whole_numbers(in_tmp: Path, value: str, expected: str) -> None:
    problems, line = edited_problems(in_tmp, "fin_count: 4", f"fin_count: {value}")
    assert problems == [f"catalog/fab-250.yaml:{line}:3: features.fin_count: {expected}"], problems


def test_yaml_ints_still_count_as_floats(in_tmp: Path) -> None:
    catalog = write_catalog(in_tmp)
    assert load_catalog(catalog).entries["fab-250"].dimensions.length_mm.value == 1960.0


def test_duplicate_lookalike_is_refused(in_tmp: Path) -> None:
    twice = [{"id": "b-two", "how_to_tell": "Bigger."}, {"id": "b-two", "how_to_tell": "Longer."}]
    entries = [
        make_entry("a-one", lookalikes=twice),
        make_entry("b-two", lookalikes=[{"id": "a-one", "how_to_tell": "Smaller."}]),
    ]
    catalog = write_catalog(in_tmp, entries)
    _, problems = check_catalog(catalog)
    problems = [p for p in problems if p.path.name == "a-one.yaml"]
    lines = [
        n for n, text in enumerate((catalog / "a-one.yaml").read_text().splitlines(), 1) if "b-two" in text
    ]
    assert [str(p) for p in problems] == [
        f"catalog/a-one.yaml:{lines[1]}:3: look-alike 'b-two' is listed twice "
        f"(first at line {lines[0]}): merge them"
    ]


def check_without_hanging(catalog: Path, fifo: Path) -> tuple[list[str], str | None]:
    """check_catalog and catalog_digest in a thread; a FIFO opened for reading would block them."""
    result: dict[str, Any] = {}

    def work() -> None:
        result["digest"] = catalog_digest(catalog)
        result["problems"] = [str(p) for p in check_catalog(catalog)[1]]

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(20)
    if thread.is_alive():  # release the blocked reader, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading the catalog blocked on a FIFO")
    return result["problems"], result["digest"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
@pytest.mark.parametrize("name", ["pipe-entry.yaml", "sources.yaml"])
def test_fifo_is_refused_without_being_opened(in_tmp: Path, name: str) -> None:
    catalog = write_catalog(in_tmp)
    fifo = catalog / name
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    problems, digest = check_without_hanging(catalog, fifo)
    assert (
        f"catalog/{name}:1:1: file is a named pipe (FIFO), not an ordinary file: it is not opened" in problems
    )
    assert digest and len(digest) == 64


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero on this system")
def test_device_is_refused_without_being_opened(in_tmp: Path) -> None:
    _, problems = read_yaml(Path("/dev/zero"))  # endless if read
    assert [str(p) for p in problems] == [
        "/dev/zero:1:1: file is a device, not an ordinary file: it is not opened"
    ]
    catalog = write_catalog(in_tmp)
    (catalog / "zero.yaml").symlink_to("/dev/zero")
    _, problems = check_catalog(catalog)
    assert [str(p) for p in problems] == [
        "catalog/zero.yaml:1:1: file is a symbolic link to /dev/zero, outside the catalog folder: "
        "not followed"
    ]
    assert len(catalog_digest(catalog)) == 64  # returns: nothing was read from the device


def test_yml_files_are_reported(in_tmp: Path) -> None:
    catalog = write_catalog(in_tmp)
    (catalog / "fab-250.yaml").rename(catalog / "fab-250.yml")
    _, problems = check_catalog(catalog)
    assert "catalog/fab-250.yml:1:1: '.yml' files are not read: rename it to fab-250.yaml" in map(
        str, problems
    )


def test_symlink_out_of_the_catalog_is_refused(in_tmp: Path) -> None:
    catalog = write_catalog(in_tmp)
    outside = in_tmp / "elsewhere.yaml"
    (catalog / "fab-250.yaml").rename(outside)
    (catalog / "fab-250.yaml").symlink_to(outside)
    (in_tmp / "more").mkdir()
    (catalog / "more").symlink_to(in_tmp / "more")
    _, problems = check_catalog(catalog)
    text = [str(p) for p in problems]
    assert (
        f"catalog/fab-250.yaml:1:1: file is a symbolic link to {outside}, outside the catalog folder: "
        "not followed" in text
    )
    assert (
        f"catalog/more:1:1: folder is a symbolic link to {in_tmp / 'more'}, outside the catalog folder: "
        "not followed" in text
    )


def test_symlink_inside_the_catalog_is_followed(in_tmp: Path) -> None:
    catalog = write_catalog(in_tmp)
    (catalog / "real").mkdir()
    (catalog / "fab-250.yaml").rename(catalog / "real" / "fab-250.yaml")
    (catalog / "_linked").mkdir()  # ignored folder, so the entry is read once, through the link
    (catalog / "real" / "fab-250.yaml").rename(catalog / "_linked" / "fab-250.yaml")
    (catalog / "fab-250.yaml").symlink_to(catalog / "_linked" / "fab-250.yaml")
    assert "fab-250" in load_catalog(catalog).entries


REORDERS = ": it makes text display in a different order from the one it is stored in"


@pytest.mark.parametrize(
    ("written", "col", "expected"),
    [
        (
            "FAB\u202e-250",
            10,
            "invisible right-to-left override character (U+202E) is not allowed" + REORDERS,
        ),
        ("FAB\u2066-250", 10, "invisible left-to-right isolate character (U+2066) is not allowed" + REORDERS),
        (
            '"FAB\\u202A-250"',
            7,
            "invisible left-to-right embedding character (U+202A) is not allowed" + REORDERS,
        ),
        ("FAB\0-250", 10, "NUL byte (U+0000) is not allowed in catalog text"),
        ('"FAB\\0-250"', 7, "NUL byte (U+0000) is not allowed in catalog text"),
    ],
    ids=["rlo", "lri", "escaped-lre", "nul", "escaped-nul"],
)
def test_invisible_and_nul_characters_are_refused_where_they_are(
    in_tmp: Path, written: str, col: int, expected: str
) -> None:
    catalog = write_catalog(in_tmp)
    path = catalog / "fab-250.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("role: A test item.", "role: A test item.\n# note", 1).replace(
            "name: FAB-250", f"name: {written}"
        ),
        encoding="utf-8",
    )
    line = yaml_line(path, "name: ")
    _, problems = check_catalog(catalog)
    assert [str(p) for p in problems if p.path == path] == [f"catalog/fab-250.yaml:{line}:{col}: {expected}"]


def test_coverage_counts_a_round_item_without_length_as_complete(tmp_path: Path) -> None:
    """A blast mine is round and flat: it has a diameter and a height, never a length."""
    from ordnance_db.stats import coverage, coverage_markdown

    def sized() -> dict[str, Any]:
        return {"value": 100, "basis": "estimate", "note": "from photographs"}

    entries = [
        make_entry(
            name,
            dimensions={"diameter_mm": sized(), "weight_kg": sized()},
            sources=["test-source-a", "test-source-b"],
        )
        for name in ("round-one", "long-one")
    ]
    entries[0]["features"]["shape"] = "disc"
    entries[1]["features"]["shape"] = "cylindrical"
    catalog = load_catalog(write_catalog(tmp_path, entries, sources=SOURCES))
    c = coverage(catalog)
    assert c.per_dimension["length_mm"]["round"] == 1
    assert c.per_dimension["length_mm"]["missing"] == 1
    assert c.with_all_three == 1
    assert "| Round (no length) |" in coverage_markdown(catalog)
