"""Command line: ``planner run SCENARIO --out DIR`` and ``planner demo-data``."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from ._errors import PlannerError

__all__ = ["main"]


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("pyogrio", "fiona", "urllib3", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _cmd_run(args: argparse.Namespace) -> int:
    from .outputs import write_outputs
    from .pipeline import run
    from .scenario import load_scenario

    say = (lambda msg: None) if args.quiet else (lambda msg: print(msg, flush=True))
    t0 = time.perf_counter()
    scenario = load_scenario(args.scenario)
    say(f"情景 / scenario: {scenario.name}")
    result = run(scenario, report=say)
    say("[写出 / write] 地图与表格 / map and tables")
    paths = write_outputs(result, args.out, lang=args.lang)
    elapsed = time.perf_counter() - t0
    comp = result.compounds
    rejected = result.layers.rejected
    print(
        f"完成，用时 {elapsed:.1f} 秒：小区 {len(comp)} 个（{int((~comp['reachable']).sum())} 个无法接入路网），"
        f"设施 {len(result.facilities)} 个，拒收 {len(rejected)} 行 / done in {elapsed:.1f} s"
    )
    print(f"地图已写入 / map written to: {paths['map'].resolve()}")
    print(f"全部输出 / all outputs in: {Path(args.out).resolve()}")
    return 0


def _cmd_demo_data(args: argparse.Namespace) -> int:
    from .demo import generate

    written = generate(Path(args.out))
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
    p_run.set_defaults(func=_cmd_run)

    p_demo = sub.add_parser("demo-data", help="重新生成内置示例数据 / regenerate the embedded demo layers")
    p_demo.add_argument("--out", default="layers/demo", help="输出文件夹 / output folder (default layers/demo)")
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


if __name__ == "__main__":
    sys.exit(main())
