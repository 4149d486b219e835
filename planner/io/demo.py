"""Generate the embedded demo district (示例数据, fictional) deterministically: roads, 街道, compounds, facilities.

The story the data tells (see ``layers/demo/README.md``):

* a river runs east–west through the district and only two bridges cross it (on 人民路 and
  江海大道), so walking distance is far from straight-line distance near the river;
* 南湖街道 (south-west, the old town) has no 综合性养老服务中心;
* 新城街道 (north-east, new housing) has too few childcare places for its population;
* 江南街道 (south-east) has childcare but none of it public-benefit (普惠), and no 菜市场: its
  riverside compounds look across the water at 滨河菜市场 yet walk ≈2.8 km round by a bridge;
* one village (孤村) lies 600 m beyond the last road: it is reported unreachable, not dropped;
* a few rows are wrong on purpose (an unknown category, a missing coordinate, a non-numeric
  population, a duplicated id) so that the rejected-rows table has something to show.

Coordinates are made in local metres and turned into WGS84 with a fixed equirectangular
formula (pure arithmetic, identical on every machine); the files are written as GeoJSON with
one feature per line, so regenerating gives byte-identical files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

__all__ = ["generate", "ORIGIN", "SEED", "to_lonlat", "river_y"]

SEED = 20261122
ORIGIN = (120.93, 31.98)  # lon, lat of the local origin (fictional district)
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(ORIGIN[1]))

WIDTH = 4000.0
X_COLS = [0, 170, 340, 510, 680, 900, 1080, 1250, 1420, 1600, 1800, 2000, 2200, 2400, 2570, 2740, 2920, 3100, 3280, 3460, 3640, 3820, 4000]
Y_SOUTH = [0, 160, 320, 480, 640, 800, 960, 1080]
Y_NORTH = [1560, 1700, 1850, 2000, 2150, 2300, 2450, 2600, 2750, 2900]
BRIDGE_X = (900, 3100)
SPLIT_X = 2000  # boundary between western and eastern 街道
ARTERIALS_X = {900: ("人民路", "primary"), 2000: ("建设路", "secondary"), 3100: ("江海大道", "primary")}
ARTERIALS_Y = {800: ("南湖路", "secondary"), 2000: ("新城大道", "secondary"), 0: ("南环路", "tertiary"), 2900: ("北环路", "tertiary")}

ZONES = [
    ("Z01", "临河街道", "north", "west"),
    ("Z02", "新城街道", "north", "east"),
    ("Z03", "南湖街道", "south", "west"),
    ("Z04", "江南街道", "south", "east"),
]
DISTRICTS = {"north": "北岸区", "south": "南岸区"}  # the 县区 of each bank (1+N 托育: one hub per 县区)


def river_y(x: float) -> float:
    """Centre line of the river (local metres)."""
    return 1300.0 + 110.0 * math.sin(2 * math.pi * x / 2600.0) + 25.0 * math.sin(2 * math.pi * x / 900.0)


def to_lonlat(x: float, y: float) -> list[float]:
    """Local metres → WGS84 [lon, lat], rounded to 1e-7 degrees (≈1 cm)."""
    return [round(ORIGIN[0] + x / _M_PER_DEG_LON, 7), round(ORIGIN[1] + y / _M_PER_DEG_LAT, 7)]


def _zone_of(x: float, y: float) -> str:
    north = y > river_y(x)
    east = x >= SPLIT_X
    for zid, _, ns, ew in ZONES:
        if (ns == "north") == north and (ew == "east") == east:
            return zid
    raise AssertionError


def _roads(rng: np.random.Generator) -> tuple[list[dict], dict[tuple[int, int], tuple[float, float]]]:
    """Grid streets with jittered side streets, riverside paths and two bridges."""
    jitter: dict[tuple[int, int], tuple[float, float]] = {}
    rows = Y_SOUTH + Y_NORTH
    for i, x in enumerate(X_COLS):
        for j, y in enumerate(rows):
            dx = 0.0 if x in ARTERIALS_X or x in (0, WIDTH) else float(rng.uniform(-14, 14))
            dy = 0.0 if y in ARTERIALS_Y or y in (Y_SOUTH[-1], Y_NORTH[0]) else float(rng.uniform(-14, 14))
            jitter[(i, j)] = (x + dx, y + dy)
    feats: list[dict] = []
    side_names = ["桂香巷", "柳荫巷", "石桥巷", "竹园路", "槐树巷", "杏林路", "文昌巷", "望江巷", "青石巷", "枫桥路"]

    def add(coords: list[tuple[float, float]], name: str, highway: str, bridge: bool = False) -> None:
        feats.append({"name": name, "highway": highway, "bridge": "yes" if bridge else None, "coords": coords})

    # east-west streets, split into block-long segments so that some side segments can be missing
    for j, y in enumerate(rows):
        name, hw = ARTERIALS_Y.get(y, (f"{side_names[j % len(side_names)]}", "residential"))
        for i in range(len(X_COLS) - 1):
            if hw == "residential" and rng.random() < 0.08:
                continue  # a missing side-street segment: blocks are not all equal
            add([jitter[(i, j)], jitter[(i + 1, j)]], name, hw)
    # north-south streets on each bank
    for i, x in enumerate(X_COLS):
        name, hw = ARTERIALS_X.get(x, (f"{side_names[(i + 3) % len(side_names)]}", "residential" if x not in (0, WIDTH) else "tertiary"))
        for half in (range(len(Y_SOUTH)), range(len(Y_SOUTH), len(rows))):
            js = list(half)
            for a, b in zip(js[:-1], js[1:], strict=True):
                if hw == "residential" and rng.random() < 0.06:
                    continue
                add([jitter[(i, a)], jitter[(i, b)]], name, hw)
    # riverside paths (滨河步道) on both banks, joined to every street that reaches the river
    for bank, sign, j_end in (("南岸", -1, len(Y_SOUTH) - 1), ("北岸", +1, len(Y_SOUTH))):
        pts = [(float(x), round(river_y(x) + sign * 45.0, 3)) for x in X_COLS]
        for i in range(len(X_COLS) - 1):
            add([pts[i], pts[i + 1]], f"{bank}滨河步道", "footway")
        for i, x in enumerate(X_COLS):
            if x in BRIDGE_X:
                continue
            add([jitter[(i, j_end)], pts[i]], f"{bank}滨河步道", "footway")
    # the two bridges: street → south path → across → north path → street
    for x in BRIDGE_X:
        i = X_COLS.index(x)
        name, hw = ARTERIALS_X[x]
        south = (float(x), round(river_y(x) - 45.0, 3))
        north = (float(x), round(river_y(x) + 45.0, 3))
        add([jitter[(i, len(Y_SOUTH) - 1)], south], name, hw)
        add([south, north], f"{name}大桥", hw, bridge=True)
        add([north, jitter[(i, len(Y_SOUTH))]], name, hw)
    return feats, jitter


def _zones_polygons() -> dict[str, list[list[float]]]:
    xs = [float(x) for x in range(-60, int(WIDTH) + 801, 40)]
    left = [(x, river_y(x)) for x in xs if x <= SPLIT_X] + [(SPLIT_X, river_y(SPLIT_X))]
    right = [(SPLIT_X, river_y(SPLIT_X))] + [(x, river_y(x)) for x in xs if x > SPLIT_X]
    lo, hi, west, east = -60.0, 2960.0, -60.0, WIDTH + 800.0  # the east takes in farmland and 孤村
    rings = {
        "Z01": left + [(SPLIT_X, hi), (west, hi)],
        "Z02": right + [(east, hi), (SPLIT_X, hi)],
        "Z03": [(west, lo), (SPLIT_X, lo)] + left[::-1],
        "Z04": [(SPLIT_X, lo), (east, lo)] + right[::-1],
    }
    out = {}
    for zid, ring in rings.items():
        ring = [(round(x, 3), round(y, 3)) for x, y in ring]
        # counter-clockwise exterior (RFC 7946)
        area = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True))
        if area < 0:
            ring = ring[::-1]
        out[zid] = [to_lonlat(x, y) for x, y in ring + ring[:1]]
    return out


_COMMUNITY_WORDS = ["春风", "和美", "阳光", "康宁", "望江", "文华", "锦江", "桃园", "金湖", "长乐", "永安", "清河"]


def _community(x: float, y: float, zone: str) -> str:
    """社区 (居委会) of a compound: 800 m × 700 m cells, named within their 街道."""
    cell = int(x // 800) + 10 * int(y // 700)
    return f"{_COMMUNITY_WORDS[cell % len(_COMMUNITY_WORDS)]}社区（{dict((z, n) for z, n, *_ in ZONES)[zone]}）"


_PREFIX = ["锦绣", "翠湖", "春晖", "和平", "幸福", "紫荆", "滨江", "桂花", "金桥", "阳光", "书香", "梧桐", "友谊", "长青",
           "海棠", "枫林", "玉兰", "兴业", "文昌", "新华", "东方", "明珠", "怡景", "康乐", "嘉禾", "瑞祥", "丽水", "望江",
           "碧园", "景福", "星河", "晨曦", "绿洲", "青松", "荷塘", "华庭", "盛世", "安居", "朝阳", "银杏"]
_SUFFIX = ["花园", "小区", "新村", "家园", "苑", "公寓", "雅居", "名邸"]


def _compounds(rng: np.random.Generator, jitter) -> list[dict]:
    """≈150 compounds at block centres; the old town (south-west) is older and greyer."""
    rows = Y_SOUTH + Y_NORTH
    blocks = []
    for i in range(len(X_COLS) - 1):
        for j in range(len(rows) - 1):
            if j == len(Y_SOUTH) - 1:
                continue  # the river lies between the two banks
            x = (X_COLS[i] + X_COLS[i + 1]) / 2
            y = (rows[j] + rows[j + 1]) / 2
            blocks.append((x, y))
    order = rng.permutation(len(blocks))
    chosen = sorted(order[:148].tolist())
    names_used: set[str] = set()
    out = []
    for n, b in enumerate(chosen):
        x, y = blocks[b]
        x += float(rng.uniform(-25, 25))
        y += float(rng.uniform(-20, 20))
        zone = _zone_of(x, y)
        old_town = zone == "Z03"
        new_town = zone == "Z02"
        households = int(rng.integers(250, 900) if not new_town else rng.integers(600, 1500))
        size = float(rng.uniform(2.45, 2.9))
        population = int(round(households * size))
        share60 = float(rng.uniform(0.26, 0.36) if old_town else rng.uniform(0.10, 0.18) if new_town else rng.uniform(0.17, 0.26))
        share03 = float(rng.uniform(0.012, 0.02) if old_town else rng.uniform(0.028, 0.04) if new_town else rng.uniform(0.018, 0.028))
        built = "新建" if new_town or rng.random() < 0.12 else "已建成"
        name = _PREFIX[n % len(_PREFIX)] + _SUFFIX[(n // len(_PREFIX) + n) % len(_SUFFIX)]
        while name in names_used:
            name += "二期"
        names_used.add(name)
        per100 = households / 100.0
        eld_need, cc_need = (30, 20) if built == "新建" else (20, 15)
        out.append({
            "小区编号": f"XQ{n + 1:03d}",
            "小区名称": name,
            "社区": _community(x, y, zone),
            "户数": households,
            "人口": population,
            "60岁及以上": int(round(population * share60)),
            "0-3岁": int(round(population * share03)),
            "建成类型": built,
            "养老服务用房面积": int(round(per100 * eld_need * float(rng.choice([0.6, 1.0, 1.1, 1.3])))),
            "托育服务用房面积": int(round(per100 * cc_need * float(rng.choice([0.5, 1.0, 1.2])))),
            "xy": (x, y),
        })
    # a village beyond the last road: unreachable on foot, kept and reported
    out.append({"小区编号": "XQ149", "小区名称": "孤村", "社区": "孤村村委会", "户数": 120, "人口": 310, "60岁及以上": 118, "0-3岁": 4,
                "建成类型": "已建成", "养老服务用房面积": 0, "托育服务用房面积": 0, "xy": (WIDTH + 600.0, 1900.0)})
    # rows that are wrong on purpose
    out.append({"小区编号": "XQ150", "小区名称": "待核实小区", "社区": None, "户数": 300, "人口": "待核实", "60岁及以上": None, "0-3岁": None,
                "建成类型": "已建成", "养老服务用房面积": None, "托育服务用房面积": None, "xy": (1250.0, 400.0)})
    dup = dict(out[10])
    dup["小区名称"] = dup["小区名称"] + "（重复登记）"
    out.append(dup)
    return out


_BRANDS = {
    "便利店": ["好邻居便利店", "苏果便利", "快客便利", "全家", "罗森", "邻里便利店"],
    "早餐店": ["早点铺", "包子铺", "豆浆油条", "早餐店"],
    "美容美发店": ["理发店", "美发屋", "剪艺"],
    "维修点": ["家电维修", "修鞋配钥匙", "手机维修"],
    "邮政快递点": ["菜鸟驿站", "快递驿站", "邮政便民服务站"],
    "药店": ["百姓大药房", "济民药店", "益丰大药房"],
    "洗染店": ["洗衣店", "干洗店"],
    "综合超市": ["苏果超市", "华润万家", "永辉超市"],
    "社区综合服务站": ["社区党群服务中心", "社区居委会"],
    "幼儿园": ["幼儿园"],
    "社区卫生服务站": ["社区卫生服务站"],
    "社区养老服务站": ["社区日间照料中心", "居家养老服务站"],
}


def _facilities(rng: np.random.Generator, compounds: list[dict]) -> list[dict]:
    good = [c for c in compounds if isinstance(c["人口"], int) and c["小区名称"] != "孤村" and "重复" not in c["小区名称"]]
    pops = {zid: sum(c["人口"] for c in good if _zone_of(*c["xy"]) == zid) for zid, *_ in ZONES}
    names = {zid: name for zid, name, *_ in ZONES}
    feats: list[dict] = []

    def near(zone: str | None = None, around: tuple[float, float] | None = None, spread: float = 0.0) -> tuple[float, float]:
        for _ in range(1000):
            if around is not None:
                x = around[0] + float(rng.uniform(-spread, spread))
                y = around[1] + float(rng.uniform(-spread, spread))
            else:
                c = good[int(rng.integers(len(good)))]
                x = c["xy"][0] + float(rng.uniform(-90, 90))
                y = c["xy"][1] + float(rng.uniform(-80, 80))
            if abs(y - river_y(x)) < 70 or not (0 <= x <= WIDTH and 0 <= y <= 2900):
                continue
            if zone is None or _zone_of(x, y) == zone:
                return x, y
        raise AssertionError("no place found")

    def add(cat: str, name: str, xy: tuple[float, float], places=None, beds=None, puhui=None, nursing=None) -> None:
        feats.append({"名称": name, "类别": cat, "托位": places, "床位": beds, "护理型床位": nursing, "普惠": puhui, "xy": xy})

    # 综合性养老服务中心: one per 街道 except 南湖街道 (Z03); 新城街道's has too few nursing-type beds
    for zid, nursing_share in (("Z01", 0.8), ("Z02", 0.5), ("Z04", 0.76)):
        beds = int(rng.integers(40, 90))
        add("综合性养老服务中心", f"{names[zid]}综合性养老服务中心", near(zid), beds=beds, nursing=int(round(beds * nursing_share)))
    # community elderly stations / day care: scarce in the old town where they are needed most
    for zid, k in (("Z01", 4), ("Z02", 3), ("Z03", 2), ("Z04", 3)):
        for _ in range(k):
            add("社区养老服务站", f"{_pick(rng, _BRANDS['社区养老服务站'])}（{names[zid]}）", near(zid), beds=int(rng.integers(0, 12)))
    # childcare: places per 1000 residents ≥ 4.5 except 新城街道; 江南街道 has no 普惠 institution
    for zid in ("Z01", "Z02", "Z03", "Z04"):
        need = pops[zid] * 4.5 / 1000.0
        target = need * (0.55 if zid == "Z02" else 1.25)
        k = 2 if zid == "Z02" else 3
        base = int(target // k)
        for n in range(k):
            places = base + (int(target) - base * k if n == 0 else 0)
            puhui = "否" if zid == "Z04" else ("是" if n < k - 1 else "否")
            label = "普惠托育中心" if puhui == "是" else "托育园"
            # 1+N 托育: the north bank's hub (a 托育综合服务中心, known by its name); the south bank has none
            name = f"{names[zid]}托育综合服务中心" if (zid, n) == ("Z01", 0) else f"{names[zid]}{label}{n + 1}号"
            add("托育机构", name, near(zid), places=places, puhui=puhui)
    # 菜市场: none in 江南街道; 滨河菜市场 sits on the north bank facing its riverside compounds
    add("菜市场", "滨河菜市场", (2450.0, river_y(2450.0) + 110.0))
    add("菜市场", "南湖农贸市场", near("Z03"))
    add("菜市场", "临河菜市场", near("Z01"))
    add("菜市场", "新城生鲜市场", near("Z02"))
    counts = {  # per 街道: the old town is dense with small shops, the new town thin
        "便利店": (11, 7, 14, 8), "早餐店": (4, 2, 6, 3), "美容美发店": (3, 2, 5, 2), "维修点": (2, 1, 4, 1),
        "邮政快递点": (3, 4, 3, 2), "药店": (3, 2, 4, 2), "洗染店": (2, 1, 2, 1), "综合超市": (2, 2, 1, 1),
        "社区综合服务站": (2, 2, 2, 2), "幼儿园": (2, 3, 2, 2), "社区卫生服务站": (2, 1, 2, 1),
    }
    for cat, per_zone in counts.items():
        for (zid, *_), k in zip(ZONES, per_zone, strict=True):
            for _ in range(k):
                add(cat, f"{_pick(rng, _BRANDS[cat])}（{names[zid]}）", near(zid))
    add("社区卫生服务中心", "南湖街道社区卫生服务中心", near("Z03"))
    add("社区卫生服务中心", "新城街道社区卫生服务中心", near("Z02"))
    # rows that are wrong on purpose
    add("网吧", "极速网咖", near("Z01"))
    add("便利店", "坐标缺失便利店", None)  # type: ignore[arg-type]
    # issue #17 (drawn last, so the rows above keep their places and ids): 老年助餐点 in three 街道 — none in 南湖街道,
    # the old town; and 老年活动室, a category the taxonomy lacks that the demo scenario defines in [[categories]]
    for zid, name in (("Z01", "临河街道长者食堂"), ("Z02", "新城幸福食堂"), ("Z04", "江南街道老年助餐点")):
        add("老年助餐点", name, near(zid))
    for zid, k in (("Z01", 2), ("Z02", 1), ("Z04", 1)):
        for n in range(k):
            add("老年活动室", f"{names[zid]}老年活动室{n + 1}号", near(zid))
    for n, f in enumerate(feats):
        f["设施编号"] = f"SS{n + 1:03d}"
    return feats


def _pick(rng: np.random.Generator, items: list[str]) -> str:
    return items[int(rng.integers(len(items)))]


def _write(path: Path, features: list[dict], name: str) -> Path:
    lines = [
        "{",
        '"type": "FeatureCollection",',
        f'"name": {json.dumps(name, ensure_ascii=False)},',
        '"features": [',
    ]
    body = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features]
    lines.append(",\n".join(body))
    lines += ["]", "}", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _point(xy) -> dict | None:
    return None if xy is None else {"type": "Point", "coordinates": to_lonlat(*xy)}


def generate(out_dir: Path) -> list[Path]:
    """Write the demo layers into ``out_dir``; return the paths written. Same bytes every time."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    roads, jitter = _roads(rng)
    compounds = _compounds(rng, jitter)
    facilities = _facilities(rng, compounds)
    zone_polys = _zones_polygons()
    written = [
        _write(
            out_dir / "roads.geojson",
            [
                {
                    "type": "Feature",
                    "properties": {"name": r["name"], "highway": r["highway"], "bridge": r["bridge"]},
                    "geometry": {"type": "LineString", "coordinates": [to_lonlat(x, y) for x, y in r["coords"]]},
                }
                for r in roads
            ],
            "示例区道路（示例数据）",
        ),
        _write(
            out_dir / "subdistricts.geojson",
            [
                {
                    "type": "Feature",
                    "properties": {"街道编码": zid, "街道名称": name, "区县": DISTRICTS[side], "备注": "示例数据"},
                    "geometry": {"type": "Polygon", "coordinates": [zone_polys[zid]]},
                }
                for zid, name, side, _ in ZONES
            ],
            "示例区街道（示例数据）",
        ),
        _write(
            out_dir / "compounds.geojson",
            [
                {"type": "Feature", "properties": {k: v for k, v in c.items() if k != "xy"}, "geometry": _point(c["xy"])}
                for c in compounds
            ],
            "示例区小区（示例数据）",
        ),
        _write(
            out_dir / "facilities.geojson",
            [
                {
                    "type": "Feature",
                    "properties": {k: f[k] for k in ("设施编号", "名称", "类别", "托位", "床位", "护理型床位", "普惠")},
                    "geometry": _point(f["xy"]),
                }
                for f in facilities
            ],
            "示例区设施（示例数据）",
        ),
    ]
    return written
