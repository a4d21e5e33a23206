"""POST /predict under fuzzing (Hypothesis), through Flask's test client: never a 5xx, every 4xx a
JSON error naming the problem. The bodies and the rule are in fuzz_payloads.py; the same run, with
fewer bodies, goes to the running container in tests/integration/test_fuzz_api.py."""

from fuzz_payloads import bodies, check_answer, fuzz_settings, raw_bodies, record_bodies
from hypothesis import given

# At least 1000 bodies in all (issue 14): 700 well-formed JSON, 300 raw bytes, 200 of either.
RUNS = {"records": 700, "raw": 300, "mixed": 200}


def fuzz(client, strategy, examples: int) -> int:
    """POST `examples` bodies drawn from `strategy`, checking each answer; returns how many were sent."""
    sent = []

    @fuzz_settings(examples)
    @given(body=strategy)
    def run(body):
        response = client.post("/predict", data=body.data, content_type=body.content_type)
        check_answer(body, response.status_code, response.headers.get("Content-Type"),
                     response.get_data(as_text=True))
        sent.append(body.kind)

    run()
    return len(sent)


def test_well_formed_but_wrong_json_never_gets_a_5xx(client):
    assert fuzz(client, record_bodies(), RUNS["records"]) >= RUNS["records"]


def test_raw_bytes_with_any_content_type_never_get_a_5xx(client):
    assert fuzz(client, raw_bodies(), RUNS["raw"]) >= RUNS["raw"]


def test_any_body_never_gets_a_5xx(client):
    assert fuzz(client, bodies(), RUNS["mixed"]) >= RUNS["mixed"]
