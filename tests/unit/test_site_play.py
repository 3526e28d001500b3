"""site.yml's play of each host's services, and host_prep's one settings run.

The services play runs under the free strategy, where a run_once task runs for
every host at once (Ansible only warns); host_prep's handlers each restart a
service only when their own file is among the files its settings run changed.
Both hold by the files alone, so a role that gains a run_once, or a settings
path renamed without its handler, fails here.
"""

from __future__ import annotations

import re

import yaml

from tests.conftest import ROOT, run

SITE = ROOT / "playbooks" / "site.yml"
GROUP = re.compile(r"'([\w-]+)' in group_names")


def _free_plays() -> list[dict]:
    plays = yaml.safe_load(SITE.read_text())
    return [p for p in plays if isinstance(p, dict) and p.get("strategy") == "free"]


def _included(play: dict) -> list[tuple[str, str]]:
    """(role, group or "") of each include_role of the play; a looped one names its roles."""
    found = []
    for task in play["tasks"]:
        included = task["ansible.builtin.include_role"]
        names = task["loop"] if "{{" in included["name"] else [included["name"]]
        group = GROUP.fullmatch(str(task.get("when", "")).strip())
        found += [(name.split(".")[-1], group.group(1) if group else "") for name in names]
    return found


def _keys(node) -> set[str]:
    """Every mapping key anywhere in a loaded YAML document."""
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for item in node for k in _keys(item)}
    return set()


def test_site_has_one_free_play_and_it_includes_every_service_role():
    plays = _free_plays()
    assert len(plays) == 1, plays
    roles = {role for role, _ in _included(plays[0])}
    assert roles == {
        "postgres",
        "redis",
        "postgres_backup",
        "docker_engine",
        "nginx_tls",
        "monitoring",
    }


def test_no_role_of_the_free_play_uses_run_once():
    used = []
    for role in sorted({role for role, _ in _included(_free_plays()[0])}):
        for path in sorted((ROOT / "roles" / role).glob("*/*.yml")):
            if path.parent.name in ("tasks", "handlers") and "run_once" in _keys(
                yaml.safe_load(path.read_text())
            ):
                used.append(str(path.relative_to(ROOT)))
    assert used == [], f"run_once runs for every host under the free strategy: {used}"


def test_every_group_the_free_play_names_is_an_inventory_group():
    groups = {group for _, group in _included(_free_plays()[0]) if group}
    for inventory in ("dev", "staging", "production"):
        result = run(["ansible-inventory", "-i", f"inventories/{inventory}", "--graph"])
        assert result.returncode == 0, result.stdout
        missing = [g for g in groups if f"@{g}:" not in result.stdout]
        assert missing == [], (inventory, missing)


def test_each_host_prep_handler_watches_a_file_the_settings_run_writes():
    settings = yaml.safe_load((ROOT / "roles/host_prep/tasks/settings.yml").read_text())[0]
    written = {entry["path"] for files in settings["vars"].values() for entry in files}
    handlers = yaml.safe_load((ROOT / "roles/host_prep/handlers/main.yml").read_text())
    names = {h.get("listen", h["name"]) for h in handlers}
    assert set(settings["notify"]) == names
    for handler in handlers:
        watched = set(re.findall(r"'(/[^']+)'", handler["when"]))
        assert watched, handler
        assert watched <= written, (handler["name"], watched - written)
