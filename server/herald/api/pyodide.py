"""Python in the browser: the ``/demo/python`` page (development mode only, registered by app.py like the demo page).

The Pyodide runtime, micropip and the herald-client wheel, with the lock that
lists them, are static files in ``web/vendor/pyodide/`` (served at
``/static/vendor/pyodide/``; ``scripts/vendor_pyodide.sh`` and
``scripts/build_python_client.py`` make them), so a page of Herald's origin
runs Python that listens to Herald with nothing from a CDN.
docs/python-client.md has the page's code and what it shows.
"""
from __future__ import annotations

from litestar import MediaType, Response, get

from herald.api.static import WEB_DIR

PAGE = WEB_DIR / "python" / "demo.html"
# Pyodide compiles WebAssembly ('wasm-unsafe-eval'); everything else, scripts included, is this origin's.
CSP = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; worker-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


@get("/demo/python", include_in_schema=False, media_type=MediaType.HTML)
async def python_demo_page() -> Response[bytes]:
    """A few lines of Python in the page: sign in as a demo user, list the inbox, print what arrives live."""
    if not PAGE.is_file():
        return Response(b"<!doctype html><title>Herald</title><p>The Python demo is not installed.</p>",
                        media_type=MediaType.HTML, status_code=404)
    return Response(PAGE.read_bytes(), media_type=MediaType.HTML,
                    headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                             "Cache-Control": "no-cache"})

