"""Real data shipped inside installed packages, as torch tensors: no download at run time.

:func:`load_digits` returns scikit-learn's handwritten digits (1,797 greyscale images of
8 x 8 pixels, classes 0-9), read from the file inside the scikit-learn wheel that
``sklearn.datasets.load_digits`` reads.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy
import torch

from efx.errors import invalid_argument

DIGITS_MAX_PIXEL = 16.0
"""Pixel values of the digits data set are integers 0..16."""


def load_digits(dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the digits data set: images ``(1797, 1, 8, 8)`` scaled to [0, 1], labels ``(1797,)``.

    Args:
        dtype: floating dtype of the images; labels are int64.

    Raises:
        InvalidArgumentError: if ``dtype`` is not floating point.
        ImportError: if scikit-learn is not installed (it is in efx's ``docs`` and ``dev`` extras).
    """
    if not dtype.is_floating_point:
        raise invalid_argument(
            "dtype", dtype, "must be a floating-point dtype", "pass torch.float32 or torch.float64"
        )
    # The file that sklearn.datasets.load_digits reads, located without importing scikit-learn,
    # which takes seconds: rows of 64 pixel values and the label.
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "load_digits needs scikit-learn, which ships the data set: pip install scikit-learn"
        )
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    table = numpy.loadtxt(path, delimiter=",", dtype=numpy.float64)
    images = torch.as_tensor(table[:, :-1]).reshape(-1, 1, 8, 8) / DIGITS_MAX_PIXEL
    labels = torch.as_tensor(table[:, -1], dtype=torch.int64)
    return images.to(dtype), labels
