# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy report for operators without AWX: the last deploys and the figures, as text.

From the audit directory's deploy index (what the metrics are computed from,
docs/audit.md) and the release each app host's ledger names. The figures are
_audit_dora's, the same the callback publishes as metrics.
"""

from __future__ import annotations

import json
from pathlib import Path

from ansible_collections.slipway.ops.plugins.plugin_utils._audit_chain import INDEX_NAME
from ansible_collections.slipway.ops.plugins.plugin_utils._audit_dora import figures, parse_time


def read_index(audit_dir: Path | str) -> tuple[list[dict], list[str]]:
    """The deploy outcomes in the index, oldest first, and a note per damaged line."""
    index = Path(audit_dir) / INDEX_NAME
    deploys, notes = [], []
    if not index.is_file():
        return [], [f"no deploy index at {index}: no deploy was recorded there"]
    for number, line in enumerate(index.read_text().splitlines(), start=1):
        try:
            entry = json.loads(line)
        except ValueError:
            notes.append(f"{index} line {number} is damaged and left out")
            continue
        if isinstance(entry, dict):
            deploys.append(entry)
    return deploys, notes


def _duration(deploy: dict) -> float | None:
    started, finished = parse_time(deploy.get("started_at")), parse_time(deploy.get("finished_at"))
    return None if started is None or finished is None else finished - started


def report(deploys: list[dict], now: float, *, last: int = 10, window_days: int = 30) -> dict:
    """The last deploys (newest first) and the figures per environment."""
    real = [d for d in deploys if not d.get("check_mode")]
    recent = [
        {
            "id": d.get("id"),
            "kind": d.get("kind", "deploy"),
            "environment": d.get("environment") or "unknown",
            "release": d.get("release") or "",
            "outcome": d.get("outcome"),
            "trigger": d.get("trigger") or "",
            "seconds": None if (s := _duration(d)) is None else round(s, 1),
            "finished_at": d.get("finished_at"),
            "who": (d.get("who") or {}).get("user", ""),
        }
        for d in reversed(real[-last:] if last else [])
    ]
    by_env = figures(deploys, now, window_days)
    figs = {
        env: {
            "deploys": sum(fig.outcomes.values()),
            "success_ratio": fig.success_ratio,
            "duration_mean_s": fig.duration_mean,
            "duration_p95_s": fig.duration_p95,
            "deploys_per_day": fig.deploys_per_day,
            "change_failure_ratio": fig.change_failure_rate,
            "time_to_restore_s": fig.time_to_restore,
            "lead_time_s": fig.lead_time,
        }
        for env, fig in sorted(by_env.items())
    }
    return {"recent": recent, "figures": figs, "window_days": window_days}


def _num(value, unit="", digits=1) -> str:
    if value is None:
        return "n/a"
    if unit == "%":
        return f"{value * 100:.{digits}f} %"
    return f"{value:.{digits}f}{unit}"


def lines(found: dict, releases: dict[str, str]) -> list[str]:
    """The report as lines an operator reads."""
    out = ["Release on each app host:"]
    out += [f"  {host:<12} {release or '(none)'}" for host, release in sorted(releases.items())]
    out.append(f"Last {len(found['recent'])} deploys and rollbacks (newest first):")
    for d in found["recent"]:
        took = "" if d["seconds"] is None else f" in {d['seconds']:.0f} s"
        why = f" ({d['trigger']})" if d["trigger"] else ""
        when = str(d["finished_at"] or "")[:19].replace("T", " ")
        out.append(
            f"  {when} {d['environment']} {d['kind']} {d['release']}: {d['outcome']}{why}{took}, "
            f"by {d['who'] or '?'} ({d['id']})"
        )
    out.append(f"Figures over the last {found['window_days']} days:")
    for env, fig in found["figures"].items():
        out.append(
            f"  {env}: success {_num(fig['success_ratio'], '%')}, deploy time mean "
            f"{_num(fig['duration_mean_s'], ' s', 0)} / p95 "
            f"{_num(fig['duration_p95_s'], ' s', 0)}, "
            f"{_num(fig['deploys_per_day'], '/day', 2)}, change failures "
            f"{_num(fig['change_failure_ratio'], '%')}, time to restore "
            f"{_num(fig['time_to_restore_s'], ' s', 0)}"
        )
    return out
