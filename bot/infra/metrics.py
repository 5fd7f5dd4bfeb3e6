"""In-process metrics, exposed in the Prometheus text format at ``/metrics``.

Each :class:`Metrics` (one per Application, so one per test) owns its own ``CollectorRegistry``:
nothing is registered in prometheus_client's global registry. The outbox gauge
``valitupa_deliveries`` is the web side's (``bot/infra/web.py``): prometheus_client counts it as the
same family as the counter ``valitupa_deliveries_total`` and refuses both in one registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

SEND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """Every metric Välitupa exports, owned by one Application."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.updates = Counter(
            "valitupa_updates_total", "Updates handled, by type.", ["type"], registry=registry
        )
        self.handler_errors = Counter(
            "valitupa_handler_errors_total", "Unhandled errors in handlers.", ["kind"], registry=registry
        )
        self.deliveries = Counter(
            "valitupa_deliveries_total", "Delivery outcomes, by state.", ["state"], registry=registry
        )
        self.ambiguous_sends = Counter(
            "valitupa_ambiguous_sends_total",
            "Sends written to Telegram whose outcome is unknown (read timeout, reset, unreadable answer).",
            ["what"],
            registry=registry,
        )
        self.unreadable_answers = Counter(
            "valitupa_unreadable_answers_total",
            "Sends Telegram answered ok whose answer could not be read (recorded as sent).",
            registry=registry,
        )
        self.send_latency = Histogram(
            "valitupa_send_seconds", "Latency of Bot API send calls.", buckets=SEND_BUCKETS, registry=registry
        )
        self.retry_after = Counter(
            "valitupa_retry_after_total", "429 answers from Telegram.", registry=registry
        )
        self.retry_after_seconds = Counter(
            "valitupa_retry_after_seconds_total", "Seconds paused for 429s.", registry=registry
        )
        self.digests = Counter(
            "valitupa_digest_runs_total", "Digests built, by trigger.", ["trigger"], registry=registry
        )
