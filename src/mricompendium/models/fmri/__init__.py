"""fMRI decoders: MindEye2 (shared-subject) and the BrainCLIP mapper, with their losses.

Networks only: they import torch and nothing else from the package.
"""

from mricompendium.models.fmri.brainclip import BrainCLIPMapper, BrainCLIPOutput
from mricompendium.models.fmri.losses import CLIPLoss, MindEye2Loss, SoftCLIPLoss
from mricompendium.models.fmri.mindeye2 import (
    LowLevelDecoder,
    MindEye2,
    MindEye2Output,
    ResidualMLP,
)

__all__ = [
    "BrainCLIPMapper",
    "BrainCLIPOutput",
    "CLIPLoss",
    "LowLevelDecoder",
    "MindEye2",
    "MindEye2Loss",
    "MindEye2Output",
    "ResidualMLP",
    "SoftCLIPLoss",
]
