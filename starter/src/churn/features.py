"""The feature schema: the single source of truth for data, training, validation and /schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str  # "integer", "number", "category" or "boolean"
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-Schema-like description, used by /schema and the model metadata."""
        out: dict[str, Any] = {"name": self.name, "type": _JSON_TYPES[self.kind],
                               "description": self.description}
        if self.minimum is not None:
            out["minimum"], out["maximum"] = self.minimum, self.maximum
        if self.choices:
            out["enum"] = list(self.choices)
        return out


_JSON_TYPES = {"integer": "integer", "number": "number", "category": "string", "boolean": "boolean"}

FEATURES: tuple[Feature, ...] = (
    Feature("tenure_months", "integer", "Months the customer has been subscribed", 0, 72),
    Feature("monthly_charges", "number", "Current monthly bill in USD", 18, 120),
    Feature("contract", "category", "Contract type",
            choices=("month-to-month", "one-year", "two-year")),
    Feature("internet_service", "category", "Internet service type",
            choices=("dsl", "fiber_optic", "none")),
    Feature("payment_method", "category", "How the customer pays",
            choices=("electronic_check", "mailed_check", "bank_transfer", "credit_card")),
    Feature("support_calls", "integer", "Support calls in the last 6 months", 0, 10),
    Feature("paperless_billing", "boolean", "Receives bills electronically"),
    Feature("senior_citizen", "boolean", "Customer is 65 or older"),
)

TARGET = "churn"
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}

# Column positions in the model's input matrix; the pipeline selects columns by these indices
# because the API runs without pandas (so there are no column names to select by).
NUMERIC_COLUMNS = [i for i, f in enumerate(FEATURES) if f.kind in ("integer", "number")]
CATEGORY_COLUMNS = [i for i, f in enumerate(FEATURES) if f.kind == "category"]
BOOLEAN_COLUMNS = [i for i, f in enumerate(FEATURES) if f.kind == "boolean"]


def schema() -> dict[str, Any]:
    """The schema as served by GET /schema and stored in the model metadata."""
    return {"features": [f.as_dict() for f in FEATURES], "target": TARGET,
            "required": list(FEATURE_NAMES)}


def to_row(record: dict[str, Any]) -> list[Any]:
    """One validated record as a model input row: numbers and booleans as floats, categories as str."""
    return [record[f.name] if f.kind == "category" else float(record[f.name]) for f in FEATURES]
