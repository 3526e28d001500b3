"""The rotation change's own logic against a scripted balancer answer; the change
on a real Nginx (the balancer, its control location, the wait for requests in
flight, no reload) is proved by `molecule test -s nginx_tls` under load."""

from __future__ import annotations

import pytest
from ansible_collections.slipway.ops.plugins.module_utils import _nginx_rotation as rotation


def _never(load):
    raise AssertionError("asked the balancer: nothing should change")


class Balancer:
    """What the control location answers: it loads the files on POST, and holds
    `in_flight` requests on a host for the given number of GETs."""

    def __init__(self, tmp_path, names=("app1", "app2"), in_flight=None, takes=True):
        self.tmp_path, self.names, self.takes = tmp_path, names, takes
        self.in_flight = dict(in_flight or {})
        self.calls = []
        self.drained, self.weights = [], {}

    def __call__(self, load):
        self.calls.append("POST" if load else "GET")
        if load and self.takes:
            drained = self.tmp_path / "drained.json"
            weights = self.tmp_path / "weights.json"
            self.drained = rotation.json.loads(drained.read_text()) if drained.exists() else []
            self.weights = rotation.json.loads(weights.read_text()) if weights.exists() else {}
        if not load:
            self.in_flight = {n: c - 1 for n, c in self.in_flight.items() if c > 1}
        return {
            "generation": len(self.calls),
            "backends": [
                {
                    "name": n,
                    "drained": n in self.drained,
                    "weight": 0 if n in self.drained else self.weights.get(n, 100),
                    "in_flight": self.in_flight.get(n, 0),
                }
                for n in self.names
            ],
        }


def _apply(tmp_path, drained, control, weights=None, check_mode=False, wait=True, timeout=5):
    return rotation.apply(
        drained=drained,
        drained_file=tmp_path / "drained.json",
        weights=weights or {},
        weights_file=tmp_path / "weights.json",
        wait_in_flight=wait,
        timeout=timeout,
        check_mode=check_mode,
        control=control,
        sleep=lambda seconds: None,
    )


def test_the_list_asked_for_changes_nothing_and_asks_nothing(tmp_path):
    (tmp_path / "drained.json").write_text('["app2"]\n')
    result = _apply(tmp_path, ["app2"], _never)
    assert result["changed"] is False
    assert result["previous"] == ["app2"]


def test_check_mode_reports_the_change_and_writes_nothing(tmp_path):
    result = _apply(tmp_path, ["app2", "app1", "app2"], _never, check_mode=True)
    assert result["changed"] is True
    assert result["drained"] == ["app1", "app2"]
    assert result["diff"] == {"before": "[]\n", "after": '["app1", "app2"]\n'}
    assert list(tmp_path.iterdir()) == []


def test_the_file_keeps_the_format_the_role_wrote():
    assert rotation.drained_text(["b", "a"]) == '["a", "b"]\n'


def test_a_drain_loads_the_files_and_waits_for_the_drained_hosts_requests_only(tmp_path):
    balancer = Balancer(tmp_path, in_flight={"app2": 3, "app1": 50})
    result = _apply(tmp_path, ["app2"], balancer)
    assert result["changed"] is True
    assert balancer.drained == ["app2"]
    # POST, then GETs until app2 (not app1, which keeps serving) holds none.
    assert balancer.calls == ["POST", "GET", "GET", "GET"]


def test_requests_still_held_after_the_timeout_fail_naming_them(tmp_path):
    balancer = Balancer(tmp_path, in_flight={"app2": 10**9})
    with pytest.raises(rotation.RotationFailed) as failed:
        _apply(tmp_path, ["app2"], balancer, timeout=0)
    assert failed.value.failure == "in_flight"
    assert failed.value.in_flight == {"app2": 10**9}
    # The host stays out of rotation: the change itself was made.
    assert (tmp_path / "drained.json").read_text() == '["app2"]\n'


def test_an_undrain_does_not_wait(tmp_path):
    (tmp_path / "drained.json").write_text('["app2"]\n')
    balancer = Balancer(tmp_path, in_flight={"app2": 5})
    result = _apply(tmp_path, [], balancer, wait=False)
    assert (result["changed"], result["previous"], balancer.calls) == (True, ["app2"], ["POST"])


