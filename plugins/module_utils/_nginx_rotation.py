# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One load balancer's rotation change in one step (slipway.ops.nginx_rotation).

Write the drained list and the reduced weights, have Nginx's balancer
(slipway_rotation.lua, role nginx_tls) load them through its control location,
check that it now holds exactly that, and (when draining) wait until the
drained hosts hold no request in flight. No reload: a reload closes the
clients' idle keep-alive connections, and a client that sends on one as it
closes sees "server disconnected". If Nginx does not take the change, the files
are put back as they were. One module call instead of a task per step: a drain
and an undrain are on the deploy's critical path.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ansible_collections.slipway.ops.plugins.module_utils._atomic_file import write_atomic

# A backend's weight when nothing is reduced (a percentage: the canary's is less).
FULL_WEIGHT = 100


class RotationFailed(Exception):
    """The change could not be made; `failure` says which step (control, in_flight), and
    `in_flight` the requests a drained host still held."""

    def __init__(self, failure: str, message: str, in_flight: dict | None = None):
        super().__init__(message)
        self.failure = failure
        self.in_flight = in_flight or {}


def drained_text(drained: list[str]) -> str:
    """The drained list as the file holds it (what `to_json` wrote before this module)."""
    return json.dumps(sorted(set(drained))) + "\n"


def weights_text(weights: dict[str, int]) -> str | None:
    """The reduced weights as the file holds them; None (no file) when every backend has its full
    weight."""
    reduced = {name: int(w) for name, w in sorted(weights.items()) if int(w) < FULL_WEIGHT}
    return json.dumps(reduced, sort_keys=True) + "\n" if reduced else None


def read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def write(path: Path, text: str | None) -> None:
    """Replace the file atomically (mode 0644), or remove it when text is None."""
    if text is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text, 0o644)


def live_state(answer: dict) -> tuple[list[str], dict[str, int]]:
    """The drained hosts and reduced weights the balancer holds, from its control answer."""
    backends = answer.get("backends", [])
    drained = sorted(b["name"] for b in backends if b.get("drained"))
    weights = {
        b["name"]: int(b["weight"])
        for b in backends
        if not b.get("drained") and int(b.get("weight", FULL_WEIGHT)) < FULL_WEIGHT
    }
    return drained, weights


def in_flight(answer: dict, names: list[str]) -> dict[str, int]:
    """The requests in flight on `names`, those that hold any."""
    return {
        b["name"]: int(b.get("in_flight", 0))
        for b in answer.get("backends", [])
        if b["name"] in names and int(b.get("in_flight", 0)) > 0
    }


def read_json(path: Path, empty):
    """The JSON a state file holds, or `empty` when there is no file."""
    text = read(path)
    return json.loads(text) if text else empty


def plan(
    *,
    backend: str,
    state: str,
    weight: int,
    force: bool,
    recorded: dict | None,
    drained_now: list[str],
    weights_now: dict[str, int],
) -> tuple[list[str], dict[str, int]]:
    """The drained list and the reduced weights once `backend` is drained (state `drained`) or
    back in rotation at `weight` (state `in_rotation`), from the load balancer's own record of
    its backends (`recorded`, backends.json: None when the role never converged it) and its
    state now. Raises RotationFailed, changing nothing, with failure `unconverged`, `unknown`
    (not one of its backends), or `last` (a drain that leaves no backend in rotation, unless
    `force`)."""
    if recorded is None:
        raise RotationFailed("unconverged", "no record of the backends: the role never ran here")
    names = [b["name"] for b in recorded.get("backends", [])]
    if backend not in names:
        raise RotationFailed("unknown", f"{backend} is not one of the backends {names}")
    others = {n: int(w) for n, w in weights_now.items() if n != backend}
    if state == "drained":
        serving = [n for n in names if n not in drained_now and n != backend]
        if not serving and not force:
            raise RotationFailed("last", f"draining {backend} leaves no backend in rotation")
        return sorted(set(drained_now) | {backend}), others
    drained = sorted(set(drained_now) - {backend})
    if int(weight) < FULL_WEIGHT:
        others[backend] = int(weight)
    return drained, others


def backend_url(recorded: dict, backend: str, path: str) -> str:
    """Where the load balancer reaches `backend` on `path` (backends.json's address and port)."""
    entry = next(b for b in recorded["backends"] if b["name"] == backend)
    address = entry["address"]
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{entry.get('port', recorded.get('default_port'))}{path}"


