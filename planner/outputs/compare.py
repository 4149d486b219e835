"""Compare two runs (``planner compare RUN_A RUN_B --out DIR``): what changed per 街道 and per compound.

Reads two output folders of ``planner run`` — ``summary.json``, ``subdistricts.csv``, ``compliance.csv``,
``compounds.gpkg`` (or ``compounds.csv``) and, when present, ``subdistricts.gpkg`` (the 街道 outlines) — and
writes ``compare.html`` (an offline map: compounds coloured by change, 街道 that gain or lose rules),
``compare.csv`` (one row per 街道, plus 全市) and ``compare.xlsx`` (that table, the rule changes and the compounds
that changed). A compound is *newly covered* for a category when it is within the longest threshold of it in B
but not in A, and *lost* the other way round; the people counted are B's population for newly covered compounds
and A's for lost ones.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from planner.analysis.requirements import CITY
from planner.analysis.zones import ALL_ZONES, OUTSIDE_ZONE
from planner.errors import PlannerError
from planner.io.categories import load_taxonomy
from planner.labels import tr
from planner.outputs.basemaps import add_basemap, check_basemap, to_display
from planner.outputs.excel import write_tables

__all__ = ["RunOutput", "Comparison", "read_run", "compare_runs", "write_comparison", "write_zone_outlines", "CHANGES"]

log = logging.getLogger(__name__)

#: compound change classes, in legend order, with their map colour
CHANGES = {"gained": "#1a9850", "lost": "#d73027", "mixed": "#f68b1f", "unchanged": "#b4b4b4"}
_REQUIRED = ("summary.json", "subdistricts.csv", "compliance.csv")
_NOT_ZONES = {ALL_ZONES, OUTSIDE_ZONE, CITY}


@dataclass(frozen=True)
class RunOutput:
    """The tables of one run output folder."""

    path: Path
    summary: dict
    zones: pd.DataFrame  # subdistricts.csv, indexed by zone_id (str)
    compliance: pd.DataFrame
    compounds: pd.DataFrame  # by compound id (str); a GeoDataFrame (WGS84) when compounds.gpkg was there
    outlines: gpd.GeoDataFrame | None  # 街道 polygons (WGS84) from subdistricts.gpkg
    facilities: pd.DataFrame | None = None  # facilities.csv (id, name, category, lon, lat …), indexed by id

    @property
    def name(self) -> str:
        return str(self.summary.get("scenario", {}).get("name", self.path.name))

    @property
    def longest(self) -> float:
        return float(max(self.summary.get("thresholds_min") or [15]))

    @property
    def categories(self) -> list[str]:
        return list(self.summary.get("categories") or [])

    def within(self, category: str) -> pd.Series:
        """Whether each compound is within the longest threshold of ``category`` (False when not computed)."""
        col = f"within_{self.longest:g}min__{category}"
        if col not in self.compounds.columns:
            return pd.Series(False, index=self.compounds.index)
        return _as_bool(self.compounds[col])


@dataclass(frozen=True)
class Comparison:
    """Run A against run B: per 街道 (``zones``), per 街道 × rule (``rules``) and per compound (``compounds``)."""

    a: RunOutput
    b: RunOutput
    zones: pd.DataFrame
    rules: pd.DataFrame
    compounds: gpd.GeoDataFrame | pd.DataFrame
    categories: list[str]
    notes: list[str] = field(default_factory=list)
    facilities: pd.DataFrame | None = None  # facilities added in B or removed from A (``change``: added / removed)


def _as_bool(series: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        return series.fillna(False).astype(bool)
    return series.astype(str).str.strip().str.lower().isin(["true", "1", "1.0", "yes"])


def write_zone_outlines(zones: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Write the 街道 polygons (``zone_id``, ``name``; WGS84) that ``planner compare`` draws: ``subdistricts.gpkg``."""
    path = Path(path)
    if path.exists():
        path.unlink()
    out = gpd.GeoDataFrame({"zone_id": zones.index.astype(str), "name": zones["name"].astype(str).to_numpy()},
                           geometry=zones.geometry.to_crs(4326).to_numpy(), crs=4326)
    out.to_file(path, layer="subdistricts", driver="GPKG", engine="pyogrio", index=False)
    return path


