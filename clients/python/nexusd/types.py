"""Values the client hands to the application."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Optional

__all__ = ["Message", "Gap", "BackpressureWarning", "PublishResult", "Policy", "LIVE", "RETAINED", "REPLAYED"]

# How a message reached a subscription (Message.kind).
LIVE = "live"  # published while the subscription was listening
RETAINED = "retained"  # the topic's retained value, sent when the subscription opened
REPLAYED = "replayed"  # missed while paused or reconnecting, replayed from the daemon's ring


class Policy:
    """What the daemon does when a subscription's queue is full."""

    DROP_OLDEST = "drop-oldest"  # the daemon's default
    DROP_NEWEST = "drop-newest"
    BLOCK = "block"  # publishers wait, up to the daemon's --block-timeout

    ALL = (DROP_OLDEST, DROP_NEWEST, BLOCK)


@dataclass(frozen=True)
class Message:
    """One message delivered to a subscription."""

    id: str  # the UUID the source daemon gave it
    topic: str
    payload: bytes
    content_type: str = ""
    correlation_id: str = ""
    timestamp_ms: int = 0  # publish time on the source daemon's clock
    source: str = ""  # instance id of the daemon it was published on
    sequence: int = 0  # this daemon's number for it within its topic: 1, 2, 3...
    kind: str = LIVE  # LIVE, RETAINED or REPLAYED
    reply_to: str = ""  # where a reply goes (Client.reply sends it there); "" when none

    @property
    def timestamp(self) -> datetime.datetime:
        """The publish time as an aware UTC datetime."""
        return datetime.datetime.fromtimestamp(self.timestamp_ms / 1000, tz=datetime.timezone.utc)

    @classmethod
    def _from_proto(cls, m, kind: str) -> "Message":
        return cls(
            id=m.message_id,
            topic=m.topic,
            payload=bytes(m.payload),
            content_type=m.content_type,
            correlation_id=m.correlation_id,
            timestamp_ms=m.timestamp_ms,
            source=m.source_node_id,
            sequence=m.sequence_number,
            kind=kind,
            reply_to=m.reply_to,
        )


@dataclass(frozen=True)
class Gap:
    """A run of messages a subscription will never receive.

    ``cause`` is ``"sequence"`` (a topic's numbers skipped: dropped from a
    full queue, expired, or lost between daemons), ``"resume"`` (on resume
    the daemon could no longer replay them) or ``"restart"`` (the daemon
    restarted, so its numbering started over; ``missed`` is -1, unknown).
    Each missed message is reported once.
    """

    subscription: str
    topic: str  # "" when the daemon did not say which topics (some resume gaps)
    expected: int  # the sequence number that should have come next; 0 if unknown
    received: int  # the one that came instead; 0 if none has come yet
    missed: int  # how many were lost; -1 when unknown
    cause: str  # "sequence", "resume" or "restart"

    def __str__(self) -> str:
        missed = "unknown" if self.missed < 0 else str(self.missed)
        return (
            f"gap on {self.topic or '(topics not given)'}: expected {self.expected}, "
            f"received {self.received}, missed {missed} ({self.cause})"
        )


@dataclass(frozen=True)
class BackpressureWarning:
    """Messages a subscription lost in the daemon (full queue, TTL, or between daemons).

    ``dropped``, ``expired`` and ``lost`` count since the previous warning;
    the ``total_`` fields since the subscription started on the daemon.
    """

    subscription: str
    reason: str  # slow_consumer, burst, ttl_expired or message_lost
    dropped: int
    expired: int
    lost: int
    total_dropped: int
    total_expired: int
    total_lost: int
    queue_depth: int
    queue_limit: int
    oldest_age_ms: int


@dataclass(frozen=True)
class PublishResult:
    """What became of one message of :meth:`Client.publish_batch`."""

    index: int
    topic: str
    ok: bool
    error: Optional[Exception] = field(default=None, compare=False)
