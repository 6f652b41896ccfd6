"""Packed frames on the wire, from docs/packed.md alone (see conftest.py).

An encoder and a decoder written from the document (not from the Go
package), checked against the document's own examples and id vectors, then
against a real daemon: PublishPacked (acks, credit, failures by index,
malformed frames) and SubscribePacked (every field a subscriber's record
carries, compared with what v1 Subscribe and Publish report for the same
messages).
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
import time
from typing import Dict, List, Optional

import grpc
import pytest

from conftest import eventually
from nexusd._pb import sidecar_pb2 as pb
from nexusd._pb import sidecar_pb2_grpc as pb_grpc

# ---------------------------------------------------------------------------
# The format (docs/packed.md "Conventions", "Frame", "Record flags and fields")

M64 = (1 << 64) - 1
TS, SEQ, NUM, SRC, RETAIN, CTYPE, CORR, TTL, PREV, ID, DROPPED, SYNC, REPLY, GROUPS = (1 << b for b in range(14))

# What each flag's field is: "z" zigzag varint, "u" varint, "s" string, "g" groups, None: no field.
KINDS = {TS: "z", SEQ: "z", NUM: "z", SRC: "u", RETAIN: None, CTYPE: "s", CORR: "s", TTL: "u",
         PREV: "u", ID: "s", DROPPED: "u", SYNC: None, REPLY: "s", GROUPS: "g"}

# "What a reader refuses", limits table (defaults).
LIMITS = dict(frame=4 << 20, records=65536, topics=1024, sources=256, payload=1 << 20, topic=256,
              node=64, id=128, ctype=256, corr=1024, reply=256, groups=64, group=128)

INVALID_ARGUMENT = 3  # gRPC code number, as PackedFailure.code carries it
INITIAL_WINDOW = 4096
ACK_WINDOW = 8192  # what this daemon's acks give, 4096 while it pushes to peers (docs/packed.md "Acknowledgement and credit")


def derive_id(node_id: str, epoch: int, number: int) -> str:
    """docs/packed.md "Message ids": SHA-256 of node id and epoch, version 4, variant, 48-bit number."""
    h = hashlib.sha256(node_id.encode() + epoch.to_bytes(8, "big")).digest()
    b = bytearray(h[:10]) + number.to_bytes(6, "big")
    b[6] = 0x40 | (b[6] & 0x0F)
    b[8] = 0x80 | (b[8] & 0x3F)
    x = b.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


# ---- encoder ---------------------------------------------------------------
#
# A record is a dict: topic, payload, and optionally timestamp_ms, seq, prev,
# dropped_from, source ((node_id, epoch)), number, message_id (explicit ID),
# content_type, correlation_id, ttl_ms, retain, sync_only, reply_to,
# queue_groups. Like the Go encoder it lists topics and sources in first-use
# order, sets each base to the first value that needs it, and sets a flag only
# when a value differs from what the chain predicts.


def put_uvarint(out: bytearray, v: int) -> None:
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)


def zigzag(delta: int) -> int:
    d = delta & M64
    d = d - (1 << 64) if d >> 63 else d  # the difference read as int64
    return ((d << 1) ^ (d >> 63)) & M64


def put_string(out: bytearray, s: str) -> None:
    b = s.encode()
    put_uvarint(out, len(b))
    out += b


def encode_frame(records: List[dict]) -> bytes:
    topics: Dict[str, list] = {}   # name -> [index, base, next]
    sources: Dict[tuple, list] = {}  # (node, epoch) -> [index, base, next]
    for r in records:
        if r["topic"] not in topics:
            topics[r["topic"]] = [len(topics), r.get("seq", 0) & M64, None]
        if "source" in r:
            s = sources.setdefault(r["source"], [len(sources), None, None])
            if s[1] is None and r.get("message_id") is None:
                s[1] = r["number"]
    for e in list(topics.values()) + list(sources.values()):
        e[1] = e[1] or 0
        e[2] = e[1]
    ts = base_ts = records[0].get("timestamp_ms", 0) if records else 0
    out = bytearray([1])
    put_uvarint(out, len(records))
    put_uvarint(out, zigzag(base_ts))
    put_uvarint(out, len(sources))
    for (node, epoch), s in sources.items():
        put_string(out, node)
        put_uvarint(out, epoch)
        put_uvarint(out, s[1])
    put_uvarint(out, len(topics))
    for name, t in topics.items():
        put_string(out, name)
        put_uvarint(out, t[1])
    for r in records:
        t = topics[r["topic"]]
        f = {}
        if r.get("timestamp_ms", 0) != ts:
            f[TS] = zigzag(r.get("timestamp_ms", 0) - ts)
            ts = r.get("timestamp_ms", 0)
        seq = r.get("seq", 0) & M64
        if seq != t[2]:
            f[SEQ] = zigzag(seq - t[2])
        t[2] = 0 if seq == 0 else (seq + 1) & M64
        if "source" in r:
            s = sources[r["source"]]
            if s[0]:
                f[SRC] = s[0]
            if r.get("message_id") is not None:
                f[ID] = r["message_id"]
            else:
                if r["number"] != s[2]:
                    f[NUM] = zigzag(r["number"] - s[2])
                s[2] = (r["number"] + 1) & M64
        elif r.get("message_id") is not None:
            f[ID] = r["message_id"]
        for flag, key in ((RETAIN, "retain"), (SYNC, "sync_only")):
            if r.get(key):
                f[flag] = None
        for flag, key in ((CTYPE, "content_type"), (CORR, "correlation_id"), (TTL, "ttl_ms"),
                          (DROPPED, "dropped_from"), (REPLY, "reply_to"), (GROUPS, "queue_groups")):
            if r.get(key):
                f[flag] = r[key]
        if r.get("prev", (seq - 1 if seq else 0)) != (seq - 1 if seq else 0):
            f[PREV] = r["prev"]
        body = bytearray()
        put_uvarint(body, sum(f))
        put_uvarint(body, t[0])
        for flag in sorted(f):  # fields in ascending bit order
            kind, v = KINDS[flag], f[flag]
            if kind in ("z", "u"):
                put_uvarint(body, v)
            elif kind == "s":
                put_string(body, v)
            elif kind == "g":
                put_uvarint(body, len(v))
                for g in v:
                    put_string(body, g)
        body += r["payload"]
        put_uvarint(out, len(body))
        out += body
    return bytes(out)


# ---- decoder ---------------------------------------------------------------


class FrameError(Exception):
    """A refused frame: limit is True for a well-formed frame over a limit (RESOURCE_EXHAUSTED)."""

    def __init__(self, what: str, record: Optional[int] = None, limit: bool = False):
        super().__init__(f"{'header' if record is None else f'record {record}'}: {what}")
        self.record, self.limit = record, limit


class _Reader:
    def __init__(self, b: bytes, p: int, end: int, record: Optional[int]):
        self.b, self.p, self.end, self.record = b, p, end, record

    def fail(self, what, limit=False):
        raise FrameError(what, self.record, limit)

    def uvarint(self) -> int:
        v, shift, start = 0, 0, self.p
        while True:
            if self.p >= self.end:
                self.fail("truncated varint")
            c = self.b[self.p]
            self.p += 1
            if shift == 63 and c > 1:
                self.fail("varint longer than 64 bits")
            v |= (c & 0x7F) << shift
            if c < 0x80:
                if c == 0 and self.p - start > 1:
                    self.fail("varint not minimal")
                return v
            shift += 7

    def zigzag(self) -> int:
        z = self.uvarint()
        return (z >> 1) ^ -(z & 1)

    def string(self, limit: int, nonempty: bool, what: str) -> str:
        n = self.uvarint()
        if n > self.end - self.p:
            self.fail(f"{what} runs past the end")
        if n > limit:
            self.fail(f"{what} of {n} bytes, over {limit}", limit=True)
        if nonempty and n == 0:
            self.fail(f"empty {what}")
        try:
            s = self.b[self.p:self.p + n].decode("utf-8")
        except UnicodeDecodeError:
            self.fail(f"{what} not UTF-8")
        self.p += n
        return s


def decode_frame(b: bytes, lim: dict = LIMITS) -> List[dict]:
    """Validates the whole frame, then returns its records (dicts, as encode_frame takes plus flags)."""
    if len(b) > lim["frame"]:
        raise FrameError(f"frame of {len(b)} bytes", limit=True)
    r = _Reader(b, 0, len(b), None)
    if not b or b[0] != 1:
        r.fail("version not 1")
    r.p = 1
    count = r.uvarint()
    if count > lim["records"]:
        r.fail(f"{count} records", limit=True)
    ts = r.zigzag() & M64
    sources, topics = [], []
    n = r.uvarint()
    if n > lim["sources"]:
        r.fail(f"{n} sources", limit=True)
    for _ in range(n):
        node, epoch, base = r.string(lim["node"], True, "node id"), r.uvarint(), r.uvarint()
        if any(s[:2] == [node, epoch] for s in sources):
            r.fail("source twice")
        sources.append([node, epoch, base])
    n = r.uvarint()
    if n > lim["topics"]:
        r.fail(f"{n} topics", limit=True)
    for _ in range(n):
        name, base = r.string(lim["topic"], True, "topic"), r.uvarint()
        if any(t[0] == name for t in topics):
            r.fail("topic twice")
        topics.append([name, base])
    out = []
    for i in range(count):
        r.record = i
        length = r.uvarint()
        if length < 2:
            r.fail("record length below 2")
        if length > r.end - r.p:
            r.fail("record runs past the end of the frame")
        rec = _Reader(b, r.p, r.p + length, i)
        r.p += length
        flags = rec.uvarint()
        if flags >> 14:
            rec.fail("reserved flag bit")
        t = rec.uvarint()
        if t >= len(topics):
            rec.fail("topic index out of range")
        f = {}
        for flag in sorted(KINDS):
            if not flags & flag:
                continue
            kind = KINDS[flag]
            if kind == "z":
                f[flag] = rec.zigzag()
            elif kind == "u":
                f[flag] = rec.uvarint()
            elif kind == "s":
                name, size, nonempty = {CTYPE: ("content type", "ctype", False), CORR: ("correlation id", "corr", False),
                                        ID: ("explicit id", "id", True), REPLY: ("reply_to", "reply", True)}[flag]
                f[flag] = rec.string(lim[size], nonempty, name)
            elif kind == "g":
                n = rec.uvarint()
                if n == 0:
                    rec.fail("GROUPS count 0")
                if n > lim["groups"]:
                    rec.fail(f"{n} queue groups", limit=True)
                f[flag] = [rec.string(lim["group"], True, "queue group") for _ in range(n)]
        payload = b[rec.p:rec.end]
        if len(payload) > lim["payload"]:
            rec.fail(f"payload of {len(payload)} bytes", limit=True)
        ts = (ts + f.get(TS, 0)) & M64
        seq = (topics[t][1] + f.get(SEQ, 0)) & M64
        topics[t][1] = 0 if seq == 0 else (seq + 1) & M64
        prev = f.get(PREV, seq - 1 if seq else 0)
        if PREV in f and (prev >= seq if seq else prev != 0):
            rec.fail("PREV not below the sequence")
        if f.get(DROPPED, 0) > prev:
            rec.fail("dropped_from above prev")
        if f.get(TTL, 0) > (1 << 63) - 1:
            rec.fail("ttl above 2^63-1")
        d = dict(topic=topics[t][0], payload=payload, timestamp_ms=ts - (1 << 64) if ts >> 63 else ts, seq=seq,
                 prev=prev, dropped_from=f.get(DROPPED, 0), source=None, epoch=None, number=None,
                 message_id=f.get(ID), content_type=f.get(CTYPE, ""), correlation_id=f.get(CORR, ""),
                 ttl_ms=f.get(TTL, 0), retain=bool(flags & RETAIN), sync_only=bool(flags & SYNC),
                 reply_to=f.get(REPLY, ""), queue_groups=f.get(GROUPS, []), flags=flags)
        if not sources:
            if SRC in f or NUM in f:
                rec.fail("SRC or NUM in a sourceless frame")
        else:
            s = f.get(SRC, 0)
            if s >= len(sources):
                rec.fail("source index out of range")
            src = sources[s]
            d["source"], d["epoch"] = src[0], src[1]
            if ID in f:
                if NUM in f:
                    rec.fail("NUM with ID")
            else:
                number = (src[2] + f.get(NUM, 0)) & M64
                if not 1 <= number < 1 << 48:
                    rec.fail(f"number {number} out of 1 .. 2^48-1")
                src[2] = (number + 1) & M64
                d["number"], d["message_id"] = number, derive_id(src[0], src[1], number)
        out.append(d)
    if r.p != len(b):
        r.record = None
        r.fail("bytes after the last record")
    return out


# ---------------------------------------------------------------------------
# The document's own examples (docs/packed.md "Message ids", "Example")

GOLDEN = bytes.fromhex(
    "01" "04" "80a0abfef962" "02" "026e31" "0001" "026e32" "0300" "02" "03612f62" "01" "0163" "07"
    "0400006869" "040000796f"
    "12b50a010a020a746578742f706c61696e0504"
    "0b991400d90f0103782d3176"
)
GOLDEN_RECORDS = [
    dict(topic="a/b", payload=b"hi", timestamp_ms=1700000000000, seq=1, source=("n1", 0), number=1),
    dict(topic="a/b", payload=b"yo", timestamp_ms=1700000000000, seq=2, source=("n1", 0), number=2),
    dict(topic="c", payload=b"", timestamp_ms=1700000000005, seq=7, prev=5, dropped_from=4, source=("n1", 0),
         number=4, content_type="text/plain", retain=True),
    dict(topic="a/b", payload=b"v", timestamp_ms=1699999999000, seq=3, source=("n2", 3), message_id="x-1",
         retain=True, sync_only=True),
]
PUBLISH_EXAMPLE = bytes.fromhex("0102000001017400" "03000031" "09c00100026331f40332")


def test_derived_ids_match_the_document():
    assert derive_id("n1", 0, 1) == "807d4ebc-93b8-4504-a95c-000000000001"
    assert derive_id("n1", 0, 2) == "807d4ebc-93b8-4504-a95c-000000000002"
    assert derive_id("n1", 1, 1) == "3e64fd80-5f0a-45c0-afa9-000000000001"
    assert derive_id("9f2c0a1e-6b3d-4c55-8e21-0d7f3a9b1c44", 0, 2**48 - 1) == "db83ac20-2b76-4d01-83c0-ffffffffffff"


def test_codec_reproduces_the_document_examples():
    assert encode_frame(GOLDEN_RECORDS) == GOLDEN
    got = decode_frame(GOLDEN)
    for g, want in zip(got, GOLDEN_RECORDS):
        w = dict(want)
        assert (g["source"], g["epoch"]) == w.pop("source")
        assert {k: g[k] for k in w} == w
    assert [g["message_id"] for g in got][:3] == [derive_id("n1", 0, n) for n in (1, 2, 4)]
    assert [g["prev"] for g in got] == [0, 1, 5, 2]
    assert [g["flags"] for g in got] == [0, 0, 0x535, 0xA19]

    pub = [dict(topic="t", payload=b"1"), dict(topic="t", payload=b"2", correlation_id="c1", ttl_ms=500)]
    assert encode_frame(pub) == PUBLISH_EXAMPLE
    got = decode_frame(PUBLISH_EXAMPLE)
    assert [(g["payload"], g["correlation_id"], g["ttl_ms"], g["seq"], g["message_id"]) for g in got] == [
        (b"1", "", 0, 0, None), (b"2", "c1", 500, 0, None)]


def test_decoder_refuses_what_the_document_lists():
    ok = encode_frame([dict(topic="t", payload=b"x")])  # 01 01 00 00 01 01 74 00 | 03 00 00 78
    assert decode_frame(ok)[0]["payload"] == b"x"
    bad = {
        "version": b"\x02" + ok[1:],
        "varint not minimal": ok[:1] + b"\x81\x00" + ok[2:],
        "trailing bytes": ok + b"\x00",
        "truncated": ok[:-2],
        "flag bit 14": ok[:8] + b"\x05\x80\x80\x01\x00x",
        "record length 1": ok[:8] + b"\x01\x00",
        "topic index": ok[:8] + b"\x03\x00\x01x",
        "NUM sourceless": ok[:8] + b"\x04\x04\x00\x02x",
        "empty topic": bytes.fromhex("01010000010000") + b"\x03\x00\x00x",
        "topic twice": bytes.fromhex("010100000201740001740003000078"),
        "PREV not below seq": encode_frame([dict(topic="t", payload=b"x", seq=3, prev=3)]),
        "number 0": encode_frame([dict(topic="t", payload=b"x", source=("n", 0), number=0)]),
    }
    for name, frame in bad.items():
        with pytest.raises(FrameError) as ei:
            decode_frame(frame)
        assert not ei.value.limit, name
    with pytest.raises(FrameError) as ei:
        decode_frame(encode_frame([dict(topic="t" * 257, payload=b"")]))
    assert ei.value.limit


# ---------------------------------------------------------------------------
# Talking to the daemon

OPTIONS = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]


class Stream:
    """A server stream read by a thread into a queue, so a test waits with deadlines."""

    def __init__(self, call):
        self.call = call
        self.q: "queue.Queue" = queue.Queue()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        try:
            for ev in self.call:
                self.q.put(ev)
        except grpc.RpcError as e:
            self.q.put(e)
            return
        self.q.put(None)

    def next(self, timeout: float = 10.0):
        """The next event; an RpcError or None (a clean end) when the stream ended."""
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no event within {timeout:g} s")

    def end(self, timeout: float = 10.0) -> grpc.RpcError:
        """Skips events until the stream ends with an error status; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            ev = self.next(max(deadline - time.monotonic(), 0.001))
            if ev is None:
                pytest.fail("the stream ended with OK")
            if isinstance(ev, grpc.RpcError):
                return ev


