"""Running a partitioned run's tasks on Dask: a LocalCluster of worker processes, or an existing scheduler.

The only module of planner that imports dask/distributed (lazily: a run without ``--workers`` never pays for it).
:func:`run_on_cluster` submits one Dask task per job and hands back one :class:`TaskOutcome` per job, in the jobs'
order. Everything that can go wrong on a cluster is Dask's own machinery, reported per job:

* a worker killed while running a task: the scheduler runs the task again elsewhere (``allowed-failures``
  retries, set to 3 for a LocalCluster; an existing scheduler keeps its own setting); after too many deaths the
  job's outcome carries the reason and the other jobs still finish;
* an exception raised by ``fn``: the job's outcome carries its message in one line, the other jobs still finish;
* attempts are counted from the events each start logs on the scheduler (``Worker.log_event``), not guessed.

A job travels inside its task (not scattered to one worker): the scheduler keeps it, so a task whose worker died
can be sent again. The Dask key of a job is ``"{key}-{run id}"``: the dashboard groups by the job's key, and two
runs sharing a scheduler never mistake each other's tasks (Dask would hand a second run the first one's result).
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.util import find_spec

from planner.errors import PlannerError

__all__ = [
    "TaskOutcome",
    "run_on_cluster",
    "DaskSession",
    "dashboard_available",
    "EVENT_TOPIC",
    "THREADS_ENV",
    "DELAY_ENV",
    "ALLOWED_FAILURES",
]

#: topic of the scheduler events a task logs when it starts (one event per attempt)
EVENT_TOPIC = "planner-task"
#: set to ``"1"`` in the workers of a LocalCluster: a worker runs one task at a time on one core
THREADS_ENV = "PLANNER_THREADS"
#: test hook: seconds a task sleeps on the worker before it calls ``fn`` (lets a test kill a worker mid-task)
DELAY_ENV = "PLANNER_TASK_DELAY_S"
#: seconds an existing scheduler without workers is waited for before the run stops
WAIT_FOR_WORKERS_S = 120.0
#: how many times a task may lose its worker before Dask gives up on it (a LocalCluster's setting)
ALLOWED_FAILURES = 3


@dataclass(frozen=True)
class TaskOutcome:
    """What became of one job.

    Attributes
    ----------
    key : the job's key as given.
    value : ``fn(job)`` when it returned, else None.
    error : None on success; else a one-line bilingual reason.
    worker : address of the worker that produced the value ("" when none).
    attempts : how many times the task was started (1 normally; 2 after one killed worker).
    seconds : wall seconds of ``fn`` in the successful attempt, measured on the worker (0 when it failed).
    """

    key: str
    value: object | None
    error: str | None
    worker: str
    attempts: int
    seconds: float

    @property
    def ok(self) -> bool:
        return self.error is None


def dashboard_available() -> bool:
    """True when bokeh is importable, so a LocalCluster can serve Dask's dashboard (the ``cluster`` extra)."""
    return find_spec("bokeh") is not None


def _run_job(fn: Callable[[object], object], key: str, job: object, run_id: str) -> tuple[object, float, str]:
    """The task on the worker: log its start as a scheduler event, call ``fn(job)``; (value, seconds, worker)."""
    from distributed import get_worker

    worker = get_worker()
    worker.log_event(EVENT_TOPIC, {"run": run_id, "key": key, "worker": worker.address, "pid": os.getpid()})
    delay = os.environ.get(DELAY_ENV, "")
    if delay:
        time.sleep(float(delay))
    start = time.perf_counter()
    value = fn(job)
    return value, time.perf_counter() - start, worker.address


def _serves(link: str | None) -> bool:
    """True when an existing scheduler's dashboard page answers (its HTTP server runs even with no dashboard)."""
    from urllib.error import URLError
    from urllib.request import urlopen

    if not link or not link.startswith(("http://", "https://")):
        return False
    try:
        with urlopen(link, timeout=2) as response:  # noqa: S310 - the scheduler's own address
            return response.status == 200
    except (OSError, URLError, ValueError):
        return False


def _check(fn: Callable, jobs: list[tuple[str, object]], workers: int | None, scheduler: str | None,
           sizes: Sequence[float] | None) -> None:
    if (workers is None) == (scheduler is None):
        raise PlannerError("请只给出 --workers N 或 --scheduler 地址 之一 / give exactly one of --workers N or --scheduler ADDRESS")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise PlannerError(f"--workers 应为正整数，收到 {workers!r} / --workers must be a positive whole number, got {workers!r}")
    if scheduler is not None and not str(scheduler).strip():
        raise PlannerError("--scheduler 地址为空 / --scheduler needs an address such as tcp://HOST:8786")
    qualname = getattr(fn, "__qualname__", "")
    if not callable(fn) or "<" in qualname or getattr(fn, "__module__", "__main__") == "__main__":
        raise TypeError(f"fn must be a module-level function that workers can import by reference, got {fn!r}")
    keys = [key for key, _ in jobs]
    if not all(isinstance(k, str) and k for k in keys):
        raise TypeError("every job's key must be a non-empty str")
    if len(set(keys)) != len(keys):
        twice = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"job keys must be unique; repeated: {twice}")
    if sizes is not None and len(sizes) != len(jobs):
        raise ValueError(f"sizes has {len(sizes)} values for {len(jobs)} jobs")


