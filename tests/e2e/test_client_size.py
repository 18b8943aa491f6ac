"""The browser library stays under its size budget (docs/web-client.md, "Size")."""
from __future__ import annotations

import gzip
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[2] / "web" / "herald"
BUDGET_BYTES = 25_000


def test_client_library_gzips_under_its_budget() -> None:
    modules = sorted(LIBRARY.glob("*.js"))
    assert len(modules) >= 5, "the library moved: update this test and the docs"
    bundle = b"".join(module.read_bytes() for module in modules)
    size = len(gzip.compress(bundle, compresslevel=9, mtime=0))
    assert size < BUDGET_BYTES, f"web/herald/*.js gzip to {size} bytes, over the {BUDGET_BYTES} budget"