class Publisher:
    """One PublishPacked stream: send() frames, acks() reads PackedAcks."""

    def __init__(self, stub, metadata=None):
        self.out: "queue.Queue" = queue.Queue()

        def requests():
            while (f := self.out.get()) is not None:
                yield pb.PackedFrame(frame=f)

        self.stream = Stream(stub.PublishPacked(requests(), metadata=metadata))

    def send(self, frame: bytes) -> None:
        self.out.put(frame)

    def acks_until(self, accepted: int, timeout: float = 10.0) -> List[pb.PackedAck]:
        """The acks up to the first whose accepted reaches accepted; each checked as the doc says."""
        deadline, acks = time.monotonic() + timeout, []
        while not acks or acks[-1].accepted < accepted:
            ev = self.stream.next(max(deadline - time.monotonic(), 0.001))
            if not isinstance(ev, pb.PackedAck):
                pytest.fail(f"PublishPacked ended before accepted reached {accepted}: {ev!r}")
            assert ev.window in (INITIAL_WINDOW, ACK_WINDOW), "this daemon's acks offer 8192 (4096 while it pushes to peers)"
            assert not acks or ev.accepted >= acks[-1].accepted, "accepted never decreases"
            lo = acks[-1].accepted if acks else 0
            assert all(lo <= f.index < ev.accepted for f in ev.failures), "failures lie in [previous, accepted)"
            assert [f.index for f in ev.failures] == sorted(f.index for f in ev.failures)
            acks.append(ev)
        return acks

    def close(self) -> None:
        self.out.put(None)
        self.stream.call.cancel()


