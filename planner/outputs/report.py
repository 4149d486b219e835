"""The printable report of a run (``report.html``): one self-contained file that works offline and prints to A4.

Sections: summary figures, the 街道达标一览表 (街道 × rule matrix), the gap list, suggested sites and the
coverage curve (only when the run has them), methods and sources. Each section has a static map or chart
drawn by :mod:`planner.outputs.charts` and embedded as a base64 PNG. The text font is embedded too
(:mod:`planner.outputs.fonts`), so the page looks the same on a machine with no Chinese font. In print, every
section starts on a new A4 page and the compliance matrix gets a landscape page.
"""

from __future__ import annotations

import base64
import html
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from planner import __version__, schema
from planner.labels import LABELS, column_label, tr
from planner.outputs import charts
from planner.outputs.fonts import font_faces
from planner.outputs.reproducible import shown_date
from planner.outputs.speeds import metres_text, speed_uses, speeds_line
from planner.outputs.style import completeness_color
from planner.progress import bar
from planner.schema import ALL_ZONES, CITY

__all__ = ["build_report", "write_report", "network_length_km", "SECTION_IDS"]

log = logging.getLogger(__name__)

#: ids of the report's sections, in order (``one_plus_n`` only with childcare facilities, ``sites`` only when the run
#: has suggested sites)
SECTION_IDS = ("summary", "compliance", "gaps", "one_plus_n", "sites", "methods")
_MARK = {"pass": "✔", "fail": "✘", "not_evaluable": "？"}


def network_length_km(network) -> float:
    """Total street length of a :class:`~planner.network.build.WalkNetwork` in km, from its arrays (no GeoDataFrame)."""
    return float(np.sum(network.streets.length) / 1000.0)


def write_report(result, path: str | Path, *, lang: str = "zh", summary: dict | None = None, gap_rows: int = 5) -> Path:
    """Write :func:`build_report` of ``result`` to ``path`` (UTF-8)."""
    path = Path(path)
    path.write_text(build_report(result, lang=lang, summary=summary, gap_rows=gap_rows), encoding="utf-8")
    log.info("report written: %s", path)
    return path


def build_report(result, *, lang: str = "zh", summary: dict | None = None, gap_rows: int = 5, embed_font: bool = True) -> str:
    """The report of a run as one HTML page.

    Parameters
    ----------
    result
        A :class:`planner.pipeline.RunResult`. ``result.sites`` (GeoDataFrame of suggested sites) and
        ``result.coverage_curve`` (DataFrame: ``k`` → people newly covered) are used when the run has them.
    lang
        ``"zh"`` (default) or ``"en"``.
    summary
        The run's ``summary.json`` content (inputs with SHA-256, rejected rows by reason); optional.
    gap_rows
        Rows shown per requirement in the gap list (the full list is in ``gaps.csv`` and ``report.xlsx``).
    embed_font
        Embed subsets of the bundled fonts (set False for a smaller page that relies on installed fonts).
    """
    sc = result.scenario
    rules = {r.id: r for r in result.compliance.rules}
    numbering = _rule_numbers(result, rules)
    sites = getattr(result, "sites", None)
    curve = getattr(result, "coverage_curve", None)
    builders = [
        lambda: _summary_section(result, lang),
        lambda: _compliance_section(result, lang, rules, numbering),
        lambda: _gaps_section(result, lang, gap_rows),
    ]
    if getattr(result, "one_plus_n", None) is not None:
        builders.append(lambda: _one_plus_n_section(result, lang))
    if (sites is not None and len(sites)) or (curve is not None and len(curve)):
        builders.append(lambda: _sites_section(result, lang, sites, curve))
    builders.append(lambda: _methods_section(result, lang, rules, numbering, summary or {}))
    with bar(desc="写出 / writing report.html", total=len(builders) + 1, unit="part") as pbar:
        sections = []
        for build in builders:  # each map takes a few seconds at city scale
            sections.append(build())
            pbar.update(1)
        body = _cover(result, lang, [(s.sid, s.title) for s in sections]) + "".join(
            s.html(number) for number, s in enumerate(sections, start=1)
        )
        fonts = font_faces(body) if embed_font else ""
        pbar.update(1)
    title = html.escape(f"{sc.name} — {tr('rp.title', lang)}")
    return (
        f"<!doctype html>\n<html lang=\"{'zh-CN' if lang == 'zh' else 'en'}\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>"
        f"<meta name=\"generator\" content=\"planner {html.escape(__version__)}\">"
        f"<style>{fonts}{_CSS}</style></head><body><main>{body}</main></body></html>\n"
    )


