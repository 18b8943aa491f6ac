"""Webhook endpoints in the admin: add one to an API key (its secret shown once), disable, delete, and see attempts.

The domain is herald/webhooks/; this page only collects the form and shows the store's
answers. A URL Herald may not contact (a private or metadata address, loopback in
production) is refused here with a 400 and the reason, and again at every send.
"""
from __future__ import annotations

from litestar import Controller, Request, Response, get, post

from herald.admin.audit import record
from herald.admin.pages import redirect, render
from herald.api.auth import services
from herald.errors import HeraldError, not_found
from herald.webhooks import EVENTS


class WebhooksController(Controller):
    path = "/webhooks"

    @get("/")
    async def page(self, request: Request) -> Response[str]:
        return await self._page(request)

    @post("/")
    async def create(self, request: Request, admin: str) -> Response[str]:
        form = await request.form()
        producer = str(form.get("producer", ""))
        url = str(form.get("url", "")).strip()
        events = [str(event) for event in form.getall("events")] if "events" in form else []
        s = services(request)
        producers = await s.keys.producers()
        if producer not in producers:
            return await self._page(request, status=400, url=url, events=events,
                                    error="Choose the API key whose notifications this endpoint hears about.")
        try:
            endpoint, secret = await s.webhooks.endpoints.create(producer, url, events, admin)
        except HeraldError as exc:
            return await self._page(request, status=exc.status, url=url, events=events, producer=producer,
                                    error=exc.message)
        await record(s.db, admin, "webhook.create", url, {"endpointId": endpoint.id, "key": producers[producer],
                                                          "events": list(endpoint.events)})
        # Answered here, not after a redirect: the secret must not sit in a URL or in history.
        return await self._page(request, status=201, created=secret, created_url=url)

    @get("/{endpoint_id:str}")
    async def detail(self, request: Request, endpoint_id: str) -> Response[str]:
        s = services(request)
        endpoint = await s.webhooks.endpoints.get(endpoint_id)
        if endpoint is None:
            raise not_found("No such webhook endpoint.")
        names = await s.keys.producers()
        return render(request, "webhook.html", title="Webhook endpoint", e=endpoint,
                      key=names.get(endpoint.producer, f"revoked key {endpoint.producer}"),
                      attempts=await s.webhooks.endpoints.recent_attempts(endpoint_id),
                      pending=await s.webhooks.endpoints.pending(endpoint_id))

    @post("/{endpoint_id:str}/disable")
    async def disable(self, request: Request, endpoint_id: str, admin: str) -> Response[str]:
        return await self._switch(request, endpoint_id, admin, False)

    @post("/{endpoint_id:str}/enable")
    async def enable(self, request: Request, endpoint_id: str, admin: str) -> Response[str]:
        return await self._switch(request, endpoint_id, admin, True)

    @post("/{endpoint_id:str}/ping")
    async def ping(self, request: Request, endpoint_id: str) -> Response[str]:
        """A ``ping`` event, to see the receiver answer (and verify the signature) without waiting for traffic."""
        if not await services(request).webhooks.ping(endpoint_id):
            raise not_found("No such webhook endpoint.")
        return redirect(f"/admin/webhooks/{endpoint_id}")

    @post("/{endpoint_id:str}/delete")
    async def delete(self, request: Request, endpoint_id: str, admin: str) -> Response[str]:
        s = services(request)
        endpoint = await s.webhooks.endpoints.get(endpoint_id)
        if endpoint is None or not await s.webhooks.endpoints.delete(endpoint_id):
            raise not_found("No such webhook endpoint.")
        await record(s.db, admin, "webhook.delete", endpoint.url, {"endpointId": endpoint_id})
        return redirect("/admin/webhooks")

    async def _switch(self, request: Request, endpoint_id: str, admin: str, enabled: bool) -> Response[str]:
        s = services(request)
        endpoint = await s.webhooks.endpoints.get(endpoint_id)
        if endpoint is None or not await s.webhooks.endpoints.set_enabled(endpoint_id, enabled):
            raise not_found("No such webhook endpoint.")
        await record(s.db, admin, "webhook.enable" if enabled else "webhook.disable", endpoint.url,
                     {"endpointId": endpoint_id})
        return redirect(f"/admin/webhooks/{endpoint_id}")

    async def _page(self, request: Request, status: int = 200, url: str = "", events: list[str] | None = None,
                    producer: str = "", error: str | None = None, created: str | None = None,
                    created_url: str = "") -> Response[str]:
        s = services(request)
        return render(request, "webhooks.html", status=status, title="Webhooks",
                      endpoints=await s.webhooks.endpoints.list(), producers=await s.keys.producers(),
                      all_events=EVENTS, url=url, events=events if events is not None else ["delivered", "read"],
                      producer=producer, error=error, created=created, created_url=created_url)