@pytest.fixture
def conn(daemon):
    """(stub, instance id) for a fresh daemon, whose message numbers start at 1."""
    with grpc.insecure_channel(daemon.app, options=OPTIONS) as ch:
        stub = pb_grpc.SidecarServiceStub(ch)
        _, call = stub.GetTopics.with_call(pb.GetTopicsRequest(), timeout=5)
        inst = dict(call.initial_metadata())["nexusd-instance"]  # protocol.md 13.2
        yield stub, inst


def subscribe_v1(stub, topics) -> Stream:
    s = Stream(stub.Subscribe(pb.SubscribeRequest(topics=topics)))
    ev = s.next()
    assert isinstance(ev, pb.MessageEvent) and ev.WhichOneof("event") == "subscription_info", ev
    return s


def subscribe_packed(stub, topics, max_frame_bytes=0, retained=False) -> Stream:
    """A SubscribePacked stream, returned once its subscription_info (a v1 event) came."""
    req = pb.SubscribePackedRequest(subscribe=pb.SubscribeRequest(topics=topics, receive_retained=retained),
                                    max_frame_bytes=max_frame_bytes)
    s = Stream(stub.SubscribePacked(req))
    ev = s.next()
    assert isinstance(ev, pb.PackedEvent) and ev.WhichOneof("kind") == "event", ev
    assert ev.event.WhichOneof("event") == "subscription_info"
    return s


