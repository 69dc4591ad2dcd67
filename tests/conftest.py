"""Shared fixtures: small real catalogs on disk and real SQLite databases."""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest
import yaml
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from ordnance_db import db
from ordnance_db.db import Base
from ordnance_db.schema import Guidance
from tests.serving import CHROMIUM, chromium_options

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parent.parent

SOURCES: dict[str, Any] = {
    "test-source-a": {
        "title": "A test report",
        "publisher": "Test Publisher",
        "url": "https://example.org/a",
        "date": "2020-01-01",
    },
    "test-source-b": {
        "title": "Another test report",
        "publisher": "Test Publisher",
        "url": "https://example.org/b",
        "date": "2021",
    },
}


def make_entry(entry_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid entry as plain data; override any key."""
    entry: dict[str, Any] = {
        "id": entry_id,
        "name": entry_id.upper(),
        "category": "aircraft-bomb",
        "role": "A test item.",
        "origin": ["SU"],
        "dimensions": {
            "length_mm": {"value": 1500, "source": "test-source-a"},
            "diameter_mm": {"value": 300, "basis": "estimate", "note": "estimated from photos"},
            "weight_kg": {"value": 250, "basis": "nominal", "note": "nominal class"},
        },
        "features": {
            "shape": "streamlined",
            "stabilisation": "fins",
            "fin_count": 4,
            "fuze_position": "nose",
            "colours": ["grey"],
            "marking_script": "cyrillic",
        },
        "hazards": ["Keep away and report it."],
        "sources": ["test-source-a"],
    }
    for key, value in overrides.items():
        entry[key] = value
    return entry


MINI_ENTRIES: list[dict[str, Any]] = [
    make_entry(
        "ofab-250-270",
        name="OFAB-250-270",
        names={"ru": "ОФАБ-250-270"},
        aliases=["OFAB 250-270"],
        lookalikes=[{"id": "fab-250", "how_to_tell": "Read the stencil."}],
        producers=[{"name": "A state plant", "country": "SU", "source": "test-source-a"}],
        suppliers=[{"name": "Russia", "country": "RU", "source": "test-source-a"}],
        used_in=[{"country": "SY", "years": "2016", "source": "test-source-a"}],
        features={
            "shape": "streamlined",
            "stabilisation": "fins-ring-tail",
            "fin_count": 4,
            "fuze_position": "nose",
            "colours": ["grey", "dark-grey"],
            "marking_script": "cyrillic",
            "marking_text": ["ОФАБ-250-270"],
            "mechanical": ["ring-tail", "suspension-lugs"],
        },
    ),
    make_entry(
        "fab-250",
        name="FAB-250",
        names={"ru": "ФАБ-250"},
        lookalikes=[{"id": "ofab-250-270", "how_to_tell": "Read the stencil."}],
        dimensions={"length_mm": {"value": 1960, "source": "test-source-b"}},
        sources=["test-source-b"],
        features={
            "shape": "streamlined",
            "stabilisation": "fins",
            "fin_count": 4,
            "fuze_position": "nose-and-tail",
            "colours": ["grey"],
            "marking_script": "cyrillic",
        },
    ),
    make_entry(
        "shoab-0-5",
        name="ShOAB-0.5",
        names={"ru": "ШОАБ-0,5"},
        category="submunition",
        dimensions={"diameter_mm": {"value": 60, "source": "test-source-a"}},
        features={
            "shape": "spherical",
            "stabilisation": "vanes",
            "fin_count": 0,
            "fuze_position": "internal",
            "colours": ["olive-green"],
            "marking_script": "none",
        },
    ),
    make_entry(
        "m67-grenade",
        name="M67",
        category="hand-grenade",
        origin=["US"],
        dimensions={"weight_kg": {"value": 0.4, "source": "test-source-b"}},
        features={
            "shape": "spherical",
            "stabilisation": "none",
            "fin_count": 0,
            "fuze_position": "top",
            "colours": ["olive-green"],
            "marking_script": "latin",
            "mechanical": ["lever", "pull-ring"],
        },
    ),
]


def write_catalog(
    root: Path, entries: list[dict[str, Any]] | None = None, sources: dict[str, Any] | None = None
) -> Path:
    """Write a real catalog folder: the project's vocabulary, the given entries and sources."""
    catalog = root / "catalog"
    catalog.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "catalog" / "vocabulary.yaml", catalog / "vocabulary.yaml")
    (catalog / "sources.yaml").write_text(
        yaml.safe_dump(SOURCES if sources is None else sources, allow_unicode=True), encoding="utf-8"
    )
    guidance = {
        "title": "If you find something that might be explosive",
        "panel": ["Do not touch it.", "Keep away and keep others away.", "Report it to the police."],
        "standards": ["test-source-a"],
    }
    (catalog / "guidance.yaml").write_text(yaml.safe_dump(guidance), encoding="utf-8")
    for entry in copy.deepcopy(MINI_ENTRIES if entries is None else entries):
        (catalog / f"{entry['id']}.yaml").write_text(
            yaml.safe_dump(entry, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
    (root / "images").mkdir(exist_ok=True)
    return catalog


@pytest.fixture
def mini_catalog(tmp_path: Path) -> Path:
    return write_catalog(tmp_path)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.sqlite'}"


def postgres_url() -> str:
    """The test PostgreSQL server's URL; in CI its absence is a failure, elsewhere a skip."""
    url = os.environ.get("ORDNANCE_TEST_PG_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI is set but ORDNANCE_TEST_PG_URL is not: .ci/run must start PostgreSQL")
        pytest.skip("no PostgreSQL server (set ORDNANCE_TEST_PG_URL, see .ci/start-postgres)")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A real, empty database of each kind the project supports."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'test.sqlite'}")
    else:
        engine = create_engine(postgres_url())
        Base.metadata.drop_all(engine)
    yield engine
    if request.param == "postgresql":
        Base.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `python -m ordnance_db` in a subprocess against the tmp catalog, as a user would."""

    def run(*args: str, catalog: Path | None = None, env: dict[str, str] | None = None) -> Any:
        catalog = catalog or tmp_path / "catalog"
        full_env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "ORDNANCE_CATALOG_DIR": str(catalog),
            "ORDNANCE_IMAGES_DIR": str(catalog.parent / "images"),
            "ORDNANCE_VAR_DIR": str(tmp_path / "var"),
            "ORDNANCE_DB_URL": f"sqlite:///{tmp_path / 'var' / 'cli.sqlite'}",
            **(env or {}),
        }
        return subprocess.run(
            [sys.executable, "-m", "ordnance_db", *args],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=tmp_path,
            timeout=120,
        )

    return run


def write_real_subset(root: Path, ids: list[str]) -> Path:
    """A valid catalog of some real entries: their files, the sources they cite, look-alikes trimmed."""
    source_catalog = ROOT / "catalog"
    catalog = root / "catalog"
    catalog.mkdir(parents=True, exist_ok=True)
    shutil.copy(source_catalog / "vocabulary.yaml", catalog / "vocabulary.yaml")
    shutil.copy(source_catalog / "guidance.yaml", catalog / "guidance.yaml")
    all_sources = yaml.safe_load((source_catalog / "sources.yaml").read_text(encoding="utf-8"))
    guidance = yaml.safe_load((source_catalog / "guidance.yaml").read_text(encoding="utf-8"))
    cited = set(guidance["standards"]) | {c["source"] for c in guidance.get("contacts", [])}
    from ordnance_db.schema import Entry

    for entry_id in ids:
        data = yaml.safe_load((source_catalog / f"{entry_id}.yaml").read_text(encoding="utf-8"))
        data["lookalikes"] = [a for a in data.get("lookalikes", []) if a["id"] in ids]
        cited |= Entry.model_validate(data).cited_sources()
        (catalog / f"{entry_id}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    sources = {k: v for k, v in all_sources.items() if k in cited}
    (catalog / "sources.yaml").write_text(yaml.safe_dump(sources, allow_unicode=True), encoding="utf-8")
    (root / "images").mkdir(exist_ok=True)
    return catalog


def _tracked_changes() -> str | None:
    """`git status` of tracked files, or None outside a git checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_TRACKED] = _tracked_changes()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The run fails if it modified a tracked file (drawings, screenshots, catalog)."""
    before = session.config.stash.get(_TRACKED, None)
    after = _tracked_changes()
    if before is None or after is None or after == before:
        return
    new = sorted(set(after.splitlines()) - set(before.splitlines()))
    print("\nthe tests modified tracked files:\n  " + "\n  ".join(new or after.splitlines()), file=sys.stderr)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


_TRACKED = pytest.StashKey[str | None]()


def unavailable(reason: str) -> NoReturn:
    """A missing browser fails the run in CI and skips it elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """The system Chromium through Playwright, headless with the flags of tests/serving.py."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        unavailable("Playwright is not installed")
    if not Path(CHROMIUM).exists():
        unavailable(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(**chromium_options())
        except Error as exc:
            unavailable(f"Chromium cannot start: {exc.message.splitlines()[0]}")
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def catalog_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The real catalog, built into a temporary SQLite database once per test module."""
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('catalog') / 'catalog.sqlite'}")
    db.ensure_built(engine)
    return engine


@pytest.fixture(scope="module")
def guidance(catalog_engine: Engine) -> Guidance:
    """The real catalog's safety guidance and contacts, as the sheets read them."""
    return Guidance.model_validate(db.read_meta(catalog_engine, "guidance"))
