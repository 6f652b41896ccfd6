"""The Python client against real nexusd daemons (see conftest.py)."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from typing import List

import grpc
import pytest

import nexusd
from conftest import eventually, free_port

FAST = nexusd.Backoff(initial=0.05, max=0.4, multiplier=2, jitter=0.1)


class Recorder:
    """Collects what a subscription's handlers report."""

    def __init__(self):
        self.lock = threading.Lock()
        self.gaps: List[nexusd.Gap] = []
        self.warnings: List[nexusd.BackpressureWarning] = []

    def gap(self, g):
        with self.lock:
            self.gaps.append(g)

    def warn(self, w):
        with self.lock:
            self.warnings.append(w)


def recv(sub: nexusd.Subscription, n: int, timeout: float = 10.0) -> List[nexusd.Message]:
    """n messages from sub, or fail once timeout has passed."""
    deadline = time.monotonic() + timeout
    got = []
    while len(got) < n:
        left = deadline - time.monotonic()
        try:
            got.append(sub.get(timeout=max(left, 0.001)))
        except nexusd.Timeout:
            pytest.fail(f"received {len(got)} of {n} messages within {timeout:g} s: {[m.payload for m in got]}")
    return got


def payloads(prefix: str, lo: int, hi: int) -> List[bytes]:
    return [f"{prefix}{i}".encode() for i in range(lo, hi)]


def publish_all(c: nexusd.Client, topic: str, items: List[bytes]) -> List[str]:
    return [c.publish(topic, p) for p in items]


def test_publish_subscribe_round_trip(daemon):
    with nexusd.Client(daemon.app) as c:
        c.wait_ready(5)
        with c.subscribe(["rt/#"]) as sub:
            assert sub.id
            assert sub.topics == ["rt/#"]
            ids = [
                c.publish("rt/a", p, content_type="text/plain", correlation_id=f"corr{i}")
                for i, p in enumerate(payloads("m", 0, 5))
            ]
            got = recv(sub, 5)
            assert [m.payload for m in got] == payloads("m", 0, 5)
            assert [m.sequence for m in got] == [1, 2, 3, 4, 5]
            assert [m.id for m in got] == ids
            assert all(m.topic == "rt/a" and m.kind == nexusd.LIVE for m in got)
            assert [m.correlation_id for m in got] == [f"corr{i}" for i in range(5)]
            assert got[0].content_type == "text/plain"
            assert got[0].source and got[0].source == c.server_id
            assert abs(got[0].timestamp.timestamp() - time.time()) < 60
            # Another topic is numbered on its own.
            c.publish("rt/b", "text payload")
            (m,) = recv(sub, 1)
            assert (m.topic, m.sequence, m.payload) == ("rt/b", 1, b"text payload")
            assert sub.last_sequences == {"rt/a": 5, "rt/b": 1}
            assert c.get_topics() == {"rt/#": 1}

        # Retained values reach a new subscriber that asks for them.
        c.publish("rt/state", b"on", retain=True)
        with c.subscribe("rt/state", receive_retained=True) as sub2:
            (m,) = recv(sub2, 1)
            assert (m.kind, m.payload) == (nexusd.RETAINED, b"on")

    # After close, the daemon holds no subscription of ours.
    eventually("the daemon to drop the closed subscriptions",
               lambda: daemon.status()["node"]["subscriptions"] == 0 and daemon.status()["node"]["paused"] == 0)


def test_iteration_stops_after_close(daemon):
    with nexusd.Client(daemon.app) as c:
        sub = c.subscribe("it/#")
        c.publish("it/x", b"1")
        c.publish("it/x", b"2")
        eventually("both messages buffered", lambda: len(sub._buf) == 2)
        sub.close()
        assert [m.payload for m in sub] == [b"1", b"2"]  # what was received stays readable
        with pytest.raises(nexusd.ClientClosed):
            sub.get(timeout=1)


