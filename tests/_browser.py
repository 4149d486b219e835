"""Headless Chromium for the browser tests, driven by Selenium through Debian's ``chromedriver``.

:func:`start_browser` starts one headless Chromium (window 1280×720 unless told) through the *system*
``chromedriver`` (Selenium Manager is never asked to download a driver or a browser). The browser is offline:
every host name resolves to nothing and all traffic goes to a proxy on a closed port, so a page that needs the
internet fails loudly instead of quietly fetching. :meth:`Browser.open` opens one page and collects into a
:class:`PageReport` everything it reported while it loaded:

* console messages, uncaught exceptions and unhandled rejections, and "Failed to load resource" entries
  (the ``browser`` log, ``goog:loggingPrefs``);
* every request the page made and every one that failed (the ``performance`` log, i.e. the DevTools
  ``Network`` events chromedriver records), plus the page's own resource-timing entries;
* the values of JavaScript expressions evaluated after the page settled (promises awaited), and a PNG screenshot.

:func:`decode_png` decodes a screenshot with Pillow into a :class:`PngImage` (pixel, histogram, dominant
share) so a test can check the page is not blank. :func:`load_page` opens one page in a browser of its own and
closes it again (for tests that need no shared browser).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CHROMIUM_NAMES",
    "CHROMEDRIVER_NAMES",
    "Browser",
    "BrowserError",
    "ConsoleMessage",
    "FailedRequest",
    "LOCAL_SCHEMES",
    "PageReport",
    "PngImage",
    "browser_missing",
    "decode_png",
    "find_chromedriver",
    "find_chromium",
    "live_group_members",
    "load_page",
    "start_browser",
]

#: Executable names tried, in order, by :func:`find_chromium` and :func:`find_chromedriver`.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMEDRIVER_NAMES = ("chromedriver",)

#: URL schemes a self-contained page may load from without touching the network.
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")

#: Default window (viewport) size: a projector.
VIEWPORT = (1280, 720)

# A quiet, reproducible and offline browser: the resolver rule and the proxy on the discard port make every
# http(s)/ws request fail (and show up as a failed request) instead of reaching out.
_ARGS = (
    "--headless=new",
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
    "--force-device-scale-factor=1",
    "--proxy-server=127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)

# Evaluates the script (statements allowed; its value is the last expression's, as in the DevTools console) in the
# page's global scope, awaits it when it is a promise, and hands back {ok: value} or {error: text}.
_EVALUATE = """
const source = arguments[0], done = arguments[arguments.length - 1];
Promise.resolve().then(() => (0, eval)(source)).then(
  (value) => done({ok: value === undefined ? null : value}),
  (e) => done({error: String((e && e.stack) || e)}));
"""


class BrowserError(RuntimeError):
    """Chromium could not be started, a page did not load in time, or the driver failed.

    ``browser_pid`` is the id of the chromedriver process, which leads the process group (and session) that
    the browser and its helpers run in.
    """

    def __init__(self, message: str, browser_pid: int | None = None) -> None:
        super().__init__(message)
        self.browser_pid = browser_pid


@dataclass(frozen=True)
class ConsoleMessage:
    """One entry of the browser log: ``level`` is Selenium's (``SEVERE``, ``WARNING``, ``INFO``...), ``source``
    Chromium's (``console-api``, ``javascript`` for uncaught exceptions, ``network``...)."""

    level: str
    text: str
    source: str

    @property
    def is_error(self) -> bool:
        """Whether this is an error (``console.error``, an uncaught exception, a failed load)."""
        return self.level == "SEVERE"

    def __str__(self) -> str:
        return f"[{self.source} {self.level}] {self.text}"


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
    requests: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    failed_requests: list[FailedRequest] = field(default_factory=list)
    unfinished_requests: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    evaluation_errors: dict[str, str] = field(default_factory=dict)
    screenshot: bytes | None = None
    elapsed_s: float = 0.0
    browser_pid: int | None = None

    @property
    def console_errors(self) -> list[ConsoleMessage]:
        """Log entries at error level: console errors, uncaught exceptions, failed loads."""
        return [m for m in self.console if m.is_error]

    @property
    def exceptions(self) -> list[str]:
        """Uncaught JavaScript exceptions and unhandled promise rejections."""
        return [m.text for m in self.console if m.source == "javascript" and m.is_error]

    @property
    def external_requests(self) -> list[str]:
        """Requests (and resource-timing entries) for anything but local files and inline data: an offline page
        has none."""
        seen = dict.fromkeys(self.requests + self.resources)
        return [u for u in seen if not u.startswith(LOCAL_SCHEMES)]

    @property
    def problems(self) -> list[str]:
        """Every console error, uncaught exception, failed, unfinished or non-local request, and every
        expression that threw when evaluated, one line each."""
        out = [f"console: {m}" for m in self.console_errors]
        out += [f"failed request: {r}" for r in self.failed_requests]
        out += [f"unfinished request: {u}" for u in self.unfinished_requests]
        out += [f"non-local request: {u}" for u in self.external_requests]
        out += [f"evaluating {name!r} threw: {e}" for name, e in self.evaluation_errors.items()]
        return out


