"""Headless-Chromium helpers for the browser tests, using only the Python standard library.

A page is opened in a fresh headless Chromium that is driven over the DevTools protocol (CDP) on
``--remote-debugging-pipe``: the browser reads commands from its file descriptor 3 and writes replies
and events to its file descriptor 4, one JSON message per NUL-terminated record. Everything the page
reports while it loads is collected into a :class:`PageReport`:

* console messages (``Runtime.consoleAPICalled``) and browser log entries (``Log.entryAdded``; this is
  where "Failed to load resource" and similar messages appear);
* uncaught JavaScript exceptions and unhandled promise rejections (``Runtime.exceptionThrown``);
* every request the page made (``Network.requestWillBeSent``) and every one that failed
  (``Network.loadingFailed``);
* the values of JavaScript expressions evaluated after the page settled, and a PNG screenshot.

Networking is cut off at the browser level: all hosts resolve to nothing and all traffic goes to a
proxy on a closed port, so a page that needs the internet fails loudly instead of quietly fetching.

:func:`decode_png` decodes the screenshot (8-bit grey/RGB/RGBA, non-interlaced PNG, which is what
Chromium writes) so a test can check the page is not blank without Pillow.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import struct
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CHROMIUM_NAMES",
    "BrowserError",
    "ConsoleMessage",
    "FailedRequest",
    "LOCAL_SCHEMES",
    "PageReport",
    "PngImage",
    "decode_png",
    "find_chromium",
    "live_group_members",
    "load_page",
]

#: Executable names tried, in order, by :func:`find_chromium`.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: URL schemes a self-contained page may load from without touching the network.
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")

_ERROR_CONSOLE_TYPES = frozenset({"error", "assert"})

# Flags for a quiet, reproducible and offline browser. The proxy on the discard port and the resolver
# rule make every http(s)/ws request fail (and show up as a failed request) instead of reaching out.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--disable-breakpad",
    "--metrics-recording-only",
    "--mute-audio",
    "--hide-scrollbars",
    "--proxy-server=127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--remote-debugging-pipe",
)


class _EvaluationError(Exception):
    """An expression evaluated in the page threw."""


class BrowserError(RuntimeError):
    """Chromium could not be started, stopped answering, or a DevTools command failed.

    ``browser_pid`` is the id of the browser process (also its process group and session), if it started.
    """

    def __init__(self, message: str, browser_pid: int | None = None) -> None:
        super().__init__(message)
        self.browser_pid = browser_pid


@dataclass(frozen=True)
class ConsoleMessage:
    """One console message or browser log entry.

    ``level`` is the console call (``log``, ``warning``, ``error``, ``assert``...) for messages from
    ``console.*`` and the log level (``verbose``, ``info``, ``warning``, ``error``) for log entries;
    ``source`` is ``console-api`` for the former and the browser's source name (``network``,
    ``javascript``, ``violation``...) for the latter.
    """

    level: str
    text: str
    source: str
    url: str = ""
    line: int | None = None

    @property
    def is_error(self) -> bool:
        """Whether this message is an error (``console.error``, a failed ``console.assert``, an error log entry)."""
        return self.level in _ERROR_CONSOLE_TYPES

    def __str__(self) -> str:
        where = ""
        if self.url and self.url not in self.text:
            where = f" ({self.url}:{self.line})" if self.line else f" ({self.url})"
        return f"[{self.source} {self.level}] {self.text}{where}"


@dataclass(frozen=True)
class FailedRequest:
    """A request the page made that did not complete."""

    url: str
    error: str
    resource_type: str = ""

    def __str__(self) -> str:
        return f"{self.error}: {self.url} ({self.resource_type or 'unknown type'})"


@dataclass
class PageReport:
    """What happened while a page loaded, plus what was asked of it afterwards."""

    url: str
    console: list[ConsoleMessage] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed_requests: list[FailedRequest] = field(default_factory=list)
    unfinished_requests: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    evaluation_errors: dict[str, str] = field(default_factory=dict)
    screenshot: bytes | None = None
    elapsed_s: float = 0.0
    browser_pid: int | None = None

    @property
    def console_errors(self) -> list[ConsoleMessage]:
        """Console messages and log entries at error level."""
        return [m for m in self.console if m.is_error]

    @property
    def external_requests(self) -> list[str]:
        """Requests for anything but local files and inline data (an offline page should have none)."""
        return [u for u in self.requests if not u.startswith(LOCAL_SCHEMES)]

    @property
    def problems(self) -> list[str]:
        """Every console error, uncaught exception, failed, unfinished or non-local request, and every
        expression that threw when evaluated, one line each."""
        out = [f"console: {m}" for m in self.console_errors]
        out += [f"uncaught exception: {e}" for e in self.exceptions]
        out += [f"failed request: {r}" for r in self.failed_requests]
        out += [f"unfinished request: {u}" for u in self.unfinished_requests]
        out += [f"non-local request: {u}" for u in self.external_requests]
        out += [f"evaluating {name!r} threw: {e}" for name, e in self.evaluation_errors.items()]
        return out


def find_chromium() -> str | None:
    """Path of the first Chromium/Chrome executable on ``PATH`` (``$CHROMIUM`` wins if set), or None."""
    override = os.environ.get("CHROMIUM")
    if override:
        return shutil.which(override)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


# --------------------------------------------------------------------------------------------------
# DevTools protocol over a pipe


class _Cdp:
    """A minimal synchronous DevTools-protocol client over ``--remote-debugging-pipe``.

    Events that arrive while waiting for a reply are handed to ``on_event(method, params)``.
    Every read is bounded by ``deadline`` (a ``time.monotonic()`` value).
    """

    def __init__(self, to_browser: int, from_browser: int, deadline: float, on_event: Callable[[str, dict], None]) -> None:
        self._out = to_browser
        self._in = from_browser
        self._deadline = deadline
        self._on_event = on_event
        self._buffer = b""
        self._next_id = 0
        self.closed = False

    def call(
        self, method: str, params: Mapping[str, Any] | None = None, session: str | None = None, timeout_s: float | None = None
    ) -> dict:
        """Send one command and return its result, dispatching events that arrive meanwhile.

        Waits until the overall deadline, or at most ``timeout_s`` seconds if given.
        """
        self._next_id += 1
        msg_id = self._next_id
        message: dict[str, Any] = {"id": msg_id, "method": method, "params": dict(params or {})}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self._out, data) :]
        except OSError as exc:
            raise BrowserError(f"cannot send {method} to Chromium: {exc}") from exc
        until = self._deadline if timeout_s is None else min(self._deadline, time.monotonic() + timeout_s)
        while True:
            reply = self._receive(until=until)
            if reply is None:
                raise BrowserError(f"Chromium closed the DevTools pipe while waiting for {method}")
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise BrowserError(f"{method} failed: {reply['error']}")
                return reply.get("result", {})

    def pump(self, seconds: float) -> None:
        """Dispatch events for ``seconds`` (or until the deadline or the pipe closes)."""
        until = min(time.monotonic() + seconds, self._deadline)
        while not self.closed and time.monotonic() < until:
            self._receive(until=until, raise_on_timeout=False)

    def _receive(self, until: float, raise_on_timeout: bool = True) -> dict | None:
        """Read until one reply (a message with an ``id``) arrives; events are dispatched on the way."""
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    return message
                self._on_event(message.get("method", ""), message.get("params", {}))
            if self.closed:
                return None
            remaining = until - time.monotonic()
            if remaining <= 0:
                if raise_on_timeout:
                    raise BrowserError("timed out waiting for Chromium")
                return None
            ready, _, _ = select.select([self._in], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                self.closed = True
            self._buffer += chunk


@contextlib.contextmanager
def _chromium_process(executable: str, profile: Path, extra_flags: tuple[str, ...]) -> Iterator[tuple[int, int, int]]:
    """Start Chromium with its DevTools pipe on fds 3/4; yield (pid, to_browser, from_browser); always clean up.

    ``os.posix_spawn`` places the pipe ends on the child's fds 3 and 4 (``subprocess`` cannot, short of a
    ``preexec_fn``, which is unsafe once threads exist). Chromium runs in a session and process group
    of its own: on the way out the browser gets 10 s to exit (it does once its command pipe closes),
    then the whole group (browser, renderer, GPU and utility processes) is killed. Chromium's
    crash handler detaches into a session of its own and ends by itself when the browser is gone.
    stdout and stderr go to ``chromium.log`` in ``profile``. Linux only (``setsid``, ``waitid``).
    """
    cmd_r, cmd_w = os.pipe()  # we write commands -> the browser reads them on its fd 3
    ev_r, ev_w = os.pipe()  # the browser writes replies and events on its fd 4 -> we read them
    # Copies numbered 10 and up cannot be clobbered while fds 3 and 4 are being set up.
    child_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
    child_w = fcntl.fcntl(ev_w, fcntl.F_DUPFD_CLOEXEC, 10)
    for fd in (cmd_r, ev_w):
        os.close(fd)
    argv = [executable, *_FLAGS, f"--user-data-dir={profile}", *extra_flags, "about:blank"]
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(profile / "chromium.log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
        (os.POSIX_SPAWN_DUP2, child_r, 3),
        (os.POSIX_SPAWN_DUP2, child_w, 4),
    ]
    try:
        pid = os.posix_spawn(executable, argv, os.environ, file_actions=actions, setsid=True)
    except OSError:
        for fd in (cmd_w, ev_r):
            os.close(fd)
        raise
    finally:
        for fd in (child_r, child_w):
            os.close(fd)
    try:
        yield pid, cmd_w, ev_r
    finally:
        os.close(cmd_w)  # Chromium shuts down when its command pipe closes
        try:
            _wait_for_exit(pid, timeout_s=10)
            # Whether the browser exited or not: end it and any helper still shutting down. The browser
            # is not reaped yet, so its id cannot have been reused for another process group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            _wait_for_group_to_end(pid, timeout_s=5)
        finally:
            os.close(ev_r)


def _wait_for_exit(pid: int, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for child ``pid`` to exit, without reaping it; True if it has exited."""
    until = time.monotonic() + timeout_s
    while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        if time.monotonic() >= until:
            return False
        time.sleep(0.02)
    return True


