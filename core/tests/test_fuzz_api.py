"""schemathesis over the REST API with data that breaks the schema (negative
mode: wrong types, missing fields, out-of-range values, strange strings): every
operation answers without a 5xx, and refused requests write nothing.

The positive half (schema-valid requests, responses that match the spec) is
``test_api_schema.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import given
from hypothesis.errors import Unsatisfiable
from pellacia.testing.api import LiveApi, api_settings, live_api
from pellacia.testing.cli import sql
from pellacia.testing.fuzz import fuzz_settings
from pellacia_testplatform.fake import FakeTestPlatform
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

#: never ends by design (test_api covers it)
SKIPPED = {"/v1/events/stream"}
ROWS = """SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM deliveries),
    (SELECT count(*) FROM api_keys), (SELECT count(*) FROM webhooks)"""


@pytest.fixture
def live(pg_dsn: str, testplatform: FakeTestPlatform, tmp_path: Path) -> Iterator[LiveApi]:
    with live_api(api_settings(testplatform, tmp_path, pg_dsn)) as api:
        yield api


def test_every_operation_answers_invalid_data_without_a_5xx(live: LiveApi, pg_dsn: str) -> None:
    spec = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    tested, row_checked = [], 0
    accepted: dict[str, list[int]] = {}
    for found in spec.get_all_operations():
        operation = found.ok()
        if operation.path in SKIPPED:
            continue
        before = sql(pg_dsn, ROWS)

        @fuzz_settings(max_examples=15)
        @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers=live.headers("admin"))
            case.validate_response(response, checks=[not_a_server_error])
            if response.status_code < 400:
                # what the API ignores by design, such as an unknown query parameter
                accepted.setdefault(case.operation.label, []).append(response.status_code)

        try:
            check()
        except Unsatisfiable:
            continue  # nothing to break: no parameters and no body
        if operation.label not in accepted or operation.method.upper() == "GET":
            # all refused (or only read): not one row more. Checked per operation,
            # not per request, so the examples stay many within the time budget
            assert sql(pg_dsn, ROWS) == before, operation.label
            row_checked += 1
        tested.append(operation.label)
    assert len(tested) >= 15, tested
    assert row_checked >= len(tested) - 3, (row_checked, tested)
