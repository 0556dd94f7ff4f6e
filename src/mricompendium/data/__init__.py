"""Data: the embedded data set, loaders for real MRI formats, and lesion insertion.

- :func:`load_slices` / :class:`SliceSet`: the embedded 2D slices (``train``/``val``/``test``
  synthetic variations of the MNI template, ``real`` single-subject slices); build them with
  ``python -m mricompendium.data.build`` (``make data``).
- :func:`load_nifti`, :func:`load_dicom`, :func:`load_fastmri_h5`, :func:`load_calgary_campinas_h5`
  and :func:`check_kspace`: real data, with :class:`DataError` for unusable files.
- :func:`slices_from_nifti_dir`: a user's own NIfTI volumes in place of the embedded slices.
- :func:`insert_lesion`, :func:`lesion_contrast`: synthetic focal lesions.
"""

from __future__ import annotations

from mricompendium.data.embedded import SliceSet, load_slices
from mricompendium.data.errors import DataError
from mricompendium.data.lesions import insert_lesion, lesion_contrast
from mricompendium.data.loaders import (
    FastMRIVolume,
    check_kspace,
    load_calgary_campinas_h5,
    load_dicom,
    load_fastmri_h5,
    load_nifti,
)
from mricompendium.data.user_data import slices_from_nifti_dir

__all__ = [
    "DataError",
    "FastMRIVolume",
    "SliceSet",
    "check_kspace",
    "insert_lesion",
    "lesion_contrast",
    "load_calgary_campinas_h5",
    "load_dicom",
    "load_fastmri_h5",
    "load_nifti",
    "load_slices",
    "slices_from_nifti_dir",
]
