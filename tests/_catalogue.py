"""The tiny world of the bad-input catalogue (tests/test_bad_input_catalogue.py): a few-km street grid, a dozen
compounds, a handful of facilities and two 街道, written in tmp_path as a bureau would hand them over, and the
helpers that run the CLI in-process and account for every row.

Everything here is built from literals: the grid is 7 × 7 streets 0.003° apart (about 280 m east–west and 330 m
north–south at 32° N), compounds sit in the middle of blocks, the two 街道 split the grid at its middle street.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

LON0, LAT0, STEP, N = 120.86, 32.00, 0.003, 7  # grid origin (WGS84), spacing (degrees), streets per direction
FAC_COLUMNS = ["设施编号", "名称", "类别", "床位", "托位", "经度", "纬度"]
COMP_COLUMNS = ["小区编号", "小区名称", "人口", "户数", "60岁及以上", "0-3岁", "经度", "纬度"]


def block(i: float, j: float) -> tuple[float, float]:
    """Longitude, latitude of the middle of block (i, j) of the grid (0 ≤ i, j < N − 1)."""
    return round(LON0 + (i + 0.5) * STEP, 7), round(LAT0 + (j + 0.5) * STEP, 7)


def near_street(i: float, j: float) -> tuple[float, float]:
    """A point 20 m or so east of vertical street i, at row j (a facility on its street)."""
    return round(LON0 + i * STEP + 0.0002, 7), round(LAT0 + (j + 0.5) * STEP, 7)


def fac(fid: str, name: str, category: object, lonlat: tuple[object, object], beds: object = None, places: object = None) -> dict:
    return {"设施编号": fid, "名称": name, "类别": category, "床位": beds, "托位": places, "经度": lonlat[0], "纬度": lonlat[1]}


def comp(cid: str, name: str, population: object, lonlat: tuple[object, object], *, households: object = None,
         age_60: object = None, age_0_3: object = None) -> dict:
    return {"小区编号": cid, "小区名称": name, "人口": population, "户数": households, "60岁及以上": age_60, "0-3岁": age_0_3,
            "经度": lonlat[0], "纬度": lonlat[1]}


def base_facilities() -> list[dict]:
    """Six valid facilities, one per common category."""
    return [
        fac("F1", "城南综合养老服务中心", "综合性养老服务中心", near_street(1, 1), beds=60),
        fac("F2", "幸福社区养老服务站", "社区养老服务站", near_street(4, 4), beds=12),
        fac("F3", "阳光托育园", "托育机构", near_street(2, 3), places=40),
        fac("F4", "好邻居便利店", "便利店", near_street(5, 1)),
        fac("F5", "城东菜市场", "菜市场", near_street(3, 2)),
        fac("F6", "华联超市", "综合超市", near_street(1, 4)),
    ]


def base_compounds() -> list[dict]:
    """Twelve valid compounds in the middle of blocks, six in each 街道."""
    spots = [(0, 0), (1, 2), (2, 4), (0, 5), (2, 1), (1, 3), (3, 0), (4, 2), (5, 5), (3, 4), (5, 1), (4, 5)]
    return [
        comp(f"R{k + 1:02d}", f"小区{k + 1}", 1000 + 100 * k, block(i, j), households=400 + 40 * k, age_60=200 + 20 * k, age_0_3=30)
        for k, (i, j) in enumerate(spots)
    ]


def zone_polygons() -> list[tuple[str, str, shapely.Geometry]]:
    """Two 街道 split at the middle vertical street (x = 3), covering the whole grid with a margin."""
    x0, x1, xm = LON0 - 0.001, LON0 + (N - 1) * STEP + 0.001, LON0 + 3 * STEP
    y0, y1 = LAT0 - 0.001, LAT0 + (N - 1) * STEP + 0.001
    return [("Z1", "西街道", shapely.box(x0, y0, xm, y1)), ("Z2", "东街道", shapely.box(xm, y0, x1, y1))]


# ---- writers: files as a bureau hands them over ---------------------------------------------------------------------


def write_csv(path: Path, rows: Sequence[dict], columns: Sequence[str], *, encoding: str = "utf-8", header: bool = True) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header:
        w.writerow(columns)
    for r in rows:
        w.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, sheets: dict[str, tuple[Sequence[str], Sequence[dict]]], *, above: Sequence[Sequence[object]] = ()) -> Path:
    """An Excel workbook, one sheet per entry; ``above`` are rows written above the header (a title row…)."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, (columns, rows) in sheets.items():
        ws = wb.create_sheet(name)
        for extra in above:
            ws.append(list(extra))
        ws.append(list(columns))
        for r in rows:
            ws.append([r.get(c) for c in columns])
    wb.save(path)
    return path


