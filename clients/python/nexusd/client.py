"""The connection to one nexusd daemon's sidecar API."""

from __future__ import annotations

import ipaddress
import logging
import random
import threading
import time
import unicodedata
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import grpc

from ._pb import sidecar_pb2 as pb
from ._pb import sidecar_pb2_grpc as pb_grpc
from .errors import (
    ClientClosed,
    InvalidArgument,
    NexusdError,
    PublishBatchError,
    PublishFailure,
    Unavailable,
    from_code_name,
    from_rpc_error,
)
from .request import Requester
from .types import Message, PublishResult

__all__ = ["Client", "DEFAULT_ADDRESS", "Backoff"]

log = logging.getLogger("nexusd")

# The daemon's sidecar listens on 127.0.0.1:5672 by default (--app-bind,
# --app-port; netshell/options.go).
DEFAULT_ADDRESS = "127.0.0.1:5672"

# Every answer of the daemon carries this response header: the instance id
# of the daemon run, which changes when the daemon restarts (docs/protocol.md 13.2).
INSTANCE_HEADER = "nexusd-instance"

# The daemon takes at most 4096 requests in one PublishBatch (MaxPublishBatch).
_MAX_PUBLISH_BATCH = 4096
_PUBLISH_CHUNK = 1024

Payload = Union[bytes, bytearray, memoryview, str]


def _to_bytes(payload: Payload) -> bytes:
    if isinstance(payload, str):
        return payload.encode("utf-8")
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return bytes(payload)
    raise InvalidArgument(f"payload of type {type(payload).__name__}: want bytes or str", op="publish")


class Backoff:
    """How reconnection waits: ``min(initial * multiplier**n, max)`` seconds
    before the n-th retry (from 0), spread by +/- ``jitter`` of itself."""

    def __init__(self, initial: float = 0.1, max: float = 30.0, multiplier: float = 2.0, jitter: float = 0.1):
        if initial <= 0:
            raise InvalidArgument(f"backoff initial delay {initial}: want a positive number of seconds")
        if max < initial:
            raise InvalidArgument(f"backoff max delay {max} is below the initial {initial}")
        if multiplier < 1:
            raise InvalidArgument(f"backoff multiplier {multiplier}: want 1 or more")
        if not 0 <= jitter <= 1:
            raise InvalidArgument(f"backoff jitter {jitter}: want 0 to 1")
        self.initial, self.max, self.multiplier, self.jitter = initial, max, multiplier, jitter

    def delay(self, attempt: int) -> float:
        d = min(self.initial * (self.multiplier ** max(attempt, 0)), self.max)
        if self.jitter:
            d *= 1 + self.jitter * (2 * random.random() - 1)
        return d


