"""The app served for tests and benchmarks: `streamlit run app.py` on loopback, and the system Chromium.

The server starts as `make run` starts it, through the launcher (`python -m ordnance_db.serve`,
which warms the caches before Streamlit serves); `command=STREAMLIT` gives plain `streamlit run`.

One place for the server's start-up and the browser's flags, so that tests/test_browser.py,
benchmarks/bench_app.py and benchmarks/bench_load.py test and measure the same thing. Imported as
`tests.serving` (the project root is on sys.path: `python -m pytest` from the root, and every
benchmark inserts it).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # loopback only, never any other address
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    # every page is "in the foreground": no throttled timers when many pages are open at once
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    # no host name resolves: nothing can leave the machine even by mistake
    f"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE {HOST}",
]
STREAMLIT = (sys.executable, "-m", "streamlit")
LAUNCHER = (sys.executable, "-m", "ordnance_db.serve")


def chromium_options() -> dict[str, Any]:
    """Keyword arguments for Playwright's `chromium.launch` (sync or async API)."""
    return {"executable_path": CHROMIUM, "args": list(CHROMIUM_ARGS)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def healthy(url: str, timeout_s: float = 5) -> bool:
    """Whether the server answers /_stcore/health with 200."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=timeout_s) as response:
            return response.status == 200
    except OSError:
        return False


class AppServer:
    """`streamlit run app.py` on 127.0.0.1 and a free port, headless, no usage statistics.

    It uses the project's catalog and var/ (database, match index, thumbnails): ORDNANCE_* variables
    are not passed on. Output goes to `log` (or nowhere). `command` runs Streamlit's command line:
    the launcher by default, `STREAMLIT` for plain `python -m streamlit`, or a wrapper that times the
    server from inside; `script` replaces app.py (a benchmark's baseline app). As a context manager:
    started and healthy on entry, stopped on exit; `start_s` is then how long the process took from
    start to its first health answer.
    """

    def __init__(
        self, log: Path | None = None, command: Sequence[str] = LAUNCHER, script: str | Path = "app.py"
    ) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDNANCE_")}
        args = [
            *command,
            "run",
            str(script),
            "--server.port",
            str(self.port),
            "--server.headless",
            "true",
            "--server.address",
            HOST,
            "--browser.gatherUsageStats",
            "false",
        ]
        sink = log.open("wb") if log else subprocess.DEVNULL
        self.start_s: float | None = None
        self._launched = time.monotonic()
        try:
            self.process = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        finally:
            if log:
                sink.close()  # type: ignore[union-attr]

    def wait_healthy(self, timeout_s: float = 60, poll_s: float = 0.05) -> None:
        """Return once /_stcore/health answers; raise if the server exits or takes too long."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"streamlit exited with {self.process.returncode}: {self.log_text()[-500:]}"
                )
            if healthy(self.url, timeout_s=2):
                self.start_s = time.monotonic() - self._launched
                return
            time.sleep(poll_s)
        raise TimeoutError(f"streamlit did not answer {self.url}/_stcore/health within {timeout_s} s")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> AppServer:
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
