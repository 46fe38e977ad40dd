"""satchel's dependencies resolve from PyPI, binary wheels only, on every platform the README names: Linux
x86_64 and aarch64, macOS arm64 and x86_64 (pip install --dry-run --platform; nothing is installed).
Transitive dependencies' markers are evaluated by pip for this machine: a pip limitation."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLATFORMS = {
    "linux-x86_64": (
        "manylinux_2_28_x86_64",
        "manylinux_2_27_x86_64",
        "manylinux_2_17_x86_64",
        "manylinux2014_x86_64",
    ),
    "linux-aarch64": (
        "manylinux_2_28_aarch64",
        "manylinux_2_27_aarch64",
        "manylinux_2_17_aarch64",
        "manylinux2014_aarch64",
    ),
    "macos-arm64": ("macosx_14_0_arm64", "macosx_13_0_arm64", "macosx_12_0_arm64", "macosx_11_0_arm64"),
    "macos-x86_64": (
        "macosx_14_0_x86_64",
        "macosx_13_0_x86_64",
        "macosx_12_0_x86_64",
        "macosx_10_15_x86_64",
        "macosx_10_9_x86_64",
    ),
}
#: which backend runtime each platform gets (the others have no wheels there)
RUNTIMES = {
    "linux-x86_64": {"tensorflow-cpu", "ai-edge-litert", "onnxruntime-training-cpu"},
    "linux-aarch64": {"tensorflow", "ai-edge-litert"},
    "macos-arm64": {"tensorflow", "ai-edge-litert", "onnxruntime-training-cpu"},
    "macos-x86_64": {"onnxruntime-training-cpu"},
}
_OFFLINE = (
    "Could not fetch URL",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Network is unreachable",
)


#: marker environments: pip evaluates markers for the machine it runs on, even with --platform, so the
#: requirements are filtered here for the target and handed to pip without markers
MARKERS = {
    "linux-x86_64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"},
    "linux-aarch64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "aarch64"},
    "macos-arm64": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64"},
    "macos-x86_64": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "x86_64"},
}


def requirements(platform: str) -> list[str]:
    """satchel's dependencies that apply on ``platform`` (Python 3.11), markers evaluated and dropped."""
    import tomllib
    from packaging.requirements import Requirement

    env = {
        **MARKERS[platform],
        "python_version": "3.11",
        "python_full_version": "3.11.9",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }
    found = []
    for line in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(env):
            req.marker = None
            found.append(str(req))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_resolves_with_binary_wheels_only(tmp_path, platform):
    import json

    tags = [arg for tag in PLATFORMS[platform] for arg in ("--platform", tag)]
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--quiet",
            "--ignore-installed",
            "--only-binary=:all:",
            *tags,
            "--python-version",
            "3.11",
            "--target",
            str(tmp_path / "t"),
            "--report",
            str(report),
            *requirements(platform),
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0 and any(s in proc.stderr for s in _OFFLINE):
        pytest.skip("no access to PyPI")
    assert proc.returncode == 0, f"satchel does not resolve on {platform}:\n{proc.stderr[-3000:]}"
    names = {
        item["metadata"]["name"].lower().replace("_", "-")
        for item in json.loads(report.read_text())["install"]
    }
    assert (
        names & {"tensorflow", "tensorflow-cpu", "ai-edge-litert", "onnxruntime-training-cpu"}
        == RUNTIMES[platform]
    )
