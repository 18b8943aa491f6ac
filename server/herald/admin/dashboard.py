"""The dashboard: connections, notifications per minute, delivery latency, Web Push, rate limiting.

Numbers come from the metrics registry that ``/metrics`` renders, through
``admin_sampler``; charts are small SVG drawn here, from numbers only (no
text a user typed goes into them), so the page needs no chart library.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from litestar import Controller, Request, Response, get
from markupsafe import Markup

from herald.admin.pages import render
from herald.admin.sampler import MetricsSampler, Point, Sample
from herald.api.auth import services
from herald.consume import Consumer, statuses
from herald.fanout.base import Presence

WIDTH, HEIGHT = 300, 64


@dataclass
class Card:
    title: str
    value: str
    note: str
    chart: Markup
    legend: list[tuple[str, str]]  # (css class, label)


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "not measured yet"
    text = f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:,.1f}"
    return text + unit


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:,.1f} ms"


def chart(series: Sequence[tuple[str, Sequence[Point]]], label: str, unit: str = "") -> Markup:
    """Lines on a shared scale from zero; a gap where a value is unknown. ``series``: (css class, points)."""
    points = [p for _, line in series for p in line]
    known = [p.value for p in points if p.value is not None]
    if len(points) < 2 or not known:
        return Markup('<p class="nochart">Not enough history yet: the chart fills in as samples are taken.</p>')
    start = min(p.at for p in points)
    span = max(p.at for p in points) - start or 1.0
    peak = max(known)
    top = peak or 1.0
    lines = []
    for css, line in series:
        segment: list[str] = []
        for point in list(line) + [Point(0.0, None)]:  # the sentinel closes the last segment
            if point.value is None:
                if len(segment) > 1:
                    lines.append(f'<polyline class="{css}" points="{" ".join(segment)}"/>')
                elif segment:
                    x, y = segment[0].split(",")
                    lines.append(f'<circle class="{css}" cx="{x}" cy="{y}" r="1.5"/>')
                segment = []
                continue
            x = (point.at - start) / span * WIDTH
            y = HEIGHT - 2 - point.value / top * (HEIGHT - 4)
            segment.append(f"{x:.1f},{y:.1f}")
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="none" role="img" '
        f'aria-label="{label}: last {span / 60:.0f} min, peak {_number(peak)}{unit}">'
        f'<line class="axis" x1="0" y1="{HEIGHT - 1}" x2="{WIDTH}" y2="{HEIGHT - 1}"/>{"".join(lines)}</svg>'
        f'<span class="peak">peak {_number(peak)}{unit}</span>')


def online_card(presence: Presence) -> Card:
    """Users online cluster-wide, from the connection registry the Web Push fallback uses too."""
    nodes = sorted(presence.nodes.items(), key=lambda node: -node[1])
    shown = ", ".join(f"{name[:12]}: {users:,}" for name, users in nodes[:8])
    more = f" and {len(nodes) - 8} more" if len(nodes) > 8 else ""
    where = f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}" if nodes else "no node reporting"
    return Card("Users online", f"{presence.users:,}", f"across {where}" + (f" ({shown}{more})" if nodes else ""),
                Markup(""), [])


def consumer_cards(consumers: Sequence[Consumer]) -> list[Card]:
    """One card per log source: messages behind and the oldest one's age, from the consumer's own lag readings."""
    result = []
    for consumer, state in zip(consumers, statuses(list(consumers)).values()):
        lag = consumer.last_lag
        history = list(consumer.lag_history)
        result.append(Card(
            f"Log source: {consumer.name}", "not measured yet" if lag is None else f"{lag.messages:,} behind",
            ("" if lag is None else f"oldest waiting {lag.oldest_age_seconds:,.1f} s · ") + state,
            chart([("s1", [Point(at, float(l.messages)) for at, l in history])], f"{consumer.name} messages behind"),
            [("s1", "messages behind")]))
    return result


def cards(sampler: MetricsSampler, now: Sample) -> list[Card]:
    p50, p95, p99 = (sampler.recent_latency(q, now) for q in (0.5, 0.95, 0.99))
    latency_value = "not measured yet" if now.latency is None else f"p50 {_ms(p50)}"
    latency_note = ("Herald does not record delivery latency yet (herald_delivery_latency_seconds)."
                    if now.latency is None else f"p95 {_ms(p95)} · p99 {_ms(p99)}, last 5 minutes")
    push_ok, push_failed = sampler.recent_rate("push_ok", now), sampler.recent_rate("push_failed", now)
    limited = sampler.recent_rate("rate_limited", now) if now.rate_limited is not None else None
    return [
        Card("Connections now", _number(now.connections), "open streams on this node (all its workers)",
             chart([("s1", sampler.gauge("connections"))], "Connections"), [("s1", "connections")]),
        Card("Notifications per minute", _number(sampler.recent_rate("publishes", now) or 0.0),
             f"{_number(sampler.recent_rate('inbox_writes', now) or 0.0)} inbox deliveries per minute",
             chart([("s1", sampler.per_minute("publishes")), ("s2", sampler.per_minute("inbox_writes"))],
                   "Notifications and inbox deliveries per minute", "/min"),
             [("s1", "notifications"), ("s2", "inbox deliveries")]),
        Card("Delivery latency", latency_value, latency_note,
             chart([("s1", sampler.latency(0.5)), ("s2", sampler.latency(0.95)), ("s3", sampler.latency(0.99))],
                   "Delivery latency percentiles", " s") if now.latency is not None else Markup(""),
             [("s1", "p50"), ("s2", "p95"), ("s3", "p99")] if now.latency is not None else []),
        Card("Web Push per minute", f"{_number(push_ok or 0.0)} delivered",
             f"{_number(push_failed or 0.0)} failed per minute · {now.push_ok:,.0f} delivered, "
             f"{now.push_failed:,.0f} failed in total",
             chart([("s1", sampler.per_minute("push_ok")), ("s3", sampler.per_minute("push_failed"))],
                   "Web Push delivered and failed per minute", "/min"),
             [("s1", "delivered"), ("s3", "failed")]),
        Card("Rate-limited requests", _number(limited, "/min") if now.rate_limited is not None else "not measured yet",
             "requests answered 429" if now.rate_limited is not None else "No request refused by a rate limit yet.",
             chart([("s3", sampler.per_minute("rate_limited"))], "Rate-limited requests per minute", "/min")
             if now.rate_limited is not None else Markup(""),
             [("s3", "rate-limited")] if now.rate_limited is not None else []),
    ]


class DashboardController(Controller):
    path = "/dashboard"

    @get("/")
    async def page(self, request: Request) -> Response[str]:
        sampler = services(request).admin.sampler
        online = online_card(await services(request).fanout.presence())
        return render(request, "dashboard.html", title="Dashboard",
                      cards=[online, *cards(sampler, sampler.now()), *consumer_cards(services(request).consumers)],
                      interval=sampler.interval_seconds)

    @get("/panel")
    async def panel(self, request: Request) -> Response[str]:
        """The cards alone, polled by the page."""
        sampler = services(request).admin.sampler
        online = online_card(await services(request).fanout.presence())
        return render(request, "_dashboard_panel.html",
                      cards=[online, *cards(sampler, sampler.now()), *consumer_cards(services(request).consumers)])
