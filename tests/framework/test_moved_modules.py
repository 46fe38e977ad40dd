"""Module paths of the previous release still import, as the new module, with a DeprecationWarning."""

import importlib
import subprocess
import sys

import pytest

from satchel._moved import MOVED


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_old_path_is_the_new_module_and_warns(old, new):
    code = (
        "import importlib, warnings\n"
        "warnings.simplefilter('error', DeprecationWarning)\n"
        f"importlib.import_module({new!r})\n"  # the new path loads without a warning
        "warnings.simplefilter('always', DeprecationWarning)\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        f"    old = importlib.import_module({old!r})\n"
        f"assert old is importlib.import_module({new!r})\n"
        "messages = [str(w.message) for w in caught if w.category is DeprecationWarning]\n"
        f"assert any({old!r} in m and {new!r} in m for m in messages), messages\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_from_import_of_an_old_name_points_at_the_callers_line():
    with pytest.warns(DeprecationWarning, match=r"satchel\.task moved to satchel\.model\.task") as record:
        sys.modules.pop("satchel.task", None)
        from satchel.task import ModelTask  # noqa: F401
    ours = [w for w in record if "satchel.task moved" in str(w.message)]
    assert [w.filename for w in ours] == [__file__]


def test_audit_log_names_in_satchel_privacy_warn():
    import satchel.privacy
    from satchel.audit.log import AuditLog

    with pytest.warns(DeprecationWarning, match=r"satchel\.audit\.log\.AuditLog"):
        assert satchel.privacy.AuditLog is AuditLog
    with pytest.raises(AttributeError):
        satchel.privacy.NoSuchName  # noqa: B018


def test_unknown_modules_are_not_aliased():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("satchel.no_such_module")
