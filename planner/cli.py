"""Command line: ``planner run SCENARIO --out DIR``, ``planner compare RUN_A RUN_B --out DIR``, ``planner serve SCENARIO``
and helpers."""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from pathlib import Path

from planner.errors import PlannerError

__all__ = ["main"]


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("pyogrio", "fiona", "urllib3", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _cmd_run(args: argparse.Namespace) -> int:
    from planner.outputs.folder import stage_output
    from planner.outputs.reproducible import source_date
    from planner.outputs.write import write_outputs
    from planner.pipeline import peak_rss_mib, run
    from planner.scenario import load_scenario

    say = (lambda msg: None) if args.quiet else (lambda msg: print(msg, flush=True))
    t0 = time.perf_counter()
    scenario = load_scenario(args.scenario)
    source_date()  # a malformed SOURCE_DATE_EPOCH stops here, before the analysis
    staged = stage_output(args.out, scenario.input_paths(), force=args.force)  # before any analysis: a bad folder costs nothing
    try:
        say(f"情景 / scenario: {scenario.name}")
        if args.workers is not None or args.scheduler is not None or args.partitioned:
            result = _run_partitioned(scenario, args, say)
        else:
            result = run(scenario, report=say)
        say("[写出 / write] 表格、地图、报告与工作簿 / tables, map, report and workbook")
        written = write_outputs(result, staged.path, lang=args.lang, report=say, parallel=result.partitions is not None)
        out = staged.commit()  # the folder is replaced only now, when every file is written
    except BaseException:
        staged.discard()  # a failed run leaves the output folder as it was
        raise
    paths = {key: out / p.relative_to(staged.path) for key, p in written.items()}
    elapsed = time.perf_counter() - t0
    comp = result.compounds
    rejected = result.layers.rejected
    print(
        f"完成，用时 {elapsed:.1f} 秒，内存峰值 {peak_rss_mib():,.0f} MiB：小区 {len(comp)} 个（{int((~comp['reachable']).sum())} 个无法接入路网），"
        f"设施 {len(result.facilities)} 个，拒收 {len(rejected)} 行 / done in {elapsed:.1f} s, peak memory {peak_rss_mib():,.0f} MiB"
    )
    print(f"地图已写入 / map written to: {paths['map'].resolve()}")
    print(f"报告已写入 / report written to: {paths['report_html'].resolve()}（可打印为 PDF / printable）")
    print(f"全部输出 / all outputs in: {out}")
    return 0


def _run_partitioned(scenario, args: argparse.Namespace, say):
    """``planner run --workers N | --scheduler ADDRESS | --partitioned``: the scenario's ``[partition]`` pieces on Dask."""
    from planner.partition.run import run_partitioned

    if scenario.partition is None:
        raise PlannerError(
            "--workers/--scheduler 需要情景文件中的 [partition]（按哪一列或哪个面图层分区），见 docs/scaling.md / --workers and "
            "--scheduler need a [partition] table in the scenario (the column or polygon layer to partition by); see docs/scaling.md"
        )
    if args.workers is not None and args.scheduler is not None:
        raise PlannerError("--workers 与 --scheduler 只能用一个 / use either --workers or --scheduler, not both")
    if args.workers is not None and args.workers < 1:
        raise PlannerError(f"--workers 至少为 1 / --workers must be at least 1, got {args.workers}")
    return run_partitioned(scenario, workers=args.workers, scheduler=args.scheduler, report=say)


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise PlannerError(f"{what} 应写成 名称=值，如 category=设施类型 / {what} must be NAME=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _cmd_check_layer(args: argparse.Namespace) -> int:
    from pyproj import CRS

    from planner.io.checks import loss_warnings, require_rows
    from planner.outputs.folder import stage_output
    from planner.outputs.write import write_layer_check
    from planner.settings import LayerSpec

    spec = LayerSpec(
        kind=args.kind,
        path=Path(args.path),
        layer=args.layer,
        crs=args.crs,
        encoding=args.encoding,
        columns=_pairs(args.column, "--column"),
        category_map=_pairs(args.category, "--category"),
    )
    staged = stage_output(args.out, [spec.path], force=args.force, known=("layer.gpkg", "rejected.csv"))
    wgs84 = CRS.from_epsg(4326)
    try:
        loaded = _load_checked(args.kind, spec, wgs84)
        written = write_layer_check(loaded, staged.path)
        out = staged.commit()
    except BaseException:
        staged.discard()
        raise
    paths = {key: out / p.name for key, p in written.items()}
    _print_layer_check(spec, loaded, paths)
    for text in loss_warnings(loaded) + list(loaded.warnings):
        print(f"⚠ {text}")
    require_rows(loaded)  # a layer that keeps nothing is an error, after its rejected.csv is written
    return 0


def _load_checked(kind: str, spec, crs):
    from planner.io import layers as L
    from planner.settings import PopulationSpec

    if kind == "facilities":
        return L.load_facilities(spec, crs)
    if kind == "residential":
        return L.load_residential(spec, crs, PopulationSpec())
    return L.load_zones(spec, crs)


def _print_layer_check(spec, loaded, paths: dict[str, Path]) -> None:
    print(f"图层 / layer: {spec.path}")
    for note in loaded.notes:  # sheets read together, title rows skipped, headers flattened, columns renamed
        print(f"  · {note}")
    print(f"读取 {loaded.rows_read} 行，保留 {len(loaded.data)} 行，拒收 {len(loaded.rejected)} 行 / "
          f"read {loaded.rows_read}, kept {len(loaded.data)}, rejected {len(loaded.rejected)}")
    for column, n in loaded.units_read.items():
        print(f"  {column}：{n} 个值从文字读出（带单位、约、万或千分位） / {n} values read from text (units, 约, 万, thousand separators)")
    if len(loaded.rejected):
        print("拒收原因 / rejected by reason:")
        for code, n in loaded.rejected["reason_code"].value_counts().sort_index().items():
            print(f"  {code}: {n}")
    if "category" in loaded.data.columns and len(loaded.data):
        from planner.io.categories import load_taxonomy

        tax = load_taxonomy()
        print("类别 / categories:")
        for key, n in loaded.data["category"].value_counts().sort_index().items():
            print(f"  {tax[key].zh} ({key}): {n}")
    converted = loaded.converted_from
    if converted:
        print(f"坐标已由 {converted} 转换为 WGS84 / coordinates converted from {converted} to WGS84")
    print(f"已写入 / written: {paths['layer'].resolve()}")
    print(f"已写入 / written: {paths['rejected'].resolve()}")


def _cmd_fetch(args: argparse.Namespace) -> int:
    from planner.io.fetch import fetch_place

    paths = fetch_place(args.place, args.out, report=print)
    for path in paths.values():
        print(f"已写入 / written: {path.resolve()}")
    print(f"运行 / run: planner run {paths['scenario']} --out maps/{Path(args.out).name}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from planner.outputs.basemaps import check_basemap
    from planner.outputs.compare import compare_runs, read_run, summary_lines, write_comparison

    check_basemap(args.basemap, args.tianditu_key)  # refuse 天地图 without a key before any work
    from planner.outputs.folder import stage_output

    staged = stage_output(args.out, [args.run_a, args.run_b], force=args.force,
                          known=("compare.html", "compare.csv", "compare_rules.csv", "compare_served.csv", "compare.xlsx"))
    try:
        a, b = read_run(args.run_a), read_run(args.run_b)
        cmp = compare_runs(a, b)
        lang = args.lang or b.language or a.language or "zh"
        written = write_comparison(cmp, staged.path, lang=lang, basemap=args.basemap, tianditu_key=args.tianditu_key)
        out = staged.commit()
    except BaseException:
        staged.discard()
        raise
    paths = {key: out / p.name for key, p in written.items()}
    for line in summary_lines(cmp):
        print(line)
    for path in paths.values():
        print(f"已写入 / written: {path.resolve()}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from planner.scenario import load_scenario
    from planner.serve.app import create_app
    from planner.serve.runcache import load_or_run
    from planner.serve.security import ServeConfig

    config = ServeConfig.for_host(args.host, args.port, args.token)
    say = (lambda msg: None) if args.quiet else (lambda msg: print(msg, flush=True))
    scenario = load_scenario(args.scenario)
    out = Path(args.out) if args.out else Path("maps") / f"serve-{scenario.path.stem}"
    say(f"情景 / scenario: {scenario.name}")
    result, _ = load_or_run(scenario, out, fresh=args.fresh, report=say)
    say("[推演 / what-if] 载入推演引擎，生成地图页面 / building the what-if engine and the map page")
    app = create_app(result, config=config, out_dir=out, build_page=True)
    print(f"规划推演已就绪，请在浏览器打开 / what-if planning ready, open: {config.url}", flush=True)
    if not config.loopback:
        print(f"修改需要令牌 / editing needs the token: {config.token}\n"
              f"  请求头 / header: Authorization: Bearer {config.token}", flush=True)
    print(f"保存的方案写入 / saved plans go to: {(out / 'plans').resolve()}；按 Ctrl+C 停止 / Ctrl+C stops", flush=True)
    import uvicorn

    uvicorn.run(app, host=config.host, port=config.port, log_level="warning")
    return 0


_DEMO_FILES = frozenset({"roads.geojson", "subdistricts.geojson", "compounds.geojson", "facilities.geojson", "README.md"})


def _cmd_demo_data(args: argparse.Namespace) -> int:
    from planner.io.demo import generate
    from planner.outputs.folder import OutputFolderError

    if not str(args.out).strip():
        raise OutputFolderError("--out 不能为空 / --out cannot be empty")
    out = Path(args.out).expanduser()
    try:
        if out.exists() and not out.is_dir():
            raise OutputFolderError(f"输出路径 {out} 是一个文件，不是文件夹 / the output path {out} is a file, not a folder")
        others = sorted(p.name for p in out.iterdir() if p.name not in _DEMO_FILES) if out.is_dir() else []
        if others and not args.force:
            raise OutputFolderError(
                f"文件夹 {out} 中已有其他文件（{'、'.join(others[:5])}），示例图层会覆盖同名文件；请换一个空文件夹，或加 --force / "
                f"{out} holds other files ({', '.join(others[:5])}); the demo layers would overwrite files of the same names: "
                "choose an empty folder, or add --force"
            )
        written = generate(out)
    except OSError as exc:
        raise OutputFolderError(f"无法写入 {out}：{exc.strerror or exc} / cannot write {out}: {exc.strerror or exc}") from exc
    for path in written:
        print(f"已写入 / written: {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="planner",
        description="步行可达性与设施缺口分析（一刻钟便民生活圈、15分钟养老服务圈）/ walking coverage and gap analysis",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="更多日志 / more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    p_run = sub.add_parser("run", help="运行情景，生成缺口地图与表格 / run a scenario")
    p_run.add_argument("scenario", help="情景文件 (.toml) / scenario file")
    p_run.add_argument("--out", required=True, help="输出文件夹 / output folder")
    p_run.add_argument("--lang", choices=["zh", "en"], default=None, help="地图语言（默认取情景设置）/ map language")
    p_run.add_argument("-q", "--quiet", action="store_true", help="不显示进度 / no progress messages")
    p_run.add_argument("--force", action="store_true",
                       help="输出文件夹已有其他文件时仍整体替换（其中原有文件会被删除）/ replace an output folder that holds other files (they are deleted)")
    p_run.add_argument("--workers", type=int, default=None, metavar="N",
                       help="按情景的 [partition] 分区，在本机 N 个 Dask 进程上计算 / run the [partition] pieces on a local Dask cluster of N processes")
    p_run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="使用已有的 Dask 集群（如 tcp://10.0.0.5:8786）/ use an existing Dask cluster, e.g. tcp://10.0.0.5:8786")
    p_run.add_argument("--partitioned", action="store_true",
                       help="按分区在本进程中逐个计算（不用 Dask；用于核对）/ run the pieces one by one in this process (no Dask; for checks)")
    p_run.set_defaults(func=_cmd_run)

    p_cmp = sub.add_parser("compare", help="对比两次运行的输出 / compare two run output folders")
    p_cmp.add_argument("run_a", help="方案 A 的输出文件夹（现状）/ output folder of run A (before)")
    p_cmp.add_argument("run_b", help="方案 B 的输出文件夹（方案）/ output folder of run B (after)")
    p_cmp.add_argument("--out", required=True, help="输出文件夹 / output folder")
    p_cmp.add_argument("--lang", choices=["zh", "en"], default=None,
                       help="地图与工作簿的语言（默认取运行的语言，否则中文）/ language of the map and workbook (default: the runs', else zh)")
    p_cmp.add_argument("--force", action="store_true", help="输出文件夹已有其他文件时仍整体替换（其中原有文件会被删除）/ replace an output folder that holds other files (they are deleted)")
    p_cmp.add_argument("--basemap", choices=["offline", "osm", "tianditu", "amap"], default="offline",
                       help="底图（默认离线）/ base map (default offline)")
    p_cmp.add_argument("--tianditu-key", default=None, help="天地图密钥 tk（--basemap tianditu 时需要）/ 天地图 key for --basemap tianditu")
    p_cmp.set_defaults(func=_cmd_compare)

    p_chk = sub.add_parser("check-layer", help="检查并规范化一个图层 / check and normalise one layer")
    p_chk.add_argument("path", help="图层文件 / layer file (gpkg, geojson, shp, zip, parquet, csv, xlsx)")
    p_chk.add_argument("--kind", required=True, choices=["facilities", "residential", "zones"], help="图层类型 / layer kind")
    p_chk.add_argument("--crs", help="坐标系 / coordinate system: WGS84, CGCS2000, GCJ02, BD09, EPSG:xxxx")
    p_chk.add_argument("--encoding", help="文本编码 / text encoding (utf-8, gbk, gb18030); detected if omitted")
    p_chk.add_argument("--layer", help="GeoPackage 图层或 Excel 工作表 / GeoPackage layer or Excel sheet")
    p_chk.add_argument("--column", action="append", metavar="NAME=COLUMN", help="列映射 / column mapping, e.g. category=设施类型")
    p_chk.add_argument("--category", action="append", metavar="LABEL=KEY", help="类别映射 / label mapping, e.g. 长者饭堂=elderly_station")
    p_chk.add_argument("--out", required=True, help="输出文件夹 / output folder")
    p_chk.add_argument("--force", action="store_true", help="输出文件夹已有其他文件时仍整体替换（其中原有文件会被删除）/ replace an output folder that holds other files (they are deleted)")
    p_chk.set_defaults(func=_cmd_check_layer)

    p_fetch = sub.add_parser("fetch", help="用 osmnx 下载某地的 OSM 数据（需联网）/ download a place from OSM (needs internet)")
    p_fetch.add_argument("place", help="地名，如 \"崇川区, 南通市\" / place name")
    p_fetch.add_argument("--out", required=True, help="输出文件夹 / output folder")
    p_fetch.set_defaults(func=_cmd_fetch)

    p_srv = sub.add_parser("serve", help="在浏览器中推演规划方案 / what-if planning in the browser")
    p_srv.add_argument("scenario", help="情景文件 (.toml) / scenario file")
    p_srv.add_argument("--host", default="127.0.0.1",
                       help="监听地址（默认仅本机 127.0.0.1；其他地址时修改需令牌）/ address to bind (default loopback; elsewhere editing needs a token)")
    p_srv.add_argument("--port", type=int, default=8765, help="端口 / port (default 8765)")
    p_srv.add_argument("--token", default=None, help="修改令牌（非本机地址时不给则自动生成并显示）/ editing token (generated and printed off loopback)")
    p_srv.add_argument("--out", default=None, help="保存方案的文件夹（默认 maps/serve-<情景名>）/ folder for saved plans (default maps/serve-<scenario>)")
    p_srv.add_argument("--fresh", action="store_true",
                       help="重新运行情景，不载入已保存的运行结果 / run the scenario again instead of loading the saved run")
    p_srv.add_argument("-q", "--quiet", action="store_true", help="不显示进度 / no progress messages")
    p_srv.set_defaults(func=_cmd_serve)

    p_demo = sub.add_parser("demo-data", help="重新生成内置示例数据 / regenerate the embedded demo layers")
    p_demo.add_argument("--out", default="layers/demo", help="输出文件夹 / output folder (default layers/demo)")
    p_demo.add_argument("--force", action="store_true", help="文件夹已有其他文件时仍写入 / write into a folder that holds other files")
    p_demo.set_defaults(func=_cmd_demo_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose, getattr(args, "quiet", False))
    try:
        return args.func(args)
    except PlannerError as exc:
        print(f"错误 / error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("已中断 / interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a fault of planner, not of the input: exit 1, the traceback only with -v
        if args.verbose:
            traceback.print_exc(file=sys.stderr)
        print(
            f"内部错误 / internal error: {type(exc).__name__}: {exc}\n"
            "这是 planner 的问题，不是输入数据的问题；请加 -v 重新运行，并把完整输出报告给开发者 / this is a fault in planner, "
            "not in your data; run again with -v and report the whole output to the developers",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
