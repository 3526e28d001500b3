"""apt on the converged host fetches through the configured proxy."""

import os

PROXY = os.environ.get("SLIPWAY_APT_PROXY", "http://aptcache:3142")
CONF = "/etc/apt/apt.conf.d/01slipway-proxy"


def test_systemd_runs_as_pid_1(host):
    assert host.process.get(pid=1).comm == "systemd"


def test_proxy_setting_is_written_root_owned(host):
    conf = host.file(CONF)
    assert conf.is_file
    assert conf.user == "root"
    assert conf.mode == 0o644
    assert f'Acquire::http::Proxy "{PROXY}";' in conf.content_string
    assert 'Acquire::http::Proxy::mirror.internal.example "DIRECT";' in conf.content_string


def test_apt_gives_up_on_a_stalled_fetch_and_retries(host):
    # What apt itself reads, not just what the file says.
    conf = host.check_output("apt-config dump Acquire")
    assert 'Acquire::http::Timeout "60";' in conf
    assert 'Acquire::Retries "3";' in conf


def test_apt_sends_requests_through_the_proxy(host):
    # Through a proxy apt asks for absolute URIs; directly, for bare paths.
    out = host.check_output("apt-get -o Debug::Acquire::http=true update 2>&1")
    gets = [line for line in out.splitlines() if line.startswith("GET ")]
    assert gets, out
    assert all(line.startswith("GET http://") for line in gets), gets


def test_packages_install_through_the_proxy(host):
    host.run_expect([0], "apt-get install -y --no-install-recommends hello")
    assert host.package("hello").is_installed
