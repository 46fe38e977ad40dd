"""Plugins that are not installed: modules named in ``[app] plugins`` and ``.py`` files in a folder.

A config entry is a module name (searched on ``sys.path`` and beside the config file) or a path to a
``.py`` file relative to the config file. ``satchel --plugins-dir DIR`` (or ``SATCHEL_PLUGINS_DIR``)
loads every ``*.py`` file in DIR whose name does not start with ``_``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from satchel.errors import PluginError


def import_entry(entry: str, base: Path, where: str) -> tuple[str, ModuleType]:
    """``(plugin name, module)`` for one ``[app] plugins`` entry; ``where`` names the config."""
    if entry.endswith(".py") or "/" in entry or "\\" in entry:
        return import_file((base / entry).resolve(), where)
    if str(base) not in sys.path:
        sys.path.append(str(base))  # appended: a local file never shadows an installed module
    try:
        return entry, importlib.import_module(entry)
    except ModuleNotFoundError as e:
        if e.name != entry.split(".")[0] and e.name != entry:
            raise _failed(entry, where, e) from e
        raise PluginError(
            f"{where}: local plugin '{entry}' not found (looked on sys.path and in {base})",
            hint=f"put {entry}.py beside the config, or give a path such as plugins/{entry}.py",
        ) from None
    except Exception as e:  # the plugin's own import failed: name it
        raise _failed(entry, where, e) from e


def import_file(path: Path, where: str) -> tuple[str, ModuleType]:
    """Import one plugin file under the name ``satchel_local_<stem>``; the plugin is named ``<stem>``."""
    if not path.is_file():
        raise PluginError(f"{where}: local plugin file {path} does not exist")
    module_name = f"satchel_local_{path.stem}"
    if module_name in sys.modules and getattr(sys.modules[module_name], "__file__", None) == str(path):
        return path.stem, sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"{where}: cannot import {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[module_name]
        raise _failed(str(path), where, e) from e
    return path.stem, module


def directory_files(directory: Path) -> list[Path]:
    """The plugin files of a ``--plugins-dir``, in name order."""
    if not directory.is_dir():
        raise PluginError(f"--plugins-dir {directory} is not a directory")
    return sorted(p for p in directory.glob("*.py") if not p.name.startswith("_"))


def _failed(entry: str, where: str, e: BaseException) -> PluginError:
    return PluginError(
        f"{where}: local plugin '{entry}' failed to import: {type(e).__name__}: {e}",
        hint="fix the plugin, or remove it from [app] plugins / the plugins folder",
    )
