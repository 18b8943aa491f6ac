"""Schemathesis against the running server's own OpenAPI document: no 5xx, and answers as documented.

Every operation of ``/schema/openapi.json`` gets generated requests that fit its schema and
requests that do not (schemathesis's positive and negative modes), sent by a producer or a
subscriber as the operation's tag says, on SQLite and on PostgreSQL. Each answer must pass
schemathesis's checks: not a server error, a documented status, content type and headers, a
body that matches the documented schema, and a 4xx for what the schema rules out. Left out:

- ``positive_data_acceptance``: Herald refuses with a 400 some requests that JSON Schema cannot
  rule out (exactly one of ``to.users``/``group``/``topic``/``all``, a cursor this inbox did not
  issue, a push endpoint on a private network); that refusal is their documented answer.
- ``allow_header_conformance``: Litestar 2's automatic OPTIONS answer lists the methods of one
  handler only, when a path has several (litestar-org/litestar#4169, fixed in Litestar 3).

Negative data may also be answered 413: a body past its item limits (``to.users`` beyond its
``maxItems``) is refused by its size before its schema is read, and that is the documented answer.

The stream never ends, so ``test_fuzz_headers.py`` fuzzes it instead. Operations run one after the
other inside one test per database (schemathesis's pytest loader for fixtures relies on a pytest
internal that pytest 9.2 removed), and every operation's failure is reported, not only the first.
"""
from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import core as hypothesis_core
from hypothesis import given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.vendor import pretty
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.hypothesis import setup as schemathesis_hypothesis_setup
from schemathesis.specs.openapi.checks import allow_header_conformance, positive_data_acceptance

from tests.herald_server import HeraldServer

# schemathesis swaps Hypothesis's printer of failing examples for one that prints nothing (a
# speed-up for its own runs), once, when its generation first loads. Let it do so now, then put the
# printer back, so that every Hypothesis test in the session still says which example failed.
schemathesis_hypothesis_setup()
hypothesis_core.RepresentationPrinter = pretty.RepresentationPrinter

EXAMPLES_PER_MODE = 25
EXCLUDED_CHECKS = [positive_data_acceptance, allow_header_conformance]
NOT_FUZZED = {("GET", "/api/notifications/stream")}
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
CONFIG = SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": REJECTED}}})


def _short_poll(case: Any) -> None:
    """A long poll would hold each example up to 60 s; 0.2 s gives the same answers."""
    query = case.query if case.query is not None else {}
    try:
        if query.get("timeout") is None or float(query["timeout"]) > 0.2:
            query["timeout"] = 0.2
    except (TypeError, ValueError):
        pass  # a malformed timeout is what the negative mode is testing: leave it
    case.query = query


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_MODE)
    def run(case: Any) -> None:
        if case.path == "/api/notifications/poll":
            _short_poll(case)
        case.call_and_validate(headers=headers, timeout=15, excluded_checks=EXCLUDED_CHECKS)

    run()


def test_every_operation_answers_generated_requests_as_documented(server: HeraldServer) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/schema/openapi.json", config=CONFIG)
    credentials = {"producer": server.api_key, "subscriber": server.token("fuzz-subscriber")}
    fuzzed, failures = [], []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in NOT_FUZZED:
            continue
        role = "producer" if "producer" in operation.definition.raw.get("tags", []) else "subscriber"
        headers = {"Authorization": f"Bearer {credentials[role]}"}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, headers)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.path  # nothing to get wrong: no parameters, no body
            except Exception as exc:  # noqa: BLE001 - collected, so that one report names every failing operation
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}):\n{exc}")
        fuzzed.append(operation.path)
    assert len(fuzzed) >= 20, f"the document lists the public API: {fuzzed}"
    assert not failures, "\n\n".join(failures)
