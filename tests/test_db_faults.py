"""Database faults as users meet them: one clear line, never a traceback; damaged SQLite rebuilt.

Real subprocesses and real files; the PostgreSQL cases point at real closed ports, unknown hosts
and, where the test server runs, a database that does not exist.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from ordnance_db import db
from tests.conftest import postgres_url

ROOT = Path(__file__).resolve().parent.parent


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is: nothing listens there


def one_line_error(result) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ")
    return result.stderr


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (
            f"postgresql+psycopg://u:secret@127.0.0.1:{closed_port()}/ordnance",
            "is the database server running",
        ),
        ("postgresql+psycopg://u:secret@no-such-host.invalid/ordnance", "host name is wrong"),
        ("postgres ql://nonsense", "not a database URL"),
        ("mysql+nosuchdriver://u@h/d", "not a database URL"),
    ],
)
def test_cli_database_faults_are_one_line(mini_catalog: Path, run_cli, url: str, words: str) -> None:
    for command in (["search", "OFAB"], ["build"], ["show", "ofab-250-270"]):
        message = one_line_error(run_cli(*command, env={"ORDNANCE_DB_URL": url}))
        assert words in message, message
        assert "secret" not in message  # the password is never printed


@pytest.mark.postgres
def test_cli_missing_postgres_database(mini_catalog: Path, run_cli) -> None:
    url = postgres_url().rsplit("/", 1)[0] + "/no_such_database"
    message = one_line_error(run_cli("search", "OFAB", env={"ORDNANCE_DB_URL": url}))
    assert "does not exist" in message and "createdb" in message


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: b"this is not a database at all" * 100, id="garbage"),
        pytest.param(lambda data: data[: len(data) // 3], id="truncated"),
        pytest.param(lambda data: data[:4096] + bytes(len(data) - 4096), id="pages-zeroed"),
    ],
)
def test_damaged_sqlite_is_moved_aside_and_rebuilt(
    mini_catalog: Path, run_cli, tmp_path: Path, damage
) -> None:
    assert run_cli("build", "--no-index").returncode == 0
    path = tmp_path / "var" / "cli.sqlite"
    for companion in ("-wal", "-shm"):
        path.with_name(path.name + companion).unlink(missing_ok=True)
    path.write_bytes(damage(path.read_bytes()))
    result = run_cli("search", "OFAB", "--format", "json")
    assert result.returncode == 0 and '"ofab-250-270"' in result.stdout, result.stderr
    assert "Traceback" not in result.stderr
    aside = [p.name for p in path.parent.iterdir() if ".damaged-" in p.name]
    assert any(name.startswith("cli.sqlite.damaged-") for name in aside)  # kept, not deleted
    assert db.sqlite_intact(db.get_engine(f"sqlite:///{path}"))


def test_build_force_repairs_a_garbage_sqlite_file(mini_catalog: Path, run_cli, tmp_path: Path) -> None:
    path = tmp_path / "var" / "cli.sqlite"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00garbage" * 1000)
    result = run_cli("build", "--force", "--no-index")
    assert result.returncode == 0, result.stderr
    assert run_cli("show", "ofab-250-270").returncode == 0


def test_read_only_database_file_gets_one_line(mini_catalog: Path, run_cli, tmp_path: Path) -> None:
    """A replica without write rights to an out-of-date database: a sentence, not a traceback."""
    path = tmp_path / "var" / "cli.sqlite"
    assert run_cli("build", "--no-index").returncode == 0
    (mini_catalog / "ofab-250-270.yaml").write_text(
        (mini_catalog / "ofab-250-270.yaml").read_text(encoding="utf-8") + "\n", encoding="utf-8"
    )  # the catalog moved on: the database must be rebuilt, but only read access is given
    url = f"sqlite:///file:{path}?mode=ro&uri=true"
    message = one_line_error(run_cli("search", "OFAB", env={"ORDNANCE_DB_URL": url}))
    assert "cannot be used" in message


def test_app_shows_one_sentence_when_the_database_is_down(
    mini_catalog: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDNANCE_DB_URL", f"postgresql+psycopg://u:secret@127.0.0.1:{closed_port()}/x")
    monkeypatch.setenv("ORDNANCE_CATALOG_DIR", str(mini_catalog))
    monkeypatch.setenv("ORDNANCE_VAR_DIR", str(tmp_path / "var"))
    st.cache_resource.clear()  # an earlier AppTest in this process may have cached a working engine
    try:
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    finally:
        st.cache_resource.clear()
    assert not app.exception, [e.value for e in app.exception]
    errors = [e.value for e in app.error]
    assert any("is the database server running" in e for e in errors), errors
    assert not any("secret" in e for e in errors)


@pytest.mark.postgres
def test_replica_with_a_read_only_role(mini_catalog: Path, run_cli) -> None:
    """The release `build` runs with write rights; replicas use a role that may only SELECT."""
    import sqlalchemy as sa

    owner_url = postgres_url()
    reader_url = sa.make_url(owner_url).set(username="ordnance_reader", password="reader-pw")
    owner = sa.create_engine(owner_url)
    db.Base.metadata.drop_all(owner)
    with owner.begin() as c:
        if c.exec_driver_sql("SELECT 1 FROM pg_roles WHERE rolname = 'ordnance_reader'").first():
            c.exec_driver_sql("DROP OWNED BY ordnance_reader")
        c.exec_driver_sql("DROP ROLE IF EXISTS ordnance_reader")
        c.exec_driver_sql("CREATE ROLE ordnance_reader LOGIN PASSWORD 'reader-pw'")
    reader = {
        "ORDNANCE_DB_URL": reader_url.render_as_string(hide_password=False),
        "ORDNANCE_DB_READ_ONLY": "1",
    }
    try:
        unbuilt = one_line_error(run_cli("search", "OFAB", env=reader))
        assert "has not been built" in unbuilt and "write rights" in unbuilt
        assert run_cli("build", "--no-index", env={"ORDNANCE_DB_URL": owner_url}).returncode == 0
        with owner.begin() as c:
            c.exec_driver_sql("GRANT SELECT ON ALL TABLES IN SCHEMA public TO ordnance_reader")
        served = run_cli("search", "OFAB", "--format", "json", env=reader)
        assert served.returncode == 0 and '"ofab-250-270"' in served.stdout, served.stderr
        path = mini_catalog / "ofab-250-270.yaml"
        path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # a newer catalog
        still = run_cli("search", "OFAB", "--format", "json", env=reader)
        assert still.returncode == 0 and '"ofab-250-270"' in still.stdout  # the old release, served
        without_flag = {"ORDNANCE_DB_URL": reader["ORDNANCE_DB_URL"]}
        message = one_line_error(run_cli("search", "OFAB", env=without_flag))
        assert "permission denied" in message and "write rights" in message
        assert "reader-pw" not in message
    finally:
        db.Base.metadata.drop_all(owner)
        with owner.begin() as c:
            c.exec_driver_sql("DROP OWNED BY ordnance_reader")
            c.exec_driver_sql("DROP ROLE IF EXISTS ordnance_reader")
        owner.dispose()
