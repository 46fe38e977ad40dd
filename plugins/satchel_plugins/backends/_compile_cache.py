"""The on-disk compile cache both backends share: artifacts built once per (spec, backend version),
and the check that opened artifacts match the running backend."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from satchel.errors import BackendError
from satchel.model.backend import CompiledModel
from satchel.model.spec import ModelSpec
from satchel_plugins.backends._input_checks import check_spec

#: Version of the artifact layout satchel writes; part of every backend version (cache key).
FORMAT_VERSION = "1"


def dist_version(*names: str) -> str:
    """Installed version of the first distribution found among ``names`` (``"none"`` if absent)."""
    from importlib.metadata import PackageNotFoundError, version

    for name in names:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "none"


def check_compiled(compiled: CompiledModel, backend: str, version: str) -> None:
    """Refuse artifacts compiled by another backend or another version of it."""
    if compiled.backend != backend or compiled.backend_version != version:
        raise BackendError(
            f"{backend}.open: artifacts were compiled by {compiled.backend} "
            f"{compiled.backend_version}, this is {backend} {version}",
            hint=f"compile the spec again with the {backend} backend",
        )


def compile_cached(
    spec: ModelSpec,
    cache_dir: Path,
    backend: str,
    version: str,
    build: Callable[[ModelSpec, Path], dict[str, str]],
) -> CompiledModel:
    """Return the cached artifacts of (spec hash, backend version), building them once.

    ``build(spec, directory)`` writes into a fresh temporary directory and returns the files by
    role; the directory is then renamed into place atomically, so readers (other processes
    included) see complete artifacts or none, and a lost race simply reuses the winner's.
    """
    check_spec(spec, backend)
    key = hashlib.sha256(f"{spec.hash}|{backend}|{version}".encode()).hexdigest()[:32]
    root = Path(cache_dir) / backend
    final = root / key
    if not (final / "compiled.json").is_file():
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
        try:
            try:
                files = build(spec, tmp)
            except BackendError:
                raise
            except Exception as exc:
                raise BackendError(
                    f"{backend}: compiling spec {spec.hash[:12]} failed: {exc}",
                    hint="report the spec and this error to the backend's maintainers",
                ) from exc
            meta = {
                "backend": backend,
                "backend_version": version,
                "spec_hash": spec.hash,
                "spec": spec.to_json(),
                "files": files,
            }
            (tmp / "compiled.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
            try:
                os.rename(tmp, final)
            except OSError:
                if not (final / "compiled.json").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    meta = json.loads((final / "compiled.json").read_text())
    return CompiledModel(spec, backend, version, final, dict(meta["files"]))
