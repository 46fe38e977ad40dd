"""TFLite flatbuffer and interpreter helpers: variable naming, op inventory, baking trained
values into a model, and fast signature calls through ``ai_edge_litert`` (no TensorFlow)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from satchel.errors import BackendError

ADAM_STEP = "adam_step"


def param_var(name: str) -> str:
    return f"param__{name}"


def ref_var(name: str) -> str:
    return f"ref__{name}"


def adam_m(name: str) -> str:
    return f"adam_m__{name}"


def adam_v(name: str) -> str:
    return f"adam_v__{name}"


def _schema() -> Any:
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def model_ops(model: bytes) -> set[str]:
    """Operator names used by a .tflite model: builtin names, ``CUSTOM:<code>`` for custom/Flex ops."""
    s = _schema()
    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    root = s.Model.GetRootAsModel(model, 0)
    ops = set()
    for i in range(root.OperatorCodesLength()):
        code = root.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == s.BuiltinOperator.CUSTOM:
            ops.add(f"CUSTOM:{(code.CustomCode() or b'').decode()}")
        else:
            ops.add(names.get(builtin, str(builtin)))
    return ops


def check_builtin_only(model: bytes, where: str) -> None:
    """Raise if the model needs Flex (SELECT_TF_OPS) or custom ops, which LiteRT cannot run."""
    custom = sorted(op for op in model_ops(model) if op.startswith("CUSTOM:"))
    if custom:
        raise BackendError(
            f"litert: {where} converted with non-builtin ops {custom}",
            hint="rewrite the loss with builtin-friendly ops",
        )


def bake_variables(model: bytes, values: Mapping[str, np.ndarray]) -> bytes:
    """A copy of ``model`` whose variables start from ``values`` (keyed by variable name).

    Patches, in place, the constant each variable is initialised from in the model's init
    subgraph; each such constant must belong to exactly one variable (see ``_tf_build``).
    """
    s = _schema()
    buf = bytearray(model)
    root = s.Model.GetRootAsModel(buf, 0)
    opcodes = [
        max(root.OperatorCodes(i).BuiltinCode(), root.OperatorCodes(i).DeprecatedBuiltinCode())
        for i in range(root.OperatorCodesLength())
    ]
    init: dict[str, list[int]] = {}
    for g in range(root.SubgraphsLength()):
        sg = root.Subgraphs(g)
        handles: dict[int, str] = {}
        assigns: list[tuple[int, int]] = []
        for o in range(sg.OperatorsLength()):
            op = sg.Operators(o)
            code = opcodes[op.OpcodeIndex()]
            if code == s.BuiltinOperator.VAR_HANDLE:
                opts = s.VarHandleOptions()
                table = op.BuiltinOptions()
                opts.Init(table.Bytes, table.Pos)
                handles[op.Outputs(0)] = (opts.SharedName() or b"").decode()
            elif code == s.BuiltinOperator.ASSIGN_VARIABLE:
                assigns.append((op.Inputs(0), op.Inputs(1)))
        for handle, value in assigns:
            buffer = sg.Tensors(value).Buffer()
            if handle in handles and root.Buffers(buffer).DataLength() > 0:
                init.setdefault(handles[handle], []).append(buffer)
    users: dict[int, int] = {}
    for buffers in init.values():
        for b in set(buffers):
            users[b] = users.get(b, 0) + 1
    if set(init) != set(values):
        raise BackendError(
            f"litert.export: variables {sorted(set(init) ^ set(values))} are not matched "
            "between the model and the values to bake",
            hint="recompile the spec",
        )
    for name, initial in values.items():
        targets = set(init.get(name, ()))
        data = np.ascontiguousarray(initial, np.float32).reshape(-1).view(np.uint8)
        if len(targets) != 1 or any(users[b] != 1 for b in targets):
            raise BackendError(
                f"litert.export: cannot locate the initial value of variable {name!r}",
                hint="recompile the spec (the artifact predates satchel's export format)",
            )
        view = root.Buffers(targets.pop()).DataAsNumpy()
        if view.size != data.size:
            raise BackendError(
                f"litert.export: variable {name!r} holds {view.size} bytes, not {data.size}",
                hint="recompile the spec",
            )
        view[:] = data
    return bytes(buf)


class Signature:
    """One signature of a LiteRT interpreter, called without SignatureRunner's per-call
        resize/allocate/dict work: tensor indices are cached and inputs resized only when the row
        count changes. Relies on the runner's interpreter wrapper and tensor maps (ai_edge_litert 2.x),
    checked here so a changed runtime fails with a clear error."""

    def __init__(self, interpreter: Any, key: str) -> None:
        runner = self._runner = interpreter.get_signature_runner(key)
        try:
            self._w = runner._interpreter_wrapper
            self._sg = runner._subgraph_index
            self.inputs: dict[str, int] = dict(runner._inputs)
            self.outputs: dict[str, int] = dict(runner._outputs)
        except AttributeError as exc:
            raise BackendError(
                f"litert: ai_edge_litert's SignatureRunner has no {exc.name!r}",
                hint="install an ai-edge-litert version satchel supports (>=1.2,<3)",
            ) from exc
        self._shapes = dict.fromkeys(self.inputs)
        self._w.AllocateTensors(self._sg)

    def __call__(self, **feeds: np.ndarray) -> dict[str, np.ndarray]:
        """Run with named inputs (resized as needed); returns every output as a NumPy copy."""
        w, sg = self._w, self._sg
        resized = False
        for name, value in feeds.items():
            if self._shapes[name] != value.shape:
                w.ResizeInputTensor(self.inputs[name], np.array(value.shape, np.int32), False, sg)
                self._shapes[name] = value.shape
                resized = True
        if resized:
            w.AllocateTensors(sg)
        for name, value in feeds.items():
            w.SetTensor(self.inputs[name], value, sg)
        w.Invoke(sg)
        return {name: w.GetTensor(index, sg) for name, index in self.outputs.items()}

    def fixed(self, inputs: tuple[str, ...], output: str) -> Callable[..., np.ndarray]:
        """A positional call for inputs whose shapes never change (e.g. the training batch)."""
        w, sg = self._w, self._sg
        idx = [self.inputs[n] for n in inputs]
        out = self.outputs[output]
        set_tensor, invoke, get_tensor = w.SetTensor, w.Invoke, w.GetTensor
        if len(idx) == 3:
            i0, i1, i2 = idx

            def call3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
                set_tensor(i0, a, sg)
                set_tensor(i1, b, sg)
                set_tensor(i2, c, sg)
                invoke(sg)
                return get_tensor(out, sg)

            return call3

        def call(*arrays: np.ndarray) -> np.ndarray:
            for i, a in zip(idx, arrays):
                set_tensor(i, a, sg)
            invoke(sg)
            return get_tensor(out, sg)

        return call

    def rows(self, input_name: str, output: str) -> Callable[[np.ndarray], np.ndarray]:
        """A one-input call with a variable row count (resizes only when the count changes)."""
        w, sg = self._w, self._sg
        index, out = self.inputs[input_name], self.outputs[output]
        set_tensor, invoke, get_tensor = w.SetTensor, w.Invoke, w.GetTensor
        shapes = self._shapes

        def call(x: np.ndarray) -> np.ndarray:
            if shapes[input_name] != x.shape:
                w.ResizeInputTensor(index, np.array(x.shape, np.int32), False, sg)
                w.AllocateTensors(sg)
                shapes[input_name] = x.shape
            set_tensor(index, x, sg)
            invoke(sg)
            return get_tensor(out, sg)

        return call

    def details(self) -> dict[str, object]:
        """Input/output names with shape signatures (-1 = any row count) and dtypes, for manifests."""

        def describe(details: Mapping[str, Mapping[str, Any]]) -> dict[str, object]:
            return {
                name: {"shape": [int(v) for v in d["shape_signature"]], "dtype": np.dtype(d["dtype"]).name}
                for name, d in details.items()
            }

        return {
            "inputs": describe(self._runner.get_input_details()),
            "outputs": describe(self._runner.get_output_details()),
        }


def _unpack(model: bytes) -> Any:
    return _schema().ModelT.InitFromPackedBuf(bytearray(model), 0)


def _pack(root: Any, size: int) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(size + 1024)
    builder.Finish(root.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def rename_signature(model: bytes, key: str) -> bytes:
    """``model`` with its only signature named ``key`` (a single converted function is ``serving_default``)."""
    root = _unpack(model)
    if len(root.signatureDefs) != 1:
        raise BackendError(
            f"litert: expected one signature, found {len(root.signatureDefs)}",
            hint="report the spec to satchel's maintainers",
        )
    root.signatureDefs[0].signatureKey = key
    return _pack(root, len(model))


def embed_metadata(model: bytes, name: str, data: bytes) -> bytes:
    """``model`` with ``data`` as the flatbuffer metadata entry ``name`` (``Model.metadata``)."""
    s = _schema()
    root = _unpack(model)
    buffer = s.BufferT()
    buffer.data = np.frombuffer(data, np.uint8)
    root.buffers.append(buffer)
    entry = s.MetadataT()
    entry.name, entry.buffer = name, len(root.buffers) - 1
    root.metadata = [*(root.metadata or []), entry]
    return _pack(root, len(model) + len(data))


def read_metadata(model: bytes, name: str) -> bytes | None:
    """The metadata entry ``name`` of ``model`` (None if absent)."""
    root = _schema().Model.GetRootAsModel(model, 0)
    for i in range(root.MetadataLength()):
        entry = root.Metadata(i)
        if (entry.Name() or b"").decode() == name:
            return root.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    return None


def quantize_weights_int8(model: bytes) -> bytes:
    """Weight-only int8 copy of an inference model: every constant float32 ``FULLY_CONNECTED``
    weight becomes symmetric per-output-channel int8 (zero point 0), run by LiteRT's hybrid kernels
    (float activations, int8 weights) — what dynamic-range quantization produces, without the
    converter's 1024-element minimum, which leaves every kernel of a small MLP in float32."""
    s = _schema()
    root = _unpack(model)
    fc = {
        i
        for i, code in enumerate(root.operatorCodes)
        if max(code.builtinCode, code.deprecatedBuiltinCode) == s.BuiltinOperator.FULLY_CONNECTED
    }
    done: set[tuple[int, int]] = set()
    for g, sg in enumerate(root.subgraphs):
        for op in sg.operators:
            if op.opcodeIndex not in fc or (g, op.inputs[1]) in done:
                continue
            tensor = sg.tensors[op.inputs[1]]
            buffer = root.buffers[tensor.buffer]
            if tensor.type != s.TensorType.FLOAT32 or buffer.data is None or len(buffer.data) == 0:
                continue
            w = np.frombuffer(bytes(bytearray(buffer.data)), np.float32).reshape(tuple(tensor.shape))
            scale = np.maximum(np.abs(w).max(axis=1), 1e-12) / 127.0  # weights are (out, in)
            q = np.clip(np.rint(w / scale[:, None]), -127, 127).astype(np.int8)
            buffer.data = q.reshape(-1).view(np.uint8)
            tensor.type = s.TensorType.INT8
            params = s.QuantizationParametersT()
            params.scale = scale.astype(np.float32).tolist()
            params.zeroPoint = [0] * len(scale)
            params.quantizedDimension = 0
            tensor.quantization = params
            done.add((g, op.inputs[1]))
    if not done:
        raise BackendError(
            "litert.export: the inference model has no FULLY_CONNECTED weights to quantize",
            hint="report the spec to satchel's maintainers",
        )
    return _pack(root, len(model))