# ------------------------------------------------------------------------------------------------ helpers


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: object, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)) or pd.isna(value):
        return "—"
    return f"{float(value):,.{digits}f}"


def _pct(value: object) -> str:
    if value is None or pd.isna(value):
        return "—"
    return f"{float(value) * 100:.0f}%"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, cls: str = "", numeric: Sequence[int] = (), tid: str = "") -> str:
    """An HTML table; cells are already-escaped HTML; columns in ``numeric`` are right-aligned."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td class=\"num\">{c}</td>" if j in numeric else f"<td>{c}</td>" for j, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    attrs = (f" id=\"{tid}\"" if tid else "") + (f" class=\"{cls}\"" if cls else "")
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(png: bytes, caption: str, fid: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f"<figure id=\"{fid}\"><img alt=\"{_e(caption)}\" src=\"data:image/png;base64,{data}\">"
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


@dataclass(frozen=True)
class _Section:
    sid: str
    title: str
    content: str
    wide: bool = False  # printed on a landscape page

    def html(self, number: int) -> str:
        cls = "section wide" if self.wide else "section"
        return f"<section id=\"{self.sid}\" class=\"{cls}\"><h2>{number} {_e(self.title)}</h2>{self.content}</section>"


def _category_label(result, key: str, lang: str) -> str:
    return result.taxonomy[key].label(lang) if key in result.taxonomy else key


def _label_categories(result, text: str, lang: str) -> str:
    """Replace category keys inside free text (e.g. the gap list's detail) by their display names."""
    keys = sorted(result.taxonomy.keys, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(k) for k in keys)) if keys else None
    return pattern.sub(lambda m: result.taxonomy[m.group(0)].label(lang), text) if pattern else text


def _zone_names(result) -> dict[str, str]:
    table = result.zone_table
    return {str(z): str(n) for z, n in zip(table.index, table["name"], strict=True)}


def _rule_numbers(result, rules: dict) -> dict[str, str]:
    """R1, R2 … for the rules in the order they appear (街道 rules first, then city-wide ones)."""
    ids: list[str] = []
    if result.compliance is not None:
        t = result.compliance.table
        ids += list(dict.fromkeys(t.loc[t["subdistrict"] != CITY, "rule_id"]))
        ids += [r for r in dict.fromkeys(t.loc[t["subdistrict"] == CITY, "rule_id"]) if r not in ids]
    ids += [r for r in rules if r not in ids]
    return {rid: f"R{i}" for i, rid in enumerate(ids, start=1)}


def _rule_text(rid: str, rules: dict, fallback: str, lang: str) -> str:
    rule = rules.get(rid)
    return rule.label(lang) if rule is not None else fallback


# ------------------------------------------------------------------------------------------------ sections


def _cover(result, lang: str, toc_items: list[tuple[str, str]]) -> str:
    sc = result.scenario
    badge = f"<span class=\"badge\">{tr('ui.sample', lang)}</span>" if sc.sample_data else ""
    meta = " · ".join(
        [
            *([f"{tr('ui.generated', lang)} {date}"] if (date := shown_date()) is not None else []),
            f"planner {_e(__version__)}",
            f"{tr('rp.preset', lang)} {_e(sc.standards.preset)}",
            speeds_line(sc.speeds, lang),
        ]
    )
    toc = "".join(f"<li><a href=\"#{sid}\">{_e(t)}</a></li>" for sid, t in toc_items)
    sample = f"<p class=\"sample-note\">{tr('ui.sample_note', lang)}</p>" if sc.sample_data else ""
    desc = f"<p class=\"desc\">{_e(sc.description)}</p>" if sc.description else ""
    return (
        f"<header class=\"cover\"><p class=\"kicker\">{tr('rp.title', lang)}</p><h1>{_e(sc.name)}{badge}</h1>"
        f"<p class=\"meta\">{meta}</p>{sample}{desc}"
        f"<nav class=\"toc\"><b>{tr('rp.contents', lang)}</b><ol>{toc}</ol></nav>"
        f"<button class=\"noprint\" type=\"button\" onclick=\"window.print()\">{tr('rp.print', lang)}</button></header>"
    )


