"""The /demo/python page exists in development only; the runtime it loads is served in both modes."""
from __future__ import annotations

import warnings
from pathlib import Path

from herald.app import create_app
from herald.settings import load_settings


def _paths(tmp_path: Path, env: str) -> set[str]:
    settings = load_settings({"HERALD_ENV": env, "HERALD_DATA_DIR": str(tmp_path), "HERALD_SECRET": "s" * 32,
                              "HERALD_API_KEYS": "key"})
    with warnings.catch_warnings():  # building the app warns about Litestar 3 deprecations; not ours to test
        warnings.simplefilter("ignore")
        return {route.path for route in create_app(settings).routes}


def test_the_python_demo_page_is_a_development_convenience(tmp_path: Path) -> None:
    assert "/demo/python" in _paths(tmp_path, "development")
    production = _paths(tmp_path, "production")
    assert "/demo/python" not in production and "/api/demo/login" not in production
    # Pages of a product load Pyodide and the wheel from Herald in production too.
    assert any(path.startswith("/static") for path in production)