def test_publish_batch_reports_failures_by_index(daemon):
    with nexusd.Client(daemon.app) as c, c.subscribe("batch/#") as sub:
        results = c.publish_batch([("batch/a", b"0"), {"topic": "batch/a", "payload": b"1", "content_type": "x/y"}])
        assert [(r.index, r.ok) for r in results] == [(0, True), (1, True)]
        msgs = [
            ("batch/a", b"2"),
            ("batch/a", b"3"),
            ("batch/#", b"bad: a wildcard"),
            ("batch/a", b"4"),
            ("", b"bad: empty"),
            ("batch/a", b"5"),
        ]
        with pytest.raises(nexusd.PublishBatchError) as ei:
            c.publish_batch(msgs)
        err = ei.value
        assert err.failed_indexes == [2, 4]
        assert all(isinstance(f.error, nexusd.InvalidArgument) for f in err.failures)
        assert isinstance(err.failures[0].error, nexusd.InvalidTopic)
        assert err.failures[0].topic == "batch/#" and not err.failures[0].unknown
        assert err.code == grpc.StatusCode.INVALID_ARGUMENT
        assert [r.ok for r in err.results] == [True, True, False, True, False, True]
        got = recv(sub, 6)
        assert [m.payload for m in got] == [b"0", b"1", b"2", b"3", b"4", b"5"]
        assert [m.sequence for m in got] == [1, 2, 3, 4, 5, 6]
        assert got[1].content_type == "x/y"

        # A batch larger than one PublishBatch frame keeps its order.
        big = [("batch/big", str(i).encode()) for i in range(2500)]
        assert len(c.publish_batch(big)) == 2500
        got = recv(sub, 2500, timeout=20)
        assert [m.payload for m in got] == [p for _, p in big]
        assert got[-1].sequence == 2500
        assert c.publish_batch([]) == []
        with pytest.raises(nexusd.InvalidArgument):
            c.publish_batch([("batch/a",)])


def test_pause_and_resume_replay_what_was_missed(daemon):
    rec = Recorder()
    with nexusd.Client(daemon.app) as c, c.subscribe("pr/#", on_gap=rec.gap) as sub:
        publish_all(c, "pr/t", payloads("m", 0, 3))
        assert [m.sequence for m in recv(sub, 3)] == [1, 2, 3]
        sub_id = sub.id

        ttl = sub.pause()
        assert ttl > 0
        assert sub.paused
        with pytest.raises(nexusd.InvalidArgument):
            sub.pause()
        eventually("the daemon to hold the subscription paused", lambda: daemon.status()["node"]["paused"] == 1)
        publish_all(c, "pr/t", payloads("m", 3, 8))
        publish_all(c, "pr/other", payloads("o", 0, 2))
        sub.resume(timeout=10)
        assert not sub.paused
        assert sub.id == sub_id

        got = recv(sub, 7)
        by_topic = {}
        for m in got:
            by_topic.setdefault(m.topic, []).append(m)
        assert [m.payload for m in by_topic["pr/t"]] == payloads("m", 3, 8)
        assert [m.sequence for m in by_topic["pr/t"]] == [4, 5, 6, 7, 8]
        assert [m.sequence for m in by_topic["pr/other"]] == [1, 2]
        assert all(m.kind == nexusd.REPLAYED for m in got)

        c.publish("pr/t", b"live")
        (m,) = recv(sub, 1)
        assert (m.payload, m.sequence, m.kind) == (b"live", 9, nexusd.LIVE)
        assert rec.gaps == []
        assert sub.last_sequences == {"pr/t": 9, "pr/other": 2}
        with pytest.raises(nexusd.InvalidArgument):
            sub.resume()


