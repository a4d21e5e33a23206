"""Hypothesis strategies for POST /predict bodies, and the rule every answer must follow.

Shared by the Flask test-client fuzz test (starter/tests/test_fuzz_predict.py) and the one against
the running container (tests/integration/test_fuzz_api.py). A body is a `Body`: the bytes sent,
the Content-Type header (None: no header) and a label saying which generator made it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from churn.features import FEATURES, Feature

# The messages churn.validation and churn.app give for a 4xx; an error must match one of them, so
# it names the problem (the body, the array, the size, or the record and field at fault).
ERROR_PATTERNS = [re.compile(p) for p in (
    r"^request body is empty",
    r"^request body is not valid JSON: .+",
    r"^request body must be a JSON object \(one record\) or an array of records, got \w+",
    r"^the array of records is empty",
    r"^too many records: \d+ sent, at most \d+",
    r"^request body too large: at most \d+ bytes",
    r"^record \d+: must be a JSON object of features, got \w+",
    r"^record \d+: missing fields? '\w+'",
    r"^record \d+: unknown fields? .+",
    r"^record \d+: field '\w+' must be .+, got .+",
)]

CONTENT_TYPES = [None, "application/json", "application/json; charset=utf-8", "text/plain",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz",
                 "application/octet-stream", "application/json; charset=utf-16", "image/png"]

# Fuzzing runs are random (a failure prints the example and how to reproduce it) and store nothing.
FUZZ_SETTINGS = dict(deadline=None, database=None, print_blob=True,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.large_base_example])


@dataclass(frozen=True)
class Body:
    data: bytes
    content_type: str | None
    kind: str
    records: int | None = None  # how many records a 200 must answer for, when it can be known
    status: int | None = None   # the status it must get, when it can be known


def valid_value(feature: Feature) -> st.SearchStrategy:
    """Values the schema accepts for `feature` (features.py is the source of the rules)."""
    if feature.kind == "integer":
        return st.integers(int(feature.minimum), int(feature.maximum))
    if feature.kind == "number":
        return st.floats(feature.minimum, feature.maximum) | st.integers(int(feature.minimum),
                                                                          int(feature.maximum))
    if feature.kind == "category":
        return st.sampled_from(feature.choices)
    return st.booleans()


def valid_records() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({f.name: valid_value(f) for f in FEATURES})


# Numbers that break naive code: NaN/Infinity (Python's json reads and writes them), the float
# extremes, integers far outside any range, 2**63 (overflows int64), -0.0.
EDGE_NUMBERS = st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0, 2**63,
                                -(2**63) - 1, 10**100, 12.0, 72.0000001, -1, 1e16])
TEXT = st.text(max_size=20) | st.sampled_from(["", "NaN", "5", "true", "\ud800", "\u202e", "🙂" * 50,
                                               "month-to-month ", "MONTH-TO-MONTH", "\x00"])
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | EDGE_NUMBERS | TEXT
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(TEXT, inner, max_size=4), max_leaves=12)


@st.composite
def wrong_records(draw) -> dict[str, Any]:
    """A valid record with 1 to 3 mutations: a value replaced by junk, a field dropped, a field added."""
    record = dict(draw(valid_records()))
    names = [f.name for f in FEATURES]
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
        if op == "replace":
            record[draw(st.sampled_from(names))] = draw(JSON_VALUES)
        elif op == "drop" and record:
            del record[draw(st.sampled_from(sorted(record)))]
        else:
            record[draw(TEXT | st.sampled_from(["Tenure_Months", "tenure_months ", "churn"]))] = draw(SCALARS)
    return record


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()  # allow_nan: NaN/Infinity tokens, as Python clients send them


@st.composite
def record_bodies(draw) -> Body:
    """Well-formed JSON that may be wrong: records, batches, empty and huge lists, junk values."""
    kind = draw(st.sampled_from(["valid", "wrong", "batch", "empty list", "huge list", "junk",
                                 "deep nesting", "deep value"]))
    if kind == "valid":
        return Body(_json(draw(valid_records())), "application/json", kind, records=1, status=200)
    if kind == "wrong":
        return Body(_json(draw(wrong_records())), draw(st.sampled_from(CONTENT_TYPES[:3])), kind)
    if kind == "batch":
        batch = draw(st.lists(valid_records() | wrong_records() | JSON_VALUES, min_size=1, max_size=6))
        return Body(_json(batch), "application/json", kind, records=len(batch))
    if kind == "empty list":
        return Body(b"[]", "application/json", kind, status=400)
    if kind == "huge list":  # more than MAX_RECORDS (1000): 413 before any record is read
        count = draw(st.integers(1001, 3000))
        item = draw(st.sampled_from([draw(valid_records()), 1, None, "x", []]))
        return Body(_json([item] * count), "application/json", kind, records=count, status=413)
    if kind == "junk":
        return Body(_json(draw(JSON_VALUES)), "application/json", kind)
    if kind == "deep value":  # a field nested about as deep as Python's recursion limit (1000)
        depth = draw(st.integers(1, 1500) | st.integers(950, 1010))
        text = json.dumps({**draw(valid_records()), draw(st.sampled_from([f.name for f in FEATURES])): "X"})
        return Body(text.replace('"X"', "[" * depth + "]" * depth).encode(), "application/json", kind)
    depth = draw(st.integers(10, 100_000))  # nested arrays or objects, past Python's recursion limit
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ('[{"tenure_months":', "}]")]))
    return Body((opener * depth + "1" + closer * depth).encode(), "application/json", kind)


@st.composite
def raw_bodies(draw) -> Body:
    """Bytes that are not (or not quite) JSON, with any Content-Type."""
    kind = draw(st.sampled_from(["binary", "text", "truncated", "other encoding", "huge number",
                                 "form", "whitespace"]))
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if kind == "binary":
        data = draw(st.binary(max_size=300))
    elif kind == "text":
        data = draw(st.text(max_size=100)).encode("utf-8", "surrogatepass")
    elif kind == "truncated":
        full = _json(draw(valid_records() | wrong_records()))
        data = full[: draw(st.integers(0, len(full) - 1))]
    elif kind == "other encoding":
        encoding = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"]))
        data = json.dumps(draw(valid_records() | wrong_records()), ensure_ascii=False).encode(
            encoding, "replace")
    elif kind == "huge number":  # more digits than Python converts (sys.get_int_max_str_digits)
        digits = draw(st.integers(4000, 20_000))
        data = ('{"tenure_months": 1' + "0" * digits + "}").encode()
    elif kind == "form":
        data = b"tenure_months=5&contract=one-year"
    else:
        data = draw(st.sampled_from([b"", b" ", b"\n\t\r ", b"\xef\xbb\xbf"]))
    return Body(data, content_type, kind)


def bodies() -> st.SearchStrategy[Body]:
    """Every kind of body, about half well-formed JSON and half raw bytes."""
    return record_bodies() | raw_bodies()


def check_answer(body: Body, status: int, content_type: str | None, text: str) -> None:
    """The rule under fuzzing: never a 5xx; a 4xx is JSON naming the problem; a 200 answers every record.

    Raises AssertionError with the body's kind and the answer when the rule is broken."""
    where = f"{body.kind} body {body.data[:120]!r} ({body.content_type}) -> {status} {text[:300]!r}"
    assert status < 500, f"server error: {where}"
    assert body.status is None or status == body.status, f"expected {body.status}: {where}"
    assert content_type is not None and content_type.startswith("application/json"), f"not JSON: {where}"
    answer = json.loads(text)
    if status >= 400:
        error = answer.get("error")
        assert isinstance(error, str) and error, f"no error message: {where}"
        assert any(p.search(error) for p in ERROR_PATTERNS), f"error does not name the problem: {where}"
        assert answer.get("request_id"), f"no request id: {where}"
        return
    assert status == 200, where
    predictions = answer["predictions"]
    if body.records is not None:
        assert len(predictions) == body.records, where
    assert all(isinstance(p["churn"], bool) and 0 <= p["probability"] <= 1 for p in predictions), where


def fuzz_settings(max_examples: int) -> settings:
    """Hypothesis settings for a fuzz run of `max_examples` bodies (see FUZZ_SETTINGS)."""
    return settings(max_examples=max_examples, **FUZZ_SETTINGS)
