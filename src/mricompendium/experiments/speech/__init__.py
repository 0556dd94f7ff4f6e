"""The speech-from-rtMRI family's experiments (the only place joining models, data and metrics).

- :mod:`.audio`: log-mel features, Griffin-Lim, the vowel classifier (intelligibility stand-in).
- :mod:`.mri2speech`: S49: registry (CPU and paper scales, citation), MRI2Mel training, the ridge
  and mean-spectrum baselines, per-utterance evaluation rows.
- :mod:`.tongue`: S05: alignment, the Tucker/HOSVD anatomy x pose model, registration of unseen
  shapes, the PCA baseline and cross-validation of the ranks.

Submodules are imported by name (``from mricompendium.experiments.speech import tongue``), so a
notebook's pipeline stage depends only on the ones it uses.
"""
