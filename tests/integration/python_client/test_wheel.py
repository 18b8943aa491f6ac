"""The wheel Herald serves to Pyodide is the one clients/python builds, and the lock's sha256 says so.

Fails after a change to clients/python that was not followed by
``scripts/build_python_client.py``: run it and commit the wheel and the lock.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
VENDOR = ROOT / "web" / "vendor" / "pyodide"


def _build_script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("build_python_client", ROOT / "scripts" / "build_python_client.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_committed_wheel_is_what_the_sources_build_and_the_lock_hashes_it(tmp_path: Path) -> None:
    built = _build_script().build_wheel(tmp_path, isolated=False)
    committed = VENDOR / built.name
    assert committed.is_file(), f"{committed.name} is not committed: run scripts/build_python_client.py"
    assert sha256(built) == sha256(committed), "clients/python changed: run scripts/build_python_client.py"
    lock = json.loads((VENDOR / "pyodide-lock.json").read_text())
    entry = lock["packages"]["herald-client"]
    assert (entry["file_name"], entry["sha256"]) == (built.name, sha256(built))


def test_the_lock_lists_only_wheels_that_are_served_with_their_hashes() -> None:
    lock = json.loads((VENDOR / "pyodide-lock.json").read_text())
    assert set(lock["packages"]) == {"herald-client", "micropip"}
    for entry in lock["packages"].values():
        assert sha256(VENDOR / entry["file_name"]) == entry["sha256"], entry["name"]
    # The runtime's own header: Pyodide refuses a lock made for another build of itself.
    assert lock["info"]["python"].startswith("3.14") and lock["info"]["platform"].startswith("emscripten")

