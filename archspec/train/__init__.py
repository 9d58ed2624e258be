"""Training and evaluating compiled specs: `archspec train` and `archspec eval`.

    data.py, folder.py   datasets, transforms, normalisation presets
    network.py           the compiled spec, checked against the dataset's classes
    steps.py             one training epoch, one evaluation pass
    loop.py              the whole run: seeding, resume, epochs, checkpoints
    distributed.py       torchrun / DistributedDataParallel
    checkpoint.py        the checkpoint format, atomic writes, random states
    outdir.py, report.py the run directory, progress, metrics.jsonl, the plot

Importing this package does not import torch; its functions do.
"""
