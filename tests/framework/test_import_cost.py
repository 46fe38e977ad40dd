import subprocess
import sys

HEAVY = ("tensorflow", "onnxruntime", "ai_edge_litert", "onnx", "torch", "numpy", "pydantic")


def test_import_satchel_loads_no_heavy_module():
    code = "import sys, satchel; print(','.join(m for m in %r if m in sys.modules))" % (HEAVY,)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_cli_help_loads_no_ml_runtime():
    code = ("import sys; from click.testing import CliRunner; from satchel.cli import cli; "
            "CliRunner().invoke(cli, ['--help'], obj={}); "
            "print(','.join(m for m in ('tensorflow', 'onnxruntime', 'ai_edge_litert', 'onnx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
