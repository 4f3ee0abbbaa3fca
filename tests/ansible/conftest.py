"""Fixtures for the Ansible tests."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.ansible._support import NODE_IMAGE, missing


@pytest.fixture(scope="session")
def podman() -> str:
    path = shutil.which("podman")
    if path is None:
        missing("podman is not installed (run scripts/setup-ansible.sh as root)")
    assert path is not None
    probe = subprocess.run([path, "image", "exists", NODE_IMAGE], check=False)
    if probe.returncode != 0:
        missing(f"node image {NODE_IMAGE} is absent (run scripts/setup-ansible.sh as root)")
    return path
