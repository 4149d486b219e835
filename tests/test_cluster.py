"""Tasks on Dask (issue #16): a LocalCluster of processes and a real ``dask scheduler`` with ``dask worker`` processes.

The jobs are toy sums (:func:`_dask_cluster.toy_sum`) whose answers are known by hand; a str job raises. Faults are
real: a worker process killed with SIGKILL while its task sleeps (``PLANNER_TASK_DELAY_S``).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from _dask_cluster import dask_processes, kill_worker_running, toy_sum

from planner.errors import PlannerError
from planner.partition.cluster import TaskOutcome, dashboard_available, run_on_cluster

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[1]
JOBS = [("a", (1, 2)), ("b", (3,)), ("bad", "x"), ("d", (4, 5, 6))]
SUMS = {"a": 3, "b": 3, "d": 15}


@pytest.fixture(scope="module")
def local_run() -> tuple[list[TaskOutcome], list[str]]:
    """The four jobs on a LocalCluster of 2 workers (one cluster for the tests that read this run)."""
    lines: list[str] = []
    outcomes = run_on_cluster(toy_sum, JOBS, workers=2, report=lines.append, sizes=[1, 5, 2, 3])
    return outcomes, lines


def test_outcomes_come_back_in_job_order(local_run):
    outcomes, _ = local_run
    assert [o.key for o in outcomes] == ["a", "b", "bad", "d"]
    assert {o.key: o.value["sum"] for o in outcomes if o.ok} == SUMS
    assert all(o.attempts == 1 for o in outcomes)


def test_each_value_names_its_worker_and_time(local_run):
    outcomes, _ = local_run
    for o in outcomes:
        if o.ok:
            assert o.worker.startswith("tcp://127.0.0.1:")
            assert 0 <= o.seconds < 5
    assert len({o.worker for o in outcomes if o.ok}) <= 2


def test_workers_run_one_thread(local_run):
    """A LocalCluster's workers see PLANNER_THREADS=1 (the pipeline reads it: two processes never oversubscribe)."""
    outcomes, _ = local_run
    assert {o.value["threads"] for o in outcomes if o.ok} == {"1"}


def test_an_exception_is_that_job_s_error_in_one_line(local_run):
    outcomes, _ = local_run
    bad = outcomes[2]
    assert (bad.value, bad.worker, bad.seconds) == (None, "", 0.0)
    assert bad.error == "ValueError: 坏任务 x / bad job x"
    assert [o.ok for o in outcomes] == [True, True, False, True]


def test_progress_reports_each_task(local_run):
    _, lines = local_run
    assert lines[0] == "Dask：本机 2 个工作进程 / local cluster of 2 worker processes"
    assert any(line.startswith("Dask 仪表板 / dashboard: http://127.0.0.1:") for line in lines) == dashboard_available()
    finished = [line for line in lines if line.startswith("[")]
    assert [line.split("]")[0] for line in finished] == ["[1/4", "[2/4", "[3/4", "[4/4"]
    assert sorted(line.split()[1] for line in finished) == ["a", "b", "bad", "d"]
    assert sum("失败 / failed" in line for line in finished) == 1


def test_largest_jobs_run_first():
    """One worker runs the tasks one by one: in the order of ``sizes``, largest first, ties in job order."""
    lines: list[str] = []
    jobs = [(k, (i,)) for i, k in enumerate("pqrst")]
    outcomes = run_on_cluster(toy_sum, jobs, workers=1, report=lines.append, sizes=[1, 9, 4, 9, 0.5])
    assert [line.split()[1] for line in lines if line.startswith("[")] == ["q", "s", "r", "p", "t"]
    assert [o.value["sum"] for o in outcomes] == [0, 1, 2, 3, 4]


