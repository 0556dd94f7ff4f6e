"""The experiment layer: one module (or package) per family.

It is the only place that joins models, data, training and metrics. Each family module holds the
registry of model configurations (small CPU and paper scale), the baselines, and the train and
evaluate routines built on :mod:`mricompendium.training` and :mod:`mricompendium.metrics`;
evaluation returns per-case results in the long format of :mod:`mricompendium.claims`.
"""