def v1_messages(s: Stream, n: int, timeout: float = 10.0) -> List[pb.Message]:
    deadline, got = time.monotonic() + timeout, []
    while len(got) < n:
        ev = s.next(max(deadline - time.monotonic(), 0.001))
        assert isinstance(ev, pb.MessageEvent) and ev.WhichOneof("event") == "message", ev
        got.append(ev.message)
    return got


def packed_records(s: Stream, n: int, timeout: float = 10.0, frames: Optional[list] = None) -> List[dict]:
    """n records from SubscribePacked frames, each frame decoded on its own."""
    deadline, got = time.monotonic() + timeout, []
    while len(got) < n:
        ev = s.next(max(deadline - time.monotonic(), 0.001))
        assert isinstance(ev, pb.PackedEvent) and ev.WhichOneof("kind") == "messages", ev
        if frames is not None:
            frames.append(ev.messages.frame)
        got += decode_frame(ev.messages.frame)
    assert len(got) == n, f"{len(got) - n} records more than expected"
    return got


# ---------------------------------------------------------------------------
# Against the daemon


def test_publish_packed_then_subscribe_packed_carries_every_field(conn):
    stub, inst = conn
    topics = ["pw/a", "pw/b"]
    v1 = subscribe_v1(stub, topics)
    sub = subscribe_packed(stub, topics)

    # Message number 1 of this daemon (it is fresh): a unary Publish.
    first = stub.Publish(pb.PublishRequest(topic="pw/a", payload=b"unary"), timeout=5)
    assert first.message_id == derive_id(inst, 0, 1), "a daemon numbers from 1 at epoch 0"

    inbox = f"_inbox/{inst}/pytest/1"
    records = [
        dict(topic="pw/a", payload=b"a0"),
        dict(topic="pw/a", payload=b"a1", content_type="text/plain"),
        dict(topic="pw/b", payload=b"b0", correlation_id="corr-1", ttl_ms=60000),
        dict(topic="pw/a", payload=b"", reply_to=inbox, correlation_id="req-1"),
        dict(topic="pw/b", payload=bytes(range(256)) * 2, content_type="application/octet-stream", retain=True),
        dict(topic="pw/a", payload="é".encode(), content_type="text/plain; charset=utf-8", correlation_id="c2",
             reply_to=inbox, ttl_ms=30000),
    ]
    frame = encode_frame(records)
    assert decode_frame(frame)[5]["reply_to"] == inbox
    before = int(time.time() * 1000)
    pub = Publisher(stub)
    pub.send(frame)
    acks = pub.acks_until(len(records))
    after = int(time.time() * 1000)
    assert acks[-1].accepted == len(records)
    assert [f for a in acks for f in a.failures] == []
    pub.close()

    # The next unary Publish gets the number after the frame's: one counter, all topics together.
    last = stub.Publish(pb.PublishRequest(topic="pw/b", payload=b"unary2"), timeout=5)
    assert last.message_id == derive_id(inst, 0, len(records) + 2)

    want = [dict(topic="pw/a", payload=b"unary")] + records + [dict(topic="pw/b", payload=b"unary2")]
    n = len(want)
    msgs = v1_messages(v1, n)
    frames: list = []
    got = packed_records(sub, n, frames=frames)
    seqs = {"pw/a": 0, "pw/b": 0}
    for i, (w, m, g) in enumerate(zip(want, msgs, got)):
        seqs[w["topic"]] += 1
        assert (g["topic"], g["payload"]) == (w["topic"], w["payload"]) == (m.topic, m.payload), i
        assert g["seq"] == m.sequence_number == seqs[w["topic"]], i
        assert g["source"] == m.source_node_id == inst and g["epoch"] == 0, i
        assert g["number"] == i + 1 and g["message_id"] == m.message_id == derive_id(inst, 0, i + 1), i
        assert not g["flags"] & ID, "a derived id travels as nothing"
        assert g["timestamp_ms"] == m.timestamp_ms, i
        assert g["content_type"] == m.content_type == w.get("content_type", ""), i
        assert g["correlation_id"] == m.correlation_id == w.get("correlation_id", ""), i
        assert g["reply_to"] == m.reply_to == w.get("reply_to", ""), i
    assert all(before <= g["timestamp_ms"] <= after for g in got[1:-1])
    # The source table is (this daemon's instance id, epoch 0) in every frame.
    for f in frames:
        assert decode_frame(f)[0]["source"] == inst

    # The retained record is the topic's retained value; a new subscriber asking for it
    # gets it as a v1 event inside PackedEvent.event.
    sub2 = subscribe_packed(stub, ["pw/b"], retained=True)
    ev = sub2.next()
    assert ev.WhichOneof("kind") == "event" and ev.event.WhichOneof("event") == "retained_message", ev
    assert ev.event.retained_message.payload == records[4]["payload"]
    for s in (v1, sub, sub2):
        s.call.cancel()


