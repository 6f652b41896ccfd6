"""Request/reply against real daemons (see conftest.py)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import nexusd
from conftest import Daemon, eventually


@pytest.fixture
def pair(nexusd_bin, tmp_path):
    """Two daemons of one cluster that find each other over loopback."""
    a = Daemon(nexusd_bin, tmp_path, [])
    b = Daemon(nexusd_bin, tmp_path, [])
    b.cluster, b.mcast_port, b.log_path = a.cluster, a.mcast_port, tmp_path / f"{a.cluster}-b.log"
    a.start()
    b.start()
    yield a, b
    for d in (a, b):
        d.stop()


def responder(c: nexusd.Client, pattern: str, answer):
    """Answers every request on pattern with answer(msg) until the
    subscription closes; returns the subscription."""
    sub = c.subscribe(pattern)

    def run():
        for m in sub:
            c.reply(m, answer(m))

    threading.Thread(target=run, daemon=True).start()
    return sub


def test_request_reply_across_two_daemons(pair):
    a, b = pair
    with nexusd.Client(a.app) as req, nexusd.Client(b.app) as resp:
        sub = responder(resp, "svc/echo", lambda m: m.payload.upper())
        # a routes svc/echo to b once it has b's subscription by gossip.
        eventually("a to route svc/echo to b",
                   lambda: any("svc/echo" in p["topics"] for p in req.get_peers(include_state=True)))
        # And b must know a: a reply goes only to a daemon known now
        # (docs/protocol.md 4.6), and b may have missed a's first beacon.
        eventually("b to know a",
                   lambda: any(p["instance_uuid"] == req.server_id for p in resp.get_peers()))
        m = req.request("svc/echo", b"hello", timeout=5)
        assert m.payload == b"HELLO"
        assert m.topic.startswith(f"_inbox/{req.server_id}/")
        assert m.source == resp.server_id
        assert m.correlation_id
        # One after another through the same inbox.
        for i in range(5):
            assert req.request("svc/echo", f"m{i}", timeout=5).payload == f"M{i}".encode()
        sub.close()


def test_no_responders_fails_at_once(daemon):
    with nexusd.Client(daemon.app) as c:
        start = time.monotonic()
        with pytest.raises(nexusd.NoResponders) as e:
            c.request("nobody/listens", b"?", timeout=30)
        assert time.monotonic() - start < 10  # not the request's timeout
        assert isinstance(e.value, nexusd.NexusdError)
        assert "no responders for topic 'nobody/listens'" in str(e.value)


def test_request_times_out_without_a_reply(daemon):
    with nexusd.Client(daemon.app) as c, c.subscribe("svc/silent") as sub:
        with pytest.raises(nexusd.Timeout):
            c.request("svc/silent", b"?", timeout=0.3)
        # The responder saw the request and its reply address.
        (m,) = [sub.get(timeout=5)]
        assert m.reply_to.startswith(f"_inbox/{c.server_id}/")


def test_concurrent_requests_each_get_their_own_reply(daemon):
    with nexusd.Client(daemon.app) as c:
        sub = responder(c, "svc/double", lambda m: str(int(m.payload) * 2))
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(lambda i: c.request("svc/double", str(i), timeout=10).payload, range(40)))
        assert got == [str(i * 2).encode() for i in range(40)]
        sub.close()


def test_reply_needs_a_request(daemon):
    with nexusd.Client(daemon.app) as c:
        with pytest.raises(nexusd.InvalidArgument):
            c.reply(nexusd.Message(id="x", topic="t", payload=b""), b"answer")
        # A plain publish carries no reply address.
        with c.subscribe("svc/plain") as sub:
            c.publish("svc/plain", b"not a request")
            m = sub.get(timeout=5)
            assert m.reply_to == ""