def read_run(folder: str | Path) -> RunOutput:
    """Read the output folder of ``planner run``; a :class:`PlannerError` names what is missing."""
    path = Path(folder)
    if not path.is_dir():
        raise PlannerError(f"找不到运行输出文件夹 {path} / run output folder not found: {path}")
    missing = [n for n in _REQUIRED if not (path / n).is_file()]
    if not (path / "compounds.gpkg").is_file() and not (path / "compounds.csv").is_file():
        missing.append("compounds.gpkg / compounds.csv")
    if missing:
        raise PlannerError(
            f"{path} 不是 planner 的运行输出文件夹：缺少 {'、'.join(missing)}（先运行 planner run 情景.toml --out {path}） / "
            f"{path} is not a planner run output folder: missing {', '.join(missing)} (run `planner run SCENARIO --out {path}` first)"
        )
    try:
        summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PlannerError(f"{path / 'summary.json'} 无法读取：{exc} / cannot read summary.json: {exc}") from exc
    if not isinstance(summary, dict) or "planner_version" not in summary:
        raise PlannerError(f"{path / 'summary.json'} 不是 planner 的运行摘要 / is not a planner run summary")
    zones = pd.read_csv(path / "subdistricts.csv", encoding="utf-8-sig", dtype={"zone_id": str}).set_index("zone_id")
    compliance = pd.read_csv(path / "compliance.csv", encoding="utf-8-sig", dtype={"subdistrict": str, "rule_id": str})
    if (path / "compounds.gpkg").is_file():
        compounds = gpd.read_file(path / "compounds.gpkg", engine="pyogrio")
    else:
        compounds = pd.read_csv(path / "compounds.csv", encoding="utf-8-sig", dtype={"id": str, "zone_id": str})
    compounds["id"] = compounds["id"].astype(str)
    compounds["zone_id"] = compounds["zone_id"].astype(str)
    compounds = compounds.set_index("id", drop=False)
    outlines = None
    if (path / "subdistricts.gpkg").is_file():
        outlines = gpd.read_file(path / "subdistricts.gpkg", engine="pyogrio")
        outlines["zone_id"] = outlines["zone_id"].astype(str)
        outlines = outlines.set_index("zone_id")
    facilities = None
    if (path / "facilities.csv").is_file():
        facilities = pd.read_csv(path / "facilities.csv", encoding="utf-8-sig", dtype={"id": str, "zone_id": str})
        facilities = facilities.set_index("id", drop=False)
    return RunOutput(path=path, summary=summary, zones=zones, compliance=compliance, compounds=compounds, outlines=outlines,
                     facilities=facilities)


def compare_runs(a: RunOutput, b: RunOutput) -> Comparison:
    """Tabulate what changed from run ``a`` to run ``b``.

    Raises :class:`PlannerError` when the runs share no 街道 or no compounds (then they are not two versions
    of one city). 街道, compounds or categories found in only one run are left out, with a note.
    """
    notes: list[str] = []
    zones_a = [z for z in a.zones.index.astype(str) if z not in _NOT_ZONES]
    zones_b = [z for z in b.zones.index.astype(str) if z not in _NOT_ZONES]
    if not zones_a and not zones_b:  # runs without a zones layer: compare the whole area
        zones_a = zones_b = [ALL_ZONES]
    shared = [z for z in zones_b if z in set(zones_a)]
    if not shared:
        raise PlannerError(
            f"两次运行没有共同的街道，无法对比（A：{'、'.join(zones_a) or '无'}；B：{'、'.join(zones_b) or '无'}） / "
            f"the two runs share no 街道 (A: {', '.join(zones_a) or 'none'}; B: {', '.join(zones_b) or 'none'}): "
            "compare two runs of the same area"
        )
    only = sorted(set(zones_a) ^ set(zones_b))
    if only:
        notes.append(f"只在一次运行中出现的街道未参与对比：{'、'.join(only)} / 街道 in one run only are left out: {', '.join(only)}")
    ids = [i for i in b.compounds.index if i in set(a.compounds.index)]
    if not ids:
        raise PlannerError(
            "两次运行没有共同的小区（按小区编号 id 匹配），无法对比 / the two runs share no compounds (matched by id): "
            "compare two runs of the same area"
        )
    n_only = len(set(a.compounds.index) ^ set(b.compounds.index))
    if n_only:
        notes.append(f"{n_only} 个小区只在一次运行中出现，未参与对比 / {n_only} compounds in one run only are left out")
    cats = [c for c in b.categories if c in set(a.categories)]
    dropped = sorted(set(a.categories) ^ set(b.categories))
    if dropped:
        notes.append(f"只在一次运行中分析的类别未参与对比：{', '.join(dropped)} / categories analysed in one run only: {', '.join(dropped)}")
    if a.longest != b.longest:
        notes.append(f"两次运行的最长步行时间不同（A {a.longest:g}，B {b.longest:g} 分钟）/ the runs' longest thresholds differ")

    comp = _compound_changes(a, b, ids, cats)
    rules = _rule_changes(a, b, shared)
    zones = _zone_table(a, b, shared, comp, rules, cats)
    return Comparison(a=a, b=b, zones=zones, rules=rules, compounds=comp, categories=cats, notes=notes,
                      facilities=_facility_changes(a, b))