def _summary_section(result, lang: str) -> _Section:
    comp = result.compounds
    table = result.zone_table
    total = table.loc[ALL_ZONES] if ALL_ZONES in table.index else table.iloc[-1]
    pop = float(comp["population"].sum())
    unreachable = int((~comp["reachable"].astype(bool)).sum())
    n_zones = 0 if result.zones is None else len(result.zones)
    cats_present = result.facilities["category"].nunique() if len(result.facilities) else 0

    def share_of(col: str) -> str:
        v = comp[col].sum(min_count=1) if col in comp.columns else np.nan
        return f"{_num(v)}<small>{'（' if lang == 'zh' else ' ('}{_num(v / pop * 100, 1) if pop and pd.notna(v) else '—'}%{'）' if lang == 'zh' else ')'}</small>"

    cards = [
        (tr("rp.compounds", lang), f"{len(comp):,}", tr("rp.unreachable_n", lang, n=unreachable) if unreachable else ""),
        (tr("ui.population", lang), _num(pop), ""),
        (tr("ui.age_60_plus", lang), share_of("age_60_plus"), ""),
        (tr("ui.age_0_3", lang), share_of("age_0_3"), ""),
        (tr("ui.facilities", lang), f"{len(result.facilities):,}", tr("rp.in_categories", lang, n=cats_present)),
        (tr("ui.zone", lang), f"{n_zones}", ""),
    ]
    card_html = "".join(
        f"<div class=\"card\"><div class=\"label\">{_e(lab)}</div><div class=\"value\">{val}</div>"
        f"<div class=\"sub\">{_e(sub)}</div></div>"
        for lab, val, sub in cards
    )
    longest = schema.minutes_text(max(result.coverage.thresholds_min))
    zones = [z for z in table.index if z != ALL_ZONES]
    show_zones = zones if len(zones) <= 8 else []
    headers = [tr("rp.category", lang), tr("rp.facility_count", lang), tr("rp.all_area", lang)] + [_e(table.loc[z, "name"]) for z in show_zones]
    if not show_zones and zones:
        headers.append(tr("rp.lowest_zone", lang))
    rows = []
    for cat in result.coverage.categories:
        col = schema.share(cat, longest)
        row = [_e(_category_label(result, cat, lang)), f"{int(total.get(schema.facilities(cat), 0)):,}", _share_cell(total.get(col))]
        row += [_share_cell(table.loc[z, col]) for z in show_zones]
        if not show_zones and zones:
            shares = table.loc[zones, col].astype(float)
            low = shares.idxmin() if shares.notna().any() else None
            row.append("—" if low is None else f"{_e(table.loc[low, 'name'])} {_pct(shares[low])}")
        rows.append(row)
    share_table = _table(headers, rows, cls="shares", numeric=list(range(1, len(headers))), tid="share-table")
    content = (
        f"<div class=\"cards\">{card_html}</div>"
        + _figure(charts.overview_map(result, lang=lang), tr("rp.fig_overview", lang, t=longest), "fig-summary")
        + f"<h3>{tr('ui.share_within', lang, t=longest)}</h3>"
        + f"<p class=\"note\">{tr('rp.share_note_speeds', lang, t=longest, m=metres_text(result.coverage, float(longest), lang, result.taxonomy))}</p>"
        + share_table
    )
    return _Section("summary", tr("rp.summary", lang), content)


def _share_cell(value: object) -> str:
    if value is None or pd.isna(value):
        return "<span class=\"na\">—</span>"
    v = float(value)
    return f"<span class=\"chip\" style=\"background:{completeness_color(v)}\">{v * 100:.0f}%</span>"