def write_roads(path: Path, extra: Sequence[tuple[shapely.Geometry, dict]] = ()) -> Path:
    """The street grid as a GeoPackage of LineStrings (vertices at every crossing, so streets connect there)."""
    xs = [LON0 + i * STEP for i in range(N)]
    ys = [LAT0 + j * STEP for j in range(N)]
    geoms, attrs = [], []
    for i, x in enumerate(xs):
        geoms.append(shapely.LineString([(x, y) for y in ys]))
        attrs.append({"highway": "residential", "name": f"经{i}路"})
    for j, y in enumerate(ys):
        geoms.append(shapely.LineString([(x, y) for x in xs]))
        attrs.append({"highway": "residential", "name": f"纬{j}路"})
    for g, a in extra:
        geoms.append(g)
        attrs.append({"highway": "residential", "name": "", **a})
    gpd.GeoDataFrame(pd.DataFrame(attrs), geometry=geoms, crs="EPSG:4326").to_file(path, driver="GPKG", engine="pyogrio")
    return path


def write_zones(path: Path, zones: Sequence[tuple[object, object, shapely.Geometry]] | None = None) -> Path:
    zones = zone_polygons() if zones is None else zones
    frame = gpd.GeoDataFrame(
        {"街道编码": [z[0] for z in zones], "街道名称": [z[1] for z in zones]}, geometry=[z[2] for z in zones], crs="EPSG:4326"
    )
    frame.to_file(path, driver="GeoJSON", engine="pyogrio")
    return path


# ---- a tiny scenario --------------------------------------------------------------------------------------------------


@dataclass
class Setup:
    """What a case runs: the CLI arguments, the input files (hashed before and after), the rows written per layer."""

    argv: list[str]
    inputs: list[Path]
    rows: dict[str, int] = field(default_factory=dict)  # layer kind -> data rows written
    out: Path | None = None
    command: str = "run"  # "run" or "check-layer"
    kind: str = ""  # check-layer: the layer kind


