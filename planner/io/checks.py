"""Whole-layer checks after the row checks: a layer that kept nothing stops the run, one that lost most rows warns."""

from __future__ import annotations

import logging

from planner.errors import LayerError
from planner.io.layers import LoadedLayer
from planner.labels import LABELS

__all__ = ["LOSS_WARNING_SHARE", "NOT_LOST", "require_rows", "loss_warnings"]

log = logging.getLogger(__name__)

LOSS_WARNING_SHARE = 0.5  # a layer that rejects more than this share of its rows warns
# reasons that do not lose a user's row: an OSM extract's features that are not facilities at all
NOT_LOST = frozenset({"unmatched_poi"})

_KIND = {"facilities": ("设施图层", "facilities layer"), "residential": ("小区图层", "residential layer"),
         "zones": ("街道图层", "zones (街道) layer")}


def _what(layer: LoadedLayer) -> tuple[str, str]:
    zh, en = _KIND.get(layer.kind, (layer.kind, layer.kind))
    return f"{zh} {layer.source}", f"{en} {layer.source}"


def _reasons(layer: LoadedLayer, limit: int = 5) -> tuple[str, str]:
    """The rejection reasons by count, with the first row of each: (中文, English)."""
    rej = layer.rejected
    if not len(rej):
        return "", ""
    counts = rej["reason_code"].value_counts(sort=False)
    counts = counts.iloc[sorted(range(len(counts)), key=lambda i: (-counts.iloc[i], counts.index[i]))]
    zh, en = [], []
    for code, n in counts.iloc[:limit].items():
        first = rej[rej["reason_code"] == code].iloc[0]
        label_zh, label_en = LABELS.get(f"reason.{code}", (code, code))
        where = f"{first['row']}" if str(first["row"]) != "" else str(first["id"])
        detail = str(first["reason"]).split(" / ")[0].partition("：")[2]
        zh.append(f"{label_zh}（{code}）{n} 行，如第 {where} 行{('：' + detail) if detail else ''}")
        en.append(f"{code}: {n} rows, e.g. row {where}")
    if len(counts) > limit:
        zh.append(f"另有 {len(counts) - limit} 种原因")
        en.append(f"{len(counts) - limit} more reasons")
    return "；".join(zh), "; ".join(en)


def _hint(layer: LoadedLayer) -> tuple[str, str]:
    """What to check, from the main reason."""
    main = layer.rejected["reason_code"].value_counts().index[0] if len(layer.rejected) else ""
    hints = {
        "wrong_geometry_type": ("街道图层应为面（Polygon/MultiPolygon），点或线无法划分街道" if layer.kind == "zones"
                                else "检查几何类型", "the layer must hold polygons (Polygon/MultiPolygon)" if layer.kind == "zones"
                                else "check the geometry type"),
        "out_of_range": ("坐标可能是投影坐标（米）却声明为经纬度：检查 crs 设置", "the coordinates may be projected metres declared as longitude/latitude: check `crs`"),
        "swapped_coordinates": ("经纬度列可能填反了：检查列映射 lon/lat", "longitude and latitude look swapped: check the lon/lat column mapping"),
        "unknown_category": ("用 [layers.facilities.category_map] 把这些类别名映射到 planner 的类别", "map these labels with [layers.facilities.category_map]"),
        "missing_category": ("补上设施类别列的值", "fill in the category column"),
        "outside_study_area": ("图层与路网不在同一地区：检查坐标系（crs）和路网范围", "the layer and the network are in different places: check `crs` and the network extent"),
        "outside_china": ("坐标不在中国境内：检查坐标系（crs）", "the coordinates are outside China: check `crs`"),
    }
    return hints.get(main, ("请查看 rejected.csv 中每行的原因并修正数据", "see each row's reason in rejected.csv and fix the data"))


def require_rows(layer: LoadedLayer, *, stage: tuple[str, str] | None = None) -> None:
    """Raise :class:`LayerError` with the rejection summary when ``layer`` kept no row (``stage``: (中文, English)
    of the step after which it has none)."""
    if len(layer.data) or _nothing_to_lose(layer):
        return
    what_zh, what_en = _what(layer)
    why_zh, why_en = _reasons(layer)
    hint_zh, hint_en = _hint(layer)
    after = f"（{stage[0]}后）" if stage else ""
    raise LayerError(
        f"{what_zh} 读取 {layer.rows_read} 行，没有保留任何一行{after}：{why_zh or '图层没有数据行'}。{hint_zh} / "
        f"no row of the {what_en} was kept ({layer.rows_read} read{', after ' + stage[1] if stage else ''}): "
        f"{why_en or 'no data rows'}. {hint_en[:1].upper()}{hint_en[1:]}"
    )


def _nothing_to_lose(layer: LoadedLayer) -> bool:
    """An OSM extract without a single facility: none of its features was a user's row to lose (all are
    ``unmatched_poi``), so the run goes on, warned (:func:`loss_warnings`)."""
    return layer.source == "OSM" and bool(layer.rejected["reason_code"].isin(NOT_LOST).all() if len(layer.rejected) else True)


def loss_warnings(layer: LoadedLayer) -> list[str]:
    """A warning when more than :data:`LOSS_WARNING_SHARE` of the layer's own rows were rejected."""
    if not len(layer.data) and _nothing_to_lose(layer):
        what_zh, what_en = _what(layer)
        return [
            f"{what_zh}：OSM 文件中没有任何可识别的设施（{layer.rows_read} 个要素都不属于设施类别），所有小区都将显示为缺少设施；"
            f"请提供设施图层 / {what_en}: the OSM extract holds no facility at all ({layer.rows_read} features, none of "
            "a facility category): every compound will show as lacking everything; provide a facilities layer"
        ]
    lost = int((~layer.rejected["reason_code"].isin(NOT_LOST)).sum()) if len(layer.rejected) else 0
    if not len(layer.data):
        return []  # nothing kept: require_rows stops with the full account
    counted = layer.rows_read - (len(layer.rejected) - lost)
    if counted <= 0 or lost <= LOSS_WARNING_SHARE * counted:
        return []
    what_zh, what_en = _what(layer)
    why_zh, why_en = _reasons(layer, limit=3)
    return [
        f"{what_zh}：超过一半的行被拒收（{lost} / {counted} 行）：{why_zh}。见 rejected.csv / "
        f"{what_en}: more than half of the rows were rejected ({lost} of {counted}): {why_en}. See rejected.csv"
    ]