def test_broken_stream_resumes_and_reports_the_gap_once(daemon_factory, proxy_factory):
    """The daemon's end of the stream closes (the connection is cut); the
    client reconnects with backoff and resumes by id from its last
    sequence numbers. The daemon's ring (10 messages a topic) no longer
    holds some of what was published meanwhile: that gap is reported
    exactly once, the rest is replayed, and live messages follow."""
    d = daemon_factory("--message-buffer-size", "10")
    px = proxy_factory(d.app_port)
    rec = Recorder()
    with nexusd.Client(px.addr, backoff=FAST) as sc, nexusd.Client(d.app) as pub:
        sub = sc.subscribe("cut/#", on_gap=rec.gap)
        sub_id = sub.id
        publish_all(pub, "cut/t", payloads("a", 1, 6))
        assert [m.sequence for m in recv(sub, 5)] == [1, 2, 3, 4, 5]

        px.block(True)
        px.cut()
        eventually("the daemon to keep the subscription paused for its resume",
                   lambda: daemon_paused(d) == (0, 1))
        publish_all(pub, "cut/t", payloads("a", 6, 31))  # 6..30; the ring keeps 21..30
        px.block(False)

        got = recv(sub, 10, timeout=15)
        assert [m.sequence for m in got] == list(range(21, 31))
        assert [m.payload for m in got] == payloads("a", 21, 31)
        assert all(m.kind == nexusd.REPLAYED for m in got)
        publish_all(pub, "cut/t", payloads("a", 31, 36))
        got = recv(sub, 5)
        assert [m.sequence for m in got] == list(range(31, 36))
        assert all(m.kind == nexusd.LIVE for m in got)

        assert sub.id == sub_id  # resumed by id
        assert rec.gaps == [nexusd.Gap(sub_id, "cut/t", 6, 21, 15, "resume")]
        assert sub.last_sequences == {"cut/t": 35}
        assert daemon_paused(d) == (1, 0)


@pytest.mark.parametrize("how", ["terminated", "killed"])
def test_daemon_restart_resumes_and_reports_the_restart_once(daemon, how):
    """The daemon shuts down (its streams end UNAVAILABLE) or is killed, and
    a new run starts on the same ports. The client reconnects, sees a new
    instance, opens the subscription again by its topics from the start of
    each topic, and reports one gap of unknown size for the topic it had
    seen."""
    rec = Recorder()
    with nexusd.Client(daemon.app, backoff=FAST) as sc:
        sub = sc.subscribe(["rs/#"], on_gap=rec.gap)
        with nexusd.Client(daemon.app) as pub:
            publish_all(pub, "rs/t", payloads("a", 0, 3))
        assert [m.sequence for m in recv(sub, 3)] == [1, 2, 3]
        first_run = sc.server_id
        assert first_run

        daemon.stop(signal.SIGTERM if how == "terminated" else signal.SIGKILL)
        daemon.start()
        with nexusd.Client(daemon.app) as pub:
            publish_all(pub, "rs/t", payloads("b", 0, 2))
            got = recv(sub, 2, timeout=15)
            assert [(m.payload, m.sequence) for m in got] == [(b"b0", 1), (b"b1", 2)]
            pub.publish("rs/t", b"b2")
            (m,) = recv(sub, 1)
            assert (m.sequence, m.kind) == (3, nexusd.LIVE)
        assert sc.server_id != first_run
        assert rec.gaps == [nexusd.Gap(sub.id, "rs/t", 4, 0, -1, "restart")]
        assert sub.last_sequences == {"rs/t": 3}
        assert sub.error is None and not sub.closed


