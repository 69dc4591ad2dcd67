"""A protocol-level Streamlit client: what a browser tab says to `streamlit run`, without the browser.

Why: the load test (benchmarks/bench_load.py) needs 20 or more simultaneous users on a 2-core machine.
As Chromium pages they take about three quarters of the CPU, so the latencies measure the load
generator. This client speaks the app's own protocol, so a user costs a few milliseconds of CPU per
action, and the server does exactly the work a browser would make it do: the same script runs, the
same uploads, the same picture downloads.

The protocol (Streamlit 1.67, `streamlit/web/server/starlette` and `streamlit/runtime/app_session.py`):

- HTTP GET `/_stcore/health` sets the `_streamlit_xsrf` cookie, as the page load does in a browser.
- A websocket at `/_stcore/stream` (subprotocols `streamlit`, then the XSRF token) carries protobuf
  messages: `BackMsg` to the server, `ForwardMsg` back, one message per binary frame.
- `BackMsg.rerun_script` (a `ClientState`: query string, page script hash or page name, widget
  states) asks for a script run. The run answers with `new_session` (it started), `delta`s (an element
  or a block at `metadata.delta_path`: the root container, main 0 or sidebar 1, then the index in
  every enclosing block), and `script_finished`. Elements the run did not write again are stale and
  go, as the front end removes them when the run finishes. A run that is interrupted by a newer one
  (`st.switch_page`, `st.rerun`) finishes with FINISHED_EARLY_FOR_RERUN and the newer run follows.
- Widget ids are in the element protos (`$$ID-<hash>-<user key>`); a widget's value is sent as a
  `WidgetState` with that id. The server keeps every widget's last value while the widget is drawn,
  so this client sends only what the user changed (the browser resends everything; the script sees
  the same values). A button press is a `trigger_value`.
- File upload: `BackMsg.file_urls_request` -> `ForwardMsg.file_urls_response` (a file id and an upload
  URL) -> HTTP PUT of the file as multipart form data (with the `X-Xsrftoken` header) -> a rerun
  with the file uploader's `FileUploaderState` (name, size, file id, URLs).
- Pictures (`st.image`) are URLs under `/media/`, which a browser fetches after the run; `media_urls`
  lists them so a caller can fetch them as a browser would.

Only the parts the app's pages use are implemented: no fragments, dialogs or custom components, no
message cache (no `cached_message_hashes`: the server then always sends whole messages).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Block_pb2 import Block
from streamlit.proto.Common_pb2 import FileUploaderState, FileURLs, StringArray, UploadedFileInfo
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

XSRF_COOKIE = "_streamlit_xsrf"
_RUN_OVER = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR)
_MARKDOWN = re.compile(r"\\(.)|\*\*|\u2060")


class ProtocolError(Exception):
    """The server said something this client cannot follow, or closed the connection."""


def plain(markdown: str) -> str:
    """Markdown as the reader sees it, near enough for comparing names: escapes resolved, bold marks
    and word joiners gone (the app escapes catalog text and wraps designations in `**`)."""
    return _MARKDOWN.sub(lambda m: m.group(1) or "", markdown)


def user_key(element_id: str) -> str:
    """The key the app gave an element (`key=`), from its id `$$ID-<hash>-<key>`; "" if none."""
    if not element_id.startswith("$$ID-"):
        return ""
    key = element_id.split("-", 2)[-1]
    return "" if key == "None" else key


# --- what the page shows ------------------------------------------------------------------------


@dataclass
class Node:
    """An element or a block at its place in the page, with the run that wrote it."""

    path: tuple[int, ...]
    run: int
    element: Element | None = None
    block: Block | None = None

    @property
    def kind(self) -> str:
        """The element's or block's type: "markdown", "alert", "flex_container", "file_uploader"..."""
        proto: Any = self.element if self.element is not None else self.block
        return str(proto.WhichOneof("type"))

    @property
    def proto(self) -> Any:
        """The element's own proto (e.g. the `Markdown`), or the block's."""
        return getattr(self.element, self.kind) if self.element is not None else self.block

    @property
    def id(self) -> str:
        if self.block is not None:
            return self.block.id
        return str(getattr(self.proto, "id", ""))

    @property
    def key(self) -> str:
        return user_key(self.id)

    @property
    def text(self) -> str:
        """The element's visible text (title, body, label or message; captions of pictures), Markdown
        made plain. Blocks have none of their own (see `Page.text`)."""
        proto = self.proto
        if self.element is None:
            return ""
        if self.kind == "imgs":
            return " ".join(img.caption for img in proto.imgs)
        parts = [getattr(proto, name, "") for name in ("title", "body", "label", "message")]
        return plain(" ".join(str(p) for p in parts if p))


class Page:
    """The app as a browser would show it after the last finished run: nodes in document order."""

    def __init__(self, nodes: dict[tuple[int, ...], Node]) -> None:
        self.nodes = [nodes[path] for path in sorted(nodes)]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def find(self, key: str) -> list[Node]:
        """Elements and blocks the app gave this key."""
        return [n for n in self.nodes if n.key == key]

    def with_key_prefix(self, prefix: str) -> list[Node]:
        return [n for n in self.nodes if n.key.startswith(prefix)]

    def one(self, key: str) -> Node:
        found = self.find(key)
        if len(found) != 1:
            raise AssertionError(f"{len(found)} elements with key {key!r}, expected 1")
        return found[0]

    def inside(self, node: Node) -> list[Node]:
        """Everything inside a block, in document order."""
        size = len(node.path)
        return [n for n in self.nodes if len(n.path) > size and n.path[:size] == node.path]

    def text(self, node: Node) -> str:
        """A node's text and that of everything inside it."""
        return " ".join(t for t in (n.text for n in [node, *self.inside(node)]) if t)

    def of_kind(self, kind: str) -> list[Node]:
        return [n for n in self.nodes if n.kind == kind]

    def problems(self, allowed_error_keys: Iterable[str] = ()) -> dict[str, list[str]]:
        """What a user would see as a failure: exceptions, error alerts outside the blocks with the
        given keys (warnings the app shows on purpose as error alerts), dialogs."""
        allowed = [n for n in self.nodes if n.block is not None and n.key in set(allowed_error_keys)]

        def within_allowed(node: Node) -> bool:
            return any(node.path[: len(a.path)] == a.path for a in allowed)

        found = {
            "exception": [
                f"{n.proto.type}: {n.proto.message}"[:200] for n in self.nodes if n.kind == "exception"
            ],
            "error": [
                n.text[:200]
                for n in self.nodes
                if n.kind == "alert" and n.proto.format == n.proto.ERROR and not within_allowed(n)
            ],
            "dialog": [n.proto.dialog.title for n in self.nodes if n.kind == "dialog"],
        }
        return {k: v for k, v in found.items() if v}

    def media_urls(self) -> list[str]:
        """Addresses of the pictures on the page (what a browser downloads after the run); pictures
        inline in the page (`data:` URLs) are not downloaded."""
        urls = [img.url for n in self.nodes if n.kind == "imgs" for img in n.proto.imgs]
        return [url for url in urls if url and not url.startswith("data:")]


