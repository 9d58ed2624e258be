"""`archspec train SPEC --data NAME`: train a compiled spec, alone or under torchrun."""

from __future__ import annotations

import argparse
from pathlib import Path

from archspec.commands import add_set_argument, add_spec_path, at_most_per_cpu, whole_number
from archspec.scale import SCALE_OVERRIDE
from archspec.train.data import AUGMENTATIONS, NORMALIZATIONS, data_names

NAME = "train"
HELP = "train a spec on a dataset (digits, mnist, fashion-mnist, cifar10, cifar100, folder:PATH)"


def add_data_arguments(parser: argparse.ArgumentParser, required: bool) -> None:
    """The dataset options `train` and `eval` share."""
    parser.add_argument("--data", required=required, metavar="NAME",
                        help=f"dataset: {', '.join(data_names())}")
    parser.add_argument("--data-root", default="data", metavar="DIR",
                        help="where torchvision datasets are (or go, with --download); default ./data")
    parser.add_argument("--download", action="store_true", help="fetch a torchvision dataset if absent")
    parser.add_argument("--normalize", choices=list(NORMALIZATIONS), default=None,
                        help="normalisation preset (default: the dataset's; eval: the training run's)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="auto: CUDA when available, else the CPU")
    parser.add_argument("--workers", type=worker_count, default=0, metavar="N",
                        help="DataLoader worker processes (default 0: load in the main process)")
    parser.add_argument("--threads", type=thread_count, default=None, metavar="N",
                        help="CPU threads for torch's operators (default: OMP_NUM_THREADS if set; else 1 "
                        "for a small network, and the idle cores, up to 8, for a large one)")


positive_int = whole_number(1)
thread_count = at_most_per_cpu(1, 1, "the CPUs of this machine")
# Loader processes may wait on files: a few per CPU can help, thousands only take memory.
worker_count = at_most_per_cpu(0, 4, "4 per CPU of this machine")


def augment_list(text: str) -> tuple[str, ...]:
    """`crop,flip`, or `none`. An empty name (`--augment ,`, `crop,,flip`) is a slip, as is `none` beside
    a name: both were read as fewer augmentations than the user may have meant, without a word."""
    names = [part.strip() for part in text.split(",")]
    if names == ["none"]:
        return ()
    if "" in names or "none" in names:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of {', '.join(AUGMENTATIONS)} (or `none` alone), found {text!r}")
    return tuple(names)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_path(parser, "path to a YAML spec, e.g. specs/digits-resnet.yaml")
    add_set_argument(parser)
    add_data_arguments(parser, required=True)
    parser.add_argument("--epochs", type=int, default=10, metavar="N",
                        help="passes over the training set (default 10)")
    parser.add_argument("--batch-size", type=int, default=128, metavar="B",
                        help="global batch size, split over torchrun's processes (default 128)")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate (default: 0.001 for adam, 0.1 for sgd)")
    parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam", help="the optimizer (default adam)")
    parser.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    parser.add_argument("--weight-decay", type=float, default=0.0,
                        help="L2 penalty on the weights, the optimizer's weight_decay (default 0)")
    parser.add_argument("--schedule", choices=["none", "step", "cosine"], default="none",
                        help="learning-rate schedule, stepped per epoch: step = x0.1 at 50%% and 75%% "
                        "of the epochs; cosine = cosine decay to 0 (default none)")
    parser.add_argument("--augment", type=augment_list, default=(), metavar="LIST",
                        help=f"comma-separated training augmentations: {', '.join(AUGMENTATIONS)}")
    parser.add_argument("--amp", action="store_true",
                        help="mixed precision: float16 with loss scaling on CUDA, bfloat16 on the CPU")
    parser.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of every random draw, the validation split's too (default 0)")
    parser.add_argument("--val-fraction", type=float, default=0.1, metavar="F",
                        help="share of the training set held out (per class) to choose best.pt on "
                        "(default 0.1; 0: none, best.pt is the last epoch; a dataset's own val/ is kept)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="run directory: checkpoints, metrics, plot (default runs/SPEC-NAME)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt")
    parser.add_argument("--overwrite", action="store_true", help="start again over a run in --out")


def run(args: argparse.Namespace) -> int:
    from archspec.train.loop import TrainConfig, train

    out = args.out if args.out is not None else str(Path("runs") / args.spec.stem)
    overrides = resumed_overrides(Path(out), args.set) if args.resume else list(args.set)
    config = TrainConfig(
        spec=str(args.spec), data=args.data, out=out, data_root=args.data_root, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer, momentum=args.momentum,
        weight_decay=args.weight_decay, schedule=args.schedule, augment=args.augment,
        normalize=args.normalize, device=args.device, amp=args.amp, channels_last=args.channels_last,
        compile=args.compile, seed=args.seed, resume=args.resume, overwrite=args.overwrite,
        download=args.download, workers=args.workers, overrides=tuple(overrides),
        val_fraction=args.val_fraction, threads=args.threads)
    return train(config)


def resumed_overrides(out: Path, given: list[str]) -> list[str]:
    """The --set and --scale of the run in `out`, which --resume applies again: the network must be the
    one its weights were trained as. Given ones must repeat them exactly (UsageError otherwise)."""
    from archspec.commands import UsageError, recorded_overrides
    from archspec.train.checkpoint import LAST

    recorded = recorded_overrides(out / LAST) if (out / LAST).is_file() else []
    if given and given != recorded:
        raise UsageError(f"--resume: the run in {out} was trained with {_shown(recorded) or 'no --set or --scale'}, "
                         f"not {_shown(given)}: resume without them (the run's are applied again), "
                         "or start a new run with --out")
    return recorded


def _shown(overrides: list[str]) -> str:
    """`--set a=1 --scale s` as typed (--scale travels in the list as `--scale=s`)."""
    return " ".join(f"--scale {text.partition('=')[2]}" if text.startswith(f"{SCALE_OVERRIDE}=") else f"--set {text}"
                    for text in overrides)