def find_chromium() -> str | None:
    """Path of the first Chromium/Chrome executable on ``PATH`` (``$CHROMIUM`` wins if set), or None."""
    return _find("CHROMIUM", CHROMIUM_NAMES)


def find_chromedriver() -> str | None:
    """Path of the system ``chromedriver`` (``$CHROMEDRIVER`` wins if set), or None."""
    return _find("CHROMEDRIVER", CHROMEDRIVER_NAMES)


def _find(variable: str, names: tuple[str, ...]) -> str | None:
    override = os.environ.get(variable)
    if override:
        return shutil.which(override)
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_missing() -> str | None:
    """Why the browser tests cannot run here (no Linux, no Chromium, no chromedriver, no Selenium), or None."""
    import sys

    if sys.platform != "linux":
        return "the headless-Chromium helpers are Linux only"
    if find_chromium() is None:
        return "no chromium, chromium-browser or google-chrome executable on PATH (apt-get install chromium)"
    if find_chromedriver() is None:
        return "no chromedriver on PATH (apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


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


# --------------------------------------------------------------------------------------------------
# the browser


class Browser:
    """One headless Chromium driven by Selenium; open pages with :meth:`open`, end it with :meth:`quit`."""

    def __init__(self, driver: Any, pid: int, viewport: tuple[int, int]) -> None:
        self.driver = driver
        self.pid = pid  # chromedriver's, leader of the process group of the browser and its helpers
        self.viewport = viewport
        self._viewport_set: tuple[int, int] | None = None

    # ---- pages

    def open(
        self,
        target: str | Path,
        *,
        expressions: Mapping[str, str] | None = None,
        screenshot: bool = True,
        viewport: tuple[int, int] | None = None,
        settle_s: float = 0.5,
        max_settle_s: float = 10.0,
        timeout_s: float = 60.0,
    ) -> PageReport:
        """Open ``target`` (a file path or URL) and report what happened.

        After the load event the page gets two animation frames and then waits until no request is pending
        and no network event or log entry has arrived for ``settle_s`` seconds (but no longer than
        ``max_settle_s``; requests still open then are listed in ``unfinished_requests``). ``expressions``
        (name -> JavaScript expression) are then evaluated (promises are awaited); an expression that throws
        gets the value None and its error in ``evaluation_errors``. A page that does not load within
        ``timeout_s`` raises :class:`BrowserError`; the browser is then no longer usable (:meth:`quit` it).
        """
        from selenium.common.exceptions import TimeoutException, WebDriverException

        url = target.resolve().as_uri() if isinstance(target, Path) else target
        started = time.monotonic()
        report = PageReport(url=url, browser_pid=self.pid)
        self.set_viewport(viewport or self.viewport)
        driver = self.driver
        try:
            driver.get("about:blank")
            self._drain()
            driver.set_page_load_timeout(timeout_s)
            driver.get(url)
        except TimeoutException:
            raise BrowserError(f"{url} did not finish loading within {timeout_s:g} s", browser_pid=self.pid) from None
        except WebDriverException as exc:
            raise BrowserError(f"cannot open {url}: {exc.msg}", browser_pid=self.pid) from None
        events: list[dict] = []
        logs: list[dict] = []
        self.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))")
        quiet_since = time.monotonic()
        until = time.monotonic() + max_settle_s
        while True:
            new_events, new_logs = self._performance(), driver.get_log("browser")
            events += new_events
            logs += new_logs
            now = time.monotonic()
            if new_events or new_logs:
                quiet_since = now
            pending = _pending(events)
            if (not pending and now - quiet_since >= settle_s) or now >= until:
                break
            time.sleep(0.05)
        _record_network(report, events)
        report.resources = list(self.evaluate("performance.getEntriesByType('resource').map((e) => e.name)") or [])
        for name, expression in (expressions or {}).items():
            try:
                report.values[name] = self.evaluate(expression)
            except BrowserError as exc:
                report.values[name] = None
                report.evaluation_errors[name] = str(exc)
        logs += driver.get_log("browser")  # anything the expressions logged
        report.console = [ConsoleMessage(e.get("level", ""), e.get("message", ""), e.get("source", "")) for e in logs]
        if screenshot:
            report.screenshot = driver.get_screenshot_as_png()
        report.elapsed_s = time.monotonic() - started
        return report

    def evaluate(self, expression: str, *, timeout_s: float = 60.0) -> Any:
        """The value of the JavaScript ``expression`` in the current page, a promise awaited.

        The expression may start with statements (``const f = ...; f()``); its value is the last one's.

        Raises :class:`BrowserError` with the JavaScript error when it throws or rejects.
        """
        self.driver.set_script_timeout(timeout_s)
        result = self.driver.execute_async_script(_EVALUATE, expression)
        if not isinstance(result, dict):
            raise BrowserError(f"unexpected result {result!r}")
        if "error" in result:
            raise BrowserError(result["error"])
        return result.get("ok")

    def console(self) -> list[ConsoleMessage]:
        """Browser-log entries since the last read."""
        return [ConsoleMessage(e.get("level", ""), e.get("message", ""), e.get("source", "")) for e in self.driver.get_log("browser")]

    def screenshot(self) -> PngImage:
        """The viewport as an image."""
        return decode_png(self.driver.get_screenshot_as_png())

    def set_viewport(self, viewport: tuple[int, int]) -> None:
        """Make the page's viewport exactly ``viewport`` (width, height) CSS pixels at a device scale of 1."""
        if self._viewport_set == tuple(viewport):
            return
        width, height = viewport
        self.driver.set_window_size(width, height + 200)  # leave room; the emulated metrics decide
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        )
        self._viewport_set = (width, height)

    # ---- the end

    def quit(self) -> None:
        """End the browser: ask chromedriver to close it, then kill what is left of its process group."""
        with contextlib.suppress(Exception):
            self.driver.quit()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        until = time.monotonic() + 5
        while live_group_members(self.pid) and time.monotonic() < until:
            time.sleep(0.02)

    # ---- internals

    def _drain(self) -> None:
        self.driver.get_log("browser")
        self.driver.get_log("performance")

    def _performance(self) -> list[dict]:
        out = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method", "").startswith("Network."):
                out.append(message)
        return out