def _facility_changes(a: RunOutput, b: RunOutput) -> pd.DataFrame | None:
    """Facilities (matched by id) present in B only (``added``) or in A only (``removed``)."""
    if a.facilities is None or b.facilities is None:
        return None
    cols = [c for c in ("id", "name", "category", "category_zh", "zone_id", "lon", "lat") if c in a.facilities.columns and c in b.facilities.columns]
    added = b.facilities.loc[~b.facilities.index.isin(a.facilities.index), cols].assign(change="added")
    removed = a.facilities.loc[~a.facilities.index.isin(b.facilities.index), cols].assign(change="removed")
    return pd.concat([added, removed], ignore_index=True)


def _compound_changes(a: RunOutput, b: RunOutput, ids: list[str], cats: list[str]) -> pd.DataFrame:
    taxonomy = load_taxonomy()
    ca, cb = a.compounds.loc[ids], b.compounds.loc[ids]
    gained = pd.DataFrame({c: (~a.within(c).loc[ids].to_numpy()) & b.within(c).loc[ids].to_numpy() for c in cats}, index=ids)
    lost = pd.DataFrame({c: a.within(c).loc[ids].to_numpy() & ~b.within(c).loc[ids].to_numpy() for c in cats}, index=ids)
    any_g, any_l = gained.any(axis=1), lost.any(axis=1)
    change = np.select([any_g & ~any_l, any_l & ~any_g, any_g & any_l], ["gained", "lost", "mixed"], "unchanged")
    names = lambda frame: ["、".join(taxonomy[c].zh if c in taxonomy else c for c in frame.columns[row]) for row in frame.to_numpy()]  # noqa: E731
    out = pd.DataFrame(
        {
            "compound_id": ids,
            "name": cb["name"].astype(str).to_numpy(),
            "zone_id": cb["zone_id"].astype(str).to_numpy(),
            "change": change,
            "categories_gained": names(gained) if cats else "",
            "categories_lost": names(lost) if cats else "",
            "population_a": pd.to_numeric(ca["population"], errors="coerce").to_numpy(),
            "population_b": pd.to_numeric(cb["population"], errors="coerce").to_numpy(),
        },
        index=pd.Index(ids, name="id"),
    )
    for c in cats:
        out[f"newly_covered__{c}"] = np.where(gained[c], out["population_b"].fillna(0), 0.0)
        out[f"lost__{c}"] = np.where(lost[c], out["population_a"].fillna(0), 0.0)
    if isinstance(b.compounds, gpd.GeoDataFrame):
        return gpd.GeoDataFrame(out, geometry=b.compounds.loc[ids].geometry.to_numpy(), crs=b.compounds.crs)
    return out


def _rule_changes(a: RunOutput, b: RunOutput, shared: list[str]) -> pd.DataFrame:
    keep = set(shared) | {CITY}
    cols = ["subdistrict", "subdistrict_name", "rule_id", "rule", "status", "value", "shortfall_text"]
    ra = a.compliance[a.compliance["subdistrict"].isin(keep)][cols]
    rb = b.compliance[b.compliance["subdistrict"].isin(keep)][cols]
    m = rb.merge(ra, on=["subdistrict", "rule_id"], how="outer", suffixes=("_b", "_a"))
    m["subdistrict_name"] = m["subdistrict_name_b"].fillna(m["subdistrict_name_a"])
    m["rule"] = m["rule_b"].fillna(m["rule_a"])
    sa, sb = m["status_a"].fillna("not_evaluable"), m["status_b"].fillna("not_evaluable")
    m["change"] = np.select(
        [(sb == "pass") & (sa != "pass"), (sa == "pass") & (sb != "pass"), sa != sb],
        ["newly_passing", "newly_failing", "changed"],
        "unchanged",
    )
    order = {z: i for i, z in enumerate([*shared, CITY])}
    m = m.sort_values(["subdistrict", "rule_id"], key=lambda s: s.map(order) if s.name == "subdistrict" else s, kind="stable")
    return m[["subdistrict", "subdistrict_name", "rule_id", "rule", "status_a", "status_b", "change", "value_a", "value_b",
              "shortfall_text_a", "shortfall_text_b"]].reset_index(drop=True)