def test_refused_records_fail_by_index_and_the_rest_are_published(conn):
    stub, inst = conn
    sub = subscribe_packed(stub, ["ref/#"])
    ok = lambda i: dict(topic="ref/ok", payload=b"ok%d" % i)  # noqa: E731
    frame1 = [
        ok(0),
        dict(topic="ref/ok", payload=b"explicit id", message_id="my-own-id"),  # 1: an id
        ok(1),
        dict(topic="ref/ok", payload=b"sync", sync_only=True),  # 3: SYNC
        dict(topic="ref/ok", payload=b"ts", timestamp_ms=1700000000000),  # 4: a timestamp other than 0
        ok(2),  # (encoded with TS back to 0)
        dict(topic="ref/seq", payload=b"seq", seq=5),  # 6: a sequence
        dict(topic="ref/seq", payload=b"dropped", seq=9, prev=7, dropped_from=7),  # 7: PREV, DROPPED
        dict(topic="ref/+", payload=b"wildcard"),  # 8: a topic the daemon refuses
        dict(topic="ref/ok", payload=b"reply", reply_to="not/an/inbox"),  # 9: reply_to not an inbox
        ok(3),
    ]
    bad1 = [1, 3, 4, 6, 7, 8, 9]
    frame2 = [ok(4), dict(topic="ref/ok", payload=b"id", message_id=derive_id(inst, 0, 99)), ok(5)]
    pub = Publisher(stub)
    pub.send(encode_frame(frame1))
    pub.send(encode_frame(frame2))
    acks = pub.acks_until(len(frame1) + len(frame2))
    fails = [f for a in acks for f in a.failures]
    assert [f.index for f in fails] == bad1 + [len(frame1) + 1], [(f.index, f.reason) for f in fails]
    assert all(f.code == INVALID_ARGUMENT and not f.retry for f in fails), fails
    assert all(f.reason for f in fails[:1])
    pub.close()

    # Exactly the good records arrive, in order, numbered 1, 2, 3 … by the daemon.
    got = packed_records(sub, 6)
    assert [g["payload"] for g in got] == [b"ok%d" % i for i in range(6)]
    assert [g["seq"] for g in got] == [1, 2, 3, 4, 5, 6]
    marker = stub.Publish(pb.PublishRequest(topic="ref/ok", payload=b"marker"), timeout=5)
    (m,) = packed_records(sub, 1)
    assert (m["payload"], m["seq"], m["message_id"]) == (b"marker", 7, marker.message_id)
    # "The daemon gives each published record its own number": the refused ones got none.
    assert [g["number"] for g in got] == [1, 2, 3, 4, 5, 6] and m["number"] == 7
    sub.call.cancel()


