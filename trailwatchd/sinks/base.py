"""The Sink seam: where alerts go.

A sink delivers a batch and reports per alert, so one throttled entry of a PublishBatch does not make
the pipeline resend the nine that were delivered. Delivery status flows back to the originating object's
acknowledgement: the worst status wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from trailwatchd.errors import DeliveryError
from trailwatchd.model import Alert


class Sink(Protocol):
    """A configured sink. Instances come from the ``SINKS`` table in ``trailwatchd.sinks``."""

    id: str
    batch_limit: int
    """How many spooled alerts the delivery loop hands to one ``deliver`` call."""

    async def deliver(self, alerts: Sequence[Alert]) -> list[DeliveryError | None]:
        """Deliver alerts; return one entry per alert: None when delivered, else the error.

        ``TemporaryDeliveryError`` means retry later (throttling, 5xx, network; the alert stays spooled);
        ``PermanentDeliveryError`` means the sink refused it for good. Never raises for per-alert
        problems; raising is reserved for bugs.
        """

    async def close(self) -> None:
        """Flush and release resources; called once at shutdown."""
