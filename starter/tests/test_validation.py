"""Payload validation: every class of bad input gets the right status and names the problem."""

import json

import pytest

from churn.validation import ValidationError, parse_json, validate_payload


def error_for(payload, max_records=1000):
    with pytest.raises(ValidationError) as excinfo:
        validate_payload(payload, max_records=max_records)
    return excinfo.value.status, excinfo.value.message


def test_one_record_and_a_batch_are_accepted(sample_record):
    assert validate_payload(sample_record, max_records=10) == [sample_record]
    assert validate_payload([sample_record] * 3, max_records=3) == [sample_record] * 3


def test_integral_floats_become_ints_and_ints_become_floats(sample_record):
    record = dict(sample_record, tenure_months=12.0, monthly_charges=50)
    clean = validate_payload(record, max_records=1)[0]
    assert clean["tenure_months"] == 12 and isinstance(clean["tenure_months"], int)
    assert clean["monthly_charges"] == 50.0 and isinstance(clean["monthly_charges"], float)


@pytest.mark.parametrize("body, fragment", [
    (b"", "empty"), (b"  \n", "empty"), (b"{not json", "not valid JSON"),
    (b"\xff\xfe\xfa", "not valid JSON"), (b"[" * 100_000, "not valid JSON"),
])
def test_parse_json_rejects_non_json_with_400(body, fragment):
    with pytest.raises(ValidationError) as excinfo:
        parse_json(body)
    assert excinfo.value.status == 400 and fragment in excinfo.value.message


def test_parse_json_keeps_nan_for_the_field_check():
    assert parse_json(b'{"a": NaN}')["a"] != parse_json(b'{"a": NaN}')["a"]


@pytest.mark.parametrize("payload, kind", [("text", "string"), (5, "number"), (None, "null"),
                                           (True, "boolean")])
def test_wrong_top_level_type_is_400(payload, kind):
    assert error_for(payload) == (400, "request body must be a JSON object (one record) or an "
                                       f"array of records, got {kind}")


def test_empty_list_is_400():
    assert error_for([])[0] == 400


def test_too_many_records_is_413(sample_record):
    status, message = error_for([sample_record] * 4, max_records=3)
    assert status == 413 and "4 sent, at most 3" in message


def test_non_object_record_names_its_index(sample_record):
    assert error_for([sample_record, [1, 2]]) == (
        422, "record 1: must be a JSON object of features, got array")


def test_missing_and_unknown_fields(sample_record):
    record = dict(sample_record)
    del record["contract"]
    assert error_for([sample_record, record]) == (422, "record 1: missing field 'contract'")
    assert error_for(dict(sample_record, colour="red")) == (422, "record 0: unknown field 'colour'")


BAD_VALUES = [
    ("tenure_months", "ten", 'must be an integer between 0 and 72, got "ten"'),
    ("tenure_months", True, "must be an integer between 0 and 72, got true"),
    ("tenure_months", 12.5, "must be an integer between 0 and 72, got 12.5"),
    ("tenure_months", 73, "must be an integer between 0 and 72, got 73"),
    ("tenure_months", -1, "must be an integer between 0 and 72, got -1"),
    ("tenure_months", None, "must be an integer between 0 and 72, got null"),
    ("monthly_charges", "20", 'must be a number between 18 and 120, got "20"'),
    ("monthly_charges", False, "must be a number between 18 and 120, got false"),
    ("monthly_charges", float("nan"), "must be a number between 18 and 120, got NaN"),
    ("monthly_charges", float("inf"), "must be a number between 18 and 120, got Infinity"),
    ("monthly_charges", 17.99, "must be a number between 18 and 120, got 17.99"),
    ("support_calls", 10**30, "must be an integer between 0 and 10, got 1000000000000000000000000000000"),
    ("contract", "monthly", "must be one of 'month-to-month', 'one-year', 'two-year', got \"monthly\""),
    ("internet_service", "DSL", "must be one of 'dsl', 'fiber_optic', 'none', got \"DSL\""),
    ("payment_method", 3, "must be one of 'electronic_check', 'mailed_check', 'bank_transfer', "
                          "'credit_card', got 3"),
    ("paperless_billing", 1, "must be a boolean (true or false), got 1"),
    ("senior_citizen", "yes", 'must be a boolean (true or false), got "yes"'),
]


@pytest.mark.parametrize("field, value, expected", BAD_VALUES)
def test_bad_values_name_record_field_and_value(sample_record, field, value, expected):
    payload = [sample_record, sample_record, dict(sample_record, **{field: value})]
    assert error_for(payload) == (422, f"record 2: field '{field}' {expected}")


def test_nan_from_a_real_body_is_rejected(sample_record):
    body = json.dumps(sample_record).replace("89.9", "NaN").encode()
    assert error_for(parse_json(body))[1].startswith("record 0: field 'monthly_charges'")


def test_long_values_are_shortened_in_messages(sample_record):
    message = error_for(dict(sample_record, contract="x" * 500))[1]
    assert message.endswith('got "' + 'x' * 36 + '...') and len(message) < 150