def _zone_table(a: RunOutput, b: RunOutput, shared: list[str], comp: pd.DataFrame, rules: pd.DataFrame, cats: list[str]) -> pd.DataFrame:
    rows = []
    for z in [*shared, CITY]:
        r = rules[rules["subdistrict"] == z]
        if z == CITY:
            sub = comp
            name = CITY
        else:
            sub = comp[comp["zone_id"] == z]
            name = str(b.zones.loc[z, "name"]) if z in b.zones.index else str(a.zones.loc[z, "name"])
        row = {
            "zone_id": z,
            "name": name,
            "rules_pass_a": int((r["status_a"] == "pass").sum()),
            "rules_pass_b": int((r["status_b"] == "pass").sum()),
            "rules_fail_a": int((r["status_a"] == "fail").sum()),
            "rules_fail_b": int((r["status_b"] == "fail").sum()),
            "n_newly_passing": int((r["change"] == "newly_passing").sum()),
            "n_newly_failing": int((r["change"] == "newly_failing").sum()),
            "newly_passing": "；".join(r.loc[r["change"] == "newly_passing", "rule_id"]),
            "newly_failing": "；".join(r.loc[r["change"] == "newly_failing", "rule_id"]),
            "compliant_a": bool(len(r)) and bool((r["status_a"] == "pass").all()),
            "compliant_b": bool(len(r)) and bool((r["status_b"] == "pass").all()),
            "population_a": float(sub["population_a"].sum()),
            "population_b": float(sub["population_b"].sum()),
            "newly_covered_total": float(sum(sub[f"newly_covered__{c}"].sum() for c in cats)),
            "lost_total": float(sum(sub[f"lost__{c}"].sum() for c in cats)),
        }
        for c in cats:
            row[f"newly_covered__{c}"] = float(sub[f"newly_covered__{c}"].sum())
        for c in cats:
            row[f"lost__{c}"] = float(sub[f"lost__{c}"].sum())
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ writing


def write_comparison(
    cmp: Comparison, out_dir: str | Path, *, lang: str = "zh", basemap: str = "offline", tianditu_key: str | None = None
) -> dict[str, Path]:
    """Write ``compare.html``, ``compare.csv`` and ``compare.xlsx`` into ``out_dir`` (created if needed)."""
    check_basemap(basemap, tianditu_key)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"map": out / "compare.html", "csv": out / "compare.csv", "xlsx": out / "compare.xlsx"}
    cmp.zones.to_csv(paths["csv"], index=False, encoding="utf-8-sig", float_format="%.6g")
    taxonomy = load_taxonomy()
    compounds = pd.DataFrame(cmp.compounds.drop(columns="geometry", errors="ignore"))
    about = [
        (tr("cmp_run_a", lang), f"{cmp.a.name} — {cmp.a.path.resolve()}"),
        (tr("cmp_run_b", lang), f"{cmp.b.name} — {cmp.b.path.resolve()}"),
        (tr("xl_created", lang), _dt.datetime.now().astimezone().isoformat(timespec="seconds")),
        (tr("cmp_method", lang), tr("cmp_method_text", lang, t=f"{cmp.b.longest:g}")),
        *((tr("cmp_note", lang), n) for n in cmp.notes),
    ]
    sheets = [("compare_zones", cmp.zones), ("compare_rules", cmp.rules),
              ("compare_compounds", compounds[compounds["change"] != "unchanged"].reset_index(drop=True))]
    if cmp.facilities is not None:
        sheets.append(("compare_facilities", cmp.facilities))
    write_tables(
        sheets,
        paths["xlsx"], lang=lang, taxonomy=taxonomy, about=about,
    )
    _compare_map(cmp, lang=lang, basemap=basemap, tianditu_key=tianditu_key).save(str(paths["map"]))
    log.info("comparison written to %s", out)
    return paths


