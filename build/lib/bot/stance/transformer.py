"""What the torch encoder (bot.stance.encoder) and its ONNX export (bot.stance.onnx_backend)
must do alike with the transformer: turn its hidden states into sentence features (mean
pooling), and leave the same layers in float32 when quantising to int8.

Both modules import this one and neither imports the other at module level, so the pooling
the application runs on torch and the pooling baked into the exported graph are one code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def mean_pooler(
    attention_mask: torch.Tensor, dtype: torch.dtype | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The pooling of a batch: a function from one layer's hidden states (rows, tokens, dim)
    to their mean over the real tokens (`attention_mask` 1), L2-normalised (rows, dim).

    The mask and the token counts are computed once here, in `dtype` (float32 by default: the
    hidden states' own dtype), and shared by every layer pooled with the returned function."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(torch.float32 if dtype is None else dtype)
    count = mask.sum(1).clamp(min=1e-9)

    def pool(hidden: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize((hidden * mask).sum(1) / count, p=2, dim=1)

    return pool


def is_ffn_output(name: str) -> bool:
    """A transformer block's feed-forward output layer (BERT naming: layer.N.output.dense),
    by module name: the layer int8 quantisation leaves in float32 (its input, after GELU, has
    outliers that int8 cannot carry), on torch and in the ONNX export alike."""
    return name.endswith("output.dense") and "attention" not in name
