"""The feature schema: names, types and the JSON form served by /schema."""

from churn.features import (
    BOOLEAN_COLUMNS,
    CATEGORY_COLUMNS,
    FEATURE_NAMES,
    FEATURES,
    NUMERIC_COLUMNS,
    TARGET,
    schema,
    to_row,
)


def test_feature_names_are_exactly_the_documented_ones():
    assert FEATURE_NAMES == ("tenure_months", "monthly_charges", "contract", "internet_service",
                             "payment_method", "support_calls", "paperless_billing",
                             "senior_citizen")
    assert TARGET == "churn"


def test_column_groups_cover_every_feature_once():
    assert sorted(NUMERIC_COLUMNS + CATEGORY_COLUMNS + BOOLEAN_COLUMNS) == list(range(len(FEATURES)))


def test_schema_describes_types_ranges_and_choices():
    by_name = {f["name"]: f for f in schema()["features"]}
    assert by_name["tenure_months"] == {"name": "tenure_months", "type": "integer", "minimum": 0,
                                        "maximum": 72,
                                        "description": "Months the customer has been subscribed"}
    assert (by_name["monthly_charges"]["minimum"], by_name["monthly_charges"]["maximum"]) == (18, 120)
    assert by_name["contract"]["enum"] == ["month-to-month", "one-year", "two-year"]
    assert by_name["internet_service"]["enum"] == ["dsl", "fiber_optic", "none"]
    assert by_name["payment_method"]["enum"] == ["electronic_check", "mailed_check",
                                                 "bank_transfer", "credit_card"]
    assert by_name["support_calls"]["maximum"] == 10
    assert by_name["paperless_billing"]["type"] == by_name["senior_citizen"]["type"] == "boolean"
    assert schema()["required"] == list(FEATURE_NAMES)


def test_to_row_orders_features_and_converts_numbers(sample_record):
    row = to_row(sample_record)
    assert row == [5.0, 89.9, "month-to-month", "fiber_optic", "electronic_check", 3.0, 1.0, 0.0]