# --- widget values -------------------------------------------------------------------------------


def trigger(widget_id: str) -> WidgetState:
    """A button press."""
    return WidgetState(id=widget_id, trigger_value=True)


def text_value(widget_id: str, value: str) -> WidgetState:
    """A text input's value (sent when the user presses Enter)."""
    return WidgetState(id=widget_id, string_value=value)


def multiselect_value(widget_id: str, options: Iterable[str]) -> WidgetState:
    """A multiselect's chosen options, as their displayed labels (what the front end sends)."""
    return WidgetState(id=widget_id, string_array_value=StringArray(data=list(options)))


# --- HTTP ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


async def http(
    method: str, url: str, headers: dict[str, str] | None = None, body: bytes = b"", timeout: float = 30
) -> Response:
    """One HTTP/1.1 request on a fresh connection (`Connection: close`), plain http only.

    A few lines of asyncio instead of a client library: no thread per request, no proxy settings
    taken from the environment (everything here is loopback)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"only http:// URLs: {url}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or method in {"PUT", "POST"}:
        lines.append(f"Content-Length: {len(body)}")

    async def exchange() -> bytes:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
            return await reader.read()
        finally:
            writer.close()

    raw = await asyncio.wait_for(exchange(), timeout)
    head, _, payload = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = [tuple(s.strip() for s in line.split(":", 1)) for line in header_lines if ":" in line]
    response = Response(int(status_line.split()[1]), fields, payload)  # type: ignore[arg-type]
    if "chunked" in ",".join(response.header("Transfer-Encoding")).lower():
        response = Response(response.status, response.headers, _unchunk(payload))
    return response


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return bytes(out)


def multipart(field: str, filename: str, content_type: str, data: bytes) -> tuple[str, bytes]:
    """(Content-Type header, body) of a form with one file, as a browser's FormData sends it."""
    boundary = f"----stclient{uuid.uuid4().hex}"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return f"multipart/form-data; boundary={boundary}", head + data + f"\r\n--{boundary}--\r\n".encode()


