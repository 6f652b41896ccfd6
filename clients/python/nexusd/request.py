"""Request/reply over inbox topics (docs/protocol.md section 4.6).

A client keeps one inbox subscription, ``_inbox/<daemon instance>/<client
id>/#``, opened by its first request; each request gets its own reply
address under it. A message to an inbox topic goes straight to the daemon
it names, so a responder anywhere in the mesh reaches the requester without
waiting for gossip. As the Go client's client/request.go.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Dict, Optional

from .errors import InvalidArgument, NexusdError, NoResponders, Timeout, Unavailable
from .types import Message

INBOX_PREFIX = "_inbox/"


class _Waiter:
    """One request's wait for its reply."""

    __slots__ = ("event", "msg")

    def __init__(self):
        self.event = threading.Event()
        self.msg: Optional[Message] = None


class _Inbox:
    """A client's reply subscription on one daemon run."""

    def __init__(self, client, inst: str):
        self.inst = inst
        self.prefix = f"{INBOX_PREFIX}{inst}/{secrets.token_hex(8)}/"
        self.lock = threading.Lock()
        self.waiting: Dict[str, _Waiter] = {}
        self.ended = False
        self.sub = client.subscribe(self.prefix + "#", buffer_size=1024)
        threading.Thread(target=self._dispatch, name="nexusd-inbox", daemon=True).start()

    def expect(self, addr: str) -> _Waiter:
        w = _Waiter()
        with self.lock:
            if self.ended:
                w.event.set()
            else:
                self.waiting[addr] = w
        return w

    def forget(self, addr: str) -> None:
        with self.lock:
            self.waiting.pop(addr, None)

    def _dispatch(self) -> None:
        # A reply no request waits for (a second one, or one after its
        # timeout) is dropped.
        try:
            for m in self.sub:
                with self.lock:
                    w = self.waiting.pop(m.topic, None)
                if w is not None:
                    w.msg = m
                    w.event.set()
        except NexusdError:
            pass
        finally:
            with self.lock:
                self.ended = True
                left = list(self.waiting.values())
                self.waiting.clear()
            for w in left:
                w.event.set()


class Requester:
    """What Client.request and Client.reply keep: the inbox, made lazily."""

    def __init__(self, client):
        self.client = client
        self.lock = threading.Lock()
        self.inbox: Optional[_Inbox] = None
        self.next = 0

    def _current(self, timeout: Optional[float]) -> _Inbox:
        c = self.client
        with self.lock:
            inst = c.server_id
            if not inst:
                c.get_topics(timeout=timeout)  # anything that names the daemon run
                inst = c.server_id
                if not inst:
                    raise Unavailable("the daemon names no instance (no nexusd-instance header): "
                                      "it has no inbox topics for replies", op="request")
            ib = self.inbox
            if ib is not None and ib.inst == inst and not ib.ended:
                return ib
            if ib is not None:
                self.inbox = None
                threading.Thread(target=ib.sub.close, daemon=True).start()  # it names a run that is gone
            self.inbox = _Inbox(c, inst)
            return self.inbox

    def _address(self, ib: _Inbox) -> str:
        with self.lock:
            self.next += 1
            return f"{ib.prefix}{self.next}"

    def request(self, topic: str, payload, *, timeout: float, content_type: Optional[str],
                correlation_id: Optional[str], ttl_ms: Optional[int]) -> Message:
        c = self.client
        op = "request"
        c._check_open(op)
        if timeout is None or timeout <= 0:
            raise InvalidArgument(f"timeout {timeout!r}: want a number of seconds above 0", op=op)
        deadline = time.monotonic() + timeout
        for attempt in range(2):
            ib = self._current(timeout)
            addr = self._address(ib)
            req = c._publish_request(topic, payload, content_type, False, correlation_id or addr[len(ib.prefix):], ttl_ms)
            req.reply_to = addr
            w = ib.expect(addr)
            try:
                resp = c._unary(op, c._stub.Publish, req, max(deadline - time.monotonic(), 0.001))
            except BaseException:
                ib.forget(addr)
                raise
            if c.server_id != ib.inst and attempt == 0:
                # A new daemon run took the request: the reply would go to
                # an instance that is gone. Publish it again from a new inbox.
                ib.forget(addr)
                continue
            if resp.subscriber_count == 0:
                ib.forget(addr)
                raise NoResponders(f"no responders for topic {topic!r}", op=op)
            if not w.event.wait(max(deadline - time.monotonic(), 0)):
                ib.forget(addr)
                raise Timeout(f"no reply within {timeout:g} s", op=op)
            if w.msg is None:
                err = ib.sub.error
                raise err if err is not None else Unavailable("the reply subscription ended before the reply came", op=op)
            return w.msg
        raise AssertionError("unreachable")  # pragma: no cover

    def reply(self, msg: Message, payload, *, content_type: Optional[str], timeout: Optional[float]) -> str:
        if not getattr(msg, "reply_to", ""):
            raise InvalidArgument("the message has no reply_to: it is not a request, so there is nowhere to reply",
                                  op="reply")
        req = self.client._publish_request(msg.reply_to, payload, content_type, False, msg.correlation_id, None)
        resp = self.client._unary("reply", self.client._stub.Publish, req, timeout)
        return resp.message_id
