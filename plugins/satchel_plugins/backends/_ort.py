"""ONNX Runtime training plumbing: importing it without torch, reading/writing its checkpoint
flatbuffer (the only place ORT keeps Adam moments; its Python API exposes none), and the scratch
files that flatbuffer passes through, which never put a learner's weights on disk."""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from satchel.errors import BackendError
from satchel.privacy.atomic import process_alive

_PACKAGE = "onnxruntime.training"
#: Checkpoint flatbuffer version written by onnxruntime-training 1.19 (file identifier "ODTC").
_CHECKPOINT_VERSION = 2
_GROUP = "group0"
_FLOAT = 1  # TensorDataType.FLOAT


def ort_training(submodule: str) -> ModuleType:
    """Import ``onnxruntime.training.<submodule>`` (``api``, ``artifacts``, ``onnxblock``) without torch.

    ``onnxruntime/training/__init__.py`` imports torch (for an optimizer satchel does not use).
    ``import onnxruntime`` already tries that package during its build validation and swallows the
    ImportError, leaving ``onnxruntime.training`` unregistered; here the package is registered from
    its import spec *without executing* its ``__init__``, and submodules then import normally. A
    package that is already registered (torch installed) is reused as is.
    """
    if _PACKAGE not in sys.modules:
        import onnxruntime  # noqa: F401 - the parent package must exist first

        spec = importlib.util.find_spec(_PACKAGE)
        if spec is None:
            raise BackendError(
                "onnx: onnxruntime has no training support",
                hint="install onnxruntime-training-cpu==1.19.2 instead of onnxruntime",
            )
        sys.modules[_PACKAGE] = importlib.util.module_from_spec(spec)
    return importlib.import_module(f"{_PACKAGE}.{submodule}")


_SCRATCH = ".scratch-"


class ScratchFiles:
    """Paths ORT's path-only checkpoint API can write and read, holding a learner's weights and
    optimizer state only in memory.

    On Linux each is an anonymous memory file (``memfd_create``; ORT opens ``/proc/self/fd/N``):
    nothing reaches the file system, and the memory is gone when the trainer is collected or the
    process dies, SIGKILL included. Elsewhere they live in a fresh 0700 directory
    ``<near>/.scratch-<pid>-*`` (``near`` is inside the app's data directory), removed by
    :meth:`close` and garbage collection; directories of dead processes are swept on the next start.
    """

    def __init__(self, near: Path) -> None:
        self._fds: dict[str, int] = {}
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        if not hasattr(os, "memfd_create"):
            sweep_scratch(near)
            self._dir = tempfile.TemporaryDirectory(prefix=f"{_SCRATCH}{os.getpid()}-", dir=near)

    def path(self, name: str) -> Path:
        """The path of scratch file ``name`` (created empty on first use)."""
        if self._dir is not None:
            return Path(self._dir.name) / name
        if name not in self._fds:
            self._fds[name] = os.memfd_create(f"satchel-{name}", os.MFD_CLOEXEC)
        return Path(f"/proc/self/fd/{self._fds[name]}")

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        if self._dir is not None:
            self._dir.cleanup()

    def __del__(self) -> None:
        self.close()


def sweep_scratch(near: Path) -> None:
    """Remove scratch directories under ``near`` whose process is gone (killed mid-training)."""
    for entry in near.glob(f"{_SCRATCH}*"):
        pid = entry.name[len(_SCRATCH) :].split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


# Slots of onnxruntime/core/flatbuffers/schema/ort_training_checkpoint.fbs (tables below).
# Checkpoint: version, module_state, optimizer_groups, property_bag
# ModuleState: requires_grad_params, frozen_params, is_nominal_state, has_external_data
# OptimizerGroup: group_name, step, initial_learning_rate, optimizer_states
# ParameterOptimizerState: param_name, momentums
# Tensor: name, doc_string, dims, data_type, raw_data, string_data, external_data_offset


