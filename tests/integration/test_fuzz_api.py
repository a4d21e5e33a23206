"""POST /predict of the running reference API container under fuzzing, over real HTTP (gunicorn in
front of Flask): never a 5xx, every 4xx a JSON error naming the problem. The bodies and the rule
are the starter's (starter/tests/fuzz_payloads.py); the test-client run sends 1200 of them."""

from __future__ import annotations

import pytest
import requests
from hypothesis import given

from starter.tests.fuzz_payloads import bodies, check_answer, fuzz_settings

pytestmark = [pytest.mark.docker, pytest.mark.slow]
EXAMPLES = 200


def test_the_container_never_answers_a_fuzzed_body_with_a_5xx(reference_stack):
    url = reference_stack.url("mlapp", "/predict")
    sent = []
    with requests.Session() as http:

        @fuzz_settings(EXAMPLES)
        @given(body=bodies())
        def run(body):
            headers = {"Content-Type": body.content_type} if body.content_type else {}
            response = http.post(url, data=body.data, headers=headers, timeout=30)
            check_answer(body, response.status_code, response.headers.get("Content-Type"), response.text)
            sent.append(body.kind)

        run()
    assert len(sent) >= EXAMPLES
    # The container is still healthy and serving after the barrage.
    health = requests.get(reference_stack.url("mlapp", "/health"), timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"
