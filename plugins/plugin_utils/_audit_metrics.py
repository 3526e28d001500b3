# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus text exposition format (0.0.4), rendered without a client library."""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field

# Task durations in seconds: most tasks take under a second over SSH pipelining;
# package installs and image pulls take minutes.
TASK_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def escape_label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def labels_text(labels: dict) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{escape_label(v)}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"


@dataclass
class Histogram:
    buckets: tuple[float, ...] = TASK_BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self):
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        index = bisect_left(self.buckets, value)
        if index < len(self.counts):
            self.counts[index] += 1
        self.total += value
        self.count += 1

    def samples(self, labels: dict) -> list[tuple[str, dict, float]]:
        """The _bucket (cumulative), _sum and _count samples."""
        out, running = [], 0
        for bound, count in zip(self.buckets, self.counts, strict=True):
            running += count
            out.append(("_bucket", {**labels, "le": format_value(bound)}, running))
        out.append(("_bucket", {**labels, "le": "+Inf"}, self.count))
        out.append(("_sum", labels, self.total))
        out.append(("_count", labels, self.count))
        return out


@dataclass
class Family:
    """One metric: its name, type, help and samples (suffix, labels, value)."""

    name: str
    kind: str
    help: str
    samples: list[tuple[str, dict, float]] = field(default_factory=list)

    def add(self, value: float, **labels) -> Family:
        self.samples.append(("", labels, value))
        return self

    def add_histogram(self, histogram: Histogram, **labels) -> Family:
        self.samples.extend(histogram.samples(labels))
        return self


def render(families: list[Family]) -> str:
    """Families in exposition format; families with no samples are left out."""
    lines = []
    for family in families:
        if not family.samples:
            continue
        lines.append(f"# HELP {family.name} {family.help}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for suffix, labels, value in family.samples:
            lines.append(f"{family.name}{suffix}{labels_text(labels)} {format_value(value)}")
    return "\n".join(lines) + "\n" if lines else ""
