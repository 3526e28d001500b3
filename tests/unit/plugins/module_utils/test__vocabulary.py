"""One vocabulary: every stage, outcome and trigger the playbooks write is defined in
plugins/module_utils/_vocabulary.py, and docs/deploy.md explains each one."""

from __future__ import annotations

import re

import pytest
import yaml
from ansible_collections.slipway.ops.plugins.module_utils import _vocabulary as vocabulary

from tests.conftest import ROOT

KNOWN = {
    "stage": set(vocabulary.STAGES),
    "outcome": set(vocabulary.LEDGER_OUTCOMES),
    "trigger": set(vocabulary.LEDGER_TRIGGERS),
}
# A quoted name a Jinja value can produce (not one it compares with: `kind == 'rollback'`).
QUOTED = re.compile(r"(?<![=!]= )'([a-z_]+)'")


def _values(node, key: str):
    """Every value of `key` at any depth of a loaded YAML document."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key and isinstance(value, str):
                yield value
            yield from _values(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from _values(item, key)


def _words(value: str) -> set[str]:
    """The literal names a value can produce: itself, or the quoted names of its Jinja."""
    return set(QUOTED.findall(value)) if "{{" in value else {value}


PLAYBOOKS = sorted((ROOT / "playbooks").rglob("*.yml"))


@pytest.mark.parametrize("key", sorted(KNOWN))
def test_the_playbooks_write_only_names_the_vocabulary_defines(key):
    unknown = {}
    for path in PLAYBOOKS:
        for value in _values(yaml.safe_load(path.read_text()), key):
            bad = {word for word in _words(value) if word and word not in KNOWN[key]}
            if bad:
                unknown[str(path.relative_to(ROOT))] = sorted(bad)
    assert unknown == {}, f"{key} names not in _vocabulary.py: {unknown}"


def test_every_trigger_set_by_a_step_is_defined():
    steps = []
    for path in PLAYBOOKS:
        steps += re.findall(r"__deploy_step: \{name: [^}]*, trigger: ([a-z_]+)\}", path.read_text())
    assert steps, "the rolling steps name their triggers"
    assert set(steps) <= set(vocabulary.TRIGGERS)


@pytest.mark.parametrize(
    ("doc", "section", "names"),
    [
        ("deploy.md", "Kinds of run", vocabulary.KINDS),
        ("deploy.md", "Outcomes", vocabulary.OUTCOMES),
        ("deploy.md", "Triggers", vocabulary.TRIGGERS),
        ("canary.md", "Route classes", vocabulary.ROUTE_CLASSES),
        ("canary.md", "Verdicts", vocabulary.VERDICTS),
    ],
)
def test_the_docs_explain_every_name(doc, section, names):
    text = (ROOT / "docs" / doc).read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in names if f"`{name}`" not in body]
    assert missing == [], f"docs/{doc} '## {section}' does not explain {missing}"
