"""Networks whose layers the representation-analysis family compares (no data, no training)."""

from mricompendium.models.representation.convnet import LayerConvNet

__all__ = ["LayerConvNet"]