def test_typed_errors(daemon):
    with nexusd.Client(daemon.app) as c:
        with pytest.raises(nexusd.InvalidTopic) as ei:
            c.publish("bad/#", b"x")
        assert isinstance(ei.value, nexusd.InvalidArgument)
        assert isinstance(ei.value, nexusd.NexusdError)
        assert isinstance(ei.value, ValueError)
        assert ei.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert ei.value.op == "publish"
        assert "bad/#" in str(ei.value)
        with pytest.raises(nexusd.InvalidTopic):
            c.publish("", b"x")
        with pytest.raises(nexusd.InvalidArgument):
            c.publish("ok/topic", b"x", ttl_ms=-1)
        with pytest.raises(nexusd.InvalidTopic):
            c.subscribe(["a/#/b"])
        with pytest.raises(nexusd.InvalidArgument):
            c.subscribe(["ok/#"], policy="drop-everything")
        with pytest.raises(nexusd.NotFound):
            c._unsubscribe("no-such-subscription", False)
        # The client is still usable after refusals.
        assert c.publish("ok/topic", b"x")


def test_unreachable_daemon_raises_unavailable():
    addr = f"127.0.0.1:{free_port()}"  # nothing listens there
    with nexusd.Client(addr, timeout=3) as c:
        with pytest.raises(nexusd.Unavailable) as ei:
            c.publish("t", b"x")
        assert isinstance(ei.value, ConnectionError)
        assert ei.value.code == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(nexusd.Unavailable):
            c.wait_ready(timeout=0.3)
        with pytest.raises(nexusd.Unavailable):
            c.subscribe("t")
        with pytest.raises(nexusd.Unavailable):
            c.publish_batch([("t", b"x")])
    with pytest.raises(nexusd.ClientClosed):
        c.publish("t", b"x")
    with pytest.raises(nexusd.InvalidArgument):
        nexusd.Client("localhost")


def test_token_accepted_and_refused(daemon_factory):
    d = daemon_factory("--app-token", "s3cret")
    with nexusd.Client(d.app, token="s3cret") as c, c.subscribe("tok/#") as sub:
        c.publish("tok/a", b"hi")
        assert recv(sub, 1)[0].payload == b"hi"
        assert len(c.publish_batch([("tok/a", b"x")])) == 1
    for token in ("wrong", None):
        with nexusd.Client(d.app, token=token) as c:
            with pytest.raises(nexusd.Unauthenticated) as ei:
                c.publish("tok/a", b"x")
            assert ei.value.code == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(nexusd.Unauthenticated):
                c.subscribe("tok/#")
            with pytest.raises(nexusd.Unauthenticated):
                c.publish_batch([("tok/a", b"x")])


def test_unix_socket(daemon_factory, tmp_path):
    path = tmp_path / "app.sock"
    d = daemon_factory("--app-socket", str(path))
    with nexusd.Client(f"unix://{path}") as c, c.subscribe("sock/#") as sub:
        c.wait_ready(5)
        mid = c.publish("sock/a", b"via socket")
        (m,) = recv(sub, 1)
        assert (m.id, m.payload, m.sequence) == (mid, b"via socket", 1)


def test_backpressure_warning_reaches_the_handler(daemon):
    """A subscriber that does not read: the daemon drops the newest
    messages from its small queue and warns; the warning arrives once the
    application reads again, and the dropped messages show as a gap."""
    rec = Recorder()
    with nexusd.Client(daemon.app) as c:
        sub = c.subscribe("bp/#", policy=nexusd.Policy.DROP_NEWEST, queue_limit=5, buffer_size=1,
                          on_backpressure=rec.warn, on_gap=rec.gap)
        c.publish_batch([("bp/t", b"x" * 1024) for _ in range(3000)])
        received = []

        def drained_until_warned():
            try:
                while True:
                    received.append(sub.get(timeout=0.05))
            except nexusd.Timeout:
                pass
            return rec.warnings

        eventually("a backpressure warning", drained_until_warned, timeout=15)
        w = rec.warnings[0]
        assert w.reason == "burst"
        assert w.dropped > 0 and w.total_dropped >= w.dropped
        assert w.queue_limit == 5
        assert w.subscription == sub.id
        assert len(received) < 3000
        sub.close()


def daemon_paused(d):
    node = d.status()["node"]
    return node["subscriptions"], node["paused"]


