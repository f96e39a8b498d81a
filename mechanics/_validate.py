"""Input validation shared across the packages: one message format for bad numbers."""
from __future__ import annotations

import math


def finite_real(value, name: str, minimum=None) -> float:
    """``value`` as a finite float, or a ValueError naming ``name`` (and the bound)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value
