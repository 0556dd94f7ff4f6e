"""Metrics, one pure function per metric, one value per test case.

One module per kind of result, so that a family's metrics live in one file:

* :mod:`.image`: SSIM / PSNR / NMSE and the reconstruction evaluation protocols (re-exported here).
* family modules (segmentation overlap and surface distances, registration Jacobians, retrieval,
  speech) are imported by their full name, e.g. ``from mricompendium.metrics import segmentation``.
"""

from mricompendium.metrics.image import (
    PROTOCOLS,
    Protocol,
    dice,
    evaluate,
    nmse,
    protocol_description,
    psnr,
    ssim,
)

__all__ = [
    "PROTOCOLS",
    "Protocol",
    "dice",
    "evaluate",
    "nmse",
    "protocol_description",
    "psnr",
    "ssim",
]
