"""docs/hooks.md documents every hook with its exact signature and an example."""

import inspect
import re
from pathlib import Path

import pytest

from satchel.plugin import hookspecs

DOC = (Path(__file__).resolve().parents[2] / "docs" / "hooks.md").read_text()
HOOKS = [name for name, fn in vars(hookspecs).items() if name.startswith("satchel_") and callable(fn)]


def _signature(name: str) -> str:
    fn = getattr(hookspecs, name)
    sig = inspect.signature(fn)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"{name}({params}) -> {sig.return_annotation}"


def test_there_are_hooks():
    assert len(HOOKS) >= 15


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_signature_and_example(hook):
    heading = f"### `{_signature(hook)}`"
    assert heading in DOC, f"docs/hooks.md needs a section headed {heading}"
    section = DOC.split(heading, 1)[1].split("\n### ", 1)[0]
    assert "```python" in section and "@hookimpl" in section, f"{hook} needs an example"


def test_no_stale_hooks_are_documented():
    documented = set(re.findall(r"^### `(satchel_\w+)\(", DOC, flags=re.M))
    assert documented == set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hookspec_docstring_has_an_example(hook):
    assert "Example:" in (getattr(hookspecs, hook).__doc__ or "")
