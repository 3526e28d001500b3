"""The table every benchmark ends with: median, target and samples per measure."""

from __future__ import annotations

import statistics


def print_medians(
    samples: dict[str, list[float]],
    targets: dict[str, float],
    label: str,
    units: dict[str, str] | None = None,
) -> bool:
    """Print one row per measure (in seconds unless `units` names another unit: a ratio's
    is 'x'); True when every median met its target and every measure ran."""
    units = units or {}
    width = max([len(label), *map(len, samples)]) + 2
    print(f"\n{label:<{width}}{'median':>10}{'target':>10}  unit  samples")
    ok = True
    for name, values in samples.items():
        unit = units.get(name, "s")
        digits = 2 if unit == "x" else 1
        target = f"{targets[name]:.{digits}f}"
        if not values:
            print(f"{name:<{width}}{'-':>10}{target:>10}  {unit:<4}  no run passed  FAILED")
            ok = False
            continue
        median = statistics.median(values)
        verdict = "ok" if median <= targets[name] else "MISSED"
        ok &= verdict == "ok"
        shown = ", ".join(f"{v:.{digits}f}" for v in values)
        print(f"{name:<{width}}{median:>10.{digits}f}{target:>10}  {unit:<4}  {shown}  {verdict}")
    return ok
