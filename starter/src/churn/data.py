"""Deterministic synthetic customer data: nothing is downloaded, the same seed gives the same rows."""

from __future__ import annotations

from typing import Any

import numpy as np

from churn.features import BY_NAME, TARGET


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate(n_rows: int = 4000, seed: int = 42) -> list[dict[str, Any]]:
    """Return n_rows customer records (plain Python values), each with the boolean label 'churn'."""
    if n_rows < 1:
        raise ValueError(f"n_rows must be at least 1, got {n_rows}")
    rng = np.random.default_rng(seed)

    tenure = rng.integers(0, 73, n_rows)
    contract = rng.choice(BY_NAME["contract"].choices, n_rows, p=[0.55, 0.25, 0.20])
    internet = rng.choice(BY_NAME["internet_service"].choices, n_rows, p=[0.35, 0.45, 0.20])
    payment = rng.choice(BY_NAME["payment_method"].choices, n_rows, p=[0.35, 0.20, 0.22, 0.23])
    support_calls = np.clip(rng.poisson(1.5, n_rows), 0, 10)
    paperless = rng.random(n_rows) < 0.6
    senior = rng.random(n_rows) < 0.16

    # The bill depends on the internet service, so the two features are correlated (as in real data).
    base = np.select([internet == "fiber_optic", internet == "dsl"], [85.0, 55.0], 22.0)
    charges = np.clip(np.round(base + rng.normal(0, 12, n_rows), 2), 18, 120)

    # A plausible story: short tenure, flexible contracts, fiber, e-checks and many support calls
    # raise the churn risk. The noise term keeps the problem from being perfectly learnable.
    logit = (-1.6
             + 1.3 * (contract == "month-to-month") - 1.0 * (contract == "two-year")
             - 0.035 * tenure
             + 0.015 * (charges - 65)
             + 0.5 * (internet == "fiber_optic")
             + 0.45 * (payment == "electronic_check")
             + 0.35 * support_calls
             + 0.25 * paperless + 0.3 * senior
             + rng.normal(0, 0.5, n_rows))
    churn = rng.random(n_rows) < _sigmoid(logit)

    return [
        {
            "tenure_months": int(tenure[i]),
            "monthly_charges": float(charges[i]),
            "contract": str(contract[i]),
            "internet_service": str(internet[i]),
            "payment_method": str(payment[i]),
            "support_calls": int(support_calls[i]),
            "paperless_billing": bool(paperless[i]),
            "senior_citizen": bool(senior[i]),
            TARGET: bool(churn[i]),
        }
        for i in range(n_rows)
    ]
