"""Validate /predict payloads against the feature schema, with errors that name the record and field."""

from __future__ import annotations

import json
from typing import Any

from churn.features import BY_NAME, FEATURE_NAMES, Feature


class ValidationError(ValueError):
    """A payload problem; `status` is the HTTP status to answer with (400, 413 or 422)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def parse_json(body: bytes) -> Any:
    """Decode the request body; anything that is not JSON is a 400."""
    if not body.strip():
        raise ValidationError("request body is empty: send a JSON object or an array of objects", 400)
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValidationError(f"request body is not valid JSON: {exc}", 400) from None


def _show(value: Any) -> str:
    """A value as it appeared in the JSON, shortened for error messages; never raises."""
    try:
        text = json.dumps(value)
    except (ValueError, RecursionError):
        # json.loads accepted it, but printing it back can still fail: arrays nested almost to the
        # recursion limit parse at a shallower stack than this one (found by fuzzing /predict).
        return _type_name(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _names(names: list[str], limit: int = 5) -> str:
    """Field names for an error message: at most `limit`, each shortened, then how many more."""
    shown = ", ".join(repr(n) if len(n) <= 40 else repr(n[:37] + "...") for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _type_name(value: Any) -> str:
    return {bool: "boolean", str: "string", int: "number", float: "number", list: "array",
            dict: "object", type(None): "null"}.get(type(value), type(value).__name__)


def check_value(feature: Feature, value: Any) -> Any:
    """The value converted for the model, or ValueError with a message that ends in 'got ...'."""
    if feature.kind in ("integer", "number"):
        low, high = feature.minimum, feature.maximum
        if feature.kind == "integer":
            expected = f"an integer between {low:g} and {high:g}"
            # bool is a subclass of int in Python, but `true` is not a number in the schema.
            ok = isinstance(value, int) and not isinstance(value, bool)
            # 12.0 is accepted: JSON has one number type and many clients write floats.
            ok = ok or (isinstance(value, float) and value.is_integer())
        else:
            expected = f"a number between {low:g} and {high:g}"
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        # Python's json accepts NaN and Infinity: NaN fails every comparison and +-Infinity is out
        # of range, so the range check rejects both.
        if not ok or not low <= value <= high:
            raise ValueError(f"must be {expected}, got {_show(value)}")
        return int(value) if feature.kind == "integer" else float(value)
    if feature.kind == "category":
        if not isinstance(value, str) or value not in feature.choices:
            raise ValueError(f"must be one of {', '.join(map(repr, feature.choices))}, "
                             f"got {_show(value)}")
        return value
    if not isinstance(value, bool):
        raise ValueError(f"must be a boolean (true or false), got {_show(value)}")
    return value


def validate_record(record: Any, index: int) -> dict[str, Any]:
    where = f"record {index}"
    if not isinstance(record, dict):
        raise ValidationError(f"{where}: must be a JSON object of features, got {_type_name(record)}")
    missing = [name for name in FEATURE_NAMES if name not in record]
    if missing:
        raise ValidationError(f"{where}: missing field{'s' * (len(missing) > 1)} "
                              f"{', '.join(map(repr, missing))}")
    unknown = sorted(name for name in record if name not in BY_NAME)
    if unknown:
        raise ValidationError(f"{where}: unknown field{'s' * (len(unknown) > 1)} {_names(unknown)}")
    clean = {}
    for name in FEATURE_NAMES:
        try:
            clean[name] = check_value(BY_NAME[name], record[name])
        except ValueError as exc:
            raise ValidationError(f"{where}: field {name!r} {exc}") from None
    return clean


def validate_payload(payload: Any, *, max_records: int) -> list[dict[str, Any]]:
    """One record (object) or a batch (array) as a list of clean records; raises ValidationError."""
    if isinstance(payload, dict):
        records = [payload]
    elif isinstance(payload, list):
        if not payload:
            raise ValidationError("the array of records is empty: send at least one record", 400)
        if len(payload) > max_records:
            raise ValidationError(f"too many records: {len(payload)} sent, at most {max_records} "
                                  f"per request", 413)
        records = payload
    else:
        raise ValidationError(f"request body must be a JSON object (one record) or an array of "
                              f"records, got {_type_name(payload)}", 400)
    return [validate_record(record, i) for i, record in enumerate(records)]
