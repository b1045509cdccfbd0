"""The Source seam: how objects enter the pipeline and how they are acknowledged.

A source discovers work and hands the pipeline :class:`WorkItem` s; it never acknowledges on its own.
The pipeline calls ``item.ack.commit()`` only after every object of the item has been decoded, evaluated
and every resulting alert delivered (or durably spooled and then delivered), and ``release`` when it
cannot finish. This is the whole lossless-delivery contract: a crash between receive and commit means
the item comes back (SQS redelivery, directory rescan), never that it is lost. [Vector end-to-end
acknowledgements; the AWS CloudTrail Processing Library]
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from trailwatchd.model import ObjectRef


class Ack(Protocol):
    """Acknowledgement handle of one work item (an SQS message, a directory file, an S3 key)."""

    async def commit(self) -> None:
        """Everything from this item is delivered: delete the message / mark the key seen."""

    async def release(self, reason: str, *, permanent: bool) -> None:
        """Give the item back unfinished.

        ``permanent=False``: retry later (SQS: make it visible again after a backoff). ``permanent=True``:
        retrying cannot help (SQS: leave it for the queue's redrive policy, so it lands in the DLQ; a
        directory file is parked and reported). Either way it is counted, never silently dropped.
        """


@dataclass(slots=True)
class WorkItem:
    """What a source emits: zero or more objects sharing one acknowledgement.

    An SQS message may name several objects (CloudTrail's SNS notice lists keys), exactly one (an S3
    event), or none that need reading (EventBridge carries the event inline, a test event carries
    nothing and is committed at once).
    """

    source_id: str
    objects: tuple[ObjectRef, ...]
    ack: Ack
    label: str
    """A short human handle for logs: the SQS message id, the file path."""
    received_at: float = field(default=0.0)
    """Loop time when the source received the item, for in-flight age metrics."""


Emit = Callable[[WorkItem], Awaitable[None]]
"""The pipeline's intake. Awaiting it applies back-pressure: a full queue slows the source down."""


class Source(Protocol):
    """A configured source. Instances come from the ``SOURCES`` table in ``trailwatchd.sources``."""

    id: str

    @property
    def ready(self) -> bool:
        """True once the source has completed its first poll (feeds ``/readyz``)."""

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Discover work and ``await emit(item)`` until ``stop`` is set, then return.

        Network errors are retried here with capped exponential backoff and jitter; raising means a bug.
        """

    async def fetch(self, ref: ObjectRef, max_bytes: int) -> bytes:
        """Read one object's bytes (at most ``max_bytes``; larger raises PermanentFetchError).

        Raises TemporaryFetchError (retry later) or PermanentFetchError (NoSuchKey, AccessDenied, KMS).
        """
