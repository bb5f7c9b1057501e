"""Training: the loop (`fit`), optimizers, schedules, clipping, penalties, checkpoints, DDP."""
