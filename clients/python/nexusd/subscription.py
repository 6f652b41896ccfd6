"""A subscription: a stream of messages that survives reconnection.

This mirrors the Go client (client/subscribe.go, consume.go, resume.go):
per-topic sequence numbers are checked for gaps; a broken stream is
resumed by the subscription's id (the daemon kept it paused for its
resume window), else by its topics from the last sequence number per
topic, else, when the daemon restarted (its instance header changed),
from the start of each topic, reporting a gap of unknown size. Each
missed message is reported once.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

import grpc

from ._pb import sidecar_pb2 as pb
from .errors import (
    ClientClosed,
    InvalidArgument,
    NexusdError,
    NotFound,
    Timeout,
    Unavailable,
    from_rpc_error,
)
from .types import LIVE, REPLAYED, RETAINED, BackpressureWarning, Gap, Message

__all__ = ["Subscription"]

log = logging.getLogger("nexusd")

# Sequence numbers are kept for at most this many topics per subscription;
# past it the least recently seen topic is forgotten (client/consume.go).
MAX_TRACKED_TOPICS = 10000

# Phases of a subscription.
_ACTIVE = "active"  # streaming, or reconnecting to stream again
_PAUSING = "pausing"  # pause() asked the daemon; the stream is ending
_PAUSED = "paused"  # paused on the daemon; waiting for resume()
_RESUMING = "resuming"  # resume() asked the reader to resume
_ENDING = "ending"  # close() was called

_PENDING = object()

# A stream that ends with one of these was refused for good: no retry.
_FINAL_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.ALREADY_EXISTS,
}


def _retryable(err: Optional[NexusdError]) -> bool:
    return err is None or err.code not in _FINAL_CODES


def _is_pattern(p: str) -> bool:
    return any(level in ("+", "#") for level in p.split("/"))


class _TopicSeq:
    __slots__ = ("seq", "id")

    def __init__(self, seq: int, id: str):
        self.seq, self.id = seq, id


class _Tracker:
    """Last sequence number and message id per topic, for at most ``limit``
    topics (least recently seen first out)."""

    def __init__(self, limit: int = MAX_TRACKED_TOPICS):
        self.limit = limit
        self.topics: "collections.OrderedDict[str, _TopicSeq]" = collections.OrderedDict()

    def check(self, topic: str, seq: int, msg_id: str) -> Tuple[Optional[Gap], bool]:
        """Record a numbered message; return the gap it reveals, if any, and
        whether it is new (False for a duplicate of the last one)."""
        if seq <= 0:
            return None, True  # unnumbered (v1 daemons): unchecked
        ts = self.topics.get(topic)
        if ts is None:
            if len(self.topics) >= self.limit:
                self.topics.popitem(last=False)
            self.topics[topic] = _TopicSeq(seq, msg_id)
            return None, True
        self.topics.move_to_end(topic)
        gap = None
        if seq == ts.seq + 1:
            pass
        elif seq > ts.seq + 1:
            gap = Gap("", topic, ts.seq + 1, seq, seq - ts.seq - 1, "sequence")
        elif ts.id == msg_id:
            return None, False  # the same message again
        else:
            # The numbering went back: the daemon restarted or forgot the topic.
            gap = Gap("", topic, ts.seq + 1, seq, -1, "restart")
        ts.seq, ts.id = seq, msg_id
        return gap, True

    def last(self, topic: str) -> Optional[_TopicSeq]:
        return self.topics.get(topic)

    def snapshot(self) -> Dict[str, int]:
        return {t: ts.seq for t, ts in self.topics.items()}

    def restart(self) -> List[Gap]:
        """The gaps a restarted daemon leaves (unknown size), one per numbered
        topic; each topic's numbering is then expected to start at 1."""
        gaps = []
        for topic, ts in self.topics.items():
            if ts.seq > 0:
                gaps.append(Gap("", topic, ts.seq + 1, 0, -1, "restart"))
            ts.seq, ts.id = 0, ""
        return sorted(gaps, key=lambda g: g.topic)


