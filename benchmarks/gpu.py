"""Section 5, only where CUDA is available: the runtime ratios on the GPU with channels-last memory
and bf16 autocast, and training images/s for the seed recipe (seed 000: d2l's ResNet-18, batch 256,
Adam, cross-entropy) against the tutorial's own hand-written module (tests/seed_networks.py).

Every function takes the device, so the logic can be exercised on the CPU with small sizes; the
results file only ever holds GPU numbers taken on a GPU.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import torch
import torch.nn.functional as F
from references import REFERENCES, unavailable_row
from runtime import equal_time_result, rounds_within, same_models, step_functions
from static_check import ROOT

sys.path.append(str(ROOT / "tests"))
from seed_networks import resnet18_seed000  # seed 000's own module, as the tests use it
from timing import interleaved, ratio_summary
from torch import nn

import archspec


def skipped_reason() -> str | None:
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        return f"torch.cuda.is_available() is False on this machine (torch {torch.__version__}, {build})"
    return None


def _synchronised(step: Any, device: torch.device) -> Any:
    def run() -> None:
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # kernels are asynchronous: time their completion
    return run


def runtime_ratios(configs: list[tuple[str, int]], device: torch.device, budget_s: float,
                   image_size: int = 224) -> list[dict[str, Any]]:
    rows = []
    for network, batch in configs:
        if REFERENCES[network].missing():
            rows.append(unavailable_row(f"{network} batch {batch} (GPU)", network))
            continue
        ours, theirs = same_models(network)
        ours, theirs = (m.to(device, memory_format=torch.channels_last) for m in (ours, theirs))
        images = torch.randn(batch, 3, image_size, image_size, device=device)
        images = images.contiguous(memory_format=torch.channels_last)
        labels = torch.randint(0, 1000, (batch,), device=device)
        steps = [step_functions(m, images, labels) for m in (ours, theirs)]
        for mode in ("forward", "forward+backward"):
            for model in (ours, theirs):
                model.train(mode != "forward")
            with torch.autocast(device.type, dtype=torch.bfloat16):
                pair = {name: _synchronised(step[mode], device)
                        for name, step in zip(("archspec", "reference"), steps)}
                for run in pair.values():
                    run()
                start = time.perf_counter()
                for run in pair.values():
                    run()
                rounds = rounds_within(time.perf_counter() - start, budget_s, 10, 100)
                samples = interleaved(pair, rounds=rounds, warmup=2)
            rows.append({"name": f"{network} batch {batch} {mode} (channels-last, bf16 autocast)",
                         **equal_time_result(samples["archspec"], samples["reference"], rounds)})
    return rows


def seed_training(device: torch.device, batch: int, budget_s: float,
                  image_size: int | None = None) -> dict[str, Any]:
    """Training images/s of specs/resnet18-d2l.yaml and of the seed's module: Adam (lr 0.001, as in
    seed 000), cross-entropy, synthetic batches of the spec's input shape (no dataset download)."""
    spec = archspec.load(ROOT / "specs" / "resnet18-d2l.yaml")
    channels, height, width = spec.input.shape()
    if image_size is not None:
        height = width = image_size
    models = {"archspec": archspec.compile(spec, (channels, height, width)), "seed module": resnet18_seed000()}
    counts = {name: sum(p.numel() for p in model.parameters()) for name, model in models.items()}
    if len(set(counts.values())) != 1:
        raise AssertionError(f"the spec and the seed's module differ: {counts} parameters")
    images = torch.randn(batch, channels, height, width, device=device)
    labels = torch.randint(0, 10, (batch,), device=device)
    steps = {}
    for name, model in models.items():
        model.to(device).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=0.001)

        def step(model: nn.Module = model, optimizer: torch.optim.Optimizer = optimizer) -> None:
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(images), labels).backward()
            optimizer.step()
        steps[name] = _synchronised(step, device)
    start = time.perf_counter()
    for run in steps.values():
        run()
    rounds = rounds_within(time.perf_counter() - start, budget_s, 5, 100)
    samples = interleaved(steps, rounds=rounds, warmup=2)
    ours, theirs = samples["archspec"], samples["seed module"]
    return {"name": f"resnet18-d2l training, batch {batch}, {channels}x{height}x{width}",
            "archspec_images_per_s": batch / ours.median, "seed_images_per_s": batch / theirs.median,
            "rounds": rounds, **ratio_summary(ours, theirs), "parameters": counts["archspec"]}


def gpu_section(configs: list[tuple[str, int]], budget_s: float) -> dict[str, Any]:
    reason = skipped_reason()
    if reason is not None:
        return {"skipped": True, "reason": reason, "rows": []}
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True  # both models get the same tuned kernels
    return {"skipped": False, "device": torch.cuda.get_device_name(device),
            "rows": runtime_ratios(configs, device, budget_s),
            "training": seed_training(device, 256, budget_s)}