def test_payload_over_the_limit_fails_alone_by_index(conn):
    stub, _ = conn
    sub = subscribe_packed(stub, ["big/#"])
    records = [dict(topic="big/a", payload=b"small"), dict(topic="big/a", payload=b"x" * ((1 << 20) + 1)),
               dict(topic="big/a", payload=b"small2")]
    pub = Publisher(stub)
    pub.send(encode_frame(records))
    acks = pub.acks_until(3)
    fails = [f for a in acks for f in a.failures]
    assert [(f.index, f.code) for f in fails] == [(1, INVALID_ARGUMENT)], fails
    assert "max-payload" in fails[0].reason, "protocol.md 9: refused naming the limit"
    pub.close()
    assert [g["payload"] for g in packed_records(sub, 2)] == [b"small", b"small2"]
    sub.call.cancel()


def _malformed(inst: str) -> Dict[str, tuple]:
    """name: (frame, the status that ends the stream, whether a reader refuses the frame itself)."""
    good = dict(topic="bad/t", payload=b"good")
    f = encode_frame([good, dict(topic="bad/t", payload=b"x")])
    head = f[:-4]  # the frame up to its last record (03 00 00 78), whose bytes each case replaces
    inv, lim = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED
    return {
        "version 2": (b"\x02" + f[1:], inv, True),
        "non-minimal varint": (head + b"\x04\x80\x00\x00x", inv, True),
        "reserved flag bit 14": (head + b"\x05\x80\x80\x01\x00x", inv, True),
        "record length 1": (head + b"\x01\x00", inv, True),
        "trailing bytes": (f + b"\x00", inv, True),
        "GROUPS count 0": (head + b"\x05\x80\x40\x00\x00x", inv, True),
        # Valid frames that PublishPacked must not take.
        "source table": (encode_frame([dict(good, source=(inst, 0), number=n) for n in (1, 2)]), inv, False),
        # After the good frame's ack (accepted 1), the window is ACK_WINDOW records from there.
        "past the window": (encode_frame([good] * (ACK_WINDOW + 1)), lim, False),
        # Limits.
        "topic over 256 bytes": (encode_frame([good, dict(topic="bad/" + "t" * 253, payload=b"")]), lim, True),
        "content type over 256 bytes": (encode_frame([good, dict(good, content_type="c" * 257)]), lim, True),
    }