# --- the session ---------------------------------------------------------------------------------


class StreamlitClient:
    """One browser tab: a websocket session with `streamlit run`, and the page it shows.

    Use: `await client.connect()`, then `await client.rerun(...)` for every user action; `client.page`
    is what the page shows after the last finished run. All waits are bounded by `timeout` seconds.
    """

    def __init__(self, base_url: str, timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session_id = ""
        self.pages: dict[str, str] = {}
        """Page title -> page script hash, from the navigation the app sends."""
        self.page_hash = ""
        """The page the last run drew."""
        self.query_string = ""
        self.session_events: list[str] = []
        """Compilation errors and unknown pages the server reported."""
        self._xsrf = ""
        self._ws: websockets.ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._nodes: dict[tuple[int, ...], Node] = {}
        self._runs_started = 0
        self._reruns_requested = 0
        self._run_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._url_waiters: dict[str, asyncio.Future[FileURLs]] = {}
        self._closed: BaseException | None = None
        self.last_message_at = 0.0
        """time.perf_counter() when the last message from the server arrived."""

    # --- connection

    async def connect(self, page_name: str = "", query_string: str = "") -> None:
        """Open the session as a browser does on loading `/<page_name>?<query_string>`, and wait for
        the first run to finish."""
        response = await http("GET", f"{self.base_url}/_stcore/health", timeout=self.timeout)
        if response.status != 200:
            raise ProtocolError(f"/_stcore/health answered {response.status}")
        for cookie in response.header("Set-Cookie"):
            name, _, rest = cookie.partition("=")
            if name.strip() == XSRF_COOKIE:
                self._xsrf = rest.split(";", 1)[0]
        ws_url = "ws" + self.base_url[4:] + "/_stcore/stream"
        self._ws = await websockets.connect(
            ws_url,
            origin=websockets.Origin(self.base_url),
            subprotocols=[websockets.Subprotocol(p) for p in ("streamlit", self._xsrf) if p],
            additional_headers={"Cookie": f"{XSRF_COOKIE}={self._xsrf}"} if self._xsrf else None,
            max_size=None,
            proxy=None,
            open_timeout=self.timeout,
        )
        self._reader = asyncio.create_task(self._read(), name="st-client-reader")
        await self.rerun(page_name=page_name, query_string=query_string)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        self._ws = None

    async def __aenter__(self) -> StreamlitClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- what the user does

    @property
    def page(self) -> Page:
        return Page(self._nodes)

    @property
    def reruns_requested(self) -> int:
        """Script runs this client has asked for so far (`rerun` calls, the first one included)."""
        return self._reruns_requested

    @property
    def lost(self) -> BaseException | None:
        """Why the connection ended, if it did (the server closed it, or a message made no sense)."""
        return self._closed

    async def rerun(
        self,
        *,
        page_hash: str | None = None,
        page_name: str = "",
        query_string: str | None = None,
        widgets: Iterable[WidgetState] = (),
    ) -> float:
        """Ask for a script run and wait until it has finished; returns the seconds it took.

        `page_hash` switches page (a navigation or page link); without it the current page reruns.
        `widgets` are the values the user changed."""
        message = BackMsg()
        state = message.rerun_script
        state.page_script_hash = self.page_hash if page_hash is None else page_hash
        state.page_name = page_name
        if query_string is None:  # a page switch drops the query string, as in the browser
            query_string = self.query_string if page_hash is None else ""
        state.query_string = query_string
        state.widget_states.widgets.extend(widgets)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._run_waiters.append((self._runs_started, done))
        started = time.perf_counter()
        self._reruns_requested += 1
        await self._send(message)
        self.query_string = query_string
        await self._wait(done, "script run")
        return time.perf_counter() - started

    async def upload(
        self, uploader_id: str, filename: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> WidgetState:
        """Upload a file as the front end does for a file uploader; returns the uploader's new state,
        to be sent with `rerun(widgets=[...])`."""
        request_id = uuid.uuid4().hex
        answer: asyncio.Future[FileURLs] = asyncio.get_running_loop().create_future()
        self._url_waiters[request_id] = answer
        message = BackMsg()
        message.file_urls_request.request_id = request_id
        message.file_urls_request.session_id = self.session_id
        message.file_urls_request.file_names.append(filename)
        await self._send(message)
        urls = await self._wait(answer, "file_urls_response")
        content_type_header, body = multipart("file", filename, content_type, data)
        headers = {"Content-Type": content_type_header, "Origin": self.base_url}
        if self._xsrf:
            headers |= {"X-Xsrftoken": self._xsrf, "Cookie": f"{XSRF_COOKIE}={self._xsrf}"}
        response = await http(
            "PUT", urljoin(self.base_url + "/", urls.upload_url), headers, body, timeout=self.timeout
        )
        if response.status not in (200, 204):
            raise ProtocolError(f"upload answered {response.status}: {response.body[:200]!r}")
        info = UploadedFileInfo(name=filename, size=len(data), file_id=urls.file_id, file_urls=urls)
        return WidgetState(
            id=uploader_id, file_uploader_state_value=FileUploaderState(uploaded_file_info=[info])
        )

    async def fetch(self, url: str) -> Response:
        """GET an address of this server (a picture on the page), with the session's cookie."""
        headers = {"Cookie": f"{XSRF_COOKIE}={self._xsrf}"} if self._xsrf else {}
        return await http("GET", urljoin(self.base_url + "/", url), headers, timeout=self.timeout)

    # --- the messages

    async def _send(self, message: BackMsg) -> None:
        if self._ws is None or self._closed is not None:
            raise ProtocolError(f"not connected: {self._closed!r}")
        await self._ws.send(message.SerializeToString())

    async def _wait(self, future: asyncio.Future[Any], what: str) -> Any:
        try:
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            raise TimeoutError(f"no {what} within {self.timeout:g} s") from None

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for frame in self._ws:
                if isinstance(frame, str):
                    raise ProtocolError("text frame from the server")
                message = ForwardMsg()
                message.ParseFromString(frame)
                self.last_message_at = time.perf_counter()
                self._handle(message)
            raise ProtocolError("the server closed the connection")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # ends the session: every waiter learns why
            self._closed = exc
            for _, future in self._run_waiters:
                if not future.done():
                    future.set_exception(ProtocolError(f"connection lost: {exc!r}"))
            for future in self._url_waiters.values():
                if not future.done():
                    future.set_exception(ProtocolError(f"connection lost: {exc!r}"))

    def _handle(self, message: ForwardMsg) -> None:
        kind = message.WhichOneof("type")
        if kind == "new_session":
            self._runs_started += 1
            if message.new_session.initialize.session_id:
                self.session_id = message.new_session.initialize.session_id
        elif kind == "delta":
            delta = message.delta
            path = tuple(message.metadata.delta_path)
            which = delta.WhichOneof("type")
            if which == "new_element":
                self._nodes[path] = Node(path, self._runs_started, element=delta.new_element)
            elif which == "add_block":
                self._nodes[path] = Node(path, self._runs_started, block=delta.add_block)
            # new_transient (spinners, toasts) is not part of the page
        elif kind == "navigation":
            self.pages = {p.page_name: p.page_script_hash for p in message.navigation.app_pages}
            self.page_hash = message.navigation.page_script_hash
        elif kind == "page_info_changed":
            self.query_string = message.page_info_changed.query_string
        elif kind == "script_finished" and message.script_finished in _RUN_OVER:
            run = self._runs_started
            self._nodes = {p: n for p, n in self._nodes.items() if n.run == run}
            waiting = []
            for started_before, future in self._run_waiters:
                if started_before < run:
                    if not future.done():
                        future.set_result(None)
                else:
                    waiting.append((started_before, future))
            self._run_waiters = waiting
        elif kind == "file_urls_response":
            response = message.file_urls_response
            future = self._url_waiters.pop(response.response_id, None)
            if future is not None and not future.done():
                if response.error_msg or not response.file_urls:
                    future.set_exception(ProtocolError(f"no upload URL: {response.error_msg}"))
                else:
                    future.set_result(response.file_urls[0])
        elif kind == "session_event" and message.session_event.HasField("script_compilation_exception"):
            error = message.session_event.script_compilation_exception
            self.session_events.append(f"compilation error: {error.type}: {error.message}")
        elif kind == "page_not_found":
            self.session_events.append(f"page not found: {message.page_not_found.page_name}")
