"""mricompendium: reproducible tests of deep-learning-in-MRI papers.

The package is organised by concern, never by paper: ``physics`` (FFTs, coils, masks, operators),
``data`` (embedded data builders and real-format loaders), ``models/<family>``, ``metrics``,
``training``, ``claims`` (verdicts and metrics JSON), ``report`` and ``paths``.
"""

__version__ = "0.1.0"