def test_malformed_frame_ends_the_stream_and_publishes_nothing(conn):
    stub, inst = conn
    v1 = subscribe_v1(stub, ["bad/#"])
    for name, (frame, code, refused) in _malformed(inst).items():
        with pytest.raises(FrameError) if refused else contextlib.nullcontext():
            decode_frame(frame)
        pub = Publisher(stub)
        # A good frame first: it is acked; then the bad one ends the stream.
        pub.send(encode_frame([dict(topic="bad/ok", payload=b"before")]))
        pub.acks_until(1)
        pub.send(frame)
        err = pub.stream.end()
        assert err.code() == code, f"{name}: {err.code()} {err.details()}"
        assert err.details(), name
        pub.close()
        (m,) = v1_messages(v1, 1)
        assert (m.topic, m.payload) == ("bad/ok", b"before"), name
    # Nothing of the bad frames was published: the next message on bad/t is the first one there.
    stub.Publish(pb.PublishRequest(topic="bad/t", payload=b"marker"), timeout=5)
    (m,) = v1_messages(v1, 1)
    assert (m.topic, m.payload, m.sequence_number) == ("bad/t", b"marker", 1)
    v1.call.cancel()


def test_credit_before_the_first_ack_is_the_initial_window(conn):
    """Before any ack a sender may send INITIAL_WINDOW records and no more (docs/packed.md)."""
    stub, _ = conn
    good = dict(topic="credit/t", payload=b"x")
    pub = Publisher(stub)
    pub.send(encode_frame([good] * (INITIAL_WINDOW + 1)))
    err = pub.stream.end()
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, f"{err.code()} {err.details()}"
    pub.close()
    pub = Publisher(stub)
    pub.send(encode_frame([good] * INITIAL_WINDOW))
    acks = pub.acks_until(INITIAL_WINDOW)
    assert acks[-1].accepted == INITIAL_WINDOW
    pub.close()


