"""What keeps `planner serve` safe on an intranet: who may edit (a bearer token off loopback), how large a request
may be, which Host names are answered, and the one way a client's text becomes a folder name.

No file path is ever taken from a client: :func:`safe_plan_name` turns a plan's name into one folder name under
the server's own output folder, or refuses it.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import unicodedata
from dataclasses import dataclass

from planner.errors import PlannerError

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_EDITS_PER_REQUEST",
    "MAX_EDITS_PER_PLAN",
    "MAX_PLANS",
    "MAX_NAME_CHARS",
    "ApiError",
    "ServeConfig",
    "is_loopback",
    "new_token",
    "safe_plan_name",
    "token_matches",
]

MAX_BODY_BYTES = 1_000_000  # a request body over 1 MB is refused (413) before it is parsed
MAX_EDITS_PER_REQUEST = 200  # adds + moves + removals in one request
MAX_EDITS_PER_PLAN = 2_000  # all the edits a plan holds (each edit re-applies them from the present)
MAX_PLANS = 100  # plans held at once by one server (each keeps its state in memory)
MAX_NAME_CHARS = 64  # a saved plan's folder name

# Windows device names: a folder of that name cannot be opened there
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


class ApiError(PlannerError):
    """A request the server refuses: ``status`` (HTTP), ``code`` (stable, for programs) and a bilingual message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def is_loopback(host: str) -> bool:
    """True when ``host`` (what the server binds to) is reachable from this computer only."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A fresh editing token: 32 random bytes from :mod:`secrets`, URL-safe text."""
    return secrets.token_urlsafe(32)


def token_matches(header: str | None, token: str) -> bool:
    """True when the ``Authorization`` header is ``Bearer <token>`` (compared in constant time)."""
    if not header:
        return False
    scheme, _, given = header.strip().partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))


@dataclass(frozen=True)
class ServeConfig:
    """How one server is bound and guarded.

    host, port
        Where it listens; loopback (127.0.0.1, ::1, localhost) by default.
    token
        Editing (every POST) needs ``Authorization: Bearer <token>`` when set; required off loopback
        (:meth:`for_host` generates one). Viewing (GET) is open.
    allowed_hosts
        The ``Host`` header values answered (a page on another site cannot reach a loopback server through a
        name it controls, DNS rebinding); ``("*",)`` answers any.
    """

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")
    max_body_bytes: int = MAX_BODY_BYTES
    max_edits_per_request: int = MAX_EDITS_PER_REQUEST
    max_edits_per_plan: int = MAX_EDITS_PER_PLAN
    max_plans: int = MAX_PLANS

    @classmethod
    def for_host(cls, host: str = "127.0.0.1", port: int = 8765, token: str | None = None, **options) -> ServeConfig:
        """The configuration of a server bound to ``host``: off loopback a token is required (``token`` or a new
        one) and any Host name is answered; on loopback only loopback names are, and ``token`` is enforced if given."""
        if is_loopback(host):
            return cls(host=host, port=port, token=token or None, **options)
        return cls(host=host, port=port, token=token or new_token(), allowed_hosts=("*",), **options)

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"


_UNSAFE = re.compile(r"[^\w\- ]+")  # anything but letters (any script), digits, _, - and spaces
_RUNS = re.compile(r"[\s_]+")


def safe_plan_name(name: object) -> str:
    """The folder name a saved plan gets from the ``name`` a client sent.

    Letters of any script (Chinese included), digits, ``-`` and ``_`` are kept; every other character — path
    separators, dots, colons — becomes ``_`` and runs of them one; leading/trailing ``_``/``-`` are dropped. A name
    that is not text, holds control characters (NUL …), is longer than :data:`MAX_NAME_CHARS` or keeps nothing is
    refused with an :class:`ApiError` (422), so ``../../etc`` is ``etc`` and never a path.
    """
    if not isinstance(name, str):
        raise ApiError(422, "invalid_name", f"name 必须是文字，得到 {type(name).__name__} / name must be a text, got {type(name).__name__}")
    text = unicodedata.normalize("NFC", name).strip()
    if any(unicodedata.category(ch).startswith("C") for ch in text):
        raise ApiError(422, "invalid_name", "方案名称含控制字符（如 NUL） / the plan name holds control characters (such as NUL)")
    if len(text) > MAX_NAME_CHARS:
        raise ApiError(422, "invalid_name",
                       f"方案名称最长 {MAX_NAME_CHARS} 个字符，得到 {len(text)} 个 / the plan name is at most {MAX_NAME_CHARS} characters, got {len(text)}")
    safe = _RUNS.sub("_", _UNSAFE.sub("_", text)).strip("_-")
    if not safe:
        raise ApiError(422, "invalid_name",
                       f"方案名称 {name!r} 中没有可用作文件夹名的字符（请用中文、字母或数字） / the plan name {name!r} keeps no character "
                       "usable in a folder name (use letters, digits or Chinese)")
    if safe.lower() in _RESERVED:
        safe = f"plan_{safe}"
    return safe
