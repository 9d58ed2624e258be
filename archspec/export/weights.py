"""`--weights PATH`: trained weights into the compiled module before it is exported.

Accepts what `archspec train` saves (a dict whose "model" entry is the state_dict) and a bare
state_dict, also one saved from a DataParallel or torch.compile wrapper (keys prefixed "module." or
"_orig_mod."). Files are read with torch.load(weights_only=True): a checkpoint is data, never code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from archspec.export import ExportError
from archspec.train.checkpoint import load_plain_data, load_problem, state_mismatch

_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def load_weights(network: nn.Module, path: Path, spec_name: str | None = None) -> None:
    """Loads the checkpoint at `path` into `network` (strictly), or explains why it does not fit."""
    if not path.is_file():
        raise ExportError(f"weights file {path} does not exist" if not path.exists()
                          else f"weights path {path} is not a file")
    try:
        content = load_plain_data(path)
    except Exception as error:  # a damaged file makes torch.load raise almost anything
        raise ExportError(f"{path} is not a PyTorch checkpoint that can be read safely ({load_problem(error)}); "
                          "weights are read with torch.load(weights_only=True): tensors and plain data "
                          "only") from error
    state = content.get("model") if isinstance(content, Mapping) and "model" in content else content
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ExportError(f"{path} holds neither a state_dict nor an `archspec train` checkpoint "
                          "(a dict with the state_dict under \"model\")")
    trained_from = content.get("spec_name") if isinstance(content, Mapping) else None
    state = _unwrapped(dict(state))
    problems = state_mismatch(network.state_dict(), state)
    if problems:
        origin = (f"they were trained from the spec `{trained_from}`, not `{spec_name}`"
                  if isinstance(trained_from, str) and spec_name and trained_from != spec_name
                  else "were they trained from this spec, with the same --set, --scale and --input?")
        raise ExportError(f"the weights in {path} do not fit this spec: {problems} ({origin})")
    network.load_state_dict(state, strict=True)


def _unwrapped(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in _WRAPPER_PREFIXES:
        if state and all(key.startswith(prefix) for key in state):
            state = {key[len(prefix):]: value for key, value in state.items()}
    return state