def _reason(exc: BaseException) -> str:
    """One line saying why a task failed, Chinese first where planner writes it."""
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        deaths = exc.allowed_failures + 1
        return (f"运行此任务的工作进程先后 {deaths} 次中断（被终止或超出内存上限），Dask 已放弃 / "
                f"the worker running it died {deaths} times (killed or over its memory limit); Dask gave up")
    if isinstance(exc, concurrent.futures.CancelledError):
        return "任务被取消（调度器或连接中断）/ task cancelled (scheduler or connection lost)"
    text = " ".join(str(exc).split())
    if isinstance(exc, PlannerError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _attempts(client, run_id: str) -> dict[str, int]:
    """How many times each job's task started in this run: the events its starts logged on the scheduler."""
    counts: dict[str, int] = {}
    for _, msg in client.get_events(EVENT_TOPIC):
        if isinstance(msg, dict) and msg.get("run") == run_id:
            counts[msg["key"]] = counts.get(msg["key"], 0) + 1
    return counts


def run_on_cluster(
    fn: Callable[[object], object],
    jobs: Sequence[tuple[str, object]],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    memory_limit: str = "2GiB",
    report: Callable[[str], None] = print,
    sizes: Sequence[float] | None = None,
) -> list[TaskOutcome]:
    """Run ``fn(job)`` for every ``(key, job)`` on Dask; one :class:`TaskOutcome` per job, in the order of ``jobs``.

    Parameters
    ----------
    fn : a module-level function (workers import it by reference); it may return a failure object for bad input,
        which is a normal value.
    jobs : ``(key, job)`` pairs; keys unique, each job picklable.
    workers : start a LocalCluster of this many worker processes (one thread each, ``PLANNER_THREADS=1``).
    scheduler : address of an existing scheduler, e.g. ``"tcp://127.0.0.1:8786"``. Exactly one of the two.
    memory_limit : per worker of a LocalCluster (Dask's nanny restarts a worker past 95 % of it).
    report : receives one line per event (dashboard address, each finished task).
    sizes : estimated cost of each job; the largest are submitted first with the highest priority.

    Raises
    ------
    PlannerError : both or neither of ``workers``/``scheduler``, or the scheduler cannot be reached.
    """
    jobs = list(jobs)
    _check(fn, jobs, workers, scheduler, sizes)
    if not jobs:
        return []
    with DaskSession(workers=workers, scheduler=scheduler, memory_limit=memory_limit, report=report) as session:
        return session.run(fn, jobs, sizes=sizes)


class DaskSession:
    """One Dask client (and the LocalCluster it started) for the whole of a partitioned run: the pieces, their siting
    and, on a LocalCluster, the writing of the outputs share it. A context manager; closed quietly on exit."""

    def __init__(self, *, workers: int | None = None, scheduler: str | None = None, memory_limit: str = "2GiB",
                 report: Callable[[str], None] = print):
        _check(_run_job, [], workers, scheduler, None)
        self.workers, self.scheduler, self.memory_limit, self.report = workers, scheduler, memory_limit, report
        self.client = self.cluster = None
        self._config = None

    @property
    def local(self) -> bool:
        """True on a LocalCluster: the workers share this machine's disk (they may write the output folder)."""
        return self.cluster is not None

    def __enter__(self) -> DaskSession:
        import dask
        from distributed import Client, LocalCluster
        from distributed.comm import get_address_host_port

        settings = {
            # a job travels inside its task so that it can be sent again after a worker died: not a "large graph"
            "distributed.admin.large-graph-warning-threshold": "4GiB",
        }
        if self.workers is not None:
            settings["distributed.scheduler.allowed-failures"] = ALLOWED_FAILURES
        self._config = dask.config.set(settings)
        self._config.__enter__()
        try:
            if self.workers is not None:
                self.cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    memory_limit=self.memory_limit,
                    # port 0: never "port 8787 in use"; the scheduler's HTTP server is there even without bokeh
                    dashboard_address="127.0.0.1:0",
                    silence_logs=logging.CRITICAL,
                    env={THREADS_ENV: "1"},
                )
                self.client = Client(self.cluster, set_as_default=False)
                self.report(f"Dask：本机 {self.workers} 个工作进程 / local cluster of {self.workers} worker processes")
            else:
                try:  # a malformed address first: a Client that fails on one is left half-made (noisy at exit)
                    get_address_host_port(self.scheduler)
                except ValueError as exc:
                    raise PlannerError(
                        f"Dask 调度器地址 {self.scheduler} 写法不对（{exc}）/ the Dask scheduler address {self.scheduler} is not "
                        f"valid ({exc}); write it as tcp://HOST:8786"
                    ) from None
                try:
                    self.client = Client(self.scheduler, set_as_default=False)
                except (OSError, TimeoutError) as exc:
                    raise PlannerError(
                        f"无法连接 Dask 调度器 {self.scheduler}：{' '.join(str(exc).split())} / "
                        f"cannot reach the Dask scheduler at {self.scheduler}: is it running and is the address right?"
                    ) from None
                count = len(self.client.nthreads())
                self.report(f"Dask 调度器 / scheduler: {self.scheduler}，{count} 个工作进程 / workers")
                if count == 0:
                    self.report(f"调度器上还没有工作进程，最多等待 {WAIT_FOR_WORKERS_S:.0f} 秒 / the scheduler has no workers yet; waiting "
                                f"up to {WAIT_FOR_WORKERS_S:.0f} s for one")
                    try:
                        self.client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS_S)
                    except TimeoutError:
                        raise PlannerError(
                            f"Dask 调度器 {self.scheduler} 在 {WAIT_FOR_WORKERS_S:.0f} 秒内没有任何工作进程，请先启动 dask worker / the scheduler "
                            f"at {self.scheduler} had no worker for {WAIT_FOR_WORKERS_S:.0f} s: start `dask worker` first"
                        ) from None
            link = self.client.dashboard_link
            # a LocalCluster's dashboard needs bokeh here; an existing scheduler's is there when its page answers
            if link and (dashboard_available() if self.workers is not None else _serves(link)):
                self.report(f"Dask 仪表板 / dashboard: {link}")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        _close(self.client, self.cluster)
        self.client = self.cluster = None
        if self._config is not None:
            self._config.__exit__(None, None, None)
            self._config = None

    def run(self, fn: Callable[[object], object], jobs: Sequence[tuple[str, object]], *,
            sizes: Sequence[float] | None = None) -> list[TaskOutcome]:
        """``fn(job)`` for every ``(key, job)``, largest ``sizes`` first; one :class:`TaskOutcome` per job, in order."""
        from distributed import as_completed

        jobs = list(jobs)
        _check(fn, jobs, self.workers, self.scheduler, sizes)
        if not jobs:
            return []
        client, report = self.client, self.report
        n = len(jobs)
        order = sorted(range(n), key=lambda i: (-float(sizes[i]), i)) if sizes is not None else list(range(n))
        run_id = uuid.uuid4().hex
        done: dict[int, tuple[object, str | None, str, float]] = {}
        futures = {}
        for rank, i in enumerate(order):
            key = jobs[i][0]
            future = client.submit(_run_job, fn, key, jobs[i][1], run_id, key=f"{key}-{run_id}", pure=False,
                                   priority=n - rank)
            futures[future.key] = (i, future)
        for finished, future in enumerate(as_completed([f for _, f in futures.values()], loop=client.loop), start=1):
            i, _ = futures.pop(future.key)
            key = jobs[i][0]
            try:
                value, seconds, address = future.result()
            except Exception as exc:  # noqa: BLE001 - every failure of a task is reported on its outcome
                done[i] = (None, _reason(exc), "", 0.0)
                report(f"[{finished}/{n}] {key} 失败 / failed: {done[i][1]}")
            else:
                done[i] = (value, None, address, seconds)
                report(f"[{finished}/{n}] {key} 完成 / done · {address} · {seconds:.1f} s")
            future.release()  # the client holds the value now: a later worker death must not recompute it
        attempts = _attempts(client, run_id)
        return [
            TaskOutcome(key=key, value=done[i][0], error=done[i][1], worker=done[i][2], attempts=attempts.get(key, 0),
                        seconds=done[i][3])
            for i, (key, _) in enumerate(jobs)
        ]

    def submit(self, fn: Callable, *args):
        """``fn(*args)`` on a worker: a future with ``.result()`` (``concurrent.futures``-like, for the writers)."""
        return self.client.submit(fn, *args, pure=False)

    def scatter(self, value: object):
        """``value`` sent once to every worker (a future the tasks of :meth:`submit` take in its place)."""
        return self.client.scatter(value, broadcast=True, hash=False)


def _close(client, cluster) -> None:
    """Close the client, then the LocalCluster, without a word on stdout/stderr (closing is not news)."""
    for thing in (client, cluster):
        if thing is None:
            continue
        try:
            thing.close()
        except Exception:  # noqa: BLE001, S110 - a cluster already gone cannot be closed twice
            pass