def _pending(events: list[dict]) -> set[str]:
    """Ids of requests sent and not yet finished or failed."""
    sent, done = set(), set()
    for e in events:
        rid = e["params"].get("requestId")
        if e["method"] == "Network.requestWillBeSent":
            sent.add(rid)
        elif e["method"] in ("Network.loadingFinished", "Network.loadingFailed"):
            done.add(rid)
    return sent - done


def _record_network(report: PageReport, events: list[dict]) -> None:
    urls: dict[str, str] = {}
    for e in events:
        params = e["params"]
        if e["method"] == "Network.requestWillBeSent":
            report.requests.append(params["request"]["url"])
            urls[params["requestId"]] = params["request"]["url"]
        elif e["method"] == "Network.loadingFailed":
            report.failed_requests.append(
                FailedRequest(urls.get(params["requestId"], ""), params.get("errorText", ""), params.get("type", ""))
            )
    report.unfinished_requests = sorted(urls[r] for r in _pending(events) if r in urls)


def start_browser(
    *, viewport: tuple[int, int] = VIEWPORT, executable: str | None = None, driver_path: str | None = None, workdir: Path | None = None
) -> Browser:
    """Start headless Chromium through the system chromedriver (never one Selenium Manager would download).

    chromedriver runs in a session of its own, so the browser and all its helpers share one process group
    that :meth:`Browser.quit` can clean up. ``workdir`` receives ``chromedriver.log`` when given.
    """
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    executable = executable or find_chromium()
    driver_path = driver_path or find_chromedriver()
    if executable is None or driver_path is None:
        raise BrowserError(browser_missing() or "no Chromium or chromedriver")
    options = webdriver.ChromeOptions()
    options.binary_location = executable
    for arg in (*_ARGS, f"--window-size={viewport[0]},{viewport[1] + 200}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    options.set_capability("pageLoadStrategy", "normal")
    log_output = os.devnull
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        log_output = str(workdir / "chromedriver.log")
    service = Service(executable_path=driver_path, log_output=log_output, popen_kw={"start_new_session": True})
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except WebDriverException as exc:
        pid = service.process.pid if getattr(service, "process", None) else None
        if pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        raise BrowserError(f"cannot start Chromium through {driver_path}: {exc.msg}", browser_pid=pid) from None
    browser = Browser(driver, service.process.pid, viewport)
    browser.set_viewport(viewport)
    return browser


@contextlib.contextmanager
def browser_session(**kwargs: Any) -> Iterator[Browser]:
    """:func:`start_browser` as a context manager that always quits the browser."""
    browser = start_browser(**kwargs)
    try:
        yield browser
    finally:
        browser.quit()


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
    """Open ``target`` in a fresh headless Chromium of its own, report what happened (:meth:`Browser.open`) and
    close the browser again; on failure :class:`BrowserError` is raised after the browser is gone."""
    browser = start_browser(viewport=viewport, executable=executable, workdir=workdir)
    try:
        return browser.open(target, expressions=expressions, screenshot=screenshot, viewport=viewport,
                            settle_s=settle_s, max_settle_s=max_settle_s, timeout_s=timeout_s)
    finally:
        browser.quit()


# --------------------------------------------------------------------------------------------------
# screenshots


@dataclass(frozen=True)
class PngImage:
    """A decoded image: ``array`` is height × width × channels uint8 (RGB or RGBA), top row first."""

    array: np.ndarray

    @property
    def width(self) -> int:
        return int(self.array.shape[1])

    @property
    def height(self) -> int:
        return int(self.array.shape[0])

    @property
    def channels(self) -> int:
        return int(self.array.shape[2])

    def pixel(self, x: int, y: int) -> tuple[int, ...]:
        """The samples of the pixel in column ``x``, row ``y`` (0, 0 is the top left)."""
        return tuple(int(v) for v in self.array[y, x])

    def _sample(self, step: int, box: tuple[int, int, int, int] | None) -> np.ndarray:
        left, top, right, bottom = box or (0, 0, self.width, self.height)
        part = self.array[max(top, 0) : min(bottom, self.height) : step, max(left, 0) : min(right, self.width) : step]
        return part.reshape(-1, self.channels)

    def histogram(self, step: int = 1, box: tuple[int, int, int, int] | None = None) -> Counter[bytes]:
        """Pixel counts by value (``channels`` bytes each), of every ``step``-th pixel in both directions, inside
        ``box`` (left, top, right, bottom; right and bottom exclusive) when given."""
        values, counts = np.unique(self._sample(step, box), axis=0, return_counts=True)
        return Counter({bytes(v.tolist()): int(c) for v, c in zip(values, counts, strict=True)})

    def dominant_share(self, step: int = 1, box: tuple[int, int, int, int] | None = None) -> float:
        """Share of the (sampled) pixels that have the most common value: 1.0 for a blank image or region."""
        sample = self._sample(step, box)
        if not len(sample):
            return 1.0
        _, counts = np.unique(sample, axis=0, return_counts=True)
        return float(counts.max() / counts.sum())


def decode_png(data: bytes) -> PngImage:
    """Decode a PNG (or any image Pillow reads) into RGB or RGBA samples; ``ValueError`` for anything else."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            mode = "RGBA" if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info else "RGB"
            return PngImage(np.asarray(img.convert(mode)).copy())
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"not a readable image: {exc}") from None
