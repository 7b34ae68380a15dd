"""A LoRA adapter for the encoder: low-rank updates to a few linear layers, trained
contrastively (as in SetFit) and merged into the weights for inference.

The adapter is a small safetensors file (about 1 MB for MiniLM at rank 8), tied to the exact
base weights it was trained on by their fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ADAPTER_FILE = "adapter.safetensors"

# Linear layers inside each transformer block that receive a low-rank update, by BERT's names
# (RoBERTa and XLM-RoBERTa use the same ones).
TARGETS = ("attention.self.query", "attention.self.value", "intermediate.dense", "output.dense")
# The same layers in other architectures (by `config.model_type`), and where each keeps the
# dropout on its attention probabilities. An adapter records the BERT names; its weights are
# stored under the model's own module paths.
ALIASES = {
    "mpnet": {
        "attention.self.query": "attention.attn.q",
        "attention.self.value": "attention.attn.v",
    },
}
ATTENTION_DROPOUT = {"mpnet": "attention.attn.dropout"}


@dataclass(frozen=True)
class AdapterConfig:
    rank: int = 8
    alpha: float = 16.0
    targets: tuple[str, ...] = TARGETS
    # LoRA on the blocks from this one up; those below stay frozen, so that in training the
    # backward pass stops at this block (less work per step).
    first_layer: int = 0

    @property
    def scale(self) -> float:
        return self.alpha / self.rank


def _module(root, dotted: str):
    for part in dotted.split("."):
        root = getattr(root, part)
    return root


def _set_module(root, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        root = getattr(root, part)
    setattr(root, last, value)


def _model_type(model) -> str:
    return str(getattr(getattr(model, "config", None), "model_type", "") or "")


def target_paths(model, config: AdapterConfig) -> list[str]:
    """The module paths of the layers the adapter updates in this model. ValueError, naming
    the model's architecture, for an encoder whose blocks are not where BERT keeps them."""
    model_type = _model_type(model)
    kind = model_type or type(model).__name__
    blocks = getattr(getattr(model, "encoder", None), "layer", None)
    if blocks is None:
        raise ValueError(
            f"the LoRA adapter cannot be attached to a {kind} model (its blocks are not at "
            "encoder.layer): train with a BERT, RoBERTa or MPNet sentence encoder"
        )
    layers = len(blocks)
    if not 0 <= config.first_layer < layers:
        raise ValueError(
            f"first_layer {config.first_layer}: the encoder has blocks 0 to {layers - 1}"
        )
    aliases = ALIASES.get(model_type, {})
    names = [aliases.get(t, t) for t in config.targets]
    for name in names:
        try:
            _module(blocks[0], name)
        except AttributeError:
            raise ValueError(
                f"the LoRA adapter cannot be attached to a {kind} model (its blocks have no "
                f"{name} layer): train with a BERT, RoBERTa or MPNet sentence encoder"
            ) from None
    return [f"encoder.layer.{i}.{t}" for i in range(config.first_layer, layers) for t in names]


def is_attention_dropout(model, name: str) -> bool:
    """Whether the module `name` of `model` is the dropout on a block's attention
    probabilities (BERT naming: `….attention.self.dropout`)."""
    return name.endswith(ATTENTION_DROPOUT.get(_model_type(model), "attention.self.dropout"))


def attach(model, config: AdapterConfig, *, seed: int = 0):
    """Wrap the target layers with trainable LoRA modules; freeze everything else.

    Returns the trainable parameters. Call `detach_state` afterwards to read the update.
    """
    import torch
    from torch import nn

    class LoRALinear(nn.Module):
        def __init__(self, base: nn.Linear, gen: torch.Generator) -> None:
            super().__init__()
            self.base = base
            self.lora_a = nn.Parameter(
                torch.randn(config.rank, base.in_features, generator=gen) * 0.01
            )
            self.lora_b = nn.Parameter(torch.zeros(base.out_features, config.rank))

        def forward(self, x):
            return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * config.scale

    paths = target_paths(model, config)  # refuses a model it cannot name before any change
    gen = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.requires_grad = False
    params = []
    for path in paths:
        wrapped = LoRALinear(_module(model, path), gen)
        _set_module(model, path, wrapped)
        params += [wrapped.lora_a, wrapped.lora_b]
    return params


def detach(model, config: AdapterConfig) -> dict[str, np.ndarray]:
    """Unwrap the LoRA modules (restoring the plain base layers) and return their weights."""
    state = {}
    for path in target_paths(model, config):
        wrapped = _module(model, path)
        state[f"{path}.lora_a"] = wrapped.lora_a.detach().cpu().numpy().astype(np.float32)
        state[f"{path}.lora_b"] = wrapped.lora_b.detach().cpu().numpy().astype(np.float32)
        _set_module(model, path, wrapped.base)
    return state


def merge(model, state: dict[str, np.ndarray], config: AdapterConfig) -> None:
    """Add the low-rank updates into the base weights in place (no cost at inference). The
    state must hold an update for each target layer of the blocks `config` names, and nothing
    else (ValueError otherwise, before any weight changes)."""
    import torch

    paths = target_paths(model, config)
    expected = {f"{p}.{part}" for p in paths for part in ("lora_a", "lora_b")}
    if set(state) != expected:
        wrong = sorted(set(state) ^ expected)
        raise ValueError(
            f"the adapter does not fit this encoder ({len(wrong)} layer updates missing or "
            f"unexpected, e.g. {wrong[0]}); train it again for this model"
        )
    with torch.no_grad():
        for path in paths:
            a = torch.from_numpy(state[f"{path}.lora_a"])
            b = torch.from_numpy(state[f"{path}.lora_b"])
            _module(model, path).weight += (b @ a) * config.scale


def digest(state: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode())
        h.update(np.ascontiguousarray(state[key]).tobytes())
    return h.hexdigest()


def save(
    path: Path, state: dict[str, np.ndarray], config: AdapterConfig, *, base: str, meta: dict
) -> None:
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        state,
        str(path),
        metadata={
            "base": base,
            "rank": str(config.rank),
            "alpha": str(config.alpha),
            "targets": json.dumps(list(config.targets)),
            "first_layer": str(config.first_layer),
            "meta": json.dumps(meta, sort_keys=True),
        },
    )


def load(path: Path) -> tuple[dict[str, np.ndarray], AdapterConfig, str, dict]:
    """(state, config, base fingerprint, meta) from an adapter file."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as fh:
        md = fh.metadata() or {}
        state = {k: fh.get_tensor(k) for k in fh.keys()}
    try:
        config = AdapterConfig(
            rank=int(md["rank"]),
            alpha=float(md["alpha"]),
            targets=tuple(json.loads(md["targets"])),
            first_layer=int(md.get("first_layer", 0)),  # adapters before it: every block
        )
        return state, config, md["base"], json.loads(md.get("meta", "{}"))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: not a stancebot adapter file ({exc})") from None
