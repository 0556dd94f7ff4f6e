"""The one exception the data layer raises for bad input files and arrays."""

from __future__ import annotations

import os


class DataError(ValueError):
    """A data file or array is unusable; the message names the source and the problem.

    Args:
        source: the file (or a description such as ``"kspace of slice 3"``) that is at fault.
        problem: what is wrong with it, in words.

    Example:
        >>> str(DataError("scan.h5", "dataset 'kspace' holds NaN"))
        "scan.h5: dataset 'kspace' holds NaN"
    """

    def __init__(self, source: str | os.PathLike[str], problem: str) -> None:
        self.source = os.fspath(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")

    def __reduce__(self) -> tuple[type[DataError], tuple[str, str]]:
        # Keeps the two-argument constructor picklable (multiprocessing data loaders).
        return (type(self), (self.source, self.problem))
