"""The FastAPI app of `planner serve`: the JSON API over one run and its what-if engine, and the page.

Every answer is JSON in UTF-8; every refusal is ``{"error": {"code", "message"}}`` with a bilingual message and the
right status, never a traceback. Guards (:class:`Guard`, outermost): Host names, the body size limit, the editing
token and JSON content type for every request that changes something.
"""

from __future__ import annotations

import html
import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from planner.errors import PlannerError
from planner.serve.export import export_report
from planner.serve.page import ServedPage
from planner.serve.plans import Plan, PlanStore, save_plan
from planner.serve.saved import edit_counts, list_saved, read_edits, saved_file
from planner.serve.security import ApiError, ServeConfig, safe_plan_name, token_matches
from planner.serve.versus import LIVE, Column, compare_table, parse_columns, parse_rules, present_output
from planner.serve.views import PlanViews
from planner.whatif.engine import WhatIf, study_bounds
from planner.whatif.isochrone import isochrone_geojson

__all__ = ["create_app", "study_bounds", "baseline_state"]

log = logging.getLogger(__name__)

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


class FastJSON(JSONResponse):
    """A JSON answer encoded by :func:`json.dumps` at once when it holds only plain values (an edit's answer at a
    city's size is a few MB: FastAPI's own encoder walks it object by object), through :func:`plain` otherwise."""

    def render(self, content: Any) -> bytes:
        try:
            text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError):  # numpy values, NaN or inf somewhere
            text = json.dumps(plain(content), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8")


def warm_up(store: PlanStore, views, result) -> None:
    """A plan with one addition and one removal, answered and thrown away before the server answers anyone: the
    first planner's edit then does not pay for compiling the searches and first uses (a fifth of a second)."""
    fac = result.facilities
    analysed = fac[fac["category"].isin(list(result.coverage.categories)) & fac["reachable"].astype(bool)]
    if not len(analysed):
        return
    first = analysed.iloc[[0]]
    where = first.to_crs("EPSG:4326").geometry.iloc[0]
    body = {"add": [{"category": str(first["category"].iat[0]), "lon": float(where.x), "lat": float(where.y)}],
            "remove": [str(first["id"].iat[0])]}
    plan = store.create()
    try:
        store.edit(plan.id, body)
        store.changes(plan)
        views.of(plan.state)
    except (PlannerError, ApiError):  # a point the engine refuses: the first edit warms up instead
        log.info("serve: warm-up edit refused", exc_info=True)
    finally:
        store.delete(plan.id)


def plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays as Python numbers and lists, NaN/inf as None (valid JSON)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _host_of(origin: str) -> str | None:
    """``host[:port]`` of an ``Origin`` header (lower case), None for ``null`` or anything that is not a URL."""
    scheme, sep, rest = origin.strip().partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest:
        return None
    return rest.split("/", 1)[0].lower()


class Guard:
    """Pure ASGI middleware in front of the app.

    Refuses, with a JSON error: a ``Host`` not allowed (400), a body over the limit (413, read up to the limit
    only), a changing request without the token when one is set (401), a changing request with a body that is not
    JSON (415); turns any exception that escaped the app into a JSON 500 (logged, never sent).
    """

    def __init__(self, app, config: ServeConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refusal = self._refusal(scope, headers)
        body = b""
        if refusal is None and scope["method"] not in _SAFE_METHODS:
            body, refusal = await self._read_body(receive, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if scope["method"] in _SAFE_METHODS:
                return await receive()
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        started = False

        async def watch(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, replay, watch)
        except Exception:
            log.exception("serve: %s %s failed", scope["method"], scope.get("path"))
            if not started:
                await _error(500, "internal_error", "服务器内部错误，已记录；这是 planner 的问题，不是您的操作 / internal error, logged; "
                             "a fault of planner, not of your request")(scope, receive, send)

    def _refusal(self, scope, headers: dict[str, str]):
        allowed = self.config.allowed_hosts
        if "*" not in allowed:
            host = headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1:].split("]", 1)[0]
            if name.lower() not in allowed:
                return _error(400, "bad_host", f"不接受主机名 {host[:100]!r}；请用 {self.config.url} 打开 / host {host[:100]!r} "
                              f"is not served; open {self.config.url}")
        if scope["method"] in _SAFE_METHODS:
            return None
        # a changing request sent by a page of another site (its Origin, or the browser's Sec-Fetch-Site, says so):
        # without this any web page open in the planner's browser could post to the server on 127.0.0.1
        origin = headers.get("origin")
        fetch_site = headers.get("sec-fetch-site", "")
        if (origin is not None and _host_of(origin) != headers.get("host", "").lower()) or fetch_site in ("cross-site", "same-site"):
            return _error(403, "cross_origin", "不接受来自其他网页的修改请求；请在本服务器的页面中操作 / changes sent by a page of another site "
                          f"are refused; edit in the server's own page ({self.config.url})")
        if self.config.token and not token_matches(headers.get("authorization"), self.config.token):
            return _error(401, "unauthorised", "修改需要令牌：请求头 Authorization: Bearer <令牌>（令牌在启动服务器时显示） / editing needs "
                          "the token: header Authorization: Bearer <token> (printed when the server started)",
                          headers={"WWW-Authenticate": "Bearer"})
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.config.max_body_bytes):
            return self._too_large()
        return None

    async def _read_body(self, receive, headers: dict[str, str]):
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", _error(400, "disconnected", "客户端已断开 / the client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.config.max_body_bytes:
                return b"", self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if body.strip() and ctype != "application/json":
            return b"", _error(415, "not_json", f"请求体须为 JSON（Content-Type: application/json），得到 {ctype or '无'} / the body must be "
                               f"JSON (Content-Type: application/json), got {ctype or 'none'}")
        return body, None

    def _too_large(self):
        limit = self.config.max_body_bytes
        return _error(413, "body_too_large", f"请求体超过 {limit:,} 字节 / the request body is over {limit:,} bytes")


def baseline_state(result, bounds: tuple[float, float, float, float], config: ServeConfig) -> dict[str, Any]:
    """What ``GET /api/state`` answers: the scenario, categories with labels, bounds, thresholds, the present."""
    sc = result.scenario
    comp, fac, tax = result.compounds, result.facilities, result.taxonomy
    per_cat = fac["category"].value_counts().to_dict()
    analysed = set(result.coverage.categories)
    categories = [{"key": c.key, "zh": c.zh, "en": c.en, "group": c.group, "color": c.color, "analysed": c.key in analysed,
                   "facilities": int(per_cat.get(c.key, 0)), "speed_m_per_min": sc.speed_for(c.group)} for c in tax.categories]
    rules: dict[str, int] = {}
    if result.compliance is not None:
        rules = {str(k): int(v) for k, v in result.compliance.table["status"].value_counts().sort_index().items()}
    population = {g: float(comp[g].sum()) for g in ("population", "age_60_plus", "age_0_3") if g in comp.columns}
    return plain({
        "scenario": {"name": sc.name, "description": sc.description, "language": sc.language, "preset": sc.standards.preset},
        "categories": categories,
        "bounds": list(bounds),
        "thresholds_min": list(sc.thresholds_min),
        "thresholds_m": [sc.threshold_m(t) for t in sc.thresholds_min],
        "walking_speed_m_per_min": sc.walking_speed_m_per_min,
        "walking_speeds": {"adults": sc.speeds.adults, "elderly": sc.speeds.elderly, "carers": sc.speeds.carers},
        "baseline": {
            "compounds": len(comp),
            "unreachable_compounds": int((~comp["reachable"]).sum()),
            "population": population,
            "facilities": len(fac),
            "zones": 0 if result.zones is None else len(result.zones),
            "rule_status": rules,
        },
        "editing": {"token_required": bool(config.token), "max_edits_per_request": config.max_edits_per_request,
                    "max_edits_per_plan": config.max_edits_per_plan, "max_body_bytes": config.max_body_bytes},
    })


def create_app(result, *, config: ServeConfig | None = None, out_dir: Path | str = "maps/serve",
               engine: Any = None, parse: Callable[[dict], Any] | None = None, build_page: bool = False) -> FastAPI:
    """The app of `planner serve` over ``result`` (a :class:`~planner.pipeline.RunResult`).

    The page (the run's gap map with the editor) is built on the first ``GET /``, or here with ``build_page`` (what
    the command does, so that the first person to open it does not wait: seconds at a city's size).

    ``engine`` (a ``WhatIf``) and ``parse`` (an edits body → ``Edits``, by default the engine's ``parse``) default to
    :mod:`planner.whatif`'s, built here; tests pass stand-ins. Saved plans go under ``out_dir/plans/``.
    """
    config = config or ServeConfig()
    bounds = study_bounds(result)
    warm = engine is None  # the real engine: warmed up below (stand-ins in tests need not be)
    if engine is None:
        engine = WhatIf(result)
    parse = parse or engine.parse  # the engine's own checks: study area, facility ids, analysed categories
    store = PlanStore(engine, parse, max_plans=config.max_plans, max_edits_per_request=config.max_edits_per_request,
                      max_edits_per_plan=config.max_edits_per_plan)
    state = baseline_state(result, bounds, config)
    out = Path(out_dir)

    app = FastAPI(title="planner serve", docs_url=None, redoc_url=None, openapi_url=None)  # no CDN assets
    app.add_middleware(Guard, config=config)
    app.state.store = store
    app.state.config = config

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return _error(exc.status, exc.code, str(exc))

    @app.exception_handler(PlannerError)
    async def _planner_error(request: Request, exc: PlannerError):
        return _error(422, "invalid_edit", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        kinds = {e.get("type") for e in exc.errors()}
        if "json_invalid" in kinds:
            return _error(400, "malformed_json", "请求体不是有效的 JSON / the request body is not valid JSON")
        return _error(422, "invalid_body", "请求体应为 JSON 对象，如 {\"add\": [...]} / the body must be a JSON object such as {\"add\": [...]}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            return _error(404, "not_found", f"没有这个地址：{request.url.path[:200]} / no such address: {request.url.path[:200]}")
        if exc.status_code == 405:
            return _error(405, "method_not_allowed", f"{request.method} 不适用于 {request.url.path[:200]} / {request.method} is not "
                          f"allowed on {request.url.path[:200]}")
        return _error(exc.status_code, "http_error", str(exc.detail))

    # ---- the map app (planner.serve.page, serve_app.js): the page, the map's data of a plan, isochrones ----------
    page = ServedPage(result)
    if build_page:
        page.html()
    views = PlanViews(result, lang=page.lang)  # the present's map data, built at start rather than on the first edit (2 s at 1 M)
    if warm:
        warm_up(store, views, result)

    def answer(plan, status_code: int = 200, **extra) -> FastJSON:
        """A plan's answer: its summary, its changes against the present and the map's data of it (views)."""
        return FastJSON({"plan": plan.summary(), "changes": store.changes(plan), "views": views.of(plan.state), **extra},
                        status_code=status_code)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        try:
            return page.html()
        except PlannerError as exc:
            log.exception("serve: the map page could not be built")
            return _PAGE.replace("{message}", html.escape(str(exc)))

    @app.get("/api/plans/{plan_id}/isochrone/{facility_id}")
    def isochrone(plan_id: str, facility_id: str) -> dict:
        """The walking isochrone (longest threshold, GeoJSON WGS84) of a facility the plan added or moved."""
        plan = store.get(plan_id)
        with plan.lock:
            edits = plan.edits
        where = {str(a.get("id")): (a.get("category"), a.get("lon"), a.get("lat")) for a in edits["add"] if isinstance(a, dict)}
        moved = {str(m.get("id")): m for m in edits["move"] if isinstance(m, dict)}
        cats = dict(zip(result.facilities["id"].astype(str), result.facilities["category"], strict=False))
        where.update({fid: (cats.get(fid), m.get("lon"), m.get("lat")) for fid, m in moved.items()})
        if facility_id not in where:
            raise ApiError(404, "no_such_facility", f"方案中没有新增或移动编号为 {facility_id[:80]!r} 的设施 / the plan adds or moves no "
                           f"facility {facility_id[:80]!r}")
        cat, lon, lat = where[facility_id]
        return plain(isochrone_geojson(engine, float(lon), float(lat), category=str(cat), facility_id=facility_id))

    @app.get("/api/state")
    def get_state() -> dict:
        return {**state, "plans": len(store)}

    @app.post("/api/plans", status_code=201)
    def new_plan() -> dict:
        plan = store.create()
        return {"id": plan.id, "plan": plan.summary()}

    @app.get("/api/plans/{plan_id}")
    def get_plan(plan_id: str) -> FastJSON:
        plan = store.get(plan_id)
        with plan.lock:
            return answer(plan)

    @app.delete("/api/plans/{plan_id}")
    def delete_plan(plan_id: str) -> dict:
        store.delete(plan_id)
        return {"deleted": plan_id}

    @app.post("/api/plans/{plan_id}/edit")
    def edit(plan_id: str, body: Any = Body(...)) -> FastJSON:  # noqa: B008 (FastAPI's way of taking the raw JSON body)
        plan = store.edit(plan_id, body)
        with plan.lock:
            return answer(plan)

    @app.post("/api/plans/{plan_id}/undo")
    def undo(plan_id: str) -> FastJSON:
        plan = store.undo(plan_id)
        with plan.lock:
            return answer(plan)

    @app.post("/api/plans/{plan_id}/redo")
    def redo(plan_id: str) -> FastJSON:
        plan = store.redo(plan_id)
        with plan.lock:
            return answer(plan)

    @app.post("/api/plans/{plan_id}/save")
    def save(plan_id: str, body: Any = Body(...)) -> dict:  # noqa: B008
        plan = store.get(plan_id)
        return plain(save_plan(plan, _name_of(body, "保存"), out_dir=out, scenario_path=result.scenario.path, scenario=result.scenario,
                               overwrite=_overwrite(body)))

    # ---- saved plans: export the report, list, reopen, download, compare ------------------------------------------

    @app.post("/api/plans/{plan_id}/report")
    def export(plan_id: str, body: Any = Body(...)) -> dict:  # noqa: B008
        plan = store.get(plan_id)
        name = _name_of(body, "导出")

        def save_it() -> tuple[dict, Any]:
            written: dict = {}
            saved = save_plan(plan, name, out_dir=out, scenario_path=result.scenario.path, scenario=result.scenario, saved_state=written,
                              overwrite=_overwrite(body))
            return saved, written["state"]

        return plain(export_report(result, save_it))

    @app.get("/api/saved")
    def saved_list() -> dict:
        return plain({"plans": list_saved(out)})

    @app.post("/api/saved/{name}/open", status_code=201)
    def saved_open(name: str) -> FastJSON:
        folder_name, edits = read_edits(out, name)
        plan = store.open(edits)
        with plan.lock:
            return answer(plan, status_code=201, id=plan.id, opened=folder_name)

    @app.get("/api/saved/{name}/files/{file}")
    def saved_download(name: str, file: str) -> FileResponse:
        path, media = saved_file(out, name, file)
        disposition = "inline" if media.startswith("text/html") else "attachment"
        return FileResponse(path, media_type=media, headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(safe_plan_name(name) + '-' + file, safe='')}",
            "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})

    present_side: list = []  # the present's side of /api/compare, built at the first comparison and kept

    @app.get("/api/compare")
    def compare(plans: str = "", rules: str = "changed") -> dict:
        try:
            keys = parse_columns(plans)
            listed = parse_rules(rules)
        except ValueError as exc:
            raise ApiError(422, "invalid_compare", str(exc)) from None
        if not present_side:
            present_side.append(present_output(result))  # (two first requests at once may both build it: same value)
        columns = []
        for key in keys:
            if key.startswith(LIVE):
                plan = store.get(key[len(LIVE):])
                with plan.lock:
                    columns.append(Column(key, "live", key, edit_counts(plan.edits), plan.state))
            else:
                folder_name, edits = read_edits(out, key)
                _, state = store.evaluate(edits, limit=store.max_edits_per_plan)  # a saved plan may hold a plan's edits
                columns.append(Column(folder_name, "saved", folder_name, edit_counts(edits), state))
        return plain(compare_table(result, columns, rules=listed, present=present_side[0]))

    # ---- the issue's stateless forms ------------------------------------------------------------------------------

    @app.post("/api/plan")
    def plan_once(body: Any = Body(...)) -> dict:  # noqa: B008
        edits, state = store.evaluate(body)
        table = (state.compliance if state is not None else result.compliance).table
        changes = state.changes() if state is not None else store.empty_changes()
        return plain({"edits": edits, "changes": changes, "compliance": table.to_dict("records")})

    @app.post("/api/plan/save")
    def plan_save(body: Any = Body(...)) -> dict:  # noqa: B008
        if not isinstance(body, dict) or not {"name", "edits"} <= set(body) or set(body) - {"name", "edits", "overwrite"}:
            raise ApiError(422, "invalid_body", "保存请求应为 {\"name\": \"方案名称\", \"edits\": {\"add\": [...]}} / the body must be "
                           "{\"name\": \"plan name\", \"edits\": {\"add\": [...]}}")
        safe_plan_name(body["name"])  # a bad name refused before any work
        edits, state = store.evaluate(body["edits"])
        if state is None:
            raise ApiError(409, "empty_plan", "方案中还没有修改，无需保存 / the plan holds no edit yet; nothing to save")
        plan = Plan(id="-", created=time.time(), done=[edits], state=state)
        return plain(save_plan(plan, body["name"], out_dir=out, scenario_path=result.scenario.path, scenario=result.scenario,
                               overwrite=_overwrite(body)))

    return app


def _name_of(body: object, what: str) -> object:
    """The ``name`` of a save or export body ``{"name": …, "overwrite"?: true}`` (422 for any other body)."""
    if not isinstance(body, dict) or set(body) - {"name", "overwrite"} or "name" not in body:
        raise ApiError(422, "invalid_body", f"{what}请求应为 {{\"name\": \"方案名称\"}} / the body must be {{\"name\": \"plan name\"}}")
    _overwrite(body)
    return body["name"]


def _overwrite(body: object) -> bool:
    """The ``overwrite`` flag of a save body: true replaces a plan saved under the same folder name."""
    flag = body.get("overwrite", False) if isinstance(body, dict) else False
    if not isinstance(flag, bool):
        raise ApiError(422, "invalid_body", "overwrite 应为 true 或 false / overwrite must be true or false")
    return flag


_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>规划方案推演 / What-if planning</title>
<style>body{font:15px/1.5 system-ui,"Noto Sans CJK SC",sans-serif;margin:2em auto;max-width:46em;color:#222}
code{background:#f3f3f3;padding:0 .3em}h1{font-size:1.4em}</style></head>
<body><h1>规划方案推演 / What-if planning</h1>
<p>地图未能生成 / the map could not be built: {message}</p>
<p>JSON 接口仍可使用，见 <code>docs/serve.md</code>。/ The JSON API still works; see <code>docs/serve.md</code>.</p>
</body></html>
"""