def _compliance_section(result, lang: str, rules: dict, numbering: dict[str, str]) -> _Section:
    if result.compliance is None or not len(result.compliance.table):
        return _Section("compliance", tr("rp.compliance", lang), f"<p>{tr('rp.no_rules', lang)}</p>", wide=True)
    t = result.compliance.table
    zone_rows = t[t["subdistrict"] != CITY]
    rule_ids = list(dict.fromkeys(zone_rows["rule_id"]))
    zones = list(dict.fromkeys(zone_rows["subdistrict"]))
    names = dict(zip(zone_rows["subdistrict"], zone_rows["subdistrict_name"], strict=True))
    lookup = {(r.subdistrict, r.rule_id): r for r in zone_rows.itertuples()}
    head = f"<th class=\"zone\">{tr('ui.zone', lang)}</th>" + "".join(
        f"<th class=\"rule\" data-rule=\"{_e(rid)}\" title=\"{_e(_rule_text(rid, rules, rid, lang))}\">"
        f"<span class=\"code\">{numbering.get(rid, '')}</span><span class=\"rtext\">{_e(_rule_text(rid, rules, rid, lang))}</span></th>"
        for rid in rule_ids
    ) + f"<th class=\"count\">{tr('ui.failed_rules', lang)}</th>"
    body = []
    for z in zones:
        cells = []
        n_fail = 0
        for rid in rule_ids:
            r = lookup.get((z, rid))
            if r is None:
                cells.append("<td class=\"none\"></td>")
                continue
            n_fail += r.status == "fail"
            tip = f"{_rule_text(rid, rules, r.rule, lang)}：{_value_text(r)}"
            extra = f"<span class=\"sf\">{_e(r.shortfall_text)}</span>" if r.status == "fail" and r.shortfall_text else ""
            if r.status == "not_evaluable":
                extra = f"<span class=\"sf\">{_e(_half(r.shortfall_text, lang) or tr('rp.not_evaluable', lang))}</span>"
            cells.append(f"<td class=\"{r.status}\" title=\"{_e(tip)}\"><span class=\"mark\">{_MARK[r.status]}</span>{extra}</td>")
        body.append(f"<tr data-zone=\"{_e(z)}\"><th class=\"zone\">{_e(names.get(z, z))}</th>{''.join(cells)}<td class=\"count\">{n_fail}</td></tr>")
    matrix = f"<table id=\"compliance-matrix\" class=\"matrix\"><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    counts = t["status"].value_counts()
    intro = tr("rp.compliance_intro", lang, preset=result.compliance.preset, p=int(counts.get("pass", 0)),
               f=int(counts.get("fail", 0)), n=int(counts.get("not_evaluable", 0)))
    legend = (
        f"<p class=\"legend\"><span class=\"pass\">✔ {tr('rp.pass', lang)}</span> <span class=\"fail\">✘ {tr('rp.fail', lang)}</span> "
        f"<span class=\"not_evaluable\">？ {tr('rp.not_evaluable', lang)}</span> · {tr('rp.rule_codes', lang)}</p>"
    )
    city = t[t["subdistrict"] == CITY]
    city_html = ""
    if len(city):
        rows = [
            [numbering.get(r.rule_id, ""), _e(_rule_text(r.rule_id, rules, r.rule, lang)), _e(_value_text(r)),
             f"<span class=\"{r.status}\">{_MARK[r.status]}</span> {_e(r.shortfall_text or '')}"]
            for r in city.itertuples()
        ]
        city_html = f"<h3>{tr('rp.city_rules', lang)}</h3>" + _table(
            ["", tr("ui.rule", lang), f"{tr('ui.value', lang)} / {tr('ui.target', lang)}", tr("rp.result", lang)], rows, cls="city", tid="city-rules"
        )
    content = (
        f"<p>{_e(intro)}</p>{legend}<div class=\"matrix-wrap\">{matrix}</div>{city_html}"
        + _figure(charts.compliance_map(result, lang=lang), tr("rp.fig_compliance", lang), "fig-compliance")
    )
    return _Section("compliance", tr("rp.compliance", lang), content, wide=True)


def _half(text: object, lang: str) -> str:
    """The Chinese or the English half of a bilingual "中文 / English" text (the whole text when it has one part)."""
    if not isinstance(text, str) or not text:
        return ""
    zh, sep, en = text.partition(" / ")
    return (zh if lang == "zh" else en) if sep else text


def _value_text(r) -> str:
    value = "—" if r.value is None or pd.isna(r.value) else f"{float(r.value):,.4g}"
    return f"{value} / {float(r.target):g} {r.unit}"


def _gaps_section(result, lang: str, gap_rows: int) -> _Section:
    gaps = result.gaps
    names = _zone_names(result)
    if gaps is None or not len(gaps):
        return _Section("gaps", tr("rp.gaps", lang), f"<p>{tr('rp.no_gaps', lang)}</p>")
    parts = [
        f"<p>{tr('rp.gaps_intro', lang, n=gap_rows)}</p>",
        _figure(charts.gaps_map(result, lang=lang), tr("rp.fig_gaps", lang), "fig-gaps"),
    ]
    headers = [tr("rp.rank", lang), tr("rp.compound", lang), tr("ui.zone", lang), tr("rp.unserved", lang), tr("rp.nearest_m", lang), tr("rp.detail", lang)]
    for req, sub in gaps.groupby("requirement", sort=False):
        title = str(sub["requirement_zh"].iloc[0]) if lang == "zh" else _rule_en(req, str(sub["requirement_zh"].iloc[0]), result)
        group = str(sub["group"].iloc[0])
        group = tr(f"group.{group}", lang) if f"group.{group}" in LABELS else group
        head = tr("rp.gap_head", lang, n=len(sub), total=_num(sub["unserved"].sum()), g=group)
        rows = [
            [str(int(r.rank)), _e(r.name), _e(names.get(str(r.zone_id), r.zone_id)), _num(r.unserved), _num(r.nearest_m),
             _e(_label_categories(result, str(r.detail), lang))]
            for r in sub.head(gap_rows).itertuples()
        ]
        parts.append(
            f"<div class=\"gap\" data-requirement=\"{_e(req)}\"><h3>{_e(title)} <small>{_e(req)}</small></h3>"
            f"<p class=\"note\">{_e(head)}</p>{_table(headers, rows, numeric=[0, 3, 4], cls='gaps')}</div>"
        )
    return _Section("gaps", tr("rp.gaps", lang), "".join(parts))