class Subscription:
    """A subscription opened by :meth:`nexusd.Client.subscribe`.

    Iterate over it for :class:`nexusd.Message` objects (in order per
    topic), or call :meth:`get` with a timeout. It lives until
    :meth:`close` (or the client's close), reconnecting and resuming by
    itself meanwhile. Iteration stops once it is closed and the messages
    already received have been read; if it ended on an error (a resume the
    daemon refused, reconnection that gave up), iteration raises it.
    """

    def __init__(self, client, patterns: List[str], *, receive_retained: bool, policy: str, queue_limit: int,
                 max_batch: int, buffer_size: int, resume_window_ms: int,
                 on_gap: Optional[Callable[[Gap], None]], on_backpressure: Optional[Callable[[BackpressureWarning], None]],
                 queue_group: str = ""):
        self._c = client
        self._queue_group = queue_group
        self._patterns = list(patterns)
        self._retained = receive_retained
        self._policy = policy
        self._queue_limit = queue_limit
        self._max_batch = max_batch
        self._buffer_size = buffer_size
        self._resume_window_ms = resume_window_ms
        self._on_gap = on_gap
        self._on_backpressure = on_backpressure

        self._cond = threading.Condition()
        self._buf: "collections.deque[Message]" = collections.deque()
        self._phase = _ACTIVE
        self._closing = False  # close() began
        self._done = False  # the reader has finished
        self._error: Optional[NexusdError] = None  # why it ended, when not by close()
        self._call = None  # the stream open now (or being opened)
        self._streaming = False
        self._id = ""
        self._instance = ""  # the daemon run that numbered the sequences held
        self._seq = _Tracker()
        self._resume_owed = 0  # missed messages a resume reported, not yet reported by topic
        self._warned = (0, 0, 0)  # running totals of the last warning
        self._resume_answer = _PENDING
        self._thread: Optional[threading.Thread] = None
        self._first_call = None

    # ----- public API

    @property
    def id(self) -> str:
        """The daemon's id of the subscription. It changes when the daemon had
        forgotten the subscription and the client opened it anew."""
        with self._cond:
            return self._id

    @property
    def topics(self) -> List[str]:
        """The patterns the subscription was opened with."""
        return list(self._patterns)

    @property
    def last_sequences(self) -> Dict[str, int]:
        """The last sequence number received per topic: where a resume continues from."""
        with self._cond:
            return self._seq.snapshot()

    @property
    def paused(self) -> bool:
        with self._cond:
            return self._phase in (_PAUSING, _PAUSED)

    @property
    def closed(self) -> bool:
        """True once the subscription has ended (closed, or stopped by an error)."""
        with self._cond:
            return self._done or self._closing

    @property
    def error(self) -> Optional[NexusdError]:
        """Why the subscription ended, if an error ended it; None otherwise."""
        with self._cond:
            return self._error

    def __iter__(self) -> "Subscription":
        return self

    def __next__(self) -> Message:
        try:
            return self.get()
        except _Ended:
            raise StopIteration from None

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, timeout: Optional[float] = None) -> Message:
        """The next message; waits at most ``timeout`` seconds (``None``:
        forever) and then raises :class:`nexusd.Timeout`. Once the
        subscription has ended and its messages were read, raises
        :class:`nexusd.ClientClosed`, or the error that ended it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._buf:
                if self._done or self._closing:
                    if self._error is not None:
                        raise self._error
                    raise _Ended("the subscription is closed", op="subscribe")
                if deadline is None:
                    self._cond.wait()
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise Timeout(f"no message within {timeout:g} s", op="subscribe")
                    self._cond.wait(left)
            m = self._buf.popleft()
            self._cond.notify_all()
            return m

    def pause(self, timeout: Optional[float] = None) -> float:
        """Ask the daemon to keep the subscription without a stream: it goes
        on collecting its messages in its replay ring, and :meth:`resume`
        replays them. Returns how long the daemon keeps it paused, in
        seconds (its --paused-subscription-ttl). Messages already received
        stay readable."""
        with self._cond:
            if self._phase == _ENDING or self._done:
                raise NotFound("the subscription has ended", op="pause")
            if self._phase in (_PAUSING, _PAUSED):
                raise InvalidArgument("the subscription is already paused", op="pause")
            if self._phase == _RESUMING or not self._streaming:
                raise Unavailable("the subscription is reconnecting; pause it once it is back", op="pause")
            sub_id = self._id
            self._set_phase(_PAUSING)
        try:
            resp = self._c._unsubscribe(sub_id, True, timeout)
        except NexusdError:
            with self._cond:
                if self._phase == _PAUSING:
                    self._set_phase(_ACTIVE)  # the reader takes a stream that ended meanwhile as broken
            raise
        with self._cond:
            if self._phase != _PAUSING:
                raise NotFound("the subscription has ended", op="pause")
            self._set_phase(_PAUSED)
            call = self._call
        if call is not None:
            call.cancel()  # the daemon ends it too; do not wait for that
        return resp.pause_ttl_ms / 1000.0

    def resume(self, timeout: Optional[float] = None) -> None:
        """Reattach a paused subscription: the daemon replays what arrived
        while it was paused, then live messages follow, with no gap and no
        duplicate. If the pause had run out, the subscription is opened again
        by its topics and replays what the daemon's ring still holds,
        reporting the rest as a gap. Returns once the stream is back; after
        ``timeout`` seconds raises :class:`nexusd.Timeout` (it then goes on
        resuming in the background)."""
        with self._cond:
            if self._phase != _PAUSED:
                if self._phase == _ENDING or self._done:
                    raise NotFound("the subscription has ended", op="resume")
                raise InvalidArgument("the subscription is not paused", op="resume")
            self._resume_answer = _PENDING
            self._set_phase(_RESUMING)
            if not self._cond.wait_for(lambda: self._resume_answer is not _PENDING, timeout):
                raise Timeout(f"the subscription did not resume within {timeout:g} s; it goes on trying", op="resume")
            answer, self._resume_answer = self._resume_answer, _PENDING
        if answer is not None:
            raise answer

    def close(self, timeout: float = 2.0) -> None:
        """End the subscription on the daemon and in the client. Messages
        already received can still be read; iteration then stops. Safe to
        call more than once."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            sub_id = self._id if not self._done else ""
            self._set_phase(_ENDING)
            call = self._call
        if sub_id and not self._c.closed:
            try:
                self._c._unsubscribe(sub_id, False, 0.5)
            except NexusdError:
                pass  # gone already, or the daemon is away: its stream's end removes it
        if call is not None:
            call.cancel()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
        self._c._forget(self)

    # ----- opening

    def _start(self) -> None:
        """Open the subscription (raising the daemon's refusal), then start the reader."""
        req = pb.SubscribeRequest(
            topics=self._patterns,
            client_id=self._c.client_id,
            receive_retained=self._retained,
            max_buffer_size=self._queue_limit,
            max_batch=self._max_batch,
            backpressure_policy=self._policy,
            resume_window_ms=self._resume_window_ms,
        )
        if self._queue_group:
            req.queue_group = self._queue_group
        try:
            call, inst = self._open(lambda md: self._c._stub.Subscribe(req, metadata=md))
            info = self._first(call, "subscribe")
        except BaseException:
            self._abandon()
            raise
        self._opened(info, inst)
        self._thread = threading.Thread(target=self._run, args=(call,), name=f"nexusd-sub-{info.subscription_id}", daemon=True)
        self._thread.start()

    def _abandon(self) -> None:
        with self._cond:
            self._closing = True
            self._done = True
            self._cond.notify_all()
        self._c._forget(self)

    def _open(self, start) -> Tuple["_Stream", str]:
        """Start a stream call; return it and the daemon instance that
        answered ("" when its header named none). The daemon must answer
        within the client's timeout, or the call is cancelled."""
        with self._cond:
            if self._closing and self._thread is not None:
                raise ClientClosed("the subscription is closed", op="subscribe")
        st = _Stream(start(self._c._metadata), self._c.timeout)
        with self._cond:
            self._call = st
            closing = self._closing and self._thread is not None
        if closing:
            st.cancel()
        return st, self._c._note_server(st.header())

    def _first(self, st: "_Stream", op: str):
        """Read a stream's first event, which must be subscription_info."""
        try:
            ev = st.first()
        except StopIteration:
            raise Unavailable("the daemon ended the stream before it began", op=op) from None
        except grpc.RpcError as e:
            if st.fired.is_set():
                raise Timeout(f"the daemon did not answer within {self._c.timeout:g} s", op=op) from None
            with self._cond:
                if self._closing and self._thread is not None:
                    raise ClientClosed("the subscription is closed", op=op) from None
            raise from_rpc_error(e, op) from None
        if ev.WhichOneof("event") != "subscription_info":
            st.cancel()
            raise NexusdError(f"the daemon's stream began with {ev.WhichOneof('event')}, not subscription_info",
                              code=grpc.StatusCode.INTERNAL, op=op)
        return ev.subscription_info

    def _opened(self, info, instance: str) -> None:
        """Take a stream's subscription_info: the id, and a gap the daemon reports on resume."""
        with self._cond:
            if self._id != info.subscription_id:
                self._warned = (0, 0, 0)
            self._id = info.subscription_id
            self._streaming = True
            if instance:
                self._instance = instance
        if info.gap_detected:
            self._resume_missed(int(info.missed_message_count))

    # ----- the reader thread

    def _run(self, call) -> None:
        err: Optional[NexusdError] = None
        try:
            while call is not None:
                err = self._consume(call)
                call.cancel()
                with self._cond:
                    self._streaming = False
                    self._call = None
                call, err = self._next(err)
        except BaseException as e:  # pragma: no cover - a bug; end the subscription visibly
            log.exception("nexusd: subscription reader failed")
            err = e if isinstance(e, NexusdError) else NexusdError(repr(e), op="subscribe")
        self._finish(err)

    def _consume(self, call) -> Optional[NexusdError]:
        """Read a stream until it ends; return why (None: ended cleanly or on purpose)."""
        try:
            for ev in call:
                if not self._handle(ev):
                    return None
        except grpc.RpcError as e:
            return from_rpc_error(e, "subscribe")
        return None

    def _next(self, err: Optional[NexusdError]):
        """What follows a stream that ended with err: a paused wait and a
        resume, a reconnection, or the end (None, and why)."""
        while True:
            with self._cond:
                if self._closing:
                    return None, None
                phase = self._phase
                if phase in (_PAUSING, _PAUSED):
                    self._cond.wait()
                    continue
            if phase == _RESUMING:
                call, e = None, None
                try:
                    call = self._resume()
                except NexusdError as x:
                    e = x
                if e is not None and _retryable(e) and not self._closing:
                    call, e = self._reconnect(e)
                with self._cond:
                    if self._phase == _RESUMING:
                        self._set_phase(_ACTIVE)
                    self._resume_answer = e
                    self._cond.notify_all()
                return call, e
            if not _retryable(err):
                return None, err
            return self._reconnect(err)

    def _reconnect(self, cause: Optional[NexusdError]):
        """Open the stream again after it broke, waiting the client's backoff
        before each attempt, until it succeeds, is refused for good, the
        retries run out, or the subscription is closed."""
        log.info("nexusd: subscription %s: stream ended (%s); resuming", self._id, cause)
        attempt = 0
        while True:
            max_retries = self._c.max_retries
            if max_retries is not None and attempt >= max_retries:
                return None, Unavailable(
                    f"resuming the subscription failed {attempt} times; last: {cause}", op="subscribe")
            with self._cond:
                if self._cond.wait_for(lambda: self._closing, self._c.backoff.delay(attempt)):
                    return None, None
            try:
                return self._resume(), None
            except NexusdError as e:
                if self._closing:
                    return None, None
                if not _retryable(e):
                    return None, e
                cause = e
                log.debug("nexusd: subscription %s: resume attempt %d failed: %s", self._id, attempt + 1, e)
            attempt += 1

    def _resume(self):
        """One attempt to reattach: by id first (the daemon still holds the
        subscription, paused); by topics when it no longer knows the id; from
        the start of each topic when the daemon is a new run."""
        with self._cond:
            sub_id = self._id
        if sub_id:
            call, inst = self._open_resume(sub_id, self.last_sequences, False)
            if self._restarted(inst):
                call.cancel()
                return self._resume_by_topics(True)
            try:
                info = self._first(call, "resume")
            except NotFound:
                call.cancel()
            except BaseException:
                call.cancel()
                raise
            else:
                self._opened(info, inst)
                log.info("nexusd: subscription %s resumed", sub_id)
                return call
        return self._resume_by_topics(False)

    def _resume_by_topics(self, restart: bool):
        if self._queue_group:
            return self._resubscribe_member()
        while True:
            last = self.last_sequences
            if restart:
                # Everything the new run holds came after this subscription
                # began: ask for each topic from its first message.
                last = {t: 0 for t in last}
                for p in self._patterns:
                    if not _is_pattern(p):
                        last[p] = 0
            call, inst = self._open_resume("", last, restart and self._retained)
            if not restart and self._restarted(inst):
                call.cancel()
                restart = True
                continue
            try:
                info = self._first(call, "resume")
            except BaseException:
                call.cancel()
                raise
            gaps: List[Gap] = []
            if restart:
                with self._cond:
                    gaps = self._seq.restart()
            self._opened(info, inst)
            for g in gaps:
                self._gap(g)
            log.info("nexusd: subscription opened again by its topics as %s (daemon restarted: %s)",
                     info.subscription_id, restart)
            return call

    def _resubscribe_member(self):
        """Open a queue group member anew: a resume by topics would open an
        ordinary subscription (ResumeSubscribeRequest names no group). The
        new member numbers its share from 1 and replays nothing, so the
        sequences held are forgotten, not reported as gaps."""
        req = pb.SubscribeRequest(
            topics=self._patterns,
            client_id=self._c.client_id,
            max_buffer_size=self._queue_limit,
            max_batch=self._max_batch,
            backpressure_policy=self._policy,
            resume_window_ms=self._resume_window_ms,
            queue_group=self._queue_group,
        )
        try:
            call, inst = self._open(lambda md: self._c._stub.Subscribe(req, metadata=md))
        except ValueError:  # the channel was closed
            raise ClientClosed("the client is closed", op="resume") from None
        try:
            info = self._first(call, "resume")
        except BaseException:
            call.cancel()
            raise
        with self._cond:
            self._seq = _Tracker()
        self._opened(info, inst)
        log.info("nexusd: queue group member %s subscribed again as %s", self._queue_group, info.subscription_id)
        return call

    def _open_resume(self, sub_id: str, last: Dict[str, int], retained: bool):
        req = pb.ResumeSubscribeRequest(
            subscription_id=sub_id,
            topics=self._patterns,
            last_sequence_per_topic=last,
            gap_recovery_mode=pb.GAP_RECOVERY_REPLAY_BUFFER,
            receive_retained=retained,
            max_batch=self._max_batch,
            backpressure_policy=self._policy,
            max_buffer_size=self._queue_limit,
            client_id=self._c.client_id,
            resume_window_ms=self._resume_window_ms,
        )
        try:
            return self._open(lambda md: self._c._stub.ResumeSubscribe(req, metadata=md))
        except ValueError:  # the channel was closed
            raise ClientClosed("the client is closed", op="resume") from None

    def _restarted(self, inst: str) -> bool:
        return bool(self._instance) and bool(inst) and inst != self._instance

    def _finish(self, err: Optional[NexusdError]) -> None:
        with self._cond:
            if self._phase != _ENDING and err is not None:
                self._error = err
                log.warning("nexusd: subscription %s ended: %s", self._id, err)
            self._streaming = False
            self._done = True
            self._cond.notify_all()
        self._c._forget(self)

    # ----- events

    def _handle(self, ev) -> bool:
        """Take one event; False when the subscription is closing."""
        kind = ev.WhichOneof("event")
        if kind == "message":
            self._resume_done()
            return self._take(Message._from_proto(ev.message, LIVE))
        if kind == "batch":
            self._resume_done()
            for m in ev.batch.messages:
                if not self._take(Message._from_proto(m, LIVE)):
                    return False
            return True
        if kind == "replay_message":
            return self._take(Message._from_proto(ev.replay_message, REPLAYED))
        if kind == "retained_message":
            return self._deliver(Message._from_proto(ev.retained_message, RETAINED))
        if kind == "backpressure_warning":
            self._warn(ev.backpressure_warning)
        elif kind == "subscription_info":
            self._opened(ev.subscription_info, "")
        elif kind == "replay_complete":
            self._replayed(ev.replay_complete.topic, ev.replay_complete.latest_sequence)
        elif kind == "heartbeat":
            self._resume_done()
        return True

    def _take(self, m: Message) -> bool:
        """Check a numbered message against its topic's last number, report a
        gap or drop a duplicate, and deliver it."""
        with self._cond:
            gap, fresh = self._seq.check(m.topic, m.sequence, m.id)
            if gap is not None:
                gap = self._owed_by(gap)
        if gap is not None:
            self._gap(gap)
        if not fresh:
            return True
        return self._deliver(m)

    def _deliver(self, m: Message) -> bool:
        """Wait for room in the buffer: a slow reader holds the stream back,
        and the daemon queues."""
        with self._cond:
            while len(self._buf) >= self._buffer_size and not self._closing:
                self._cond.wait()
            if self._closing:
                return False
            self._buf.append(m)
            self._cond.notify_all()
            return True

    # A resume that could not replay everything says how many messages were
    # missed in all. Each is reported once: topic by topic where the numbers
    # show where, and the rest in one gap without a topic when live
    # messages begin (client/consume.go).

    def _resume_missed(self, n: int) -> None:
        if n < 0:
            self._gap(Gap("", "", 0, 0, -1, "resume"))
            return
        with self._cond:
            self._resume_owed = n

    def _owed_by(self, g: Gap) -> Gap:
        """Attribute a sequence gap to the resume while it owes messages; lock held."""
        if self._resume_owed > 0 and g.cause == "sequence" and g.missed > 0:
            self._resume_owed = max(self._resume_owed - g.missed, 0)
            return dataclasses.replace(g, cause="resume")
        return g

    def _replayed(self, topic: str, latest: int) -> None:
        gap = None
        with self._cond:
            ts = self._seq.last(topic)
            if ts is not None and ts.seq > 0 and latest > ts.seq:
                gap = self._owed_by(Gap("", topic, ts.seq + 1, 0, latest - ts.seq, "sequence"))
                ts.seq, ts.id = latest, ""
        if gap is not None:
            self._gap(gap)

    def _resume_done(self) -> None:
        with self._cond:
            n, self._resume_owed = self._resume_owed, 0
        if n > 0:
            self._gap(Gap("", "", 0, 0, n, "resume"))

    def _gap(self, g: Gap) -> None:
        with self._cond:
            g = dataclasses.replace(g, subscription=self._id)
        log.warning("nexusd: %s (subscription %s)", g, g.subscription)
        if self._on_gap is not None:
            try:
                self._on_gap(g)
            except Exception:
                log.exception("nexusd: the on_gap handler failed")

    def _warn(self, w) -> None:
        def since(total: int, prev: int) -> int:
            return total if total < prev else total - prev  # a new subscription counts from 0

        with self._cond:
            pd, pe, pl = self._warned
            bw = BackpressureWarning(
                subscription=self._id,
                reason=w.reason,
                dropped=since(w.messages_dropped, pd),
                expired=since(w.messages_expired, pe),
                lost=since(w.messages_lost, pl),
                total_dropped=w.messages_dropped,
                total_expired=w.messages_expired,
                total_lost=w.messages_lost,
                queue_depth=w.queue_depth,
                queue_limit=w.queue_limit,
                oldest_age_ms=w.oldest_message_age_ms,
            )
            self._warned = (w.messages_dropped, w.messages_expired, w.messages_lost)
        log.warning("nexusd: subscription %s lost messages in the daemon: %s (dropped %d, expired %d, lost %d)",
                    bw.subscription, bw.reason, bw.dropped, bw.expired, bw.lost)
        if self._on_backpressure is not None:
            try:
                self._on_backpressure(bw)
            except Exception:
                log.exception("nexusd: the on_backpressure handler failed")

    def _set_phase(self, p: str) -> None:
        """Change the phase and wake whoever waits on it; lock held."""
        self._phase = p
        self._cond.notify_all()

    def __repr__(self) -> str:
        return f"<nexusd.Subscription id={self._id!r} topics={self._patterns!r} phase={self._phase}>"


class _Stream:
    """One open subscription stream, with a timer that cancels it if the
    daemon has not sent its first event within the timeout."""

    def __init__(self, call, timeout: Optional[float]):
        self.call = call
        self.fired = threading.Event()
        self._timer = threading.Timer(timeout or 3600.0, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired.set()
        self.call.cancel()

    def header(self):
        try:
            return self.call.initial_metadata()
        except Exception:
            return ()

    def first(self):
        try:
            return next(self.call)
        finally:
            self._timer.cancel()

    def __iter__(self):
        return iter(self.call)

    def cancel(self) -> None:
        self._timer.cancel()
        self.call.cancel()


class _Ended(ClientClosed):
    """get() on a subscription closed by close(): iteration stops."""
