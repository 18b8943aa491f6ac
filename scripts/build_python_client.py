"""Build the herald-client wheel and the Pyodide lock that lets a browser load it from Herald.

    .venv/bin/python scripts/build_python_client.py   # after changing clients/python; commit what it writes

tests/integration/python_client/test_wheel.py rebuilds the wheel in CI and fails if
the committed wheel or the lock's sha256 differs: run this, then commit.

What it writes, into web/vendor/pyodide/ (served at /static/vendor/pyodide/):

- ``herald_client-<version>-py3-none-any.whl``, built by ``python -m build`` (pure Python:
  ``pyodide build`` would give the same contents, and cannot run offline). The build is
  reproducible (flit_core pinned in clients/python/pyproject.toml, ``SOURCE_DATE_EPOCH``
  fixed below), so the same sources give the same sha256 on every machine.
- ``pyodide-lock.json``: the runtime's lock header with exactly two packages, micropip
  (vendored from PyPI) and herald-client, written by pyodide-build's own
  ``pyodide lockfile add-wheels`` with their sha256. pyodide-build needs Python 3.12+,
  so it runs from a venv of its own (``build/pyodide-build/``) made with pyenv's 3.12.
  Pyodide then resolves ``loadPackage("herald-client")`` to the wheel beside the lock.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIENT = ROOT / "clients" / "python"
VENDOR = ROOT / "web" / "vendor" / "pyodide"
LOCK = VENDOR / "pyodide-lock.json"
# Any fixed instant will do; it is the timestamp of every file in the wheel.
SOURCE_DATE_EPOCH = "1735689600"  # 2025-01-01T00:00:00Z
PYODIDE_BUILD = ["pyodide-build==0.39.2", "pkginfo==2.0"]  # pkginfo: used by add-wheels, not declared by it
PYODIDE_BUILD_VENV = ROOT / "build" / "pyodide-build"


def build_wheel(out_dir: Path, isolated: bool = True) -> Path:
    """``python -m build --wheel`` of clients/python's tracked files into ``out_dir``; returns the wheel's path.

    From a copy of what git tracks: flit puts every file under the package into the wheel, so a
    ``.mypy_cache`` or an editor's backup in the working tree would change the wheel and its hash.
    """
    source = out_dir / "source"
    tracked = subprocess.run(["git", "ls-files", "-z", "clients/python"], cwd=ROOT, check=True,
                             capture_output=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        target = source / Path(name).relative_to("clients/python")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, target)
    command = [sys.executable, "-m", "build", "--wheel", "--outdir", str(out_dir), str(source)]
    if not isolated:
        command.insert(3, "--no-isolation")  # flit_core from this environment: same pinned version, no download
    env = {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    (wheel,) = out_dir.glob("herald_client-*.whl")
    return wheel


def pyodide_cli() -> Path:
    """pyodide-build's CLI in a Python 3.12+ venv, made on first use."""
    cli = PYODIDE_BUILD_VENV / "bin" / "pyodide"
    if cli.exists():
        return cli
    python = os.environ.get("PYODIDE_BUILD_PYTHON") or _pyenv_python("3.12")
    subprocess.run([python, "-m", "venv", str(PYODIDE_BUILD_VENV)], check=True)
    subprocess.run([str(PYODIDE_BUILD_VENV / "bin" / "pip"), "install", "-q", *PYODIDE_BUILD], check=True)
    return cli


def _pyenv_python(version: str) -> str:
    try:
        prefix = subprocess.run(["pyenv", "prefix", version], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        sys.exit(f"pyodide-build needs Python {version}+: install it with pyenv, or set PYODIDE_BUILD_PYTHON")
    return str(Path(prefix.strip()) / "bin" / "python")


def write_lock(wheels: list[Path]) -> None:
    """The lock: the runtime's ``info`` kept, the packages replaced by ``wheels`` (add-wheels resolves and hashes)."""
    header = {"info": json.loads(LOCK.read_text())["info"], "packages": {}}
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch) / "base-lock.json"
        base.write_text(json.dumps(header))
        out = Path(scratch) / "pyodide-lock.json"
        subprocess.run([str(pyodide_cli()), "lockfile", "add-wheels", "--input", str(base), "--output", str(out),
                        *map(str, wheels)], check=True, cwd=VENDOR)
        lock = json.loads(out.read_text())
    for package in lock["packages"].values():
        # A bare file name: Pyodide resolves it against the lock's own URL (a path on disk in Node).
        package["file_name"] = Path(package["file_name"]).name
    LOCK.write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        wheel = build_wheel(Path(scratch))
        committed = VENDOR / wheel.name
        for old in VENDOR.glob("herald_client-*.whl"):
            old.unlink()
        shutil.copyfile(wheel, committed)
    write_lock(sorted(VENDOR.glob("*.whl")))
    print(f"wrote {committed.relative_to(ROOT)} and {LOCK.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
