"""Fixtures: real nexusd daemons on 127.0.0.1, in a private network namespace.

The daemon is NEXUSD_BIN, or built once per session from the repository
(go build ./cmd/nexusd). Daemons beacon on loopback only (--mcast-iface
lo) and listen on 127.0.0.1. The tests refuse to run in the machine's own
network namespace: run them with `make test-python` (as root), which
makes a private one with `unshare -n`.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable, List, Optional

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the package under test, not an installed one

REPO = HERE.parent.parent.parent


def _private_netns() -> Optional[str]:
    """None when this process is in a network namespace of its own; else why not."""
    if os.environ.get("NEXUSD_TEST_NETNS") == "1":
        return None
    try:
        mine = os.stat("/proc/self/ns/net").st_ino
        init = os.stat("/proc/1/ns/net").st_ino
    except OSError as e:
        return f"cannot compare network namespaces ({e})"
    if mine == init:
        return "this is the machine's own network namespace"
    return None


def pytest_collection_modifyitems(config, items):
    why = _private_netns()
    if why is None:
        return
    skip = pytest.mark.skip(reason=f"nexusd tests run daemons only in a private network namespace ({why}): "
                                   "run `make test-python` as root")
    for item in items:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def nexusd_bin(tmp_path_factory) -> str:
    path = os.environ.get("NEXUSD_BIN")
    if path:
        if not os.access(path, os.X_OK):
            pytest.fail(f"NEXUSD_BIN={path} is not an executable")
        return path
    go = shutil.which("go") or "/usr/local/go/bin/go"
    out = tmp_path_factory.mktemp("bin") / "nexusd"
    r = subprocess.run([go, "build", "-o", str(out), "./cmd/nexusd"], cwd=REPO, capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"go build ./cmd/nexusd failed (set NEXUSD_BIN to a built daemon):\n{r.stderr}")
    return str(out)


_handed_out: set = set()


def free_ports(n: int) -> List[int]:
    """n distinct loopback TCP ports the kernel calls unused, none handed out
    before in this session. The sockets stay bound until all n are chosen:
    asked one at a time, the kernel may give the same port twice."""
    held: List[socket.socket] = []
    ports: List[int] = []
    try:
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(s)
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            if port not in _handed_out:
                _handed_out.add(port)
                ports.append(port)
    finally:
        for s in held:
            s.close()
    return ports


def free_port() -> int:
    return free_ports(1)[0]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eventually(what: str, cond: Callable[[], object], timeout: float = 10.0, interval: float = 0.02):
    """Poll cond until it returns a true value (returned) or raises nothing
    false-y; fail with what after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - reported at the deadline
            last = e
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}" + (f": {last!r}" if last else ""))
        time.sleep(interval)


_clusters = itertools.count()


class Daemon:
    """One nexusd process on 127.0.0.1 with fresh ports; restart() keeps them."""

    def __init__(self, binary: str, workdir: Path, args: List[str]):
        self.binary = binary
        self.workdir = workdir
        self.app_port, self.mesh_port, self.http_port = free_ports(3)
        self.mcast_port = free_udp_port()
        self.cluster = f"pytest-{os.getpid()}-{next(_clusters)}"
        self.extra = list(args)
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = workdir / f"{self.cluster}.log"

    @property
    def app(self) -> str:
        return f"127.0.0.1:{self.app_port}"

    def argv(self) -> List[str]:
        return [
            self.binary,
            "--cluster", self.cluster,
            "--bind", "127.0.0.1",
            "--mcast-iface", "lo",
            "--mcast-port", str(self.mcast_port),
            "--mesh-port", str(self.mesh_port),
            "--app-port", str(self.app_port),
            "--http-addr", f"127.0.0.1:{self.http_port}",
            "--log-level", "debug",
            *self.extra,
        ]

    def start(self) -> "Daemon":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        log.close()
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        def ready():
            if self.proc.poll() is not None:
                pytest.fail(f"nexusd exited with {self.proc.returncode}:\n{self.log()}")
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/readyz", timeout=2) as r:
                return r.status == 200

        eventually("the daemon to be ready (/readyz)", ready, timeout)

    def status(self) -> dict:
        import json

        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/api/status", timeout=3) as r:
            return json.load(r)

    def stop(self, sig=signal.SIGTERM, timeout: float = 6.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> "Daemon":
        self.stop()
        return self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except OSError:
            return ""


@pytest.fixture
def daemon_factory(nexusd_bin, tmp_path, request):
    started: List[Daemon] = []

    def make(*args: str) -> Daemon:
        d = Daemon(nexusd_bin, tmp_path, list(args))
        started.append(d)
        return d.start()

    yield make
    for d in started:
        d.stop()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for d in started:
            print(f"--- log of daemon {d.cluster} ---\n{d.log()}")


@pytest.fixture
def daemon(daemon_factory) -> Daemon:
    return daemon_factory()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


class Proxy:
    """A TCP proxy on 127.0.0.1 in front of a daemon's app port, so a test
    can break the client's connection: cut() closes every connection
    (both sides: the daemon sees the stream end), and while blocked new
    connections are closed at once."""

    def __init__(self, target_port: int):
        self.target = ("127.0.0.1", target_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.blocked = False
        self.lock = threading.Lock()
        self.conns: List[socket.socket] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if self.blocked:
                c.close()
                continue
            try:
                u = socket.create_connection(self.target, timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            threading.Thread(target=self._pipe, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                dst.sendall(b)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def block(self, on: bool) -> None:
        self.blocked = on

    def cut(self) -> None:
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.sock.close()


@pytest.fixture
def proxy_factory():
    made: List[Proxy] = []

    def make(port: int) -> Proxy:
        p = Proxy(port)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()
