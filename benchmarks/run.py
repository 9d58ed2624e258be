"""archspec's performance claims, measured side by side in one run and printed as ratios.

    python benchmarks/run.py            # everything (an hour or more on 2 busy CPU cores)
    python benchmarks/run.py --quick    # fewer rounds, ResNet-18 only for the runtime sections

Prints one table and writes it as JSON to benchmarks/results/<machine>.json. Sections:
  1 static check vs a meta-device forward    2 `archspec check` process vs a torch process (and vs
    `python -c "import torch"`, bytecode caching on and off: benchmarks/startup.py)
  3 compiled module vs its reference, torchvision's or timm's (eager, torch.compile)
  4 archspec.compile vs torchvision's constructor
  5 GPU (channels-last, bf16 autocast, seed training images/s): only where CUDA is available
  6 training images/s: `archspec train`'s loop vs a hand-written loop (benchmarks/handwritten_loop.py)
Absolute times depend on the machine; the ratios are the claims. The networks and their reference
models are listed in benchmarks/references.py; a spec not written yet gives a "not yet available" row.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]  # archspec from this checkout, and the sibling modules

import gpu  # noqa: E402
import handwritten_loop  # noqa: E402  (the sibling modules, found through the path set just above)
import runtime  # noqa: E402
import startup  # noqa: E402
import static_check  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402
from references import REFERENCES  # noqa: E402

# Specs in specs/ with a reference model in references.py (add a row there to benchmark a new one).
STATIC_NETWORKS = ["resnet18", "resnet50", "resnet152", "resnet50d", "se-resnet50", "mobilenet_v2", "densenet121",
                   "efficientnet_b0", "convnext_tiny"]
RUNTIME_CONFIGS = [("resnet18", 8), ("resnet18", 32), ("resnet50", 8), ("resnet50", 32),
                   ("resnet50d", 8), ("se-resnet50", 8), ("mobilenet_v2", 8), ("densenet121", 8),
                   ("efficientnet_b0", 8), ("convnext_tiny", 8)]


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    tag = f"{re.sub(r'[^a-z0-9]+', '-', cpu.lower()).strip('-')}-{cores}cores-torch{torch.__version__}"
    return {"tag": re.sub(r"[^A-Za-z0-9_.-]", "_", tag), "cpu": cpu, "cores": cores,
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "python": platform.python_version(),
            "platform": platform.platform(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def _load_average() -> list[float] | None:
    return [round(load, 2) for load in os.getloadavg()] if hasattr(os, "getloadavg") else None


def parse_configs(text: str) -> list[tuple[str, int]]:
    """'resnet18:8,resnet50:32' -> [('resnet18', 8), ('resnet50', 32)]; '' -> []."""
    configs = []
    for item in filter(None, text.split(",")):
        network, _, batch = item.partition(":")
        if network not in REFERENCES or not batch.isdigit():
            raise argparse.ArgumentTypeError(f"expected NETWORK:BATCH with NETWORK one of "
                                             f"{', '.join(REFERENCES)}, found {item!r}")
        configs.append((network, int(batch)))
    return configs


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds; ResNet-18 only in 3 and 5")
    parser.add_argument("--sections", default="1,2,3,4,5,6", help="which sections to run (default all)")
    parser.add_argument("--eager-configs", type=parse_configs, default=None, metavar="NET:BATCH,...",
                        help="configs for eager mode in sections 3 and 5 (default: RUNTIME_CONFIGS; --quick: resnet18)")
    parser.add_argument("--compile-configs", type=parse_configs, default=None, metavar="NET:BATCH,...",
                        help="configs for torch.compile (default: RUNTIME_CONFIGS; --quick: resnet18:8)")
    parser.add_argument("--no-control", action="store_true",
                        help="skip section 3's controls (in eager mode, every pair runs beside a second copy\n"
                             "of the reference, whose ratio to the reference is the noise of those rounds)")
    parser.add_argument("--compile-control", action="store_true",
                        help="also run a compiled control (a second compiled copy of the reference) in\n"
                             "section 3's torch.compile rounds (one more compilation per network)")
    parser.add_argument("--image-size", type=int, default=224, metavar="PIXELS",
                        help="height and width of section 3's images (default 224; smaller keeps the deeper\n"
                             "networks' rounds and compilations short on a small machine)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch's intra-op threads (default: one per core; 1 is far steadier on a busy machine)")
    parser.add_argument("--output", type=Path, default=None,
                        help="JSON file (default benchmarks/results/<machine>.json)")
    return parser.parse_args()


def run_sections(args: argparse.Namespace) -> dict[str, Any]:
    sections = set(args.sections.split(","))
    quick = args.quick
    rounds = 7 if quick else 15
    configs = (args.eager_configs if args.eager_configs is not None
               else RUNTIME_CONFIGS[:2] if quick else RUNTIME_CONFIGS)
    compile_configs = (args.compile_configs if args.compile_configs is not None
                       else [("resnet18", 8)] if quick else RUNTIME_CONFIGS)
    budget_s = 10.0 if quick else 60.0  # time per timed pair of models in section 3
    results: dict[str, Any] = {}
    loads: dict[str, Any] = {}

    def record(section: str, rows: Any) -> None:
        # Other processes' load inflates absolute times (the interleaved ratios are meant to survive
        # it): the 1-minute load average as each section ends says how quiet the machine was.
        results[section], loads[section] = rows, _load_average()

    if "1" in sections:
        record("1 static check vs meta forward", static_check.static_vs_meta(STATIC_NETWORKS, rounds))
    if "2" in sections:
        record("2 whole process", static_check.whole_process("resnet152", 5 if quick else 11)
               + startup.startup_rows(5 if quick else 11, {"this tree": HERE.parent}))
    if "3" in sections:
        size = args.image_size
        record("3 runtime, CPU eager", runtime.eager(configs, budget_s, controls=not args.no_control, size=size))
        record("3 runtime, CPU torch.compile", runtime.compiled(compile_configs, budget_s,
                                                                controls=args.compile_control, size=size))
    if "4" in sections:
        record("4 build vs constructor", static_check.build_vs_constructor(STATIC_NETWORKS, rounds))
    if "5" in sections:
        gpu_results = gpu.gpu_section(configs, budget_s)
        record("5 GPU", gpu_results["rows"] + ([gpu_results["training"]] if "training" in gpu_results
                                              else []))
        results["5 GPU status"] = {key: value for key, value in gpu_results.items()
                                   if key not in ("rows", "training")}
    if "6" in sections:  # one thread: the default for the digits network, and the least noisy
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        record("6 training, CPU, 1 thread", handwritten_loop.training_rows(rounds, cifar_steps=3))
        torch.set_num_threads(threads)
    results["load average (1, 5, 15 min) as each section ended"] = loads
    return results


def _cell(row: dict[str, Any]) -> tuple[str, str, str, str, str]:
    archspec_time = f"{row['archspec_ms']:.3f}" if "archspec_ms" in row else ""
    torch_time = f"{row['torch_ms']:.3f}" if "torch_ms" in row else ""
    if "speedup" in row:
        figure = f"{row['speedup']:.1f}x faster"
    elif "ratio" in row:
        figure = f"{row['ratio']:.3f} [{row['ratio_q1']:.3f}, {row['ratio_q3']:.3f}]"
        if "control_ratio" in row:
            figure += (f"; control {row['control_ratio']:.3f} "
                       f"[{row['control_ratio_q1']:.3f}, {row['control_ratio_q3']:.3f}]")
    elif "images_per_s_ratio" in row:
        figure = (f"{row['images_per_s_ratio']:.3f} [{row['ratio_q1']:.3f}, {row['ratio_q3']:.3f}] "
                  f"({row['archspec_images_per_s']:.0f} vs {row['seed_images_per_s']:.0f} img/s)")
    elif "archspec_images_per_s" in row:
        figure = f"{row['archspec_images_per_s']:.0f} vs {row['seed_images_per_s']:.0f} img/s"
    else:
        figure = row.get("status", "")  # e.g. a spec not written yet
    met = {True: "met", False: "MISSED", None: ""}[row.get("met")]
    goal = f"{row.get('goal') or ''} {met}".strip()
    if "reference" in row:
        goal += f" vs {row['reference']}"
    if "graph_count (train)" in row:  # dynamo's view of the compiled module, eval and train mode
        same = row["same operations as the reference (eval)"] and row["same operations as the reference (train)"]
        goal += (f"; graphs {row['graph_count (eval)']}+{row['graph_count (train)']}, breaks "
                 f"{row['graph_break_count (eval)'] + row['graph_break_count (train)']}, "
                 f"{'same' if same else 'DIFFERENT'} ops as the reference")
    return row["name"], archspec_time, torch_time, figure, goal


def render(results: dict[str, Any], about: dict[str, Any]) -> str:
    lines = [(f"machine: {about['cpu']}, {about['cores']} cores, torch {about['torch']} "
              f"({about['torch_threads']} threads), torchvision {about['torchvision']}"),
             ("speedup = torch time / archspec time; ratio = archspec time / torch time, the median "
              "of round-by-round ratios [quartiles]; times are medians in ms")]
    header = ("benchmark", "archspec ms", "torch ms", "speedup or ratio", "goal")
    for section, rows in results.items():
        if not rows:
            continue  # a skipped section: its status line says why
        if isinstance(rows, dict):
            lines.append(f"\n{section}: " + ", ".join(f"{k}: {v}" for k, v in rows.items()))
            continue
        cells = [header] + [_cell(row) for row in rows]
        widths = [max(len(cell[i]) for cell in cells) for i in range(5)]
        lines.append(f"\n{section}")
        for cell in cells:
            lines.append("  ".join(c.ljust(w) if i in (0, 3, 4) else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(cell, widths))).rstrip())
    return "\n".join(lines)


def main() -> int:
    args = parse_arguments()
    torch.set_num_threads(args.threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                           else os.cpu_count() or 1))
    about = machine()
    started, load_before = time.time(), _load_average()
    results = run_sections(args)
    print(render(results, about))
    output = args.output or HERE / "results" / f"{about['tag']}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    document = {"machine": about, "command": " ".join(["python", "benchmarks/run.py", *sys.argv[1:]]),
                "quick": args.quick, "seconds": round(time.time() - started, 1),
                # Other processes' load, which inflates absolute times (interleaving protects ratios).
                "load_average_before_after": [load_before, _load_average()],
                "notes": NOTES, "results": results}
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten: {output}")
    return 0


NOTES = {
    "speedup": "torch's median time / archspec's median time (sections 1 and 2)",
    "ratio": "archspec's time / torch's time: median of the round-by-round ratios, with quartiles",
    "input_range": "Report.input_range is computed lazily (a binary search over input sizes): rows "
                   "named '+range' include it, the others do not; the CLI always computes it",
    "meta forward": "eval mode under no_grad on an already-built meta module (its cheapest setting)",
    "interleaving": "candidates run alternately round after round, so that machine drift hits both",
    "control": "section 3, eager: a second copy of the reference runs in the same rounds; its ratio to "
               "the reference is the noise of those rounds, the yardstick for archspec's ratio",
}

if __name__ == "__main__":
    sys.exit(main())
