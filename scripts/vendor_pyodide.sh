#!/usr/bin/env bash
# Refresh web/vendor/pyodide/ from the registries: the Pyodide runtime from npm,
# micropip from PyPI, then the herald-client wheel and the lock (build_python_client.py).
#   bash scripts/vendor_pyodide.sh [PYODIDE_VERSION] [MICROPIP_VERSION]
# Then update the versions in web/vendor/README.md and commit.
set -euo pipefail
cd "$(dirname "$0")/.."
PYODIDE_VERSION="${1:-314.0.8}"
MICROPIP_VERSION="${2:-0.11.1}"
DEST=web/vendor/pyodide
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

(cd "$scratch" && npm pack --silent "pyodide@$PYODIDE_VERSION" >/dev/null && tar xzf "pyodide-$PYODIDE_VERSION.tgz")
mkdir -p "$DEST"
rm -f "$DEST"/*.whl
# Only what loadPyodide fetches (plus pyodide.js for a classic <script>); not the consoles, maps or typings.
for file in pyodide.mjs pyodide.js pyodide.asm.mjs pyodide.asm.wasm python_stdlib.zip pyodide-lock.json; do
    cp "$scratch/package/$file" "$DEST/$file"
done
chmod 644 "$DEST"/*
# The npm package ships no licence file; Pyodide is MPL-2.0 ("license" in its package.json), whose text Debian keeps.
grep -q '"license": "MPL-2.0"' "$scratch/package/package.json"
cp /usr/share/common-licenses/MPL-2.0 "$DEST/LICENSE"

# micropip is not in the npm package; its wheel for Python 3.14 comes from PyPI.
python3 -m pip download -q --no-deps --python-version 3.14 --only-binary=:all: -d "$DEST" "micropip==$MICROPIP_VERSION"

.venv/bin/python scripts/build_python_client.py