@dataclass
class World:
    """A folder in tmp_path to build one case's inputs in."""

    root: Path

    def path(self, name: str) -> Path:
        p = self.root / "data" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    # check-layer on one file
    def check(self, path: Path, kind: str, rows: int, *args: str) -> Setup:
        out = self.root / "check"
        return Setup(["check-layer", str(path), "--kind", kind, "--out", str(out), *args], [path], {kind: rows}, out,
                     "check-layer", kind)

    def check_facilities(self, rows: Sequence[dict], *args: str, columns: Sequence[str] = FAC_COLUMNS, name: str = "facilities.csv",
                         encoding: str = "utf-8", crs: str | None = "WGS84") -> Setup:
        path = write_csv(self.path(name), rows, columns, encoding=encoding)
        return self.check(path, "facilities", len(rows), *(("--crs", crs) if crs else ()), *args)

    def check_compounds(self, rows: Sequence[dict], *args: str, columns: Sequence[str] = COMP_COLUMNS, crs: str | None = "WGS84") -> Setup:
        path = write_csv(self.path("compounds.csv"), rows, columns)
        return self.check(path, "residential", len(rows), *(("--crs", crs) if crs else ()), *args)

    # a whole run
    def scenario(
        self,
        *,
        facilities: Sequence[dict] | None = None,
        compounds: Sequence[dict] | None = None,
        zones: Sequence[tuple[object, object, shapely.Geometry]] | None | bool = None,
        roads_extra: Sequence[tuple[shapely.Geometry, dict]] = (),
        top: str = "",
        network: str = "",
        fac_extra: str = "",
        comp_extra: str = "",
        fac_path: Path | None = None,
        comp_path: Path | None = None,
        zones_path: Path | None = None,
        out: Path | None = None,
        flags: Sequence[str] = ("-q",),
    ) -> Setup:
        fac_rows = base_facilities() if facilities is None else list(facilities)
        comp_rows = base_compounds() if compounds is None else list(compounds)
        fac_p = fac_path or write_csv(self.path("facilities.csv"), fac_rows, FAC_COLUMNS)
        comp_p = comp_path or write_csv(self.path("compounds.csv"), comp_rows, COMP_COLUMNS)
        roads_p = write_roads(self.path("roads.gpkg"), roads_extra)
        inputs = [fac_p, comp_p, roads_p]
        zones_block = ""
        if zones is not False:
            zones_p = zones_path or write_zones(self.path("subdistricts.geojson"), None if zones in (None, True) else zones)
            inputs.append(zones_p)
            zones_block = f'[layers.zones]\npath = "{zones_p.name}"\n'
        text = (
            f'name = "目录测试区 / catalogue district"\nthresholds_min = [5, 10, 15]\n{top}\n'
            f'[network]\npath = "roads.gpkg"\nkind = "lines"\n{network}\n'
            f'[layers.facilities]\npath = "{fac_p.name}"\ncrs = "WGS84"\n{fac_extra}\n'
            f'[layers.residential]\npath = "{comp_p.name}"\ncrs = "WGS84"\n{comp_extra}\n'
            f"{zones_block}"
            '[standards]\npreset = "national"\n'
        )
        toml = self.path("scenario.toml")
        toml.write_text(text, encoding="utf-8")
        inputs.append(toml)
        out = out or self.root / "out"
        rows = {"facilities": len(fac_rows) if fac_path is None else -1, "residential": len(comp_rows) if comp_path is None else -1}
        return Setup(["run", str(toml), "--out", str(out), *flags], inputs, rows, out, "run")


# ---- reading back what the CLI did --------------------------------------------------------------------------------------


def digests(paths: Sequence[Path]) -> dict[str, str | None]:
    """SHA-256 of every input file (None when absent), and of every file inside an input folder."""
    out: dict[str, str | None] = {}
    for p in paths:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file():
                    out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
        else:
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
    return out


@dataclass
class Outcome:
    """What one CLI call left: exit code, all text it printed or logged, and its tables."""

    code: int
    text: str
    setup: Setup

    def summary(self) -> dict:
        return json.loads((self.setup.out / "summary.json").read_text(encoding="utf-8"))

    def rejected(self) -> pd.DataFrame:
        path = self.setup.out / "rejected.csv"
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")

    def kept(self) -> gpd.GeoDataFrame:
        """check-layer: the kept rows (layer.gpkg)."""
        path = self.setup.out / "layer.gpkg"
        if not path.exists():
            return gpd.GeoDataFrame()
        return gpd.read_file(path, engine="pyogrio")

    def n_kept(self) -> int:
        path = self.setup.out / "layer.gpkg"
        if not path.exists():
            return 0
        return int(pyogrio.read_info(path)["features"])

    def reason_counts(self) -> dict[str, int]:
        """rejected rows by reason code (check-layer: rejected.csv; run: summary.json over the layers)."""
        if self.setup.command == "check-layer":
            rej = self.rejected()
            return rej["reason_code"].value_counts().to_dict() if len(rej) else {}
        counts: dict[str, int] = {}
        for lyr in self.summary()["layers"].values():
            for k, n in lyr["rejected_by_reason"].items():
                counts[k] = counts.get(k, 0) + int(n)
        return counts

    def read_count(self) -> int:
        """check-layer: the rows it says it read ("read N, kept …")."""
        m = re.search(r"read (\d+), kept (\d+), rejected (\d+)", self.text)
        assert m, f"no 'read N, kept …' line in:\n{self.text}"
        return int(m.group(1))


def has_all(text: str, words: Sequence[str]) -> list[str]:
    """The words (each 'a|b' = any of a, b) missing from ``text``, case-insensitively."""
    low = text.lower()
    return [w for w in words if not any(alt.lower() in low for alt in w.split("|"))]


Check = Callable[[Outcome], None]
