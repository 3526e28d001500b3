"""Every module's documentation renders: `ansible-doc slipway.ops.<module>` works."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT, ansible_env, run

MODULES = sorted(
    p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__"
)


@pytest.mark.parametrize("name", MODULES)
def test_ansible_doc_renders(name):
    env = ansible_env(ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"))
    result = run(["ansible-doc", "-t", "module", f"slipway.ops.{name}"], env=env, timeout=120)
    assert result.returncode == 0, result.stdout
    assert f"slipway.ops.{name}" in result.stdout
    assert "[WARNING]" not in result.stdout, result.stdout
