"""A real Dask cluster of processes for tests: ``dask scheduler`` and ``dask worker`` started as subprocesses.

:func:`dask_processes` starts them on localhost, waits until every worker has registered and yields the scheduler's
address with ``{worker address: worker pid}``; :func:`kill_worker_running` kills the worker process that runs a
job's task (as a machine lost mid-run). The toy jobs below are module-level so that workers import them by reference.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def toy_sum(job: object) -> dict:
    """A job is a tuple of numbers: their sum (and what the worker's ``PLANNER_THREADS`` says); a str job is bad."""
    if isinstance(job, str):
        raise ValueError(f"坏任务 {job}\n/ bad job {job}")
    return {"sum": sum(job), "threads": os.environ.get("PLANNER_THREADS")}


def _worker_env(extra: dict[str, str] | None) -> dict[str, str]:
    """This process's environment with the tests folder and the repository importable (``toy_sum``, ``planner``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["PLANNER_THREADS"] = "1"  # as a LocalCluster's workers: one task at a time on one core
    env.update(extra or {})
    return env


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM it when the test process dies, even killed (no stray clusters)."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stop(procs: list[subprocess.Popen]) -> None:
    """Terminate every process group (a worker's nanny and its worker process), then kill what is left; reap all."""
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 10
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(p.pid, signal.SIGKILL)  # also a worker process its nanny left behind
        except (ProcessLookupError, PermissionError):
            pass
        p.wait()


@contextmanager
def dask_processes(n_workers: int = 2, env: dict[str, str] | None = None, timeout: float = 60.0) -> Iterator[tuple[str, dict[str, int]]]:
    """Start ``dask scheduler`` and ``n_workers`` × ``dask worker --nthreads 1`` on localhost.

    Workers get ``PLANNER_THREADS=1`` as in a LocalCluster. ``env`` is added to the environment of all of them (e.g. ``PLANNER_TASK_DELAY_S`` for the workers, or
    ``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES`` for the scheduler). Yields ``(address, {worker: pid})``.
    """
    from distributed import Client

    folder = Path(tempfile.mkdtemp(prefix="planner-dask-"))
    scheduler_file = folder / "scheduler.json"
    penv = _worker_env(env)
    procs: list[subprocess.Popen] = []
    logs = []

    def start(args: list[str], name: str) -> None:
        log = open(folder / f"{name}.log", "wb")  # noqa: SIM115 - closed in finally
        logs.append(log)
        procs.append(subprocess.Popen([sys.executable, "-m", *args], cwd=folder, env=penv, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent))

    def failed(what: str) -> RuntimeError:
        text = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in sorted(folder.glob("*.log")))
        return RuntimeError(f"{what}\n{text}")

    try:
        start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file", str(scheduler_file),
               "--no-dashboard"], "scheduler")
        deadline = time.monotonic() + timeout
        address = None
        while address is None:
            if procs[0].poll() is not None or time.monotonic() > deadline:
                raise failed("dask scheduler did not start")
            try:
                address = json.loads(scheduler_file.read_text())["address"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.1)
        for i in range(n_workers):
            start(["distributed.cli.dask_worker", "--nthreads", "1", "--scheduler-file", str(scheduler_file), "--no-dashboard",
                   "--local-directory", str(folder / f"w{i}"), "--host", "127.0.0.1"], f"worker{i}")
        with Client(address, timeout=timeout, set_as_default=False) as client:
            try:
                client.wait_for_workers(n_workers, timeout=timeout)
            except TimeoutError:
                raise failed(f"{n_workers} dask workers did not register") from None
            pids = client.run(os.getpid)
        yield address, pids
    finally:
        _stop(procs)
        for log in logs:
            log.close()
        shutil.rmtree(folder, ignore_errors=True)


def kill_worker_running(client_or_address, key: str, pids: dict[str, int], *, timeout: float = 60.0, after: int = 0) -> str:
    """SIGKILL the worker process running job ``key`` once its task has started; the killed worker's address.

    A start is the ``planner-task`` event the task logs on the scheduler; ``after`` skips that many earlier starts
    of the same job (``after=1`` kills the second attempt). ``pids`` maps worker addresses to process ids.
    """
    from distributed import Client

    from planner.partition.cluster import EVENT_TOPIC

    own = isinstance(client_or_address, str)
    client = Client(client_or_address, timeout=timeout, set_as_default=False) if own else client_or_address
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            starts = [msg for _, msg in client.get_events(EVENT_TOPIC) if isinstance(msg, dict) and msg.get("key") == key]
            if len(starts) > after:
                worker = starts[after]["worker"]
                os.kill(pids.get(worker, starts[after]["pid"]), signal.SIGKILL)
                return worker
            time.sleep(0.05)
        raise TimeoutError(f"job {key!r} did not start within {timeout} s")
    finally:
        if own:
            client.close()
