"""The command line as a user runs it: real subprocesses, real files, real database."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ordnance_db.cli import build_parser
from tests.conftest import write_real_subset

ROOT = Path(__file__).resolve().parent.parent


def commands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


@pytest.mark.parametrize("command", commands())
def test_every_command_has_help_and_is_in_the_readme(command: str) -> None:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    sub = action.choices[command]
    assert sub.description, f"{command} has no help text"
    assert f"`{command}" in (ROOT / "README.md").read_text(encoding="utf-8"), f"{command} missing from README"


def test_search_json_is_a_list_of_entries_best_first(mini_catalog: Path, run_cli) -> None:
    result = run_cli("search", "ОФАБ-250-270", "--format", "json")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert records[0]["id"] == "ofab-250-270" and records[0]["name"] == "OFAB-250-270"


def test_search_filters_and_csv(mini_catalog: Path, run_cli) -> None:
    result = run_cli("search", "--category", "submunition", "--category", "hand-grenade", "--format", "csv")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("id,name,")
    assert sorted(line.split(",")[0] for line in lines[1:]) == ["m67-grenade", "shoab-0-5"]


def test_search_bad_range_is_one_line_exit_1(mini_catalog: Path, run_cli) -> None:
    result = run_cli("search", "--length", "abc")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "not a range" in result.stderr


def test_show_and_unknown_id(mini_catalog: Path, run_cli) -> None:
    shown = run_cli("show", "shoab-0-5", "--format", "json")
    assert json.loads(shown.stdout)["names"]["ru"] == "ШОАБ-0,5"
    dimensions = json.loads(run_cli("show", "ofab-250-270", "--format", "json").stdout)["dimensions"]
    assert {k: d["basis"] for k, d in dimensions.items()} == {
        "length_mm": "source",
        "diameter_mm": "estimate",
        "weight_kg": "nominal",
    }
    missing = run_cli("show", "no-such-thing")
    assert missing.returncode == 1 and "no entry matches 'no-such-thing'; closest: " in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.mark.parametrize(
    "spelling", ["ofab-250-270", "OFAB-250-270", "ОФАБ-250-270", "ofab 250 270", "OFAB 250"]
)
def test_show_accepts_any_spelling_search_accepts(mini_catalog: Path, run_cli, spelling: str) -> None:
    searched = json.loads(run_cli("search", spelling, "--format", "json").stdout)
    assert searched[0]["id"] == "ofab-250-270"
    shown = run_cli("show", spelling)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == "OFAB-250-270  (ofab-250-270)"


def test_show_is_a_readable_record_and_json_has_every_field(tmp_path: Path, run_cli) -> None:
    catalog = write_real_subset(tmp_path, ["pfm-1"])
    assert run_cli("build", "--no-index", catalog=catalog).returncode == 0
    text = run_cli("show", "PFM-1", catalog=catalog)
    assert text.returncode == 0, text.stderr
    assert "category: " in text.stdout and "visible features:" in text.stdout and "sources:" in text.stdout
    assert "geometry" not in text.stdout and "points" not in text.stdout and "profile" not in text.stdout
    assert not re.search(r"\[\s*-?\d+(\.\d+)?,\s*-?\d+(\.\d+)?\s*\]", text.stdout)  # no coordinates
    record = json.loads(run_cli("show", "pfm-1", "--format", "json", catalog=catalog).stdout)
    assert record["id"] == "pfm-1" and record["geometry"]["form"] in ("revolution", "outline")
    assert {"features", "dimensions", "hazards", "sources"} <= set(record)


def test_show_ambiguous_name_lists_the_candidates(mini_catalog: Path, run_cli) -> None:
    result = run_cli("show", "250")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        "error: '250' matches several entries: fab-250 (FAB-250), ofab-250-270 (OFAB-250-270); "
        "give one of these ids\n"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--category", "bomb"], "error: unknown category 'bomb'; nearest: aircraft-bomb"),
        (["--colour", "olve-green"], "error: unknown colour 'olve-green'; nearest: olive-green"),
        # origins are ISO codes, compared with their country names too (SU, not ES or PS)
        (["--origin", "Soviet"], "error: unknown origin 'Soviet'; nearest: SU"),
        (["--origin", "su"], "error: unknown origin 'su'; nearest: SU;"),
    ],
)
def test_unknown_term_exits_1_with_the_nearest(
    mini_catalog: Path, run_cli, args: list[str], expected: str
) -> None:
    result = run_cli("search", *args)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(expected) and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [["facets"], ["export", "--csv", "out.csv"], ["match", "photo.jpg"], ["key", "--answer", "shap=disc"]],
)
def test_every_command_taking_terms_refuses_an_unknown_one(
    mini_catalog: Path, run_cli, tmp_path: Path, command: list[str]
) -> None:
    """Not only search: an unknown term anywhere exits 1 with the nearest, and writes nothing."""
    (tmp_path / "photo.jpg").write_bytes(b"not read: the terms are checked first")
    args = [*command] if command[0] == "key" else [*command, "--category", "bomb"]
    result = run_cli(*args)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    expected = "unknown question 'shap'; nearest: shape" if command[0] == "key" else "nearest: aircraft-bomb"
    assert result.stderr.startswith("error: ") and expected in result.stderr, result.stderr
    assert not (tmp_path / "out.csv").exists()


def test_known_term_no_entry_has_is_not_an_error(mini_catalog: Path, run_cli) -> None:
    result = run_cli("search", "--category", "guided-bomb", "--format", "json")
    assert result.returncode == 0 and json.loads(result.stdout) == []


def test_build_is_idempotent(mini_catalog: Path, run_cli) -> None:
    first = run_cli("build")
    second = run_cli("build")
    assert "database built: 4 entries" in first.stdout
    assert "already up to date" in second.stdout


def test_build_prints_each_step_on_stderr_without_a_terminal(tmp_path: Path, run_cli) -> None:
    """A line per long step, with n/N and the time taken, even in a pipe (issue 14); drawings are
    checked, never written: a changed committed drawing is reported and left alone."""
    catalog = write_real_subset(tmp_path, ["pfm-1", "f-1-grenade", "shoab-0-5"])
    first = run_cli("render")
    assert first.returncode == 0, first.stderr
    side = tmp_path / "images" / "pfm-1" / "side.png"
    side.write_bytes(b"not the renderer's picture")
    result = run_cli("build", catalog=catalog)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    for step in ("building database", "rendering drawings", "building match index"):
        assert f"{step}… 0/3" in lines, result.stderr
        assert any(re.fullmatch(rf"{step} 3/3 done in \d+\.\d s", line) for line in lines), result.stderr
    assert side.read_bytes() == b"not the renderer's picture"
    assert "1 file(s)" in result.stdout and "render pfm-1" in result.stdout
    assert "match index built" in result.stdout
    again = run_cli("build", "--no-index", catalog=catalog)
    assert "rendering drawings… 0/3" in again.stderr  # checked again until the drawings match
    assert "building match index" not in again.stderr and "--no-index" in again.stdout


def test_build_refuses_a_broken_catalog(mini_catalog: Path, run_cli) -> None:
    (mini_catalog / "fab-250.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    result = run_cli("build")
    assert result.returncode == 1
    assert "catalog/fab-250.yaml:2:1: YAML syntax error" in result.stderr
    assert "nothing was built" in result.stderr


def test_usage_error_exits_2(run_cli) -> None:
    assert run_cli("search", "--no-such-flag").returncode == 2


def test_facets_and_schema(mini_catalog: Path, run_cli) -> None:
    facets = json.loads(run_cli("facets", "--format", "json").stdout)
    assert {"filter": "category", "value": "aircraft-bomb", "count": 2} in facets
    schema = json.loads(run_cli("schema").stdout)
    assert schema["title"] == "Entry" and "features" in schema["properties"]


def test_validate_real_catalog_exits_0(run_cli) -> None:
    result = run_cli("validate", str(ROOT / "catalog"), "--images-dir", str(ROOT / "images"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("catalog OK: ")


def test_coverage_json_on_the_real_catalog(run_cli) -> None:
    result = run_cli("coverage", "--format", "json", catalog=ROOT / "catalog")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["entries"] >= 100 and report["per_country"]["UA"] > 0
    assert set(report["dimensions"]["length_mm"]) == {
        "source",
        "reference",
        "nominal",
        "estimate",
        "round",
        "missing",
    }
    markdown = run_cli("coverage", catalog=ROOT / "catalog").stdout
    assert f"{report['entries']} entries" in markdown and "| Ukraine (UA) |" in markdown


def test_export_commands(mini_catalog: Path, run_cli, tmp_path: Path) -> None:
    pdf = run_cli("export", "--pdf", str(tmp_path / "s.pdf"), "shoab-0-5")
    assert pdf.returncode == 0, pdf.stderr
    assert (tmp_path / "s.pdf").read_bytes().startswith(b"%PDF")
    csv_run = run_cli("export", "--csv", str(tmp_path / "x.csv"), "--category", "submunition")
    assert csv_run.returncode == 0 and "1 entry" in csv_run.stdout
    bad = run_cli("export", "--json", str(tmp_path / "x.json"), "no-such-id")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    unwritable = run_cli("export", "--json", str(tmp_path / "missing" / "x.json"))
    assert unwritable.returncode == 1 and "Traceback" not in unwritable.stderr
