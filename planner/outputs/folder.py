"""The output folder of a run: never one that holds an input, written whole or not at all.

A run writes into a staging folder beside the output folder and moves it into place only when every file is
written, so a run that fails leaves the previous outputs as they were. A folder that holds an earlier run (it has
planner's ``summary.json`` and nothing but the files that run listed) is replaced as a whole, so no stale
``sites.csv`` of an older run stays beside the new files; a folder holding anything else is refused unless the
user forces it. All of this is checked before the analysis starts.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from planner.errors import PlannerError

__all__ = ["OutputFolderError", "StagedOutput", "stage_output"]

SUMMARY = "summary.json"


class OutputFolderError(PlannerError):
    """The output folder cannot be used: it holds inputs or other files, or it cannot be written."""


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _earlier_run_files(folder: Path, known: frozenset[str] = frozenset()) -> set[str] | None:
    """The files an earlier planner run listed in ``folder``'s summary.json (with it), or None when it is not one.

    A command that writes no summary.json (check-layer, compare) passes the names it writes as ``known``: a folder
    holding only those is its earlier output."""
    if known and {p.name for p in folder.iterdir()} <= known:
        return set(known)
    try:
        summary = json.loads((folder / SUMMARY).read_text(encoding="utf-8"))
        outputs = summary["outputs"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(outputs, dict):
        return None
    return {str(v) for v in outputs.values()} | {SUMMARY}


def _folder_mode(out: Path) -> int:
    """The permissions the output folder gets: those of the folder it replaces, else a new folder's (umask)."""
    if out.is_dir():
        return out.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o777 & ~umask


class StagedOutput:
    """A staging folder for one run's outputs; :meth:`commit` puts it in place of the output folder."""

    def __init__(self, out: Path, staging: Path) -> None:
        self.out = out
        self.path = staging
        self.kept = False  # True when the outputs stay in the staging folder (the final move failed)

    def commit(self) -> Path:
        """Replace the output folder by the staging folder (an earlier run's folder is removed as a whole).

        When the move fails (a file of the old folder open in another program, no permission), the earlier folder
        is put back, the finished outputs stay in the staging folder and :class:`OutputFolderError` says where."""
        try:
            if self.out.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.old-", dir=self.out.parent))
                os.replace(self.out, old / self.out.name)
                try:
                    os.replace(self.path, self.out)
                except OSError:
                    os.replace(old / self.out.name, self.out)  # put the earlier run back before reporting the failure
                    raise
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(self.path, self.out)
        except OSError as exc:
            self.kept = True  # the finished outputs are not thrown away
            raise OutputFolderError(
                f"无法把结果放入输出文件夹 {self.out}：{exc.strerror or exc}（是否有文件在其他程序中打开？）。本次结果保留在 {self.path} / "
                f"cannot move the results into {self.out}: {exc.strerror or exc} (is one of its files open in another "
                f"program?); this run's outputs are kept in {self.path}"
            ) from exc
        return self.out

    def discard(self) -> None:
        """Remove the staging folder (the run failed; the output folder is untouched) — unless it holds finished
        outputs that could not be moved into place."""
        if not self.kept:
            shutil.rmtree(self.path, ignore_errors=True)


def stage_output(out: str | Path, inputs: Iterable[str | Path], *, force: bool = False,
                 known: Iterable[str] = ()) -> StagedOutput:
    """Check ``out`` and make its staging folder, before any analysis.

    Refused (:class:`OutputFolderError`): an output folder that is an input file or holds one (the scenario, the
    network, a layer — at any depth), an existing file, a folder holding files that are not an earlier run's outputs
    (unless ``force``; ``known``: the file names the command writes, for commands without a summary.json), and a
    parent folder that cannot be written.
    """
    out = Path(out).expanduser().resolve()
    try:
        return _stage_output(out, inputs, force=force, known=known)
    except OutputFolderError:
        raise
    except OSError as exc:  # a name too long, a path through a file, no permission to look …
        raise OutputFolderError(
            f"无法使用输出文件夹 {out}：{exc.strerror or exc}。请换一个较短、可写的路径 / cannot use the output folder {out}: "
            f"{exc.strerror or exc}; choose a shorter, writable path"
        ) from exc


def _stage_output(out: Path, inputs: Iterable[str | Path], *, force: bool, known: Iterable[str]) -> StagedOutput:
    for p in inputs:
        src = Path(p).expanduser().resolve()
        if _inside(src, out):
            raise OutputFolderError(
                f"输出文件夹 {out} 含有输入文件 {src}，输出会覆盖或混入输入；请换一个输出文件夹 / the output folder {out} "
                f"holds the input {src}: outputs would overwrite or mix with inputs; choose another output folder"
            )
    if out == Path.home().resolve() or out.parent == out:
        raise OutputFolderError(f"不能把主目录或根目录 {out} 用作输出文件夹 / {out} (the home or root folder) cannot be an output folder")
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"输出路径 {out} 是一个文件，不是文件夹 / the output path {out} is a file, not a folder")
    if out.is_dir() and not os.access(out, os.W_OK | os.X_OK):  # it could not be replaced at the end of the run
        raise OutputFolderError(f"输出文件夹 {out} 不可写 / the output folder {out} is not writable")
    if out.is_dir() and any(out.iterdir()) and not force:
        listed = _earlier_run_files(out, frozenset(known))
        others = sorted(p.name for p in out.iterdir() if listed is None or p.name not in listed)
        if others:
            shown = "、".join(others[:5]) + ("…" if len(others) > 5 else "")
            raise OutputFolderError(
                f"输出文件夹 {out} 已有不是 planner 输出的文件（{shown}）；请换一个空文件夹，或加 --force 整体替换 / the output "
                f"folder {out} holds files that are not planner outputs ({', '.join(others[:5])}); choose an empty "
                "folder, or add --force to replace it as a whole"
            )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.planner-", dir=out.parent))
        staging.chmod(_folder_mode(out))  # mkdtemp makes it private (0700); the outputs are meant to be shared
    except OSError as exc:
        raise OutputFolderError(
            f"无法在 {out.parent} 中写入：{exc.strerror or exc} / cannot write in {out.parent}: {exc.strerror or exc}"
        ) from exc
    return StagedOutput(out, staging)