def test_closing_the_cluster_is_quiet():
    """A run as the CLI makes it, in a process of its own: stdout holds only its report lines, stderr nothing."""
    script = (
        "from _dask_cluster import toy_sum\n"
        "from planner.partition.cluster import run_on_cluster\n"
        "if __name__ == '__main__':\n"
        "    out = run_on_cluster(toy_sum, [('a', (1,)), ('bad', 'x'), ('c', (2, 3))], workers=2)\n"
        "    print([o.error is None for o in out])\n"
    )
    env = {"PYTHONPATH": f"{ROOT / 'tests'}:{ROOT}", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[-1] == "[True, False, True]"
    assert all(line.startswith(("Dask", "[")) for line in lines), lines


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_is_a_clear_error():
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), pytest.raises(PlannerError) as caught:
        run_on_cluster(toy_sum, JOBS, scheduler=f"tcp://127.0.0.1:{_free_port()}")
    assert str(caught.value).startswith("无法连接 Dask 调度器 tcp://127.0.0.1:")
    assert "cannot reach the Dask scheduler" in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"workers": 2, "scheduler": "tcp://127.0.0.1:8786"}, PlannerError, "exactly one of"),
        ({}, PlannerError, "exactly one of"),
        ({"workers": 0}, PlannerError, "positive whole number"),
        ({"scheduler": "tcp://127.0.0.1"}, PlannerError, "写法不对（missing port number"),
        ({"scheduler": "http://127.0.0.1:8786"}, PlannerError, "write it as tcp://HOST:8786"),
        ({"workers": 2, "sizes": [1.0]}, ValueError, "sizes has 1 values for 4 jobs"),
        ({"workers": 2, "jobs": [("a", 1), ("a", 2)]}, ValueError, "repeated: ['a']"),
        ({"workers": 2, "fn": lambda job: job}, TypeError, "module-level function"),
    ],
)
def test_bad_calls_are_refused_before_any_cluster_starts(kwargs, error, words):
    kwargs = {"fn": toy_sum, "jobs": JOBS, **kwargs}
    with pytest.raises(error) as caught:
        run_on_cluster(kwargs.pop("fn"), kwargs.pop("jobs"), **kwargs)
    assert words in str(caught.value)


def test_no_jobs_start_no_cluster():
    assert run_on_cluster(toy_sum, [], workers=4) == []


def _kill_while_running(address: str, key: str, pids: dict[str, int], killed: list) -> threading.Thread:
    def kill() -> None:
        try:
            killed.append(kill_worker_running(address, key, pids))
        except Exception as exc:  # noqa: BLE001 - handed to the test's thread
            killed.append(exc)

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def test_a_killed_worker_s_task_runs_again_on_an_existing_scheduler(capfd):
    """``dask scheduler`` + 2 ``dask worker``: the worker running job "a" is killed mid-task; Dask runs it again.

    The client says nothing of it but its report (the cluster's own logs are the cluster's)."""
    jobs = [("a", (1, 2)), ("b", (3,)), ("c", (4, 5, 6))]
    killed: list = []
    lines: list[str] = []
    with dask_processes(2, env={"PLANNER_TASK_DELAY_S": "1.5"}) as (address, pids):
        thread = _kill_while_running(address, "a", pids, killed)
        outcomes = run_on_cluster(toy_sum, jobs, scheduler=address, report=lines.append, sizes=[3, 2, 1])
        thread.join(timeout=30)
    assert len(killed) == 1 and killed[0] in pids, killed
    assert [o.error for o in outcomes] == [None, None, None]
    assert [o.value for o in outcomes] == [toy_sum(job) | {"threads": "1"} for _, job in jobs]
    assert [o.attempts for o in outcomes] == [2, 1, 1]
    assert outcomes[0].worker != killed[0]
    assert lines[0] == f"Dask 调度器 / scheduler: {address}，2 个工作进程 / workers"
    assert not any("仪表板" in line for line in lines)  # started with --no-dashboard: no link to a page that is not there
    assert capfd.readouterr() == ("", "")


def test_a_task_whose_worker_dies_too_often_fails_alone():
    """A scheduler that allows no failure: the killed worker's job fails with the reason, the other one finishes."""
    killed: list = []
    env = {"PLANNER_TASK_DELAY_S": "1", "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    with dask_processes(2, env=env) as (address, pids):
        thread = _kill_while_running(address, "z", pids, killed)
        outcomes = run_on_cluster(toy_sum, [("z", (7,)), ("y", (8,))], scheduler=address, report=lambda line: None)
        thread.join(timeout=30)
    assert len(killed) == 1 and killed[0] in pids, killed
    z, y = outcomes
    assert (z.value, z.worker, z.attempts) == (None, "", 1)
    assert z.error.startswith("运行此任务的工作进程先后 1 次中断")
    assert "the worker running it died 1 times" in z.error
    assert (y.error, y.value["sum"], y.attempts) == (None, 8, 1)


def test_a_planner_error_is_its_own_bilingual_message():
    """A PlannerError from ``fn`` (bad input named for a person) keeps its text, on one line; others name their type."""
    from planner.partition.cluster import _reason

    assert _reason(PlannerError("分区 玄武区 没有可步行道路\n/ partition 玄武区 has no walkable ways")) == (
        "分区 玄武区 没有可步行道路 / partition 玄武区 has no walkable ways")
    assert _reason(KeyError("gate_id")) == "KeyError: 'gate_id'"
    assert _reason(MemoryError()) == "MemoryError"
