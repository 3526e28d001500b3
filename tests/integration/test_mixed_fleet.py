"""The lab's mixed fleet: each host on the Debian release its inventory names,
and what differs by release converged the release's way by site.yml.

Run after `make site` (the integration target does it).
"""

from __future__ import annotations

from tests.integration.conftest import LAB_HOSTS, lab_host

# Debian's own PostgreSQL major on each release (the postgres role's default).
POSTGRES_OF_RELEASE = {"12": "15", "13": "17"}


def release(host) -> str:
    return host.file("/etc/debian_version").content_string.split(".")[0]


def test_each_host_runs_the_release_its_inventory_names(each_lab_host, lab_hosts):
    name, host = each_lab_host
    assert release(host) == str(lab_hosts[name].get("lab_debian_release", "13"))


def test_the_fleet_is_mixed():
    assert {release(lab_host(name)) for name in LAB_HOSTS} == {"12", "13"}


def test_db_hosts_run_debians_own_postgresql_with_backups_of_it():
    db1 = lab_host("db1")
    major = POSTGRES_OF_RELEASE[release(db1)]
    assert db1.service(f"postgresql@{major}-main").is_running
    clusters = db1.check_output("ls /var/lib/postgresql").split()
    assert [d for d in clusters if d.isdigit()] == [major]
    version = db1.check_output("runuser -u postgres -- psql -XAtq -c 'SHOW server_version_num'")
    assert version[:2] == major
    assert (
        f"pg1-path=/var/lib/postgresql/{major}/main"
        in db1.file("/etc/pgbackrest.conf").content_string
    )


def test_load_balancers_speak_http2_on_either_release_without_a_warning():
    for name in sorted(n for n, v in LAB_HOSTS.items() if n.startswith("lb")):
        lb = lab_host(name)
        alpn = lb.check_output(
            "openssl s_client -alpn h2 -connect 127.0.0.1:443 </dev/null 2>&1 | grep -a ALPN"
        )
        assert "ALPN protocol: h2" in alpn, (name, release(lb), alpn)
        check = lb.run("nginx -t")
        assert check.rc == 0, check.stderr
        assert "[warn]" not in check.stderr, (name, release(lb), check.stderr)
