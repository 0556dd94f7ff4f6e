"""The speech-from-rtMRI family's experiments (the only place joining models, data and metrics).

- :mod:`.audio`: log-mel features, Griffin-Lim, the vowel classifier.
- :mod:`.asr`: the phone recogniser (the intelligibility stand-in for an ASR's word error rate).
- :mod:`.mri2speech`: S49: registry (CPU and paper scales, citation), MRI2Mel training, the ridge
  and mean-spectrum baselines.
- :mod:`.scoring`: S49: per-utterance scores of the vocoded waveform (phone error rate, MCD after
  and before the vocoder, formants, vowel accuracy, constant outputs).
- :mod:`.tongue`: S05: alignment, the Tucker/HOSVD anatomy x pose model, registration of unseen
  shapes, the PCA and mean-shape baselines.
- :mod:`.tongue_cv`: S05: cross-validated ranks (per held-out speaker), the one-standard-error
  rule, its bootstrap over speakers, components above the noise.

Submodules are imported by name (``from mricompendium.experiments.speech import tongue``), so a
notebook's pipeline stage depends only on the ones it uses.
"""