def _wait_for_group_to_end(pgid: int, timeout_s: float) -> None:
    """Give the killed members of a process group up to ``timeout_s`` to finish dying.

    Zombies do not count: reaping the browser's orphaned helpers is up to PID 1, which may be slow,
    or never do it in a container without an init.
    """
    until = time.monotonic() + timeout_s
    while live_group_members(pgid) and time.monotonic() < until:
        time.sleep(0.01)


def live_group_members(pgid: int) -> list[int]:
    """Ids of the running (not zombie) processes in process group ``pgid``, from Linux's ``/proc``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # what follows "pid (command name)"
        except (OSError, IndexError):  # the process ended meanwhile
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in ("Z", "X"):
            found.append(int(stat.parent.name))
    return found


def _describe_exception(details: dict) -> str:
    """One readable line (plus the JS stack, if any) for a CDP ``ExceptionDetails``."""
    exc = details.get("exception") or {}
    text = str(exc.get("description") or exc.get("value") or details.get("text", ""))
    where = details.get("url", "")
    if where and where not in text:
        text = f"{text} ({where}:{details.get('lineNumber', 0) + 1})"
    return text


def _console_text(args: list[dict]) -> str:
    """The arguments of a console call as the console would show them, roughly."""
    parts = []
    for arg in args:
        if "value" in arg:
            parts.append(str(arg["value"]))
        else:
            parts.append(str(arg.get("description") or arg.get("unserializableValue") or arg.get("type", "")))
    return " ".join(parts)


class _Recorder:
    """Collects the DevTools events of one page into a :class:`PageReport`."""

    def __init__(self, report: PageReport) -> None:
        self.report = report
        self.loaded = False
        self.pending: set[str] = set()
        self.urls: dict[str, str] = {}  # request id -> URL, to name failed requests
        self.last_activity = time.monotonic()

    def __call__(self, method: str, params: dict) -> None:
        self.last_activity = time.monotonic()
        report = self.report
        if method == "Runtime.consoleAPICalled":
            frame = (params.get("stackTrace") or {}).get("callFrames") or [{}]
            report.console.append(
                ConsoleMessage(
                    level=params.get("type", "log"),
                    text=_console_text(params.get("args", [])),
                    source="console-api",
                    url=frame[0].get("url", ""),
                    line=frame[0]["lineNumber"] + 1 if "lineNumber" in frame[0] else None,
                )
            )
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            report.console.append(
                ConsoleMessage(
                    level=entry.get("level", "info"),
                    text=entry.get("text", ""),
                    source=entry.get("source", "other"),
                    url=entry.get("url", ""),
                    line=entry.get("lineNumber"),
                )
            )
        elif method == "Runtime.exceptionThrown":
            report.exceptions.append(_describe_exception(params.get("exceptionDetails", {})))
        elif method == "Network.requestWillBeSent":
            report.requests.append(params["request"]["url"])
            self.urls[params["requestId"]] = params["request"]["url"]
            self.pending.add(params["requestId"])
        elif method == "Network.loadingFinished":
            self.pending.discard(params["requestId"])
        elif method == "Network.loadingFailed":
            self.pending.discard(params["requestId"])
            url = self.urls.get(params["requestId"], "")
            error, kind = params.get("errorText", ""), params.get("type", "")
            report.failed_requests.append(FailedRequest(url=url, error=error, resource_type=kind))
        elif method == "Page.loadEventFired":
            self.loaded = True


def load_page(
    target: str | Path,
    *,
    expressions: Mapping[str, str] | None = None,
    screenshot: bool = True,
    viewport: tuple[int, int] = (1280, 900),
    settle_s: float = 0.5,
    max_settle_s: float = 10.0,
    timeout_s: float = 60.0,
    executable: str | None = None,
    workdir: Path | None = None,
) -> PageReport:
    """Open ``target`` (a file path or URL) in a fresh headless Chromium and report what happened.

    After the load event the page gets two animation frames and then waits until no request is
    pending and no event has arrived for ``settle_s`` seconds (but no longer than ``max_settle_s``;
    requests still open then are listed in ``unfinished_requests``). ``expressions`` (name ->
    JavaScript) are then evaluated in the page (promises are awaited; values must be JSON-serialisable)
    and, if asked, a PNG screenshot of the ``viewport`` is taken; an expression that throws gets the
    value None and its error in ``evaluation_errors``. The whole run, including start-up and shut-down,
    is limited to ``timeout_s``; on expiry :class:`BrowserError` is raised and the browser is killed.

    ``workdir`` holds the throw-away browser profile and ``chromium.log`` (Chromium's own stderr);
    a temporary directory is used and removed when it is not given.
    """
    executable = executable or find_chromium()
    if executable is None:
        raise BrowserError("no Chromium executable found (tried: " + ", ".join(CHROMIUM_NAMES) + ")")
    url = target.resolve().as_uri() if isinstance(target, Path) else target
    started = time.monotonic()
    deadline = started + timeout_s
    report = PageReport(url=url)
    recorder = _Recorder(report)

    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="planner-chromium-")))
        profile = workdir / "profile"
        profile.mkdir(parents=True, exist_ok=True)
        width, height = viewport
        pid, to_browser, from_browser = stack.enter_context(
            _chromium_process(executable, profile, (f"--window-size={width},{height}",))
        )
        report.browser_pid = pid
        cdp = _Cdp(to_browser, from_browser, deadline, recorder)
        try:
            target_id = cdp.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = cdp.call("Target.attachToTarget", {"targetId": target_id, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                cdp.call(f"{domain}.enable", session=session)
            cdp.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session=session,
            )
            nav = cdp.call("Page.navigate", {"url": url}, session=session)
            if nav.get("errorText"):
                raise BrowserError(f"cannot open {url}: {nav['errorText']}")
            while not recorder.loaded:
                if cdp.closed or time.monotonic() >= deadline:
                    raise BrowserError(f"{url} did not finish loading within {timeout_s:g} s")
                cdp.pump(0.1)
            _evaluate(cdp, session, "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))")
            settle_until = min(deadline, time.monotonic() + max_settle_s)
            while recorder.pending or time.monotonic() - recorder.last_activity < settle_s:
                if cdp.closed or time.monotonic() >= settle_until:
                    break
                cdp.pump(0.05)
            report.unfinished_requests = sorted(recorder.urls[rid] for rid in recorder.pending)
            for name, expression in (expressions or {}).items():
                try:
                    report.values[name] = _evaluate(cdp, session, expression)
                except _EvaluationError as exc:
                    report.values[name] = None
                    report.evaluation_errors[name] = str(exc)
            if screenshot:
                shot = cdp.call("Page.captureScreenshot", {"format": "png", "optimizeForSpeed": True}, session=session)
                report.screenshot = base64.b64decode(shot["data"])
            with contextlib.suppress(BrowserError):  # a browser that will not close is killed on the way out
                cdp.call("Browser.close", timeout_s=5)
        except BrowserError as exc:
            log = (profile / "chromium.log").read_text(errors="replace").splitlines()
            log_tail = "\n".join(line for line in log if "dbus" not in line)[-2000:]  # D-Bus noise: no session bus
            raise BrowserError(f"{exc}\n--- chromium.log (tail) ---\n{log_tail}", browser_pid=pid) from None
        finally:
            report.elapsed_s = time.monotonic() - started
    return report


def _evaluate(cdp: _Cdp, session: str, expression: str) -> Any:
    """Evaluate ``expression`` in the page, await it if it is a promise, and return its JSON value."""
    result = cdp.call(
        "Runtime.evaluate",
        {"expression": expression, "awaitPromise": True, "returnByValue": True, "userGesture": False},
        session=session,
    )
    if "exceptionDetails" in result:
        raise _EvaluationError(_describe_exception(result["exceptionDetails"]))
    return result.get("result", {}).get("value")


# --------------------------------------------------------------------------------------------------
# PNG decoding


@dataclass(frozen=True)
class PngImage:
    """A decoded 8-bit image: ``pixels`` holds ``height`` rows of ``width * channels`` bytes, top to bottom."""

    width: int
    height: int
    channels: int
    pixels: bytes

    def pixel(self, x: int, y: int) -> tuple[int, ...]:
        """The samples of the pixel in column ``x``, row ``y`` (0, 0 is the top left)."""
        start = (y * self.width + x) * self.channels
        return tuple(self.pixels[start : start + self.channels])

    def histogram(self, step: int = 1, box: tuple[int, int, int, int] | None = None) -> Counter[bytes]:
        """Pixel counts by value (``channels`` bytes each).

        Only every ``step``-th pixel in both directions is counted, and only inside ``box``
        (left, top, right, bottom; right and bottom exclusive) when given.
        """
        left, top, right, bottom = box or (0, 0, self.width, self.height)
        c, stride = self.channels, self.width * self.channels
        counts: Counter[bytes] = Counter()
        for y in range(max(top, 0), min(bottom, self.height), step):
            row = self.pixels[y * stride : (y + 1) * stride]
            counts.update(row[x : x + c] for x in range(max(left, 0) * c, min(right, self.width) * c, c * step))
        return counts

    def dominant_share(self, step: int = 1, box: tuple[int, int, int, int] | None = None) -> float:
        """Share of the (sampled) pixels that have the most common value: 1.0 for a blank image or region."""
        counts = self.histogram(step, box)
        return max(counts.values()) / sum(counts.values()) if counts else 1.0


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel (palette images are not supported)


def decode_png(data: bytes) -> PngImage:
    """Decode a non-interlaced 8-bit greyscale, grey+alpha, RGB or RGBA PNG.

    Raises ``ValueError`` for anything else (palette, 16-bit, interlaced, corrupt or truncated data).
    """
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    pos = len(_PNG_SIGNATURE)
    header: tuple[int, ...] | None = None
    idat = bytearray()
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if pos + 12 + length > len(data):
            raise ValueError(f"truncated PNG ({kind!r} chunk)")
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"bad CRC in {kind!r} chunk")
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("PNG without IHDR")
    width, height, depth, colour_type, _compression, _filter, interlace = header
    if depth != 8 or colour_type not in _CHANNELS or interlace:
        raise ValueError(f"unsupported PNG: bit depth {depth}, colour type {colour_type}, interlace {interlace}")
    channels = _CHANNELS[colour_type]
    try:
        raw = zlib.decompress(bytes(idat))
    except zlib.error as exc:
        raise ValueError(f"corrupt PNG image data: {exc}") from None
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise ValueError("PNG image data has the wrong size")
    out = bytearray(height * stride)
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(raw[start], row, previous, channels)
        out[y * stride : (y + 1) * stride] = row
        previous = row
    return PngImage(width=width, height=height, channels=channels, pixels=bytes(out))


def _unfilter(kind: int, row: bytearray, prev: bytearray, bpp: int) -> None:
    """Undo one PNG row filter in place (PNG spec, section 9)."""
    n = len(row)
    if kind == 0:
        return
    if kind == 1:  # Sub
        for i in range(bpp, n):
            row[i] = (row[i] + row[i - bpp]) & 0xFF
    elif kind == 2:  # Up
        for i in range(n):
            row[i] = (row[i] + prev[i]) & 0xFF
    elif kind == 3:  # Average
        for i in range(n):
            left = row[i - bpp] if i >= bpp else 0
            row[i] = (row[i] + ((left + prev[i]) >> 1)) & 0xFF
    elif kind == 4:  # Paeth
        for i in range(n):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
    else:
        raise ValueError(f"bad PNG filter type {kind}")
