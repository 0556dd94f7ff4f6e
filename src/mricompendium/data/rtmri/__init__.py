"""Speech from real-time MRI: a vocal-tract rtMRI simulator with audio, and a real-format loader.

- :mod:`.vtl`: the only module that imports VocalTractLab (``vocaltractlab_cython``, GPL-3.0),
  lazily; everything else works on the arrays it returns, so this package imports without it.
- :mod:`.speakers`: anatomical variants of the JD3 speaker (training and unseen speakers).
- :mod:`.utterances`: random consonant-vowel utterances as phone segments.
- :mod:`.raster`: midsagittal outlines -> MR-like frames (partial volume, blur, coil, Rician noise).
- :mod:`.simulate`: one utterance's audio and aligned frames; tongue contours across poses.
- :mod:`.build`: the cached, deterministic corpus (``python -m mricompendium.data.rtmri.build``).
- :mod:`.corpus`: reading it back (:func:`load_corpus`).
- :mod:`.usc`: USC-TIMIT / USC 75-speaker style rtMRI (frames, audio, alignments) from disk.
"""

from __future__ import annotations

from mricompendium.data.rtmri.corpus import Corpus, Utterance, default_path, load_corpus
from mricompendium.data.rtmri.speakers import Speaker, reference_speaker, sample_speakers
from mricompendium.data.rtmri.utterances import CONSONANTS, VOWELS, Segment

__all__ = [
    "CONSONANTS",
    "VOWELS",
    "Corpus",
    "Segment",
    "Speaker",
    "Utterance",
    "default_path",
    "load_corpus",
    "reference_speaker",
    "sample_speakers",
]