def _rule_en(req: str, fallback: str, result) -> str:
    for rule in result.compliance.rules:
        if rule.id == req:
            return rule.en
    return {"childcare_places": "Childcare places within reach (E2SFCA)", "elderly_beds": "Elderly-care beds within reach (E2SFCA)"}.get(req, fallback)


# columns of result.sites shown in the report, in this order, when present (the full table is in sites.csv); the texts
# are those of planner.siting.explain (site_title, site_numbers), in the report's language
_SITE_COLUMNS = ("no", "title", "numbers", "new_compounds", "nearest_existing_m", "fixes")
_SITE_TEXTS = ("title", "numbers", "fixes", "explanation")
_CURVE_COLUMNS = ("k", "covered", "covered_share", "greedy_covered", "status")


#: columns of the 1+N areas and unassigned points shown in the report (the full tables are one_plus_n*.csv)
_ONE_PLUS_N_AREA_COLUMNS = ("area_name", "hubs", "points", "assigned", "unassigned", "no_hub_in_district", "no_hub_within",
                            "hubs_full", "hubs_over_n", "coverage_pct", "dist_median_m", "dist_max_m")
_ONE_PLUS_N_POINT_COLUMNS = ("name", "zone_name", "district", "reason")
#: unassigned points listed in the report at most (all are in one_plus_n.csv)
ONE_PLUS_N_LISTED = 30


def _one_plus_n_section(result, lang: str) -> _Section:
    """1+N 托育: the settings, the table per 县区 (per 街道 without 县区) and the points without a hub."""
    m = result.one_plus_n
    n = tr("rp.one_plus_n_n", lang, n=m.n) if m.n is not None else tr("rp.one_plus_n_no_n", lang)
    same = tr("rp.one_plus_n_same" if m.same_district else "rp.one_plus_n_any", lang)
    parts = [f"<p>{_e(tr('rp.one_plus_n_intro', lang, n=n, d=tr('rp.one_plus_n_d', lang, d=f'{m.limit_m:,.0f}'), same=same))}</p>"]
    areas = m.areas
    shown = areas[areas["level"].isin(["全市", "县区"] if m.has_district else ["全市", "街道"])]
    cols = list(_ONE_PLUS_N_AREA_COLUMNS)
    rows = [[_e(r["area_name"])] + [_num(r[c], 1 if c == "coverage_pct" else 0) for c in cols[1:]] for _, r in shown.iterrows()]
    parts.append(_table([_e(column_label(c, lang)) for c in cols], rows, numeric=list(range(1, len(cols)))))
    lost = m.table[m.table["status"] == "unassigned"]
    parts.append(f"<h3>{_e(tr('rp.one_plus_n_unassigned', lang))}（{len(lost)}）</h3>" if lang == "zh" else
                 f"<h3>{_e(tr('rp.one_plus_n_unassigned', lang))} ({len(lost)})</h3>")
    if len(lost):
        half = 0 if lang == "zh" else -1
        rows = [[_e(r["name"]), _e(r["zone_name"]), _e(r["district"]), _e(str(r["reason"]).split(" / ")[half])]
                for _, r in lost.head(ONE_PLUS_N_LISTED).iterrows()]
        parts.append(_table([_e(column_label(c, lang)) for c in _ONE_PLUS_N_POINT_COLUMNS], rows))
        if len(lost) > ONE_PLUS_N_LISTED:
            parts.append(f"<p>{_e(tr('xl.full_table', lang, file='one_plus_n.csv', n=len(lost)))}</p>")
    else:
        parts.append(f"<p>{_e(tr('rp.one_plus_n_none', lang))}</p>")
    return _Section("one_plus_n", tr("rp.one_plus_n", lang), "".join(parts))


