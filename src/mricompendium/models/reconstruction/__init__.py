"""Reconstruction networks only (``nn.Module`` s and their building blocks).

Every network maps undersampled k-space to a complex image: ``forward(kspace, mask, maps)``
(:class:`~.unet.UNetRecon`, :class:`~.varnet.VarNet`, :class:`~.cascadenet.CascadeNet`,
:class:`~.kikinet.KIKINet`, :class:`~.lpd.LPDNet`, :class:`~.rim.RIM`, :class:`~.irim.IRIM`,
:class:`~.rim.CIRIM`, :class:`~.recurrentvarnet.RecurrentVarNet`, :class:`~.xpdnet.XPDNet`) or
``forward(y, op)`` for any operator (:class:`~.reconresnet.ReconResNet`). Nothing here imports
data, training, metrics or experiments: the registry, baselines, normalisation and training live
in :mod:`mricompendium.experiments.reconstruction`.
"""