def write_checkpoint(
    path: Path,
    trainable: Mapping[str, np.ndarray],
    frozen: Mapping[str, np.ndarray],
    adam: Mapping[str, np.ndarray] | None,
    learning_rate: float,
) -> None:
    """Write an ORT training checkpoint: parameters plus, for Adam, moments and step.

    ``adam`` uses satchel's layout (``m/<param>``, ``v/<param>``, ``step``); ORT calls the moments
    ``momentum0``/``momentum1`` of optimizer group ``group0``.
    """
    import flatbuffers

    b = flatbuffers.Builder(4096)

    def table(slots: int, fields: list[tuple[str, int, object]]) -> int:
        b.StartObject(slots)
        for kind, slot, value in fields:
            getattr(b, f"Prepend{kind}Slot")(slot, value, 0)
        return b.EndObject()

    def vector(offsets: list[int]) -> int:
        b.StartVector(4, len(offsets), 4)
        for off in reversed(offsets):
            b.PrependUOffsetTRelative(off)
        return b.EndVector()

    def tensor(name: str, value: np.ndarray) -> int:
        arr = np.ascontiguousarray(value, np.float32)
        name_off = b.CreateString(name)
        dims = b.CreateNumpyVector(np.asarray(arr.shape, np.int64))
        raw = b.CreateNumpyVector(arr.reshape(-1).view(np.uint8))
        return table(
            7,
            [
                ("UOffsetTRelative", 0, name_off),
                ("UOffsetTRelative", 2, dims),
                ("Int32", 3, _FLOAT),
                ("UOffsetTRelative", 4, raw),
            ],
        )

    grads = vector([tensor(n, a) for n, a in trainable.items()])
    frozen_vec = vector([tensor(n, a) for n, a in frozen.items()])
    module_state = table(4, [("UOffsetTRelative", 0, grads), ("UOffsetTRelative", 1, frozen_vec)])
    fields: list[tuple[str, int, object]] = [
        ("Int32", 0, _CHECKPOINT_VERSION),
        ("UOffsetTRelative", 1, module_state),
    ]
    if adam is not None:
        states = []
        for name in trainable:
            moments = vector([tensor("momentum0", adam[f"m/{name}"]), tensor("momentum1", adam[f"v/{name}"])])
            param_name = b.CreateString(name)
            states.append(table(2, [("UOffsetTRelative", 0, param_name), ("UOffsetTRelative", 1, moments)]))
        state_vec = vector(states)
        group_name = b.CreateString(_GROUP)
        group = table(
            4,
            [
                ("UOffsetTRelative", 0, group_name),
                ("Int64", 1, int(adam["step"])),
                ("Float32", 2, float(learning_rate)),
                ("UOffsetTRelative", 3, state_vec),
            ],
        )
        fields.append(("UOffsetTRelative", 2, vector([group])))
    b.Finish(table(4, fields), file_identifier=b"ODTC")
    Path(path).write_bytes(b.Output())


class _Table:
    """Just enough of a flatbuffer table reader for the checkpoint schema."""

    def __init__(self, tab: Any) -> None:
        self.t = tab

    @staticmethod
    def root(buf: bytes) -> _Table:
        from flatbuffers import encode, packer
        from flatbuffers.table import Table

        return _Table(Table(buf, encode.Get(packer.uoffset, buf, 0)))

    def _field(self, slot: int) -> int:
        return self.t.Offset(4 + 2 * slot)

    def scalar(self, slot: int, flags: Any) -> int | float:
        o = self._field(slot)
        return self.t.Get(flags, o + self.t.Pos) if o else 0

    def string(self, slot: int) -> str:
        o = self._field(slot)
        return self.t.String(o + self.t.Pos).decode() if o else ""

    def tables(self, slot: int) -> list[_Table]:
        from flatbuffers.table import Table

        o = self._field(slot)
        if not o:
            return []
        start, n = self.t.Vector(o), self.t.VectorLen(o)
        return [_Table(Table(self.t.Bytes, self.t.Indirect(start + 4 * j))) for j in range(n)]

    def floats(self, slot: int) -> np.ndarray:
        from flatbuffers import number_types

        o = self._field(slot)
        return self.t.GetVectorAsNumpy(number_types.Uint8Flags, o).view(np.float32).copy()


def read_adam_state(path: Path, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Adam moments and step from a checkpoint saved with ``include_optimizer_state=True``."""
    from flatbuffers import number_types

    root = _Table.root(Path(path).read_bytes())
    group = next((g for g in root.tables(2) if g.string(0) == _GROUP), None)
    if group is None:
        raise BackendError(
            "onnx: the training checkpoint holds no Adam state",
            hint="is the optimizer model an AdamW model? recompile the spec",
        )
    moments = {st.string(0): {m.string(0): m.floats(4) for m in st.tables(1)} for st in group.tables(3)}
    state: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        state[f"m/{name}"] = moments[name]["momentum0"].reshape(shape)
        state[f"v/{name}"] = moments[name]["momentum1"].reshape(shape)
    state["step"] = np.asarray(group.scalar(1, number_types.Int64Flags), np.int64)
    return state
