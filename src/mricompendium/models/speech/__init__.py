"""Networks of the speech-from-rtMRI family (no data, training or metrics here)."""

from mricompendium.models.speech.mri2mel import FrameEncoder, MRI2Mel

__all__ = ["FrameEncoder", "MRI2Mel"]
