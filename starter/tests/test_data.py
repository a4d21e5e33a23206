"""Synthetic data: deterministic, inside the schema, with a plausible churn rate."""

import pytest

from churn.data import generate
from churn.features import FEATURE_NAMES, TARGET
from churn.validation import validate_record


def test_same_seed_gives_identical_rows():
    assert generate(n_rows=300, seed=7) == generate(n_rows=300, seed=7)


def test_different_seeds_give_different_rows():
    assert generate(n_rows=300, seed=1) != generate(n_rows=300, seed=2)


def test_default_size_and_columns():
    rows = generate()
    assert len(rows) == 4000
    assert all(list(row) == [*FEATURE_NAMES, TARGET] for row in rows)


def test_every_row_passes_request_validation():
    rows = generate(n_rows=1000, seed=3)
    for i, row in enumerate(rows):
        features = {k: v for k, v in row.items() if k != TARGET}
        assert validate_record(features, i) == features
        assert isinstance(row[TARGET], bool)


def test_churn_rate_is_plausible_and_depends_on_contract():
    rows = generate()
    rate = sum(r[TARGET] for r in rows) / len(rows)
    assert 0.15 < rate < 0.45

    def churn_rate(contract):
        group = [r[TARGET] for r in rows if r["contract"] == contract]
        return sum(group) / len(group)

    assert churn_rate("month-to-month") > churn_rate("two-year")


def test_rejects_an_empty_dataset():
    with pytest.raises(ValueError, match="n_rows"):
        generate(n_rows=0)
