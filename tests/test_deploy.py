"""The example proxy configuration (deploy/nginx.conf), tested as shipped: real nginx, the real app,
real Chromium through TLS.

Only the machine-specific values are replaced: ports, certificate paths and the pid file. nginx is
a system program, so without it the test skips, unless CI is set (then `.ci/run` installs it).
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving import CHROMIUM, HOST, AppServer, chromium_options, free_port

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "deploy" / "nginx.conf"


def need(program: str) -> str:
    path = shutil.which(program) or (program if Path(program).exists() else None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {program} is missing: .ci/run must install it")
        pytest.skip(f"{program} is not installed")
    return path


class Proxy:
    def __init__(self, app_port: int, folder: Path) -> None:
        self.https, self.http = free_port(), free_port()
        key, cert = folder / "privkey.pem", folder / "fullchain.pem"
        request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
        subprocess.run(
            [need("openssl"), *request, "-keyout", str(key), "-out", str(cert)],
            check=True,
            capture_output=True,
        )
        text = CONFIG.read_text(encoding="utf-8")
        for old, new in {
            "listen 80;": f"listen {HOST}:{self.http};",
            "listen 443 ssl": f"listen {HOST}:{self.https} ssl",
            "127.0.0.1:8501": f"{HOST}:{app_port}",
            "/etc/ssl/ordnance/fullchain.pem": str(cert),
            "/etc/ssl/ordnance/privkey.pem": str(key),
            "/run/nginx-ordnance.pid": str(folder / "nginx.pid"),
        }.items():
            assert old in text, f"deploy/nginx.conf no longer has {old!r}"
            text = text.replace(old, new)
        conf = folder / "nginx.conf"
        conf.write_text(text, encoding="utf-8")
        nginx = need("nginx")
        self.log = folder / "error.log"
        directives = f"daemon off; error_log {self.log};"
        subprocess.run([nginx, "-t", "-q", "-c", str(conf), "-g", directives], check=True)
        self.process = subprocess.Popen([nginx, "-c", str(conf), "-g", directives, "-p", str(folder)])
        self.url = f"https://{HOST}:{self.https}"
        deadline = time.monotonic() + 15
        while get(f"{self.url}/_stcore/health")[0] != 200:
            assert time.monotonic() < deadline, self.log.read_text(errors="replace")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


NO_VERIFY = ssl.create_default_context()
NO_VERIFY.check_hostname = False
NO_VERIFY.verify_mode = ssl.CERT_NONE


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def get(url: str, data: bytes | None = None, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=NO_VERIFY), _NoRedirect)
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with opener.open(request, timeout=20) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()
    except OSError:
        return 0, {}, b""


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    need("nginx")
    with AppServer() as app:
        proxy = Proxy(app.port, tmp_path_factory.mktemp("nginx"))
        try:
            yield proxy
        finally:
            proxy.stop()


def test_http_redirects_to_https_and_tls_headers(proxy: Proxy) -> None:
    status, headers, _ = get(f"http://{HOST}:{proxy.http}/identify")
    assert (
        status == 301
        and headers["Location"].startswith("https://")
        and headers["Location"].endswith("/identify")
    )
    status, headers, body = get(f"{proxy.url}/")
    assert status == 200 and b"<noscript>" in body
    assert "max-age" in headers["Strict-Transport-Security"]
    assert headers["Server"] == "nginx"  # no version


def test_uploads_over_the_limit_stop_at_the_proxy(proxy: Proxy) -> None:
    status, _, _ = get(f"{proxy.url}/_stcore/upload_file/s/f", data=bytes(27 * 2**20), method="PUT")
    assert status == 413


def test_upload_rate_is_limited_per_client(proxy: Proxy) -> None:
    statuses = [get(f"{proxy.url}/_stcore/upload_file/s/f", data=b"x", method="PUT")[0] for _ in range(12)]
    assert 429 in statuses, statuses
    assert statuses[0] != 429  # ordinary use passes


def test_the_app_works_through_the_proxy_in_a_real_browser(proxy: Proxy) -> None:
    """TLS, the websocket and the page's scripts all pass: the Browse page renders its results."""
    if not Path(CHROMIUM).exists():
        need(CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium_options())
        try:
            page = browser.new_page(ignore_https_errors=True, viewport={"width": 1400, "height": 1000})
            failures: list[str] = []
            page.on("response", lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.goto(proxy.url, wait_until="domcontentloaded")
            page.get_by_text("Do not touch").first.wait_for(timeout=60_000)
            page.locator('[data-testid="stTextInput"] input').first.wait_for(timeout=30_000)
            page.wait_for_timeout(2000)  # the page's remaining script chunks
            assert not failures, failures  # the limits never refuse an ordinary page load
        finally:
            browser.close()
