"""mricompendium: reproducible tests of deep-learning-in-MRI papers.

The package is organised by concern, never by paper: ``physics`` (FFTs, coils, masks, operators,
signal equations, deformations), ``data`` (embedded data builders, simulators, real-format
loaders), ``models/<family>`` (networks only), ``experiments/<family>`` (registries, baselines,
train and evaluate), ``metrics``, ``training``, ``claims`` (the verdict engine), ``report`` and
``paths``.
"""

import warnings

# Libraries that import tqdm.auto inside a notebook warn when ipywidgets is absent; the text bar
# they fall back to is what we want, so the warning is noise in every executed notebook.
warnings.filterwarnings("ignore", message="IProgress not found", module="tqdm")

__version__ = "0.1.0"
