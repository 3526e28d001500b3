"""Who ran Slipway: the local user, the user behind sudo, or the AWX job."""

from __future__ import annotations

import getpass

from ansible_collections.slipway.ops.plugins.plugin_utils._audit_context import toolkit, who

from tests.conftest import ROOT, run


def test_a_local_run_names_the_local_user():
    person = who({}, {})
    assert person["source"] == "local"
    assert person["user"] == getpass.getuser()


def test_a_run_under_sudo_names_the_person_behind_it():
    person = who({"SUDO_USER": "alice"}, {})
    assert person["user"] == "alice"
    assert person["as"] == getpass.getuser()


def test_an_awx_job_names_the_awx_user_and_job():
    extra = {
        "awx_job_id": 42,
        "awx_user_name": "bob",
        "awx_job_template_name": "Deploy production",
        "tower_job_id": 42,
    }
    person = who({"JOB_ID": "42"}, extra)
    assert person["source"] == "awx"
    assert person["user"] == "bob"
    assert person["awx_job_id"] == "42"
    assert person["awx_job_template"] == "Deploy production"


def test_a_scheduled_awx_job_without_a_user_names_the_job():
    person = who({"JOB_ID": "7"}, {"tower_job_launch_type": "scheduled"})
    assert person["user"] == "awx job 7"
    assert person["awx_launch_type"] == "scheduled"


def test_the_toolkit_is_named_by_its_git_sha():
    head = run(["git", "rev-parse", "HEAD"]).stdout.strip()
    found = toolkit(ROOT, {})
    assert found["git_sha"] == head
    assert found["version"]
    assert isinstance(found["dirty"], bool)


def test_outside_git_the_awx_project_revision_names_it(tmp_path):
    (tmp_path / "MANIFEST.json").write_text('{"collection_info": {"version": "9.9.9"}}')
    found = toolkit(tmp_path, {"awx_project_revision": "abc123"})
    assert found == {"git_sha": "abc123", "version": "9.9.9"}