def _sites_section(result, lang: str, sites, curve) -> _Section:
    """Suggested sites per siting task (``task`` column) with their map, then the coverage curve."""
    parts = []
    names = _zone_names(result)
    if sites is not None and len(sites):
        frame = pd.DataFrame(sites.drop(columns=sites.geometry.name)) if hasattr(sites, "geometry") else pd.DataFrame(sites)
        if lang != "zh":  # the English texts of the same figures
            frame = frame.assign(**{c: frame[f"{c}_en"] for c in _SITE_TEXTS if f"{c}_en" in frame.columns})
        cols = [c for c in _SITE_COLUMNS if c in frame.columns] or [c for c in frame.columns if c != "task"]
        numeric = [j for j, c in enumerate(cols) if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]
        groups = list(frame.groupby("task", sort=False)) if "task" in frame.columns else [("", frame)]
        for task, sub in groups:
            rows = []
            for _, r in sub[cols].iterrows():
                rows.append([_site_cell(result, c, r[c], names, lang) for c in cols])
            cat = sub["category"].iloc[0] if "category" in sub.columns else None
            head = f"{_e(task)}" + (f" <small>{_e(_category_label(result, cat, lang))}</small>" if cat else "")
            parts.append(f"<div class=\"task\"><h3>{head}</h3>"
                         + _table([_e(column_label(c, lang, result.taxonomy)) for c in cols], rows, numeric=numeric, cls="sites") + "</div>")
        if hasattr(sites, "geometry"):
            parts.append(_figure(charts.sites_map(result, sites, lang=lang), tr("rp.fig_sites", lang), "fig-sites"))
    if curve is not None and len(curve):
        value = "covered" if "covered" in curve.columns else None
        group = "task" if "task" in curve.columns else None
        parts.append(f"<h3>{tr('rp.curve', lang)}</h3><p class=\"note\">{tr('rp.curve_note', lang)}</p>")
        parts.append(_figure(charts.coverage_curve_chart(curve, lang=lang, value_column=value, group_column=group), tr("rp.curve", lang), "fig-curve"))
        cols = [c for c in _CURVE_COLUMNS if c in curve.columns]
        for task, sub in (curve.groupby(group, sort=False) if group else [("", curve)]):
            rows = [[_curve_cell(c, r[c]) for c in cols] for _, r in sub.iterrows()]
            parts.append((f"<p class=\"note\">{_e(task)}</p>" if task else "")
                         + _table([_e(column_label(c, lang, result.taxonomy)) for c in cols], rows, numeric=list(range(len(cols) - 1)), cls="curve"))
    return _Section("sites", tr("rp.sites", lang), "".join(parts))


def _site_cell(result, col: str, value: object, names: dict[str, str], lang: str) -> str:
    if col == "zone_id":
        return _e(names.get(str(value), value))
    if col == "category" and isinstance(value, str):
        return _e(_category_label(result, value, lang))
    if isinstance(value, float | int | np.number) and not isinstance(value, bool):
        return _num(value, 0 if pd.isna(value) or float(value).is_integer() or abs(float(value)) >= 100 else 1)
    return _e(value)


def _curve_cell(col: str, value: object) -> str:
    if col == "covered_share":
        return _pct(value)
    if col == "status":
        return _e(value)
    return _num(value)