def test_reconnection_gives_up_after_max_retries(daemon):
    """With max_retries, a subscription whose daemon stays away ends with
    Unavailable once the attempts are spent; iteration raises it."""
    rec = Recorder()
    with nexusd.Client(daemon.app, backoff=FAST, max_retries=3) as c:
        sub = c.subscribe("gone/#", on_gap=rec.gap)
        daemon.stop()
        eventually("the subscription to give up", lambda: sub.error is not None, timeout=15)
        assert isinstance(sub.error, nexusd.Unavailable)
        assert "3 times" in str(sub.error)
        with pytest.raises(nexusd.Unavailable):
            next(iter(sub))
        assert sub.closed
        with pytest.raises(nexusd.NotFound):
            sub.pause()


def test_close_while_reconnecting_ends_at_once(daemon):
    with nexusd.Client(daemon.app, backoff=nexusd.Backoff(initial=0.05, max=0.2)) as c:
        sub = c.subscribe("away/#")
        daemon.stop()
        eventually("the subscription to notice", lambda: not sub._streaming)
        t0 = time.monotonic()
        sub.close()
        assert time.monotonic() - t0 < 3
        assert sub.closed and sub.error is None
        assert list(sub) == []
        assert not sub._thread.is_alive()


def test_default_address_is_the_daemons_default_app_port(nexusd_bin):
    """nexusd.DEFAULT_ADDRESS is where a daemon started without flags serves its sidecar."""
    out = subprocess.run([nexusd_bin, "--help"], capture_output=True, text=True, timeout=10)
    text = out.stdout + out.stderr
    m = re.search(r"--app-port[^\n]*\n?[^\n]*?\(default:? ?\"?(\d+)", text)
    assert m, text
    bind = re.search(r"--app-bind[^\n]*\n?[^\n]*?\(default:? ?\"?([0-9.]+)", text)
    assert bind, text
    assert nexusd.DEFAULT_ADDRESS == f"{bind.group(1)}:{m.group(1)}"
    with nexusd.Client() as c:
        assert c.address == nexusd.DEFAULT_ADDRESS


def test_resume_after_the_pause_ran_out_reopens_by_topics(daemon_factory):
    """When the daemon no longer holds the paused subscription, resume()
    opens it again by its topics and replays what the ring holds after the
    last sequence numbers received: nothing lost, no gap."""
    d = daemon_factory("--paused-subscription-ttl", "1s")
    rec = Recorder()
    with nexusd.Client(d.app) as c, c.subscribe("exp/#", on_gap=rec.gap) as sub:
        publish_all(c, "exp/t", payloads("m", 0, 3))
        assert [m.sequence for m in recv(sub, 3)] == [1, 2, 3]
        old_id = sub.id
        assert 0 < sub.pause() <= 1.0
        publish_all(c, "exp/t", payloads("m", 3, 6))
        eventually("the pause to run out on the daemon", lambda: daemon_paused(d) == (0, 0), timeout=10)
        sub.resume(timeout=10)
        assert sub.id != old_id
        got = recv(sub, 3)
        assert [(m.payload, m.sequence, m.kind) for m in got] == [
            (b"m3", 4, nexusd.REPLAYED), (b"m4", 5, nexusd.REPLAYED), (b"m5", 6, nexusd.REPLAYED)]
        c.publish("exp/t", b"live")
        assert recv(sub, 1)[0].sequence == 7
        assert rec.gaps == []


def test_batched_delivery_keeps_order(daemon):
    """With max_batch the daemon packs live messages into batch events; the
    application still gets them one by one, in order, numbered."""
    with nexusd.Client(daemon.app) as c, c.subscribe("mb/#", max_batch=64) as sub:
        c.publish_batch([("mb/t", str(i).encode()) for i in range(1000)])
        got = recv(sub, 1000)
        assert [m.payload for m in got] == [str(i).encode() for i in range(1000)]
        assert [m.sequence for m in got] == list(range(1, 1001))
