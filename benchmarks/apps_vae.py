"""aegrad's VAE beside pythae's VAE on the same run: ``python -m benchmarks.apps_vae``.

Same data (Fashion-MNIST, dynamically binarised: a fresh Bernoulli draw of every
training image each time it is seen, the test split drawn once with the same
seed for both), same architecture and initial weights (pythae's encoder and
decoder ARE an aegrad model's stages, built with the same seed: 784-512-256-(2x32)
/ 32-256-512-784, relu, Bernoulli decoder), same optimizer (Adam 1e-3), batch (128),
epochs and thread count. pythae trains with its own ``BaseTrainer`` on a dataset
that draws the binary image in ``__getitem__``. Both models are then scored by
the same estimator (aegrad.apps.vae.iwae): the test ELBO (k = 1) on the whole test
split and the IWAE bound L_k for k = 1, 10, 100, 1000 on its first `--nll-limit`
images; NLL = -L_1000, in nats. Training time excludes data loading and scoring.

Needs pythae (the bench extra): ``.venv/bin/pip install -c <(echo torch==2.13.0) pythae``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import Tensor


def _aegrad_cfg(args: argparse.Namespace):
    import aegrad

    over = {"train.epochs": args.epochs, "train.threads": args.threads, "data.limit": args.limit}
    return aegrad.load_config(preset="fashion-vae", overrides=over)


def run_aegrad(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    import aegrad

    cfg = _aegrad_cfg(args)
    with tempfile.TemporaryDirectory() as out:
        run = aegrad.train(cfg, out=out, report=False)
        model = run.model
    s = run.summary
    return model, {"train_s": s["train_s"], "samples_per_s": s["samples_per_s"], "epochs": s["epochs"]}


class _PythaeAdapter:
    """pythae's trained VAE seen through the estimator's interface (posterior, decode_raw, log_px)."""

    def __init__(self, vae, raw_decoder) -> None:
        self.vae, self.raw_decoder = vae, raw_decoder
        self.training = False

    def eval(self):
        self.vae.eval()
        return self

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        out = self.vae.encoder(x)
        return out.embedding, out.log_covariance

    def decode_raw(self, z: Tensor) -> Tensor:
        return self.raw_decoder(z)  # logits: pythae's decoder applies the sigmoid to exactly these

    def log_px(self, x: Tensor, raw: Tensor) -> Tensor:
        from aegrad.models import log_likelihood

        return log_likelihood("bernoulli", x, raw, 1.0)


def run_pythae(args: argparse.Namespace, train_x: Tensor) -> tuple[_PythaeAdapter, dict[str, Any]]:
    from pythae.data.datasets import BaseDataset, DatasetOutput
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.trainers import BaseTrainer, BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    from aegrad.models import Autoencoder, create_model

    cfg = _aegrad_cfg(args)
    torch.manual_seed(cfg.seed)  # as aegrad's loop does before building: the same initial weights
    twin = create_model(cfg.model, tuple(train_x.shape[1:]))
    latent = cfg.model.latent

    class Encoder(BaseEncoder):
        def __init__(self) -> None:
            super().__init__()
            self.net = twin

        def forward(self, x: Tensor) -> ModelOutput:
            h = Autoencoder.encode(self.net, x)
            return ModelOutput(embedding=h[:, :latent], log_covariance=h[:, latent:])

    class Decoder(BaseDecoder):
        def __init__(self) -> None:
            super().__init__()
            self.net = twin

        def forward(self, z: Tensor) -> ModelOutput:
            return ModelOutput(reconstruction=torch.sigmoid(self.net.decode_raw(z)))

    class DynamicBinarized(BaseDataset):
        def __getitem__(self, index):
            return DatasetOutput(data=torch.bernoulli(self.data[index]))

    class Timer(TrainingCallback):
        start = end = 0.0

        def on_train_begin(self, training_config, **kwargs) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, training_config, **kwargs) -> None:
            self.end = time.perf_counter()

    torch.set_num_threads(args.threads)
    vae = VAE(
        model_config=VAEConfig(input_dim=tuple(train_x.shape[1:]), latent_dim=latent, reconstruction_loss="bce"),
        encoder=Encoder(),
        decoder=Decoder(),
    )
    timer = Timer()
    with tempfile.TemporaryDirectory() as out:
        config = BaseTrainerConfig(
            output_dir=out, num_epochs=args.epochs, learning_rate=cfg.train.lr,
            per_device_train_batch_size=cfg.train.batch_size, optimizer_cls="Adam", seed=cfg.seed, no_cuda=True,
        )
        trainer = BaseTrainer(vae, DynamicBinarized(train_x, torch.zeros(len(train_x))), None, config, [timer])
        trainer.train()
        trained = trainer.model
    train_s = timer.end - timer.start
    info = {"train_s": train_s, "samples_per_s": len(train_x) * args.epochs / train_s, "epochs": args.epochs,
            "version": metadata.version("pythae")}
    return _PythaeAdapter(trained, trained.decoder.net.decode_raw), info


def score(model, test_x: Tensor, args: argparse.Namespace) -> dict[str, Any]:
    from aegrad.apps.vae.iwae import iwae_bounds
    from aegrad.models.variational.objective import active_units

    t0 = time.perf_counter()
    ks = (1, 10, 100, args.k) if args.k >= 100 else (1, args.k)
    bounds = iwae_bounds(model, test_x[: args.nll_limit], ks, seed=1)
    elbo = iwae_bounds(model, test_x, (1,), seed=2)[1]
    with torch.no_grad():
        mu = torch.cat([model.posterior(xb)[0] for xb in test_x.split(2048)])
    return {
        "test_elbo": elbo,
        "bounds": {str(k): v for k, v in bounds.items()},
        "nll": -bounds[max(ks)],
        "k": max(ks),
        "active_units": int(active_units(mu)),
        "score_s": time.perf_counter() - t0,
    }


def table(results: dict[str, Any]) -> str:
    s = results["settings"]
    lines = [
        f"| contestant | train s | samples/s | test -ELBO (nats, {s['test_samples']} images) "
        f"| NLL = -L_{s['k']} (nats, first {s['nll_samples']}) | -L_1 (same images) | active units |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("aegrad", "pythae"):
        r = results[name]
        lines.append(
            f"| {name} | {r['train_s']:.1f} | {r['samples_per_s']:.0f} | {-r['test_elbo']:.2f} | {r['nll']:.2f} "
            f"| {-r['bounds']['1']:.2f} | {r['active_units']}/{s['latent']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.apps_vae", description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5, help="training epochs for both (default 5)")
    p.add_argument("--limit", type=int, default=None, help="training images (default all 60000)")
    p.add_argument("--nll-limit", type=int, default=1000, help="test images scored with the IWAE bound (default 1000)")
    p.add_argument("-k", dest="k", type=int, default=1000, help="largest IWAE k (default 1000)")
    p.add_argument("--threads", type=int, default=1, help="torch threads for both (default 1)")
    p.add_argument("--out", type=Path, default=Path("vae_bench.json"), help="results JSON (default vae_bench.json)")
    args = p.parse_args(argv)
    if not args.out.parent.is_dir():
        print(f"python -m benchmarks.apps_vae: --out folder does not exist: {args.out.parent}", file=sys.stderr)
        return 2
    try:
        import pythae  # noqa: F401
    except ImportError:
        print("python -m benchmarks.apps_vae: pythae is not installed (pip install aegrad[bench])", file=sys.stderr)
        return 2
    import aegrad

    cfg = _aegrad_cfg(args)
    data = aegrad.load_dataset(cfg.data, cfg.seed)
    torch.set_num_threads(args.threads)
    results: dict[str, Any] = {"settings": {
        "epochs": args.epochs, "train_samples": len(data.train_x), "test_samples": len(data.test_x),
        "nll_samples": min(args.nll_limit, len(data.test_x)), "k": args.k, "threads": args.threads,
        "latent": cfg.model.latent, "machine": "2-core x86_64 CPU, no GPU",
    }}
    model, info = run_aegrad(args)
    results["aegrad"] = {**info, **score(model, data.test_x, args)}
    print(f"aegrad: {results['aegrad']}", file=sys.stderr)
    adapter, info = run_pythae(args, data.train_x)
    results["pythae"] = {**info, **score(adapter, data.test_x, args)}
    print(f"pythae: {results['pythae']}", file=sys.stderr)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(results), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
