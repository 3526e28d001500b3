"""The converged host is hardened and firewalled, and the controller still gets in."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
from pathlib import Path

import pytest

KEY = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", ".")) / ".lab" / "ssh" / "id_ed25519"


def address(host) -> str:
    return host.interface("eth0").addresses[0]


def probe(ip: str, port: int, timeout: float = 2.0) -> str:
    """nmap's words for a TCP port: open (accepted), closed (refused), filtered (dropped)."""
    with socket.socket() as sock:
        sock.settimeout(timeout)
        code = sock.connect_ex((ip, port))
    if code == 0:
        return "open"
    return "closed" if code == errno.ECONNREFUSED else "filtered"


def test_base_packages_are_installed(host):
    for name in ("curl", "nftables", "chrony", "unattended-upgrades", "sudo", "locales"):
        assert host.package(name).is_installed, name


def test_sshd_refuses_passwords_and_weak_algorithms(host):
    config = host.check_output("sshd -T")
    assert "passwordauthentication no" in config
    assert "kbdinteractiveauthentication no" in config
    assert "permitrootlogin without-password" in config
    ciphers = next(line for line in config.splitlines() if line.startswith("ciphers "))
    assert "cbc" not in ciphers
    assert "chacha20-poly1305@openssh.com" in ciphers
    kex = next(line for line in config.splitlines() if line.startswith("kexalgorithms "))
    assert "sha1" not in kex


def test_admin_users_have_exactly_their_keys(host):
    ops = host.user("ops")
    assert ops.exists
    assert ops.shell == "/bin/bash"
    keys = host.file("/home/ops/.ssh/authorized_keys")
    assert keys.user == "ops"
    assert keys.content_string.strip() == KEY.with_suffix(".pub").read_text().strip()
    assert host.user("auditor").exists


def test_sudo_is_passwordless_for_admins_only(host):
    assert host.run("visudo -cf /etc/sudoers.d/slipway-admins").rc == 0
    assert "NOPASSWD: ALL" in host.check_output("sudo -l -U ops")
    assert "not allowed to run sudo" in host.check_output("sudo -l -U auditor")


def ssh(host, *options: str, command: str = "true") -> subprocess.CompletedProcess:
    """Log in to the host as ops over SSH from the controller (an admin network)."""
    args = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"]
    args += [
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "ConnectTimeout=10",
    ]
    args += [*options, f"ops@{address(host)}", command]
    return subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)


def test_admin_logs_in_with_its_key_and_sudoes(host):
    result = ssh(host, "-i", str(KEY), command="sudo -n id -u")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


def test_password_login_is_refused(host):
    result = ssh(host, "-o", "PubkeyAuthentication=no")
    assert result.returncode != 0
    assert "Permission denied (publickey)" in result.stderr


def test_time_locale_timezone(host):
    assert host.service("chrony").is_enabled
    assert (
        "pool 2.debian.pool.ntp.org iburst" in host.file("/etc/chrony/chrony.conf").content_string
    )
    assert host.file("/etc/default/locale").contains("LANG=en_US.UTF-8")
    assert "en_US.utf8" in host.check_output("locale -a")
    assert host.file("/etc/localtime").linked_to == "/usr/share/zoneinfo/Europe/Paris"
    assert host.check_output("date +%Z") in ("CET", "CEST")


def test_sysctl_journald_and_upgrades_are_configured(host):
    assert host.file("/etc/sysctl.d/60-slipway.conf").contains("^net.core.somaxconn = 4096$")
    journald = host.file("/etc/systemd/journald.conf.d/50-slipway.conf")
    assert journald.contains("^SystemMaxUse=1G$")
    assert host.service("systemd-journald").is_running
    auto = host.file("/etc/apt/apt.conf.d/20auto-upgrades")
    assert auto.contains('APT::Periodic::Unattended-Upgrade "1";')
    dry = host.run("unattended-upgrade --dry-run --debug 2>&1")
    assert dry.rc == 0, dry.stdout
    assert "Debian-Security" in dry.stdout


def test_firewall_is_loaded_by_its_unit(host):
    assert host.service("slipway-firewall").is_enabled
    assert host.service("slipway-firewall").is_running
    ruleset = host.check_output("nft list chain inet slipway input")
    assert "policy drop" in ruleset


@pytest.mark.parametrize(
    ("port", "state"),
    [(22, "open"), (8080, "closed"), (9000, "filtered"), (5432, "filtered"), (3306, "filtered")],
)
def test_controller_sees_exactly_the_ports_allowed_to_it(host, port, state):
    # The controller is an admin network and may reach 8080 (allowed, nothing
    # listens: closed); 9000 and 5432 are allowed to another network only.
    assert probe(address(host), port) == state


def test_reloading_the_firewall_keeps_other_tables(host):
    # Docker's NAT lives in tables of its own: a reload must replace only inet slipway.
    host.run_expect([0], "nft add table ip canary && systemctl restart slipway-firewall")
    try:
        assert "table ip canary" in host.check_output("nft list tables")
        assert "table inet slipway" in host.check_output("nft list tables")
    finally:
        host.run("nft delete table ip canary")