class Client:
    """A connection to one nexusd daemon's sidecar (its app port or socket).

    ``address`` is ``"host:port"`` (default ``127.0.0.1:5672``, the daemon's
    default ``--app-port``) or ``"unix:///path/to/app.sock"`` (its
    ``--app-socket``). ``token`` is the daemon's ``--app-token``, sent as
    ``authorization: Bearer <token>`` with every call.

    Creating a client does not connect; the first call does, and a call
    while the daemon cannot be reached raises :class:`nexusd.Unavailable`.
    :meth:`wait_ready` waits for the connection. Subscriptions reconnect
    by themselves, waiting ``backoff`` between attempts, ``max_retries``
    times at most (``None``: until closed).

    The client is safe to use from several threads. Close it (or use it as
    a context manager) to end its subscriptions and the connection.
    """

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        token: Optional[str] = None,
        *,
        timeout: Optional[float] = 10.0,
        client_id: str = "",
        backoff: Optional[Backoff] = None,
        max_retries: Optional[int] = None,
        resume_window: float = 60.0,
        channel_options: Sequence[Tuple[str, Any]] = (),
    ):
        if not isinstance(address, str) or not address:
            raise InvalidArgument("address: want 'host:port' or 'unix:///path'", op="connect")
        if not address.startswith("unix:") and ":" not in address:
            raise InvalidArgument(
                f"address {address!r}: want 'host:port' (the daemon's --app-port, 5672 by default) or 'unix:///path'",
                op="connect",
            )
        if max_retries is not None and max_retries < 1:
            raise InvalidArgument(f"max_retries {max_retries}: want None (forever) or 1 or more", op="connect")
        if resume_window < 0:
            raise InvalidArgument(f"resume_window {resume_window}: want 0 or more seconds", op="connect")
        self.address = address
        self.timeout = timeout
        self.client_id = client_id
        self.backoff = backoff or Backoff()
        self.max_retries = max_retries
        self.resume_window = resume_window
        self._metadata: Tuple[Tuple[str, str], ...] = (("authorization", f"Bearer {token}"),) if token else ()
        b = self.backoff
        options = [
            # The daemon reads up to 64 MiB; a payload over its --max-payload
            # gets its answer naming the flag, not a client-side refusal.
            ("grpc.max_send_message_length", 64 << 20),
            ("grpc.max_receive_message_length", 64 << 20),
            # The daemon accepts pings every 5 s at most (netshell/grpc.go).
            ("grpc.keepalive_time_ms", 15000),
            ("grpc.keepalive_timeout_ms", 5000),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
            # gRPC's own reconnection follows the client's backoff. (Not
            # grpc.min_reconnect_backoff_ms: gRPC takes it as the time a
            # connection attempt may take, 20 s by default.)
            ("grpc.initial_reconnect_backoff_ms", max(1, int(b.initial * 1000))),
            ("grpc.max_reconnect_backoff_ms", max(1, int(b.max * 1000))),
            # After a lost connection gRPC asks its resolver again, and the
            # DNS resolver answers at most every 30 s by default: a daemon
            # that restarted would wait that long.
            ("grpc.dns_min_time_between_resolutions_ms", max(1, int(b.initial * 1000))),
            ("grpc.primary_user_agent", "nexusd-python-client"),
        ]
        options.extend(channel_options)
        self._channel = grpc.insecure_channel(_target(address), options=options)
        # Watching the channel's state keeps a thread polling gRPC's I/O even
        # with no call in flight: without it, gRPC Python learns the outcome of
        # a reconnection attempt only when something polls (seconds later),
        # and a restarted daemon looks unreachable meanwhile.
        self._state = grpc.ChannelConnectivity.IDLE
        self._channel.subscribe(self._on_state, try_to_connect=False)
        self._stub = pb_grpc.SidecarServiceStub(self._channel)
        self._lock = threading.Lock()
        self._closed = False
        self._subs: "set" = set()
        self._server_id = ""
        self._requester = Requester(self)

    # ----- lifecycle

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """End every subscription (telling the daemon) and the connection.
        Safe to call more than once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            subs = list(self._subs)
        for s in subs:
            try:
                s.close()
            except Exception:  # pragma: no cover - best effort
                log.debug("nexusd: closing a subscription failed", exc_info=True)
        self._channel.unsubscribe(self._on_state)
        # gRPC's watcher thread notices within 0.2 s that nobody watches;
        # closing the channel under it makes it raise (grpc/grpc#3064 area).
        watch = getattr(self._channel, "_connectivity_state", None)
        deadline = time.monotonic() + 1.0
        while watch is not None and getattr(watch, "polling", False) and time.monotonic() < deadline:
            time.sleep(0.01)
        self._channel.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def state(self) -> str:
        """The connection's state now: "idle", "connecting", "ready",
        "transient_failure" or "shutdown" (gRPC's channel connectivity)."""
        return self._state.name.lower()

    def _on_state(self, state: "grpc.ChannelConnectivity") -> None:
        if state != self._state:
            log.debug("nexusd: connection to %s: %s", self.address, state.name.lower())
        self._state = state

    def wait_ready(self, timeout: float = 5.0) -> None:
        """Wait until the connection to the daemon is up; raise
        :class:`nexusd.Unavailable` if it is not within ``timeout`` seconds."""
        self._check_open("connect")
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise Unavailable(
                f"cannot connect to {self.address} within {timeout:g} s "
                "(is a daemon running there? its sidecar is --app-port, 5672 by default, or --app-socket)",
                op="connect",
            ) from None

    @property
    def server_id(self) -> str:
        """Instance id of the daemon run that answered last ("" until one has).
        It changes when the daemon restarts."""
        return self._server_id

    # ----- publishing

    def publish(
        self,
        topic: str,
        payload: Payload = b"",
        *,
        content_type: Optional[str] = None,
        retain: bool = False,
        correlation_id: Optional[str] = None,
        ttl_ms: Optional[int] = None,
        timeout: Optional[float] = None,
    ) -> str:
        """Publish one message and return the id the daemon gave it.

        ``retain`` makes it the topic's retained value (an empty payload
        clears it); ``ttl_ms`` is its time to live (``None``: the daemon's
        default). Raises :class:`nexusd.InvalidTopic` for a bad topic,
        :class:`nexusd.Unavailable` when the daemon cannot be reached, ...
        """
        req = self._publish_request(topic, payload, content_type, retain, correlation_id, ttl_ms)
        resp = self._unary("publish", self._stub.Publish, req, timeout)
        return resp.message_id

    def publish_batch(
        self,
        messages: Iterable[Union[Tuple[str, Payload], Mapping[str, Any], "pb.PublishRequest"]],
        *,
        timeout: Optional[float] = None,
    ) -> List[PublishResult]:
        """Publish many messages on one PublishStream, in order.

        Each message is a ``(topic, payload)`` tuple or a mapping with the
        keyword arguments of :meth:`publish` (``topic``, ``payload``,
        ``content_type``, ``retain``, ``correlation_id``, ``ttl_ms``).
        Returns one :class:`nexusd.PublishResult` per message when all were
        published; otherwise raises :class:`nexusd.PublishBatchError`,
        whose ``failures`` name the failed messages by index (the others
        were published). A call the daemon refuses as a whole (a wrong
        token, an unreachable daemon) raises that error instead.
        """
        op = "publish_batch"
        self._check_open(op)
        reqs = [self._batch_item(i, m) for i, m in enumerate(messages)]
        if not reqs:
            return []
        n = len(reqs)

        def frames():
            for at in range(0, n, _PUBLISH_CHUNK):
                yield pb.PublishBatch(requests=reqs[at : at + _PUBLISH_CHUNK])

        failures: Dict[int, PublishFailure] = {}
        accepted = 0
        timeout = self.timeout if timeout is None else timeout
        call = self._stub.PublishStream(frames(), metadata=self._metadata, timeout=timeout)
        broke: Optional[NexusdError] = None
        try:
            self._note_server(call.initial_metadata())
            for ack in call:
                for f in ack.failures:
                    i = int(f.index)
                    if 0 <= i < n:
                        failures[i] = PublishFailure(i, reqs[i].topic, from_code_name(f.code, f.error_message, op))
                accepted = max(accepted, int(ack.accepted))
                if accepted >= n:
                    break
        except grpc.RpcError as e:
            broke = from_rpc_error(e, op)
        finally:
            call.cancel()
        if broke is not None:
            if accepted == 0 and not failures:
                raise broke
            for i in range(accepted, n):
                if i not in failures:
                    err = Unavailable(
                        f"the stream ended before the daemon answered for this message ({broke.details or broke.code.name}); "
                        "it may or may not have been published",
                        op=op,
                    )
                    failures[i] = PublishFailure(i, reqs[i].topic, err, unknown=True)
        elif accepted < n:
            raise Unavailable(f"the daemon ended the stream after answering {accepted} of {n} messages", op=op)
        results = [
            PublishResult(i, r.topic, i not in failures, failures[i].error if i in failures else None)
            for i, r in enumerate(reqs)
        ]
        if failures:
            raise PublishBatchError([failures[i] for i in sorted(failures)], results, op=op)
        return results

    # ----- request/reply

    def request(
        self,
        topic: str,
        payload: Payload = b"",
        *,
        timeout: float = 5.0,
        content_type: Optional[str] = None,
        correlation_id: Optional[str] = None,
        ttl_ms: Optional[int] = None,
    ) -> Message:
        """Publish a request and return the first reply to it.

        The request carries a reply address (``Message.reply_to``), an
        inbox topic of this client's daemon, which a responder answers with
        :meth:`reply`. Raises :class:`nexusd.NoResponders` at once when the
        daemon routed the request to no one, and :class:`nexusd.Timeout`
        when no reply came within ``timeout`` seconds. Safe to call from
        several threads at once.
        """
        return self._requester.request(topic, payload, timeout=timeout, content_type=content_type,
                                       correlation_id=correlation_id, ttl_ms=ttl_ms)

    def reply(self, msg: Message, payload: Payload = b"", *, content_type: Optional[str] = None,
              timeout: Optional[float] = None) -> str:
        """Answer a request: publish ``payload`` to ``msg.reply_to`` with
        ``msg``'s correlation id; return the reply's message id. Raises
        :class:`nexusd.InvalidArgument` when ``msg`` has no reply address."""
        return self._requester.reply(msg, payload, content_type=content_type, timeout=timeout)

    # ----- subscribing

    def subscribe(
        self,
        patterns: Union[str, Sequence[str]],
        *,
        receive_retained: bool = False,
        policy: Optional[str] = None,
        queue_limit: Optional[int] = None,
        on_gap=None,
        on_backpressure=None,
        max_batch: Optional[int] = None,
        buffer_size: int = 256,
        resume_window: Optional[float] = None,
        queue_group: Optional[str] = None,
    ):
        """Open a subscription to topic patterns (MQTT wildcards ``+`` and ``#``).

        Returns a :class:`nexusd.Subscription` once the daemon accepted it:
        iterate over it for :class:`nexusd.Message` objects. ``policy`` is
        what the daemon does when the subscription's queue is full
        (:class:`nexusd.Policy`), ``queue_limit`` lowers that queue (in
        messages). ``on_gap(gap)`` is called for every run of messages the
        subscription will never receive, once per missed message;
        ``on_backpressure(warning)`` for every backpressure warning. Both are
        called from the subscription's reader thread: keep them short.
        ``buffer_size`` is how many messages the client holds before it
        stops reading (then the daemon queues, and applies the policy).
        ``resume_window`` (seconds, default the client's) is how long the
        daemon keeps the subscription when the connection breaks, so the
        client resumes it missing nothing the daemon's ring still holds.
        ``queue_group`` makes the subscription a member of that queue group:
        among all live members across the mesh whose patterns match a
        message, exactly one receives it; a member's sequence numbers count
        its share only.
        """
        from .subscription import Subscription

        op = "subscribe"
        self._check_open(op)
        if isinstance(patterns, str):
            patterns = [patterns]
        patterns = list(patterns)
        if policy is not None and policy not in ("drop-oldest", "drop-newest", "block"):
            raise InvalidArgument(f"policy {policy!r}: want 'drop-oldest', 'drop-newest' or 'block'", op=op)
        if queue_limit is not None and queue_limit < 1:
            raise InvalidArgument(f"queue_limit {queue_limit}: want a positive number of messages", op=op)
        if max_batch is not None and max_batch < 1:
            raise InvalidArgument(f"max_batch {max_batch}: want 1 or more", op=op)
        if buffer_size < 1:
            raise InvalidArgument(f"buffer_size {buffer_size}: want 1 or more", op=op)
        window = self.resume_window if resume_window is None else resume_window
        if window < 0:
            raise InvalidArgument(f"resume_window {window}: want 0 or more seconds", op=op)
        if queue_group is not None:
            _check_queue_group(queue_group, op)
        sub = Subscription(
            self,
            patterns,
            receive_retained=receive_retained,
            policy=policy or "",
            queue_limit=queue_limit or 0,
            max_batch=max_batch or 0,
            buffer_size=buffer_size,
            resume_window_ms=int(window * 1000),
            on_gap=on_gap,
            on_backpressure=on_backpressure,
            queue_group=queue_group or "",
        )
        with self._lock:
            if self._closed:
                sub._abandon()
                raise ClientClosed("the client is closed", op=op)
            self._subs.add(sub)
        sub._start()
        return sub

    # ----- state of the daemon

    def get_topics(self, *, timeout: Optional[float] = None) -> Dict[str, int]:
        """The topic patterns with subscribers on this daemon, and how many each."""
        resp = self._unary("get_topics", self._stub.GetTopics, pb.GetTopicsRequest(include_counts=True), timeout)
        return dict(resp.topics)

    def get_peers(self, *, include_state: bool = False, timeout: Optional[float] = None) -> List[Dict[str, Any]]:
        """The mesh peers this daemon knows, one dict each."""
        resp = self._unary("get_peers", self._stub.GetPeers, pb.GetPeersRequest(include_state=include_state), timeout)
        return [
            {
                "instance_uuid": p.instance_uuid,
                "endpoint": p.endpoint,
                "last_seen_ms": p.last_seen_ms,
                "cluster_id": p.cluster_id,
                "topic_state_hash": p.topic_state_hash,
                "topics": list(p.topics),
                "status": p.status,
            }
            for p in resp.peers
        ]

    # ----- internals

    def _check_open(self, op: str) -> None:
        if self._closed:
            raise ClientClosed("the client is closed", op=op)

    def _forget(self, sub) -> None:
        with self._lock:
            self._subs.discard(sub)

    def _unary(self, op: str, method, req, timeout: Optional[float]):
        self._check_open(op)
        timeout = self.timeout if timeout is None else timeout
        try:
            resp, call = method.with_call(req, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            self._note_server(_initial_metadata(e))
            raise from_rpc_error(e, op) from None
        except ValueError as e:  # the channel was closed under the call
            if self._closed:
                raise ClientClosed("the client is closed", op=op) from None
            raise
        self._note_server(call.initial_metadata())
        return resp

    def _unsubscribe(self, sub_id: str, pause: bool, timeout: Optional[float] = None):
        return self._unary("pause" if pause else "unsubscribe", self._stub.Unsubscribe,
                           pb.UnsubscribeRequest(subscription_id=sub_id, pause=pause), timeout)

    def _note_server(self, md) -> str:
        """Record the daemon instance named in response metadata; return it ("" if none)."""
        for k, v in md or ():
            if k == INSTANCE_HEADER and v:
                if isinstance(v, bytes):
                    v = v.decode("utf-8", "replace")
                self._server_id = v
                return v
        return ""

    @staticmethod
    def _publish_request(topic, payload, content_type, retain, correlation_id, ttl_ms) -> "pb.PublishRequest":
        if not isinstance(topic, str):
            raise InvalidArgument(f"topic of type {type(topic).__name__}: want str", op="publish")
        return pb.PublishRequest(
            topic=topic,
            payload=_to_bytes(payload),
            content_type=content_type or "",
            retain=bool(retain),
            correlation_id=correlation_id or "",
            ttl_ms=int(ttl_ms or 0),
        )

    def _batch_item(self, i: int, m) -> "pb.PublishRequest":
        if isinstance(m, pb.PublishRequest):
            return m
        try:
            if isinstance(m, Mapping):
                kw = dict(m)
                args = (kw.pop("topic"), kw.pop("payload", b""), kw.pop("content_type", None), kw.pop("retain", False),
                        kw.pop("correlation_id", None), kw.pop("ttl_ms", None))
                if kw:
                    raise TypeError(f"unknown keys {sorted(kw)}")
                return self._publish_request(*args)
            topic, payload = m
            return self._publish_request(topic, payload, None, False, None, None)
        except NexusdError as e:
            raise InvalidArgument(f"message {i}: {e.details}", op="publish_batch") from None
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidArgument(
                f"message {i}: want a (topic, payload) tuple or a mapping with 'topic' ({e})", op="publish_batch"
            ) from None


def _target(address: str) -> str:
    """The gRPC target for address: an IP literal goes to gRPC's ipv4: or
    ipv6: resolver, which never waits to resolve again (a host name keeps
    the DNS resolver)."""
    if address.startswith("unix:") or "://" in address:
        return address
    host, _, port = address.rpartition(":")
    h = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ip = ipaddress.ip_address(h)
    except ValueError:
        return address
    return f"ipv4:{h}:{port}" if ip.version == 4 else f"ipv6:[{h}]:{port}"


def _initial_metadata(err) -> Sequence:
    try:
        return err.initial_metadata() or ()
    except Exception:
        return ()


def _check_queue_group(group: str, op: str) -> None:
    """A queue group's name: 1 to 128 bytes of UTF-8, no control character."""
    n = len(group.encode("utf-8", "surrogatepass"))
    if not 1 <= n <= 128:
        raise InvalidArgument(f"queue_group is {n} bytes: give 1 to 128", op=op)
    if any(unicodedata.category(ch) == "Cc" for ch in group):
        raise InvalidArgument(f"queue_group {group!r} holds a control character", op=op)
    if "queue_group" not in pb.SubscribeRequest.DESCRIPTOR.fields_by_name:
        raise InvalidArgument("queue_group: this client's generated stubs predate it; regenerate them (make python-proto)", op=op)