def wait_ready(
    url: str,
    timeout: float,
    get: Callable[[str], int],
    sleep: Callable[[float], None] = time.sleep,
    interval: float = 2.0,
) -> float:
    """Ask `url` until it answers 200 (`get` returns the status, raises OSError when nothing
    answers); the seconds it took. Raises RotationFailed `not_ready` after `timeout` s, saying
    what the last try got."""
    started = time.monotonic()
    while True:
        try:
            status = get(url)
            last = f"HTTP {status}"
        except OSError as err:
            status, last = None, str(err)
        if status == 200:
            return round(time.monotonic() - started, 2)
        if time.monotonic() - started >= timeout:
            raise RotationFailed("not_ready", f"{url} answered {last}")
        sleep(interval)


@contextmanager
def locked(drained_file: Path, check_mode: bool) -> Iterator[None]:
    """One change at a time on a balancer. The hosts of a batch (serial > 1) change their
    rotation at once, and each change reads, plans and writes the same files: unlocked, one
    would undo another's (a drain lost while its host restarts, or every backend drained).
    Held from the read to the balancer's answer, not while requests drain. Check mode
    writes nothing, the lock's file included; a balancer with no state directory has
    nothing to change (plan() says it is unconverged)."""
    if check_mode or not drained_file.parent.is_dir():
        yield
        return
    with open(drained_file.with_name(drained_file.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def apply(
    *,
    drained: list[str],
    drained_file: Path,
    weights: dict[str, int],
    weights_file: Path,
    wait_in_flight: bool,
    timeout: float,
    check_mode: bool,
    control: Callable[[bool], dict],
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """Make the change (change()), then wait for the drained hosts' requests (wait_out());
    the module's result. Raises RotationFailed."""
    result, answer = change(
        drained=drained,
        drained_file=drained_file,
        weights=weights,
        weights_file=weights_file,
        check_mode=check_mode,
        control=control,
    )
    if not wait_in_flight or answer is None:
        return result
    return wait_out(result, answer, timeout=timeout, control=control, sleep=sleep)


def change(
    *,
    drained: list[str],
    drained_file: Path,
    weights: dict[str, int],
    weights_file: Path,
    check_mode: bool,
    control: Callable[[bool], dict],
) -> tuple[dict, dict | None]:
    """Write the files and have the balancer load them; the result, and the balancer's
    answer (None when nothing changed, or in check mode). Raises RotationFailed.

    `control(load)` asks the balancer for its state (load=True: after loading the
    files again) and returns its answer; it raises OSError when Nginx cannot be reached."""
    before = read(drained_file)
    after = drained_text(drained)
    previous = sorted(json.loads(before)) if before else []
    w_before = read(weights_file)
    w_after = weights_text(weights)
    wanted = sorted(set(drained))
    result = {
        "changed": previous != wanted or w_before != w_after,
        "drained": wanted,
        "previous": previous,
        "weights": json.loads(w_after) if w_after else {},
        "waited": 0.0,
        "in_flight": {},
        "diff": {"before": before or "[]\n", "after": after},
    }
    if w_before or w_after:
        result["diff"]["before"] += f"weights: {(w_before or '{}').strip()}\n"
        result["diff"]["after"] += f"weights: {(w_after or '{}').strip()}\n"
    if not result["changed"] or check_mode:
        return result, None
    write(drained_file, after)
    write(weights_file, w_after)
    try:
        answer = control(True)
        known = {b["name"] for b in answer.get("backends", [])}
        held = live_state(answer)
        if held != (
            [n for n in wanted if n in known],
            {n: w for n, w in result["weights"].items() if n in known},
        ):
            raise OSError(
                f"the balancer holds drained {held[0]}, weights {held[1]} after loading the files"
            )
    except (OSError, ValueError, KeyError) as err:
        write(drained_file, before)
        write(weights_file, w_before)
        raise RotationFailed("control", str(err)) from err
    return result, answer


def wait_out(
    result: dict,
    answer: dict,
    *,
    timeout: float,
    control: Callable[[bool], dict],
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """Wait until the hosts this change drained hold no request in flight; the result with
    the seconds waited. Raises RotationFailed."""
    leaving = [n for n in result["drained"] if n not in result["previous"]]
    started = time.monotonic()
    while True:
        holding = in_flight(answer, leaving)
        if not holding:
            break
        if time.monotonic() - started > timeout:
            raise RotationFailed("in_flight", f"requests still in flight: {holding}", holding)
        sleep(0.1)
        try:
            answer = control(False)
        except (OSError, ValueError) as err:
            raise RotationFailed("control", str(err)) from err
    result["waited"] = round(time.monotonic() - started, 2)
    return result