def _compare_map(cmp: Comparison, *, lang: str, basemap: str, tianditu_key: str | None) -> folium.Map:
    from planner.outputs.maps import _offline_map

    taxonomy = load_taxonomy()
    comp = cmp.compounds
    outlines = cmp.b.outlines if cmp.b.outlines is not None else cmp.a.outlines
    has_geometry = isinstance(comp, gpd.GeoDataFrame) and len(comp)
    shown = to_display(comp, basemap) if has_geometry else None
    frames = [f for f in (shown, to_display(outlines, basemap) if outlines is not None else None) if f is not None and len(f)]
    if frames:
        b = np.array([f.total_bounds for f in frames])
        bounds = [b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()]
    else:
        bounds = [0.0, 0.0, 0.0, 0.0]
    fmap = _offline_map([(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2], tiles=None)
    add_basemap(fmap, basemap, lang=lang, tianditu_key=tianditu_key)
    zt = cmp.zones.set_index("zone_id")

    if outlines is not None and len(outlines):
        zg = to_display(outlines, basemap)[["name", "geometry"]].copy()
        zg = zg[zg.index.isin(zt.index)]
        zg["state"] = [_zone_state(zt.loc[z]) for z in zg.index]
        rule_names = dict(zip(cmp.rules["rule_id"], cmp.rules["rule"], strict=True))
        zg["popup"] = [_zone_popup(zt.loc[z], cmp.categories, taxonomy, rule_names, lang) for z in zg.index]
        colours = {"better": "#1a9850", "worse": "#d73027", "both": "#f68b1f", "same": "#ffffff"}
        folium.GeoJson(
            zg,
            name=tr("cmp_zones", lang),
            style_function=lambda f, c=colours: {
                "color": "#3f007d", "weight": 2.5, "dashArray": "6 4", "fillColor": c[f["properties"]["state"]],
                "fillOpacity": 0.05 if f["properties"]["state"] == "same" else 0.3,
            },
            tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
            popup=folium.GeoJsonPopup(fields=["popup"], labels=False),
        ).add_to(fmap)

    if has_geometry:
        pts = shown.geometry.representative_point()
        for change, colour in CHANGES.items():
            mask = (comp["change"] == change).to_numpy()
            if not mask.any():
                continue
            layer = gpd.GeoDataFrame(
                {"name": comp.loc[mask, "name"].astype(str).to_numpy(),
                 "popup": [_compound_popup(r, lang) for r in comp[mask].itertuples()]},
                geometry=pts[mask].to_numpy(), crs=4326,
            )
            radius = 4 if change == "unchanged" else 7
            folium.GeoJson(
                layer,
                name=f"{tr('cmp_' + change, lang)} ({int(mask.sum())})",
                marker=folium.CircleMarker(radius=radius, weight=1),
                style_function=lambda f, col=colour, r=radius: {"radius": r, "color": "#333333", "weight": 1, "fill": True,
                                                                "fillColor": col, "fillOpacity": 0.9},
                tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
                popup=folium.GeoJsonPopup(fields=["popup"], labels=False),
            ).add_to(fmap)

    fac = cmp.facilities
    if fac is not None and len(fac) and {"lon", "lat"} <= set(fac.columns):
        pts = to_display(gpd.GeoDataFrame(fac, geometry=gpd.points_from_xy(fac["lon"], fac["lat"]), crs=4326), basemap)
        for change, colour in (("added", "#1a9850"), ("removed", "#d73027")):
            sub = pts[pts["change"] == change]
            if not len(sub):
                continue
            label = sub["category_zh"] if "category_zh" in sub.columns else sub["category"]
            layer = gpd.GeoDataFrame(
                {"name": sub["name"].astype(str).to_numpy(),
                 "popup": [f"<b>{html.escape(str(n))}</b><br>{html.escape(str(c))}<br>{tr('cmp_fac_' + change, lang)}"
                           for n, c in zip(sub["name"], label, strict=True)]},
                geometry=sub.geometry.to_numpy(), crs=4326,
            )
            folium.GeoJson(
                layer,
                name=f"{tr('cmp_fac_' + change, lang)} ({len(sub)})",
                marker=folium.CircleMarker(radius=9, weight=3),
                style_function=lambda f, col=colour: {"radius": 9, "color": "#000000", "weight": 3, "fill": True, "fillColor": col,
                                                      "fillOpacity": 1.0, "dashArray": None},
                tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
                popup=folium.GeoJsonPopup(fields=["popup"], labels=False),
            ).add_to(fmap)

    folium.LayerControl(collapsed=False).add_to(fmap)
    root = fmap.get_root()
    title = tr("cmp_title", lang, a=cmp.a.name, b=cmp.b.name)
    notes = "".join(f"<br><span style='color:#b35806'>{html.escape(n)}</span>" for n in cmp.notes)
    root.html.add_child(folium.Element(
        "<div id='planner-title' style='position:fixed;top:10px;left:60px;z-index:1000;background:rgba(255,255,255,.92);"
        "padding:6px 12px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);font:14px sans-serif;max-width:60%'>"
        f"<b>{html.escape(title)}</b><br><span style='font-size:12px;color:#555'>{tr('cmp_subtitle', lang, t=f'{cmp.b.longest:g}')}</span>{notes}</div>"
    ))
    items = "".join(
        f"<div><i style='background:{c};width:10px;height:10px;border-radius:5px;display:inline-block;margin-right:4px;border:1px solid #333'></i>"
        f"{tr('cmp_' + k, lang)}</div>" for k, c in CHANGES.items()
    )
    zones_legend = "".join(
        f"<div><i style='background:{c};opacity:.6;width:12px;height:10px;display:inline-block;margin-right:4px;border:1px dashed #3f007d'></i>"
        f"{tr('cmp_zone_' + k, lang)}</div>" for k, c in (("better", "#1a9850"), ("worse", "#d73027"), ("both", "#f68b1f"))
    )
    fac_legend = "".join(
        f"<div><i style='background:{c};width:12px;height:12px;border-radius:7px;display:inline-block;margin-right:4px;border:2px solid #000'></i>"
        f"{tr('cmp_fac_' + k, lang)}</div>" for k, c in (("added", "#1a9850"), ("removed", "#d73027"))
    )
    root.html.add_child(folium.Element(
        "<div id='planner-legend' style='position:fixed;bottom:60px;left:10px;z-index:1000;background:rgba(255,255,255,.92);"
        "padding:8px 10px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);font:12px sans-serif'>"
        f"<b>{tr('legend', lang)}</b>{items}{zones_legend}{fac_legend}</div>"
    ))
    root.header.add_child(folium.Element(f"<title>{html.escape(title)}</title>"), name="page_title")
    if frames:
        fmap.fit_bounds([[float(bounds[1]), float(bounds[0])], [float(bounds[3]), float(bounds[2])]])
    return fmap


def _zone_state(row: pd.Series) -> str:
    up, down = row["n_newly_passing"] > 0, row["n_newly_failing"] > 0
    return "both" if up and down else "better" if up else "worse" if down else "same"


def _zone_popup(row: pd.Series, cats: list[str], taxonomy, rule_names: dict[str, str], lang: str) -> str:
    parts = [f"<b>{html.escape(str(row['name']))}</b>"]
    for key, label, mark in (("newly_passing", "cmp_newly_passing", "✔"), ("newly_failing", "cmp_newly_failing", "✘")):
        if row[key]:
            items = "".join(f"<li>{mark} {html.escape(rule_names.get(rid, rid))}</li>" for rid in str(row[key]).split("；"))
            parts.append(f"{tr(label, lang)}<ul style='margin:0;padding-left:16px'>{items}</ul>")
    gains = [(c, row[f"newly_covered__{c}"]) for c in cats if row[f"newly_covered__{c}"] > 0]
    if gains:
        items = "".join(f"<tr><td>{html.escape(taxonomy[c].label(lang) if c in taxonomy else c)}</td><td>+{v:,.0f}</td></tr>" for c, v in gains)
        parts.append(f"{tr('cmp_newly_covered', lang)}<table style='font-size:11px'>{items}</table>")
    losses = [(c, row[f"lost__{c}"]) for c in cats if row[f"lost__{c}"] > 0]
    if losses:
        items = "".join(f"<tr><td>{html.escape(taxonomy[c].label(lang) if c in taxonomy else c)}</td><td>−{v:,.0f}</td></tr>" for c, v in losses)
        parts.append(f"{tr('cmp_lost_cover', lang)}<table style='font-size:11px'>{items}</table>")
    if len(parts) == 1:
        parts.append(tr("cmp_no_change", lang))
    return "<br>".join(parts)


def _compound_popup(r, lang: str) -> str:
    parts = [f"<b>{html.escape(str(r.name))}</b>", tr("cmp_" + r.change, lang)]
    if r.categories_gained:
        parts.append(f"+ {html.escape(r.categories_gained)}")
    if r.categories_lost:
        parts.append(f"− {html.escape(r.categories_lost)}")
    return "<br>".join(parts)
