"""host_prep recovers a host whose last dpkg run was cut short (after site.yml).

A killed apt or a lost connection mid-install leaves dpkg's journal
(/var/lib/dpkg/updates) unfolded; every later apt call then fails with
"dpkg was interrupted". host_prep finishes the run before it installs anything.
"""

from __future__ import annotations

from tests.conftest import run
from tests.integration.conftest import lab_host

HOST = "lb1"
JOURNAL = "/var/lib/dpkg/updates/0000"


def test_site_finishes_an_interrupted_dpkg_run():
    host = lab_host(HOST)
    # What dpkg leaves when it dies between writing its journal and folding it
    # into the status file: a journal entry for a package it was handling.
    host.run_expect([0], f"dpkg-query -s less > {JOURNAL}")
    broken = host.run("apt-get check")
    assert broken.rc == 100
    assert "dpkg was interrupted" in broken.stderr

    result = run(["ansible-playbook", "site.yml", "-i", "inventories/dev", "--limit", HOST])

    assert result.returncode == 0, result.stdout[-4000:]
    assert "changed: [lb1]" in _task_output(result.stdout, "Finish the interrupted dpkg run if any")
    host.run_expect([0], "apt-get check")
    assert not host.file(JOURNAL).exists
    assert host.package("less").is_installed


def _task_output(stdout: str, task: str) -> str:
    """The lines a task printed in an ansible-playbook run, up to the next task."""
    start = stdout.index(task)
    end = stdout.find("\nTASK [", start)
    return stdout[start : end if end != -1 else None]
