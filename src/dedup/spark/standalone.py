"""A Spark standalone cluster on this machine: one master and a few workers, as separate processes.

For trying the Spark engine on a real multi-process cluster (the tests and
``benchmarks/spark_cluster.py`` use it). The pip package of pyspark has no
``sbin/start-*.sh``, so the daemons are started with ``spark-class``, as
Spark's own scripts do, bound to 127.0.0.1 on free ports:

>>> with start_standalone(workers=2, cores=1, memory="1g") as cluster:  # doctest: +SKIP
...     print(cluster.master)                                           # spark://127.0.0.1:PORT
...     # dedup docs data.jsonl --jsonl --engine spark --spark-master <cluster.master>

Every process started is stopped by its PID when the block ends
(:meth:`Standalone.stop`): SIGTERM, then SIGKILL after a grace period.
Workers stop their executors when they stop.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyspark

from .session import JAVA_17

__all__ = ["Standalone", "spark_class", "start_standalone"]


def spark_class() -> Path:
    """The ``spark-class`` launcher of the installed pyspark."""
    return Path(pyspark.__file__).resolve().parent / "bin" / "spark-class"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Standalone:
    """A running standalone cluster: ``master`` is its ``spark://`` URL; ``pids`` the processes started."""

    master: str
    work_dir: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def stop(self, grace: float = 15.0) -> None:
        """Stop every process started (workers first, then the master), by PID."""
        for p in reversed(self.processes):
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + grace
        for p in reversed(self.processes):
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)

    def __enter__(self) -> Standalone:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_for(log: Path, text: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(encoding="utf-8", errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.2)
    tail = log.read_text(encoding="utf-8", errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"Spark daemon did not report {text!r} within {timeout:.0f} s; log tail:\n{tail}")


def start_standalone(
    workers: int = 2,
    *,
    cores: int = 1,
    memory: str = "1g",
    work_dir: str | os.PathLike | None = None,
    timeout: float = 180.0,
) -> Standalone:
    """Start a master and ``workers`` workers (``cores`` cores and ``memory`` each) on 127.0.0.1.

    Daemons inherit this process's environment, plus ``JAVA_HOME`` (JDK 17
    when unset), ``SPARK_LOCAL_IP=127.0.0.1`` and ``PYSPARK_PYTHON`` (this
    interpreter, so executors run the same dedup). Logs and the workers'
    directories go to ``work_dir`` (a new temporary directory by default).
    Returns once every worker has registered; on failure, whatever was
    started is stopped again.
    """
    work = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="dedup-standalone-"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if "JAVA_HOME" not in env and os.path.isdir(JAVA_17):
        env["JAVA_HOME"] = JAVA_17
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.update(SPARK_LOCAL_IP="127.0.0.1", SPARK_HOME=str(spark_class().parent.parent))
    port = _free_port()
    cluster = Standalone(f"spark://127.0.0.1:{port}", work)

    def launch(name: str, args: list[str]) -> tuple[subprocess.Popen, Path]:
        log = work / f"{name}.log"
        with open(log, "wb") as out:
            # spark-class execs the JVM, so the PID is the daemon's own.
            p = subprocess.Popen(
                ["bash", str(spark_class()), *args], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=work
            )
        cluster.processes.append(p)
        cluster.logs.append(log)
        return p, log

    try:
        master, log = launch(
            "master",
            [
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--webui-port",
                str(_free_port()),
            ],
        )
        _wait_for(log, "I have been elected leader", master, timeout)
        started = []
        for k in range(workers):
            (work / f"worker-{k}").mkdir(exist_ok=True)
            started.append(
                launch(
                    f"worker-{k}",
                    [
                        "org.apache.spark.deploy.worker.Worker",
                        cluster.master,
                        "--host",
                        "127.0.0.1",
                        "--cores",
                        str(cores),
                        "--memory",
                        memory,
                        "--webui-port",
                        str(_free_port()),
                        "--work-dir",
                        str(work / f"worker-{k}"),
                    ],
                )
            )
        for p, log in started:
            _wait_for(log, "Successfully registered with master", p, timeout)
    except BaseException:
        with contextlib.suppress(Exception):
            cluster.stop()
        raise
    return cluster
