"""The table every benchmark ends with: median, target and samples per measure."""

from __future__ import annotations

import statistics


def print_medians(samples: dict[str, list[float]], targets: dict[str, float], label: str) -> bool:
    """Print one row per measure; True when every median met its target and every measure ran."""
    width = max([len(label), *map(len, samples)]) + 2
    print(f"\n{label:<{width}}{'median s':>10}{'target s':>10}  samples")
    ok = True
    for name, values in samples.items():
        if not values:
            print(f"{name:<{width}}{'-':>10}{targets[name]:>10.0f}  no run passed  FAILED")
            ok = False
            continue
        median = statistics.median(values)
        verdict = "ok" if median <= targets[name] else "MISSED"
        ok &= verdict == "ok"
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"{name:<{width}}{median:>10.1f}{targets[name]:>10.0f}  {shown}  {verdict}")
    return ok
