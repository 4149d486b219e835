"""User-facing labels in Chinese (default) and English."""

from __future__ import annotations

__all__ = ["tr"]

_LABELS: dict[str, tuple[str, str]] = {
    "sample": ("示例数据（虚构）", "Sample data (fictional)"),
    "zones": ("街道边界", "Sub-district (街道) boundaries"),
    "network": ("步行路网", "Walk network"),
    "compounds": ("小区覆盖情况", "Compounds by coverage"),
    "unreachable": ("无法接入路网的小区", "Compounds not connected to the network"),
    "facilities": ("设施", "Facilities"),
    "completeness": ("{t} 分钟内可达的服务类别占比", "Share of categories within {t} min"),
    "population": ("人口", "Population"),
    "households": ("户数", "Households"),
    "age_60_plus": ("60岁及以上", "Aged 60+"),
    "age_0_3": ("0–3岁", "Aged 0–3"),
    "zone": ("街道", "Sub-district"),
    "nearest": ("最近设施", "Nearest facility"),
    "walk": ("步行距离", "Walking distance"),
    "none_reachable": ("不可达", "none reachable"),
    "minutes": ("分钟", "min"),
    "within": ("分钟内", "min"),
    "share_within": ("{t} 分钟内人口占比", "Population share within {t} min"),
    "not_connected": ("距路网超过 {d:.0f} 米，未计入步行可达", "more than {d:.0f} m from the network: not routed"),
    "legend": ("图例", "Legend"),
    "generated": ("生成于", "Generated"),
    "speed": ("步行速度 {v:g} 米/分钟", "walking speed {v:g} m/min"),
    "compound_count": ("小区数", "Compounds"),
    "capacity": ("托位 {p:g}", "{p:g} places"),
    "beds": ("床位 {b:g}", "{b:g} beds"),
    "puhui": ("普惠", "public-benefit"),
    "compliance": ("街道达标情况", "街道 compliance"),
    "failed_rules": ("未达标项数", "failed rules"),
    "rule": ("指标", "rule"),
    "value": ("现状", "value"),
    "target": ("目标", "target"),
    "shortfall": ("缺口", "shortfall"),
    "formats": ("一刻钟便民生活圈业态完整度", "15-min convenience formats completeness"),
    "isochrone": ("{t} 分钟步行范围：{c}", "{t}-min walking range: {c}"),
}


def tr(key: str, lang: str = "zh", **fmt: object) -> str:
    """Label ``key`` in ``lang`` (``"zh"`` or ``"en"``), formatted with ``fmt``."""
    zh, en = _LABELS[key]
    text = zh if lang == "zh" else en
    return text.format(**fmt) if fmt else text
