"""The result's environment block: the CUDA version of torch is read without importing torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def _cuda_version_in_fresh_python(site: Path) -> str:
    """torch_cuda_version() in a new interpreter whose only `torch` is the fake package under `site`."""
    code = textwrap.dedent(
        """
        import sys
        from bench.environment import torch_cuda_version
        found = torch_cuda_version()
        print(found, "torch" in sys.modules)
        """
    )
    env = {"PYTHONPATH": f"{site}:{Path(__file__).resolve().parents[2]}", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", code],
                          env=env, capture_output=True, text=True, check=True).stdout.strip()


def test_cuda_version_read_from_torch_version_py_without_import(tmp_path: Path) -> None:
    pkg = tmp_path / "torch"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise RuntimeError('torch must not be imported by the probe')\n")
    (pkg / "version.py").write_text("from typing import Optional\n__version__ = '2.11.0+cu130'\n"
                                    "cuda: Optional[str] = '13.0'\n")
    assert _cuda_version_in_fresh_python(tmp_path) == "13.0 False"


def test_cpu_build_of_torch_has_no_cuda_version(tmp_path: Path) -> None:
    pkg = tmp_path / "torch"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "version.py").write_text("from typing import Optional\ncuda: Optional[str] = None\n")
    assert _cuda_version_in_fresh_python(tmp_path) == "None False"
