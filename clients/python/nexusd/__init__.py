"""Python client for nexusd, the brokerless pub/sub daemon.

    import nexusd

    with nexusd.Client("127.0.0.1:5672") as c:
        with c.subscribe("sensors/#") as sub:
            c.publish("sensors/1/temp", b"21.5")
            msg = next(sub)          # Message(topic='sensors/1/temp', sequence=1, ...)

See clients/python/README.md.
"""

from .client import DEFAULT_ADDRESS, Backoff, Client
from .errors import (
    Cancelled,
    ClientClosed,
    InvalidArgument,
    InvalidTopic,
    NexusdError,
    NoResponders,
    NotFound,
    PublishBatchError,
    PublishFailure,
    ResourceExhausted,
    Timeout,
    Unauthenticated,
    Unavailable,
)
from .subscription import Subscription
from .types import LIVE, REPLAYED, RETAINED, BackpressureWarning, Gap, Message, Policy, PublishResult

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Backoff",
    "DEFAULT_ADDRESS",
    "Subscription",
    "Message",
    "Gap",
    "BackpressureWarning",
    "PublishResult",
    "Policy",
    "LIVE",
    "RETAINED",
    "REPLAYED",
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
]
