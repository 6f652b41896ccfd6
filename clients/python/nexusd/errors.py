"""Typed errors of the nexusd client.

Every failed call raises a :class:`NexusdError` subclass chosen by the gRPC
status code the daemon answered with (docs/protocol.md section 13.2):

================================  ==========================
gRPC status                       exception
================================  ==========================
INVALID_ARGUMENT                  :class:`InvalidArgument` (:class:`InvalidTopic` for a bad topic or pattern)
NOT_FOUND                         :class:`NotFound`
RESOURCE_EXHAUSTED                :class:`ResourceExhausted`
UNAVAILABLE                       :class:`Unavailable` (also a builtin ``ConnectionError``)
DEADLINE_EXCEEDED                 :class:`Timeout` (also a builtin ``TimeoutError``)
UNAUTHENTICATED, PERMISSION_DENIED  :class:`Unauthenticated`
CANCELLED                         :class:`Cancelled`
anything else                     :class:`NexusdError`
================================  ==========================
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import grpc

__all__ = [
    "NexusdError",
    "InvalidArgument",
    "InvalidTopic",
    "NotFound",
    "ResourceExhausted",
    "Unavailable",
    "Timeout",
    "Unauthenticated",
    "Cancelled",
    "ClientClosed",
    "NoResponders",
    "PublishFailure",
    "PublishBatchError",
    "from_rpc_error",
    "from_code_name",
]


class NexusdError(Exception):
    """Base of every error the client raises.

    ``code`` is the gRPC status code (a :class:`grpc.StatusCode`), ``details``
    the daemon's message, ``op`` what the client was doing ("publish",
    "subscribe", ...).
    """

    default_code = grpc.StatusCode.UNKNOWN

    def __init__(self, details: str = "", *, code: Optional[grpc.StatusCode] = None, op: str = ""):
        self.code = code if code is not None else self.default_code
        self.details = details
        self.op = op
        super().__init__(self._message())

    def _message(self) -> str:
        prefix = f"nexusd: {self.op}: " if self.op else "nexusd: "
        name = self.code.name if isinstance(self.code, grpc.StatusCode) else str(self.code)
        return f"{prefix}{name}: {self.details}" if self.details else f"{prefix}{name}"


class InvalidArgument(NexusdError, ValueError):
    """The request was refused as malformed (INVALID_ARGUMENT)."""

    default_code = grpc.StatusCode.INVALID_ARGUMENT


class InvalidTopic(InvalidArgument):
    """The topic or pattern breaks the topic rules (docs/protocol.md 4.1)."""


class NotFound(NexusdError, LookupError):
    """The subscription is unknown to the daemon, or its pause ran out (NOT_FOUND)."""

    default_code = grpc.StatusCode.NOT_FOUND


class ResourceExhausted(NexusdError):
    """A daemon limit was reached (RESOURCE_EXHAUSTED)."""

    default_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(NexusdError, ConnectionError):
    """The daemon cannot be reached or is shutting down (UNAVAILABLE)."""

    default_code = grpc.StatusCode.UNAVAILABLE


class Timeout(NexusdError, TimeoutError):
    """The call's deadline passed (DEADLINE_EXCEEDED)."""

    default_code = grpc.StatusCode.DEADLINE_EXCEEDED


class Unauthenticated(NexusdError, PermissionError):
    """The daemon wants its --app-token and got none or a wrong one."""

    default_code = grpc.StatusCode.UNAUTHENTICATED


class Cancelled(NexusdError):
    """The call was cancelled (CANCELLED)."""

    default_code = grpc.StatusCode.CANCELLED


class ClientClosed(Cancelled):
    """The client (or the subscription) was closed."""


class NoResponders(NexusdError):
    """A request reached no subscriber: nothing on the daemon, and no peer
    daemon known to have a subscription, matches its topic."""

    default_code = grpc.StatusCode.UNAVAILABLE


_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: Timeout,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: Unauthenticated,
    grpc.StatusCode.CANCELLED: Cancelled,
}

# The daemon's INVALID_ARGUMENT messages about a topic or pattern begin so
# (client/errors.go aboutTopic).
_TOPIC_PREFIXES = ('topic "', "topic is empty", 'pattern "', "pattern is empty", "no topics given", "topic %")


def _make(code: grpc.StatusCode, details: str, op: str) -> NexusdError:
    cls = _BY_CODE.get(code, NexusdError)
    if cls is InvalidArgument and details.startswith(_TOPIC_PREFIXES):
        cls = InvalidTopic
    return cls(details, code=code, op=op)


def from_rpc_error(err: grpc.RpcError, op: str = "") -> NexusdError:
    """The typed error for a failed gRPC call."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = (err.details() if hasattr(err, "details") else "") or ""
    if code is None:
        code = grpc.StatusCode.UNKNOWN
    e = _make(code, details, op)
    e.__cause__ = err
    return e


_CODE_NAMES = {c.name: c for c in grpc.StatusCode}


def from_code_name(name: str, details: str, op: str = "") -> NexusdError:
    """The typed error for a gRPC code given by name ("INVALID_ARGUMENT")."""
    return _make(_CODE_NAMES.get(name, grpc.StatusCode.UNKNOWN), details, op)


class PublishFailure:
    """One message of a :meth:`Client.publish_batch` that was not published.

    ``index`` is its 0-based position in the batch, ``topic`` its topic and
    ``error`` the typed error (:class:`InvalidArgument`, :class:`ResourceExhausted`,
    ...). An :class:`Unavailable` error with ``unknown`` True means the stream
    broke before the daemon answered for it: it may or may not have been
    published.
    """

    __slots__ = ("index", "topic", "error", "unknown")

    def __init__(self, index: int, topic: str, error: NexusdError, unknown: bool = False):
        self.index = index
        self.topic = topic
        self.error = error
        self.unknown = unknown

    def __repr__(self) -> str:
        return f"PublishFailure(index={self.index}, topic={self.topic!r}, error={self.error!r}, unknown={self.unknown})"


class PublishBatchError(NexusdError):
    """Some messages of a :meth:`Client.publish_batch` failed.

    ``failures`` lists them by index (ascending); ``results`` holds one
    :class:`nexusd.PublishResult` per message of the batch, in order.
    """

    def __init__(self, failures: Sequence[PublishFailure], results: Sequence[object], op: str = "publish_batch"):
        self.failures: List[PublishFailure] = list(failures)
        self.results = list(results)
        first = self.failures[0]
        details = (
            f"{len(self.failures)} of {len(self.results)} messages failed; "
            f"first: index {first.index} ({first.topic!r}): {first.error.details or first.error.code.name}"
        )
        code = first.error.code if all(f.error.code == first.error.code for f in self.failures) else grpc.StatusCode.UNKNOWN
        super().__init__(details, code=code, op=op)

    @property
    def failed_indexes(self) -> List[int]:
        return [f.index for f in self.failures]
