"""Uploads of sessions that have gone are let go (views/uploads.py), measured on the real server.

Streamlit keeps a disconnected session's uploads in memory and, once the reconnect time has
passed, drops the session without shutting it down, so the uploads stayed for the life of the
process. Here the reconnect time is 2 s; ten sessions each upload a 20 MB photo and leave.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from benchmarks.bench_flood import IDENTIFY_TITLE, hostile_jpeg, tree_rss_kb
from benchmarks.st_client import StreamlitClient
from ordnance_db.matcher import PhotoMatcher
from tests.serving import STREAMLIT, AppServer
from tests.test_app import catalog, matcher  # noqa: F401 (fixtures: the index current in var/)

SESSIONS = 10


async def upload_and_leave(url: str, data: bytes) -> None:
    client = StreamlitClient(url, 120)
    try:
        await client.connect()
        await client.rerun(page_hash=client.pages[IDENTIFY_TITLE])  # starts the sweep
        await client.upload(client.page.one("photo_upload").id, "photo.jpg", data, "image/jpeg")
    finally:
        await client.close()


def test_uploads_of_departed_sessions_leave_memory(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    matcher: PhotoMatcher,  # noqa: F811 (built first, so Identify shows its upload widget at once)
) -> None:
    monkeypatch.setenv("STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL", "2")
    data = hostile_jpeg()  # 20 MB of noise: incompressible, as a large phone photo
    # Plain `streamlit run`, not the launcher: the launcher's warm-up leaves the allocator holding
    # about 40 MB more after the same uploads (408 -> 448 MB, measured 2026-12-08), which would hide
    # whether the sweep itself lets go; that difference is not explained yet (issue 14).
    with AppServer(tmp_path / "server.log", command=STREAMLIT) as server:
        pid = server.process.pid

        async def visit() -> None:
            await upload_and_leave(server.url, data)
            await asyncio.sleep(10)  # the first session's photo let go too: a settled baseline
            before.append(tree_rss_kb(pid))
            for _ in range(SESSIONS):
                await upload_and_leave(server.url, data)

        before: list[int] = []
        asyncio.run(visit())
        held = tree_rss_kb(pid)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and tree_rss_kb(pid) - before[0] > 30 * 1024:
            time.sleep(1)
        after = tree_rss_kb(pid)
        assert "Traceback" not in server.log_text()
    # 10 x 20 MB were uploaded; without the sweep 52-81 MB stayed resident for good (measured)
    assert (after - before[0]) / 1024 < 30, (before[0] // 1024, held // 1024, after // 1024)
