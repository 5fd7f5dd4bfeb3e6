"""In-process metrics, exposed in the Prometheus text format at ``/metrics``.

Hand-rolled rather than prometheus_client so that every Application (and every test) owns its own
registry with no global state.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable

LabelKey = tuple[tuple[str, str], ...]


def _labels(labels: dict[str, str]) -> LabelKey:
    return tuple(sorted(labels.items()))


def _render_labels(key: LabelKey, extra: Iterable[tuple[str, str]] = ()) -> str:
    items = [*key, *extra]
    if not items:
        return ""
    escaped = (
        f'{name}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for name, value in items
    )
    return "{" + ",".join(escaped) + "}"


class Counter:
    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help = name, help_text
        self.values: dict[LabelKey, float] = defaultdict(float)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self.values[_labels(labels)] += amount

    def get(self, **labels: str) -> float:
        return self.values.get(_labels(labels), 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        lines += [f"{self.name}{_render_labels(key)} {value:g}" for key, value in sorted(self.values.items())]
        return lines


class Gauge(Counter):
    def set(self, value: float, **labels: str) -> None:
        self.values[_labels(labels)] = value

    def render(self) -> list[str]:
        return [
            line.replace(" counter", " gauge", 1) if line.startswith("# TYPE") else line
            for line in super().render()
        ]


class Histogram:
    def __init__(self, name: str, help_text: str, buckets: Iterable[float]) -> None:
        self.name, self.help = name, help_text
        self.buckets = sorted(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        cumulative = 0
        for bound, count in zip([*self.buckets, float("inf")], self.counts, strict=True):
            cumulative += count
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            lines.append(f'{self.name}_bucket{{le="{le}"}} {cumulative}')
        lines += [f"{self.name}_sum {self.total:g}", f"{self.name}_count {self.count}"]
        return lines


class Metrics:
    """Every metric Välitupa exports, owned by one Application."""

    def __init__(self) -> None:
        self.updates = Counter("valitupa_updates_total", "Updates handled, by type.")
        self.handler_errors = Counter("valitupa_handler_errors_total", "Unhandled errors in handlers.")
        self.deliveries = Counter("valitupa_deliveries_total", "Delivery outcomes, by state.")
        self.deliveries_by_state = Gauge("valitupa_deliveries", "Deliveries in the outbox, by state.")
        self.send_latency = Histogram(
            "valitupa_send_seconds",
            "Latency of Bot API send calls.",
            (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.retry_after = Counter("valitupa_retry_after_total", "429 answers from Telegram.")
        self.retry_after_seconds = Counter("valitupa_retry_after_seconds_total", "Seconds paused for 429s.")
        self.digests = Counter("valitupa_digest_runs_total", "Digests built, by trigger.")

    def all(self) -> list[Counter | Histogram]:
        return [
            self.updates,
            self.handler_errors,
            self.deliveries,
            self.deliveries_by_state,
            self.send_latency,
            self.retry_after,
            self.retry_after_seconds,
            self.digests,
        ]

    def render(self) -> str:
        return "\n".join(line for metric in self.all() for line in metric.render()) + "\n"
