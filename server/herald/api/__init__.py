"""The HTTP layer: Litestar controllers, guards and the one error handler. Handlers parse, check credentials and call the domain; no domain rule lives here."""
