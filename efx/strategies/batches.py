"""Hypothesis strategies for batches: partitions of a batch into sections of unequal sizes."""

from __future__ import annotations

import itertools

from hypothesis import strategies as st

from efx.errors import invalid_argument


@st.composite
def section_sizes(draw: st.DrawFn, total: int, max_sections: int | None = None) -> tuple[int, ...]:
    """Draw sizes ``q_1, ..., q_m >= 1`` with ``sum q_j = total``: a partition into consecutive sections.

    Every composition of ``total`` can be drawn, including a single section and ``total``
    sections of one sample, and unequal sizes are the rule rather than the exception.

    Args:
        total: the batch size n, at least 1.
        max_sections: the largest m to draw (default ``total``).
    """
    if total < 1:
        raise invalid_argument(
            "total", total, "must be >= 1", "pass the number of samples in the batch"
        )
    upper = total if max_sections is None else min(max_sections, total)
    if upper < 1:
        raise invalid_argument(
            "max_sections", max_sections, "must be >= 1", "allow at least one section"
        )
    sections = draw(st.integers(1, upper), label="sections")
    cuts = draw(
        st.lists(
            st.integers(1, total - 1), min_size=sections - 1, max_size=sections - 1, unique=True
        )
        if sections > 1
        else st.just([]),
        label="cuts",
    )
    bounds = [0, *sorted(cuts), total]
    return tuple(b - a for a, b in itertools.pairwise(bounds))
