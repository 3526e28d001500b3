"""slipway.ops.services' plan, on what `systemctl show` printed on a lab host.

Enabling, starting and the failures of a real systemd are in
tests/integration/test_services.py."""

from __future__ import annotations

import pytest
from ansible_collections.slipway.ops.plugins.module_utils import _services as services

# systemctl show --property=Id,LoadState,ActiveState,UnitFileState -- chrony slipway-firewall
# nosuch.service systemd-journald, on app1 (a container: chrony declines to start there).
SHOWN = """Id=chrony.service
LoadState=loaded
ActiveState=inactive
UnitFileState=enabled

Id=slipway-firewall.service
LoadState=loaded
ActiveState=active
UnitFileState=enabled

Id=nosuch.service
LoadState=not-found
ActiveState=inactive
UnitFileState=

Id=systemd-journald.service
LoadState=loaded
ActiveState=active
UnitFileState=static
"""
NAMES = ["chrony", "slipway-firewall", "nosuch.service", "systemd-journald"]
STATES = services.parse_show(SHOWN, NAMES)


def state(load="loaded", active="active", file_state="enabled") -> dict:
    return {"Id": "x", "LoadState": load, "ActiveState": active, "UnitFileState": file_state}


def test_the_show_output_is_read_per_unit_in_the_order_asked():
    assert STATES["chrony"] == {
        "Id": "chrony.service",
        "LoadState": "loaded",
        "ActiveState": "inactive",
        "UnitFileState": "enabled",
    }
    assert STATES["nosuch.service"]["LoadState"] == "not-found"
    assert services.show_command(["a", "b"])[-3:] == ["--", "a", "b"]
    with pytest.raises(services.Refused, match="returned 4 units for 3"):
        services.parse_show(SHOWN, NAMES[:3])


def test_what_is_already_so_plans_nothing():
    units = [
        {"name": "chrony", "enabled": True},  # only enabled: it cannot run in a container
        {"name": "slipway-firewall", "enabled": True, "state": "started"},
        {"name": "systemd-journald", "enabled": True, "state": "started"},  # static
        {"name": "systemd-journald", "enabled": False},  # static: no disable changes it
    ]
    assert services.plan(units, STATES) == []


UP, DOWN = {"enabled": True, "state": "started"}, {"enabled": False, "state": "stopped"}
ON = {"enabled": "enabled", "state": "active"}
OFF = {"enabled": "disabled", "state": "inactive"}


@pytest.mark.parametrize(
    ("unit", "shown", "actions", "after"),
    [
        (UP, state("loaded", "inactive", "disabled"), ["enable", "start"], ON),
        (UP, state("loaded", "failed", "enabled"), ["start"], ON),
        (DOWN, state("loaded", "active", "enabled"), ["disable", "stop"], OFF),
        ({"state": "stopped"}, state(active="activating"), ["stop"], {**ON, "state": "inactive"}),
        ({"state": "started"}, state("loaded", "reloading", "disabled"), [], None),
    ],
)  # fmt: skip
def test_each_difference_is_an_action_with_its_diff(unit, shown, actions, after):
    changes = services.plan([{"name": "u", **unit}], {"u": shown})
    assert [c["actions"] for c in changes] == ([actions] if actions else [])
    if after:
        diff = changes[0]["diff"]
        assert diff["before"] == {"enabled": shown["UnitFileState"], "state": shown["ActiveState"]}
        assert diff["after"] == after


def test_a_unit_not_on_the_host_fails_a_run_and_is_a_change_in_check_mode():
    units = [{"name": "nosuch.service", "enabled": True, "state": "started"}]
    with pytest.raises(services.Refused, match=r"nosuch\.service: no such unit on the host"):
        services.plan(units, STATES)
    (change,) = services.plan(units, STATES, check_mode=True)
    assert change["actions"] == ["enable", "start"]
    assert change["diff"]["before"] == {"state": "absent"}


def test_a_masked_unit_is_refused_naming_the_fix():
    shown = {"u": state("masked", "inactive", "masked")}
    with pytest.raises(services.Refused, match=r"u is masked: unmask it \(systemctl unmask u\)"):
        services.plan([{"name": "u", "enabled": True}], shown)
    assert services.plan([{"name": "u", "state": "stopped"}], shown) == []


def test_an_entry_that_wants_nothing_is_refused():
    with pytest.raises(services.Refused, match="u: give enabled, state or both"):
        services.plan([{"name": "u", "enabled": None, "state": None}], {"u": state()})