def test_subscribe_packed_frame_size(conn):
    stub, _ = conn
    s = Stream(stub.SubscribePacked(pb.SubscribePackedRequest(
        subscribe=pb.SubscribeRequest(topics=["fs/#"]), max_frame_bytes=1023)))
    err = s.end()
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT

    sub = subscribe_packed(stub, ["fs/#"], max_frame_bytes=1024)
    records = [dict(topic="fs/a", payload=bytes([i]) * 300) for i in range(8)] + [dict(topic="fs/a", payload=b"L" * 3000)]
    pub = Publisher(stub)
    pub.send(encode_frame(records))
    pub.acks_until(len(records))
    pub.close()
    frames: list = []
    got = packed_records(sub, len(records), frames=frames)
    assert [g["payload"] for g in got] == [r["payload"] for r in records]
    for f in frames:
        assert len(f) <= 1024 or len(decode_frame(f)) == 1, "a larger message comes in a frame of its own"
    sub.call.cancel()

    # By default a frame holds at most 1024 records and 256 KiB.
    sub = subscribe_packed(stub, ["fs/#"])
    records = [dict(topic="fs/b", payload=b"%04d" % i * 25) for i in range(3000)]
    pub = Publisher(stub)
    pub.send(encode_frame(records))
    pub.acks_until(len(records))
    pub.close()
    frames = []
    got = packed_records(sub, len(records), frames=frames)
    assert [g["payload"] for g in got] == [r["payload"] for r in records]
    assert [g["seq"] for g in got] == list(range(1, 3001))
    assert all(len(f) <= 256 << 10 and len(decode_frame(f)) <= 1024 for f in frames)
    sub.call.cancel()


def test_subscribe_packed_resume_replays_as_v1_events(daemon, conn):
    """Replayed messages and replay ends come as v1 events, live ones in frames."""
    stub, inst = conn
    req = pb.SubscribePackedRequest(subscribe=pb.SubscribeRequest(topics=["rs/#"], resume_window_ms=60000))
    sub = Stream(stub.SubscribePacked(req))
    ev = sub.next()
    assert ev.WhichOneof("kind") == "event" and ev.event.WhichOneof("event") == "subscription_info", ev
    sub_id = ev.event.subscription_info.subscription_id
    pub = Publisher(stub)
    pub.send(encode_frame([dict(topic="rs/a", payload=b"m%d" % i) for i in range(3)]))
    pub.acks_until(3)
    assert [g["seq"] for g in packed_records(sub, 3)] == [1, 2, 3]
    sub.call.cancel()  # the stream ends without Unsubscribe: the subscription is paused
    eventually("the subscription to be paused", lambda: daemon.status()["node"]["paused"] == 1)

    pub.send(encode_frame([dict(topic="rs/a", payload=b"m%d" % i) for i in range(3, 5)]))
    pub.acks_until(5)
    req = pb.SubscribePackedRequest(resume=pb.ResumeSubscribeRequest(
        subscription_id=sub_id, topics=["rs/#"], last_sequence_per_topic={"rs/a": 3},
        gap_recovery_mode=pb.GAP_RECOVERY_REPLAY_BUFFER))
    res = Stream(stub.SubscribePacked(req))
    events = []
    while not events or events[-1].WhichOneof("event") != "replay_complete":
        ev = res.next()
        assert isinstance(ev, pb.PackedEvent) and ev.WhichOneof("kind") == "event", ev
        events.append(ev.event)
    info, r1, r2, done = events
    assert info.subscription_info.subscription_id == sub_id and info.subscription_info.replay_started
    assert [(m.payload, m.sequence_number, m.message_id) for m in (r1.replay_message, r2.replay_message)] == [
        (b"m3", 4, derive_id(inst, 0, 4)), (b"m4", 5, derive_id(inst, 0, 5))]
    assert (done.replay_complete.topic, done.replay_complete.replayed_count, done.replay_complete.latest_sequence) == (
        "rs/a", 2, 5)
    # Live again: in frames.
    pub.send(encode_frame([dict(topic="rs/a", payload=b"m5")]))
    pub.acks_until(6)
    (g,) = packed_records(res, 1)
    assert (g["payload"], g["seq"], g["message_id"]) == (b"m5", 6, derive_id(inst, 0, 6))
    pub.close()
    res.call.cancel()


def test_publish_packed_lazy_acks_answer_the_empty_frame_that_asks(conn):
    """docs/packed.md "Lazy acks": frames processed earn no ack of their own; a frame of no records asks."""
    stub, _ = conn
    sub = subscribe_packed(stub, ["pw/lazy"])
    pub = Publisher(stub, metadata=(("nexusd-acks", "lazy"),))
    for k in range(5):
        pub.send(encode_frame([dict(topic="pw/lazy", payload=bytes([k]))]))
        packed_records(sub, 1)  # processed before the next is sent
    pub.send(bytes.fromhex("0100000000"))  # version 1, no records, base timestamp 0, no sources, no topics
    acks = pub.acks_until(5)
    assert [a.accepted for a in acks] == [5], "the first ack answers the ask and counts every frame before it"
    pub.close()


def test_publish_packed_refuses_an_unknown_ack_mode(conn):
    stub, _ = conn
    pub = Publisher(stub, metadata=(("nexusd-acks", "sometimes"),))
    err = pub.stream.end()
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "nexusd-acks" in err.details()
    pub.close()
