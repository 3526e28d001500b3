"""Every module's and filter's documentation renders: `ansible-doc slipway.ops.<name>` works."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT, ansible_env, run

pytestmark = pytest.mark.controller

PLUGINS = sorted(
    (kind, p.stem)
    for kind, folder in (("module", "modules"), ("filter", "filter"))
    for p in (ROOT / "plugins" / folder).glob("*.py")
    if p.stem != "__init__"
)


@pytest.mark.parametrize(("kind", "name"), PLUGINS)
def test_ansible_doc_renders(kind, name):
    env = ansible_env(ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"))
    result = run(["ansible-doc", "-t", kind, f"slipway.ops.{name}"], env=env, timeout=120)
    assert result.returncode == 0, result.stdout
    assert f"slipway.ops.{name}" in result.stdout
    assert "[WARNING]" not in result.stdout, result.stdout