def _methods_section(result, lang: str, rules: dict, numbering: dict[str, str], summary: dict) -> _Section:
    sc = result.scenario
    thresholds = " / ".join(f"{t:g} {tr('ui.minutes', lang)}：{metres_text(result.coverage, t, lang, result.taxonomy)}"
                            for t in sc.thresholds_min)
    params = [
        (tr("ui.speed_label", lang), speeds_line(sc.speeds, lang)),
        *((tr("ui.speed_uses", lang), line) for line in speed_uses(sc, result.coverage.categories, result.taxonomy, lang)),
        (tr("ui.thresholds_label", lang), thresholds),
        (tr("rp.max_snap", lang), f"{sc.max_snap_m:g} m"),
        (tr("rp.search_limit", lang), f"{sc.search_limit_m:,.0f} m"),
        (tr("rp.crs", lang), f"{result.crs.to_string()}（{result.crs.name}）" if lang == "zh" else f"{result.crs.to_string()} ({result.crs.name})"),
        (tr("rp.network", lang), tr("rp.network_size", lang, n=result.network.n_nodes, e=result.network.n_edges, km=network_length_km(result.network))),
        (tr("rp.preset", lang), sc.standards.preset + ("" if not sc.standards.overrides else " + " + ", ".join(f"{k} = {v:g}" for k, v in sc.standards.overrides.items()))),
    ]
    param_html = _table([tr("rp.parameter", lang), tr("ui.value", lang)], [[_e(a), _e(b)] for a, b in params], cls="params")
    text = f"<p>{tr('rp.methods_text', lang)}</p>"

    # rules: citation and confidence from the compliance table (falling back to the rules data)
    t = result.compliance.table if result.compliance is not None else pd.DataFrame(columns=["rule_id", "source", "conf"])
    cited = t.drop_duplicates("rule_id").set_index("rule_id") if len(t) else pd.DataFrame()
    rule_rows = []
    for rid, code in sorted(numbering.items(), key=lambda kv: int(kv[1][1:])):
        rule = rules.get(rid)
        src = cited.loc[rid, "source"] if rid in cited.index else (rule.source if rule else "")
        conf = cited.loc[rid, "conf"] if rid in cited.index else (rule.conf if rule else "")
        target = f"{rule.value:g} {rule.unit}" if rule else ""
        scale = tr(f"val.scale.{rule.scale}", lang) if rule else ""
        own = tr("rp.own_rule", lang) if rule is not None and rule.origin == "scenario" else ""
        rule_rows.append([code, f"<code>{_e(rid)}</code>", _e(_rule_text(rid, rules, rid, lang) + own), _e(target), _e(scale), _e(src),
                          _e(conf)])
    rules_html = _table(["", tr("rp.rule_id", lang), tr("ui.rule", lang), tr("ui.target", lang), tr("rp.scale", lang), tr("rp.source", lang),
                         tr("rp.conf", lang)], rule_rows, cls="rules", tid="rules-table")
    conf_legend = "；".join(f"{k.removeprefix('conf.')} = {tr(k, lang)}" for k in LABELS if k.startswith("conf."))

    # data inputs
    inputs = summary.get("inputs") or [{"path": str(p)} for p in _scenario_paths(sc)]
    input_rows = [[_e(Path(i["path"]).name), _e(_num(i.get("bytes"))), f"<code>{_e(str(i.get('sha256', ''))[:16])}</code>"] for i in inputs]
    inputs_html = _table([tr("rp.file", lang), tr("rp.bytes", lang), "SHA-256"], input_rows, numeric=[1], cls="inputs", tid="inputs-table")
    layer_rows = []
    for lyr in (result.layers.facilities, result.layers.residential, result.layers.zones):
        if lyr is None:
            continue
        reasons = lyr.rejected["reason_code"].value_counts().sort_index() if len(lyr.rejected) else pd.Series(dtype=int)
        layer_rows.append([_e(tr(f"rp.layer_{lyr.kind}", lang)), _e(lyr.source), _num(lyr.rows_read), _num(len(lyr.data)), _num(len(lyr.rejected)),
                           _e("、".join(f"{k} {v}" for k, v in reasons.items()))])
    layers_html = _table([tr("rp.layer", lang), tr("rp.source_file", lang), tr("rp.read", lang), tr("rp.kept", lang), tr("rp.rejected", lang),
                          tr("rp.reasons", lang)], layer_rows, numeric=[2, 3, 4], cls="layers", tid="layers-table")
    warnings = "".join(f"<li>{_e(w)}</li>" for w in result.warnings)
    sample = f"<p class=\"sample-note\">{tr('ui.sample_note', lang)}</p>" if sc.sample_data else ""
    osm = f"<p class=\"note\">{tr('rp.osm_credit', lang)}</p>" if sc.network.kind == "osm" or "osm" in (sc.facilities.source, sc.residential.source) else ""
    content = (
        f"<h3>{tr('rp.method', lang)}</h3>{text}{param_html}"
        f"<h3>{tr('rp.rules', lang)}</h3>{rules_html}<p class=\"note\">{tr('rp.conf', lang)}：{_e(conf_legend)}</p>"
        f"<h3>{tr('rp.inputs', lang)}</h3>{sample}<p class=\"note\">{tr('rp.scenario_file', lang)}：<code>{_e(sc.path)}</code></p>"
        f"{inputs_html}{layers_html}"
        + (f"<h3>{tr('rp.warnings', lang)}</h3><ul>{warnings}</ul>" if warnings else "")
        + osm  # the run's seconds are left to summary.json: the report is the same for every run of a scenario
    )
    return _Section("methods", tr("rp.methods", lang), content)


def _scenario_paths(sc) -> list[Path]:
    return sorted({sc.path, sc.network.path, *(s.path for s in (sc.facilities, sc.residential, sc.zones) if s and s.path)})