def test_a_weight_alone_is_a_change_kept_in_its_file_and_full_weight_removes_it(tmp_path):
    balancer = Balancer(tmp_path)
    result = _apply(tmp_path, [], balancer, weights={"app1": 25}, wait=False)
    assert (result["changed"], result["weights"]) == (True, {"app1": 25})
    assert (tmp_path / "weights.json").read_text() == '{"app1": 25}\n'
    assert result["diff"]["after"] == '[]\nweights: {"app1": 25}\n'
    assert balancer.weights == {"app1": 25}
    assert _apply(tmp_path, [], _never, weights={"app1": 25})["changed"] is False
    result = _apply(tmp_path, [], balancer, weights={"app1": 100}, wait=False)
    assert (result["changed"], result["weights"]) == (True, {})
    assert not (tmp_path / "weights.json").exists()
    assert balancer.weights == {}


@pytest.mark.parametrize(
    "control",
    [
        pytest.param(
            lambda load: (_ for _ in ()).throw(ConnectionRefusedError(111, "refused")), id="down"
        ),
        pytest.param("stale", id="does-not-take-it"),
    ],
)
def test_a_change_the_balancer_does_not_take_puts_the_files_back(tmp_path, control):
    (tmp_path / "weights.json").write_text('{"app2": 50}\n')
    if control == "stale":
        control = Balancer(tmp_path, takes=False)
    with pytest.raises(rotation.RotationFailed) as failed:
        _apply(tmp_path, ["app1"], control, weights={"app1": 25})
    assert failed.value.failure == "control"
    assert (tmp_path / "weights.json").read_text() == '{"app2": 50}\n'
    assert not (tmp_path / "drained.json").exists()


def test_a_backend_the_balancer_does_not_know_is_kept_in_the_file_only(tmp_path):
    """A name the last converge did not give the balancer (a host being added) is
    not held there; the change still counts as taken for the hosts it knows."""
    balancer = Balancer(tmp_path, names=("app1",))
    result = _apply(tmp_path, ["app9"], balancer, wait=False)
    assert result["drained"] == ["app9"]


RECORDED = {
    "backends": [
        {"name": "app1", "address": "10.0.0.21"},
        {"name": "app2", "address": "fd00::22", "port": 8080},
    ],
    "default_port": 8000,
}


def _plan(backend, state, drained_now=(), weights_now=None, weight=100, force=False, recorded=None):
    return rotation.plan(
        backend=backend,
        state=state,
        weight=weight,
        force=force,
        recorded=RECORDED if recorded is None else recorded,
        drained_now=list(drained_now),
        weights_now=weights_now or {},
    )


def test_a_drain_adds_the_backend_and_drops_its_reduced_weight():
    assert _plan("app2", "drained", weights_now={"app2": 25}) == (["app2"], {})


def test_an_undrain_puts_the_backend_back_at_its_weight_and_keeps_the_others():
    drained, weights = _plan("app2", "in_rotation", ["app2"], {"app1": 50}, weight=25)
    assert (drained, weights) == ([], {"app1": 50, "app2": 25})
    assert _plan("app1", "in_rotation", weights_now={"app1": 25}) == ([], {})


@pytest.mark.parametrize(
    ("kwargs", "failure"),
    [
        ({"backend": "app1", "state": "drained", "recorded": {}}, "unknown"),
        ({"backend": "app9", "state": "in_rotation"}, "unknown"),
        ({"backend": "app1", "state": "drained", "drained_now": ["app2"]}, "last"),
    ],
)
def test_a_change_that_names_nothing_known_or_empties_the_rotation_is_refused(kwargs, failure):
    with pytest.raises(rotation.RotationFailed) as refused:
        _plan(**kwargs)
    assert refused.value.failure == failure


def test_no_record_of_the_backends_is_refused_as_unconverged():
    with pytest.raises(rotation.RotationFailed) as refused:
        rotation.plan(
            backend="app1",
            state="drained",
            weight=100,
            force=False,
            recorded=None,
            drained_now=[],
            weights_now={},
        )
    assert refused.value.failure == "unconverged"


def test_force_drains_the_last_backend():
    assert _plan("app1", "drained", ["app2"], force=True) == (["app1", "app2"], {})


def test_the_backend_is_asked_where_the_load_balancer_reaches_it():
    assert rotation.backend_url(RECORDED, "app1", "/ready") == "http://10.0.0.21:8000/ready"
    assert rotation.backend_url(RECORDED, "app2", "/ready") == "http://[fd00::22]:8080/ready"


def test_the_readiness_wait_returns_at_the_first_200_and_fails_after_its_timeout():
    answers = iter([OSError("refused"), 503, 200])

    def get(url):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    naps = []
    assert rotation.wait_ready("http://x/ready", 60, get, sleep=naps.append) >= 0
    assert naps == [2.0, 2.0]
    with pytest.raises(rotation.RotationFailed) as late:
        rotation.wait_ready("http://x/ready", 0, lambda url: 503, sleep=naps.append)
    assert late.value.failure == "not_ready"
    assert "HTTP 503" in str(late.value)
