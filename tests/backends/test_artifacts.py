"""Compiled artifacts: cached once, builtin-only TFLite, ORT-readable ONNX, runtimes that need
neither TensorFlow nor torch, exports an app can load, and the plugin registration."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from specs import GRADIENT_SPECS, TASK, separable

from satchel.model.backend import Trainer, TrainerBackend
from satchel_plugins.backends import LiteRTOptions, OnnxOptions, satchel_trainer_backends
from satchel_plugins.backends._tflite import model_ops


def _run(code: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_compile_is_cached_on_disk(backend: str, backends, compile_spec, cache_dir: Path) -> None:
    first = compile_spec(backend, TASK)
    stamps = {p: p.stat().st_mtime_ns for p in first.directory.iterdir()}

    again = type(backends[backend])().compile(TASK, cache_dir)  # a new backend object: disk cache only

    assert again.directory == first.directory and again.files == first.files
    assert {p: p.stat().st_mtime_ns for p in again.directory.iterdir()} == stamps
    assert not [p for p in (cache_dir / backend).iterdir() if p.name.startswith(".")]  # no temp dirs left
    assert set(first.files.values()) | {"compiled.json"} == {p.name for p in stamps}


def test_tflite_models_use_builtin_ops_only(compile_spec) -> None:
    for spec in [TASK, *GRADIENT_SPECS.values()]:
        compiled = compile_spec("litert", spec)
        ops = model_ops((compiled.directory / compiled.files["model"]).read_bytes())
        assert not [op for op in ops if op.startswith("CUSTOM")], ops
        assert {"ASSIGN_VARIABLE", "READ_VARIABLE", "FULLY_CONNECTED"} <= ops


def test_onnx_models_are_readable_by_ort_1_19(compile_spec) -> None:
    import onnx

    for spec in [TASK, *GRADIENT_SPECS.values()]:
        compiled = compile_spec("onnx", spec)
        for name in compiled.files.values():
            model = onnx.load(compiled.directory / name)
            assert model.ir_version <= 10
            assert {o.domain: o.version for o in model.opset_import}.get("", 17) <= 17


def test_litert_trains_in_a_process_without_tensorflow(compile_spec, cache_dir: Path, tmp_path: Path) -> None:
    compile_spec("litert", TASK)
    out = _run(
        """
        import sys
        sys.modules["tensorflow"] = None  # importing it now raises ImportError, as if not installed
        from pathlib import Path
        import numpy as np
        from satchel.model.dataset import Dataset
        from satchel.model.spec import ModelSpec
        from satchel_plugins.backends.litert import LiteRTBackend
        import json
        spec = ModelSpec.from_json(json.loads(sys.argv[1]))
        trainer = LiteRTBackend().open(LiteRTBackend().compile(spec, Path(sys.argv[2])))
        x = np.random.default_rng(0).normal(size=(100, 10)).astype(np.float32)
        result = trainer.fit(Dataset.of(x, (x[:, 0] > 0).astype(np.float32)), epochs=2)
        trainer.set_weights(trainer.get_weights())
        manifest = trainer.export(Path(sys.argv[3]), feature_names=tuple("abcdefghij"), feature_schema_hash="h")
        assert np.isfinite(trainer.predict(x)).all()
        print("ok", result.steps, sorted(manifest.files), "quantized_inference" in manifest.runtime)
    """,
        json.dumps(TASK.to_json()),
        str(cache_dir),
        str(tmp_path),
    )
    # Without TensorFlow the export still holds the trainable model; the quantized ones say why they are missing.
    assert out.split() == ["ok", "8", "['model']", "True"]


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is not None, reason="needs an environment without torch"
)
def test_onnx_trains_in_a_process_without_torch(compile_spec, cache_dir: Path, tmp_path: Path) -> None:
    compile_spec("onnx", TASK)
    out = _run(
        """
        import json, sys
        from pathlib import Path
        import numpy as np
        from satchel.model.dataset import Dataset
        from satchel.model.spec import ModelSpec
        from satchel_plugins.backends.onnx_training import OnnxBackend
        spec = ModelSpec.from_json(json.loads(sys.argv[1]))
        trainer = OnnxBackend().open(OnnxBackend().compile(spec, Path(sys.argv[2])))
        x = np.random.default_rng(0).normal(size=(100, 10)).astype(np.float32)
        data = Dataset.of(x, (x[:, 0] > 0).astype(np.float32))
        result = trainer.fit(data, epochs=2)
        trainer.set_weights(trainer.get_weights())
        trainer.evaluate(data)
        trainer.export(Path(sys.argv[3]), feature_names=tuple("abcdefghij"), feature_schema_hash="h")
        assert np.isfinite(trainer.predict(x)).all()
        assert "torch" not in sys.modules, "torch was imported"
        print("ok", result.steps)
    """,
        json.dumps(TASK.to_json()),
        str(cache_dir),
        str(tmp_path),
    )
    assert out.split() == ["ok", "8"]


def _manifest_ok(directory: Path, manifest, trainer) -> dict:
    body = json.loads((directory / "manifest.json").read_text())
    assert body["backend"] == manifest.backend and body["spec_hash"] == TASK.hash
    assert body["feature_schema_hash"] == "schema-hash"
    assert body["feature_names"] == [f"f{i}" for i in range(10)]
    assert body["spec"] == TASK.to_json() and body["files"] == dict(manifest.files)
    assert all((directory / name).is_file() for name in manifest.files.values())
    return body


def test_litert_export_bakes_the_trained_weights(open_trainer, tmp_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    data = separable(200, seed=5)
    trainer = open_trainer("litert", TASK)
    trainer.fit(data, epochs=3)
    manifest = trainer.export(
        tmp_path, feature_names=tuple(f"f{i}" for i in range(10)), feature_schema_hash="schema-hash"
    )

    body = _manifest_ok(tmp_path, manifest, trainer)
    assert body["signatures"]["infer"]["inputs"]["x"] == {"shape": [-1, 10], "dtype": "float32"}
    assert body["signatures"]["train"]["inputs"]["x"]["shape"] == [32, 10]
    model = (tmp_path / manifest.files["model"]).read_bytes()
    assert not [op for op in model_ops(model) if op.startswith("CUSTOM")]
    interpreter = Interpreter(model_content=model)
    got = interpreter.get_signature_runner("infer")(x=data.x)["output"]
    np.testing.assert_allclose(got, trainer.predict(data.x), rtol=1e-6, atol=1e-7)
    state = interpreter.get_signature_runner("get_optimizer")()
    assert state["adam_step"] == trainer.get_weights().optimizer["step"]


def test_onnx_export_holds_inference_and_training_artifacts(open_trainer, tmp_path: Path) -> None:
    import onnxruntime as ort

    from satchel_plugins.backends._ort import ort_training

    data = separable(200, seed=5)
    trainer = open_trainer("onnx", TASK)
    trainer.fit(data, epochs=3)
    manifest = trainer.export(
        tmp_path, feature_names=tuple(f"f{i}" for i in range(10)), feature_schema_hash="schema-hash"
    )

    body = _manifest_ok(tmp_path, manifest, trainer)
    assert body["signatures"]["inference"]["inputs"]["x"]["shape"] == [-1, 10]
    session = ort.InferenceSession(
        str(tmp_path / manifest.files["inference"]), providers=["CPUExecutionProvider"]
    )
    np.testing.assert_allclose(
        session.run(["output"], {"x": data.x})[0], trainer.predict(data.x), rtol=1e-5, atol=1e-6
    )
    api = ort_training("api")
    state = api.CheckpointState.load_checkpoint(str(tmp_path / manifest.files["checkpoint"]))
    module = api.Module(
        str(tmp_path / manifest.files["training"]), state, str(tmp_path / manifest.files["eval"])
    )
    trained = trainer.get_weights().params["dense_0_kernel"]
    assert np.array_equal(state.parameters["dense_0_kernel"].data, trained)
    _loss, output = module(data.x[:32], data.y[:32], data.weights[:32])
    np.testing.assert_allclose(output, trainer.predict(data.x[:32]), rtol=1e-5, atol=1e-6)
    module.export_model_for_inferencing(str(tmp_path / "refreshed.onnx"), ["output"])  # what a device does
    refreshed = ort.InferenceSession(str(tmp_path / "refreshed.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(
        refreshed.run(["output"], {"x": data.x[:7]})[0], trainer.predict(data.x[:7]), rtol=1e-5, atol=1e-6
    )
    assert {"training_ort", "eval_ort", "optimizer_ort", "inference_ort", "inference_int8_ort"} <= set(
        manifest.files
    )


def test_plugin_registers_both_backends_with_strict_options() -> None:
    specs = {spec.name: spec for spec in satchel_trainer_backends()}
    assert set(specs) == {"litert", "onnx"}
    assert specs["litert"].options is LiteRTOptions and specs["onnx"].options is OnnxOptions
    with pytest.raises(ValidationError):
        LiteRTOptions(thread=2)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        OnnxOptions(threads=0)
    backend = specs["onnx"].create(OnnxOptions(threads=2))
    assert backend.name == "onnx" and backend.threads == 2 and backend.version.endswith("+ort1.19.2")
    assert isinstance(backend, TrainerBackend) and isinstance(specs["litert"].create(), TrainerBackend)


def test_trainers_satisfy_the_protocol(backend: str, open_trainer) -> None:
    assert isinstance(open_trainer(backend, TASK), Trainer)


def test_importing_the_plugin_loads_no_runtime() -> None:
    out = _run("""
        import sys
        import satchel_plugins.backends
        runtimes = ("tensorflow", "onnx", "onnxruntime", "ai_edge_litert", "torch")
        print([m for m in runtimes if m in sys.modules])
    """)
    assert out.strip() == "[]"