_CSS = """
:root{--ok:#1a9850;--bad:#d73027;--na:#777;--ink:#222;--accent:#3f007d}
*{box-sizing:border-box}
body{margin:0;background:#eceff3;color:var(--ink);font:10.5pt/1.55 "PlannerSymbols","PlannerCJK","Noto Sans CJK SC","Source Han Sans SC",
"Microsoft YaHei","PingFang SC","Segoe UI Symbol","DejaVu Sans",sans-serif}
main{max-width:1120px;margin:0 auto;background:#fff;padding:28px 44px 40px}
h1{font-size:21pt;margin:.1em 0 .2em}
h2{font-size:15pt;color:var(--accent);border-bottom:2px solid var(--accent);padding-bottom:3px;margin:0 0 .6em}
h3{font-size:11.5pt;margin:1.1em 0 .4em}
h3 small{font-weight:normal;color:#888;font-size:8pt}
section{margin-top:34px}
table.sites td:not(:last-child):not(:nth-child(3)){white-space:nowrap}
table.sites td:nth-child(3){min-width:16em}
table.sites td:last-child{min-width:22em;font-size:8.5pt}
.kicker{margin:0;color:var(--accent);font-weight:bold;letter-spacing:.05em}
.meta{color:#555;margin:.2em 0}
.badge{display:inline-block;background:var(--bad);color:#fff;font-size:10pt;padding:2px 8px;border-radius:3px;margin-left:10px;vertical-align:middle}
.sample-note{border-left:4px solid var(--bad);background:#fff3f0;padding:4px 10px}
.toc ol{margin:.3em 0;columns:2}
button.noprint{margin-top:6px;padding:4px 12px;font:inherit;cursor:pointer}
.cards{display:grid;grid-template-columns:repeat(3,1fr);gap:8px;margin-bottom:12px}
.card{border:1px solid #d6d6e6;border-radius:4px;padding:6px 10px;background:#fafaff}
.card .label{color:#555;font-size:9pt}
.card .value{font-size:17pt;font-weight:bold;line-height:1.3}
.card .value small{font-size:9pt;font-weight:normal;color:#555}
.card .sub{font-size:8.5pt;color:#777;min-height:1em}
table{border-collapse:collapse;width:100%;font-size:9pt;margin:.4em 0 .8em}
th,td{border:1px solid #cfd3da;padding:3px 5px;vertical-align:top;text-align:left}
thead th{background:#eef0f8}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.chip{display:inline-block;min-width:3.2em;text-align:center;border-radius:2px;padding:0 3px}
.na{color:#999}
.note{color:#555;font-size:9pt;margin:.2em 0 .4em}
.legend span{margin-right:1em}
.pass{color:var(--ok)}.fail{color:var(--bad)}.not_evaluable{color:var(--na)}
.matrix-wrap{overflow-x:auto}
table.matrix{table-layout:fixed;font-size:7.5pt}
table.matrix th.zone{width:6.5em;text-align:left}
table.matrix th.rule{vertical-align:bottom;font-weight:normal;font-size:7pt;line-height:1.25;padding:2px}
table.matrix th.rule .code{display:block;font-weight:bold;font-size:8pt}
table.matrix th.count{width:4em;font-size:7pt}
table.matrix td{text-align:center;padding:2px 1px;line-height:1.25}
table.matrix td .mark{display:block;font-size:10pt;font-weight:bold}
table.matrix td .sf{display:block;font-size:6.5pt;color:#7f0000}
table.matrix td.pass{background:#e3f4dd}
table.matrix td.fail{background:#fde0d9}
table.matrix td.not_evaluable{background:#eeeeee}
table.matrix td.not_evaluable .sf{color:#666}
table.matrix td.count{font-weight:bold;font-size:9pt}
figure{margin:10px 0 14px;text-align:center}
figure img{max-width:100%;height:auto;border:1px solid #e2e2e2}
figcaption{font-size:8.5pt;color:#555}
code{font-size:8pt;color:#444}
@page{size:A4 portrait;margin:14mm 12mm 15mm}
@page wide{size:A4 landscape;margin:10mm 10mm 12mm}
@media print{
 body{background:#fff;font-size:9.5pt}
 main{max-width:none;padding:0}
 section{margin-top:0;break-before:page}
 section:first-of-type{break-before:auto;margin-top:18px}
 section.wide{page:wide}
 .noprint{display:none}
 tr,figure,.card,.gap h3{break-inside:avoid}
 h2,h3{break-after:avoid}
 thead{display:table-header-group}
 .matrix-wrap{overflow:visible}
 section.wide figure img{max-height:120mm;width:auto}
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
"""
