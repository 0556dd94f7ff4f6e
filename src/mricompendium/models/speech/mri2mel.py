"""rtMRI frame sequences -> mel-spectrograms: a per-frame 2D CNN, temporal convolution, BiGRU.

A compact stand-in for the visual front end of MRI2Speech (Shah et al., ICASSP 2025), which adapts
AV-HuBERT (a ResNet per frame followed by a transformer) to rtMRI video and predicts text, then
speaks it with a TTS decoder. Here the frame features go straight to a mel-spectrogram, as in
earlier articulatory-to-acoustic mapping from rtMRI (e.g. Csapó, Interspeech 2020): each frame
is encoded by a small strided CNN, a 1D convolution mixes neighbouring frames,
a bidirectional GRU models the sequence, and a linear head emits ``upsample`` mel frames per video
frame (the mel frame rate is ``upsample`` times the video rate).
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

__all__ = ["FrameEncoder", "MRI2Mel"]


class FrameEncoder(nn.Module):
    """Strided 2D CNN for one frame: ``(N, 1, H, W)`` -> ``(N, out_features)``.

    Args:
        channels: output channels of the stride-2 conv blocks (each conv + BatchNorm + ReLU).
        out_features: size of the frame embedding.
        pool_size: side of the adaptive average pool before the linear layer (keeps where things
            are, unlike a global pool: the tongue's position is the signal).
    """

    def __init__(
        self,
        *,
        channels: tuple[int, ...] = (8, 16, 32, 32),
        out_features: int = 64,
        pool_size: int = 6,
    ) -> None:
        super().__init__()
        if not channels:
            raise ValueError("channels must not be empty")
        layers: list[nn.Module] = []
        c_in = 1
        for c in channels:
            layers += [
                nn.Conv2d(c_in, c, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(inplace=True),
            ]
            c_in = c
        self.convs = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(pool_size)
        self.proj = nn.Sequential(nn.Linear(c_in * pool_size**2, out_features), nn.ReLU(True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(N, 1, H, W)`` normalised frames -> ``(N, out_features)``."""
        return self.proj(torch.flatten(self.pool(self.convs(x)), 1))


class MRI2Mel(nn.Module):
    """rtMRI video -> log-mel spectrogram.

    Args:
        n_mels: mel bands of the output.
        upsample: mel frames per video frame (mel rate / frame rate, a whole number).
        channels: CNN channels per stride-2 block.
        embed: frame embedding size.
        temporal_kernel: width (frames) of the temporal convolution (odd).
        hidden: GRU hidden size per direction.
        gru_layers: stacked bidirectional GRU layers.
        dropout: dropout before the GRU and the output head.
    """

    def __init__(
        self,
        *,
        n_mels: int = 40,
        upsample: int = 2,
        channels: tuple[int, ...] = (8, 16, 32, 32),
        embed: int = 64,
        temporal_kernel: int = 5,
        hidden: int = 64,
        gru_layers: int = 1,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if temporal_kernel % 2 != 1 or upsample < 1 or n_mels < 1:
            raise ValueError("temporal_kernel must be odd; upsample and n_mels >= 1")
        self.n_mels, self.upsample = n_mels, upsample
        self.encoder = FrameEncoder(channels=tuple(channels), out_features=embed)
        self.temporal = nn.Sequential(
            nn.Conv1d(embed, embed, temporal_kernel, padding=temporal_kernel // 2),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )
        self.gru = nn.GRU(
            embed, hidden, num_layers=gru_layers, batch_first=True, bidirectional=True
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, n_mels * upsample))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``frames``: ``(B, T, H, W)`` normalised video -> ``(B, T * upsample, n_mels)``."""
        if frames.ndim != 4:
            raise ValueError(f"frames must be (B, T, H, W), got shape {tuple(frames.shape)}")
        b, t, h, w = frames.shape
        e = self.encoder(rearrange(frames, "b t h w -> (b t) 1 h w"))
        e = rearrange(e, "(b t) d -> b d t", b=b, t=t)
        e = rearrange(self.temporal(e), "b d t -> b t d")
        z, _ = self.gru(e)
        y = self.head(z)
        return rearrange(y, "b t (u m) -> b (t u) m", u=self.upsample, m=self.n_mels)
