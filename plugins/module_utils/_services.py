# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What slipway.ops.services does with its list of systemd units: read them all with one
`systemctl show`, plan what differs from what each entry wants, and apply it (enable and
disable in one call each, start and stop each unit on its own so that a failure names it)."""

from __future__ import annotations

# What `systemctl show` is asked for, per unit.
PROPERTIES = ("Id", "LoadState", "ActiveState", "UnitFileState")
# The unit file states `systemctl is-enabled` exits 0 for (man systemctl): nothing to enable.
ENABLED = frozenset(
    {"enabled", "enabled-runtime", "static", "alias", "indirect", "generated", "transient"}
)
# Of those, the ones no `systemctl disable` changes (no [Install] section, made at boot).
FIXED = frozenset({"static", "alias", "indirect", "generated", "transient"})
# Running, or on its way there.
RUNNING = frozenset({"active", "activating", "reloading"})


class Refused(Exception):
    """A unit that cannot be put in the wanted state: nothing was changed, or only the
    units in `done` (a start that failed after others had changed)."""

    def __init__(self, msg: str, done: list[str] | None = None) -> None:
        super().__init__(msg)
        self.done = done or []


def show_command(names: list[str]) -> list[str]:
    return ["systemctl", "show", f"--property={','.join(PROPERTIES)}", "--", *names]


def parse_show(text: str, names: list[str]) -> dict[str, dict[str, str]]:
    """`systemctl show`'s output for `names` (one block a unit, in their order, blank
    lines between): each name's properties."""
    blocks = text.strip("\n").split("\n\n")
    if len(blocks) != len(names):
        raise Refused(
            f"systemctl show returned {len(blocks)} units for {len(names)} ({', '.join(names)})"
        )
    states = {}
    for name, block in zip(names, blocks):
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        states[name] = {key: fields.get(key, "") for key in PROPERTIES}
    return states


def _enabled(state: dict) -> str:
    return state["UnitFileState"] or "unknown"


def _shown(enabled: str, active: str) -> dict:
    return {"enabled": enabled, "state": active}


def plan(units: list[dict], states: dict[str, dict], check_mode: bool = False) -> list[dict]:
    """Each unit that differs from its entry: its name, the actions (enable, disable, start,
    stop, in that order) and the diff. Refused for a unit that cannot be changed: not
    there (outside check mode, where a package earlier in the run would have put it there)
    or masked."""
    changes = []
    for unit in units:
        name, enabled, wanted = unit["name"], unit.get("enabled"), unit.get("state")
        if enabled is None and wanted is None:
            raise Refused(f"units: {name}: give enabled, state or both.")
        state = states[name]
        load, active = state["LoadState"], state["ActiveState"] or "unknown"
        if load == "not-found" and not check_mode:
            raise Refused(
                f"units: {name}: no such unit on the host (LoadState not-found): install its"
                " package or write its unit file before this task."
            )
        if load == "masked" and (enabled or wanted == "started"):
            raise Refused(f"units: {name} is masked: unmask it (systemctl unmask {name}) first.")
        actions = []
        if enabled is True and _enabled(state) not in ENABLED:
            actions.append("enable")
        if enabled is False and _enabled(state) in ENABLED - FIXED:
            actions.append("disable")
        if wanted == "started" and active not in RUNNING:
            actions.append("start")
        if wanted == "stopped" and active in RUNNING:
            actions.append("stop")
        if not actions:
            continue
        before = {"state": "absent"} if load == "not-found" else _shown(_enabled(state), active)
        after = _shown(
            {"enable": "enabled", "disable": "disabled"}.get(actions[0], _enabled(state)),
            "active" if "start" in actions else "inactive" if "stop" in actions else active,
        )
        changes.append(
            {
                "name": name,
                "actions": actions,
                "diff": {
                    "before_header": name,
                    "after_header": name,
                    "before": before,
                    "after": after,
                },
            }
        )
    return changes


def apply(changes: list[dict], run_command) -> None:
    """Enable, then disable, in one call each; then start and stop each unit on its own.
    Raises Refused naming the unit that failed and the ones changed before it."""
    done: list[str] = []

    def run(action: str, names: list[str]) -> None:
        rc, out, err = run_command(["systemctl", action, "--", *names])
        if rc != 0:
            before = ", ".join(dict.fromkeys(done)) or "none"
            raise Refused(
                f"units: systemctl {action} {' '.join(names)} failed (rc {rc}): "
                f"{(err or out).strip()} See journalctl -u {names[0]}."
                f" Changed before it: {before}.",
                list(dict.fromkeys(done)),
            )
        done.extend(names)

    for action in ("enable", "disable"):
        names = [c["name"] for c in changes if action in c["actions"]]
        if names:
            run(action, names)
    for change in changes:
        for action in ("start", "stop"):
            if action in change["actions"]:
                run(action, [change["name"]])
