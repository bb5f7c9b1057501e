"""pythae's AE trained the way its README shows: TrainingPipeline + BaseTrainerConfig.

The encoder and decoder are the same layers as the PyTorch loop's, wrapped in
pythae's BaseEncoder/BaseDecoder. pythae's AE loss sums the squared error over
pixels (then averages over the batch); Adam is invariant to that constant factor
(up to eps), and the test MSE reported here is the per-pixel mean, i.e. pythae's
loss / 784. Training time runs from the trainer's on_train_begin to the last
epoch's on_epoch_end: the final model save is not counted.
"""

from __future__ import annotations

import tempfile
import time

from benchmarks import data
from benchmarks.contestants import Measurement, register
from benchmarks.contestants.torch_loop import layers, test_mse
from benchmarks.spec import Task


@register("pythae", requires=("pythae", "torch"), peer_env=True)
def run(task: Task) -> Measurement:
    import pythae
    import torch
    from pythae.models import AE, AEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback
    from torch import nn

    class Encoder(BaseEncoder):
        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> ModelOutput:
            return ModelOutput(embedding=self.net(x.reshape(x.shape[0], -1)))

    class Decoder(BaseDecoder):
        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, z: torch.Tensor) -> ModelOutput:
            return ModelOutput(reconstruction=self.net(z))

    class Timer(TrainingCallback):
        def __init__(self) -> None:
            self.start = self.end = 0.0

        def on_train_begin(self, training_config, **kwargs) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, training_config, **kwargs) -> None:
            self.end = time.perf_counter()

    torch.set_num_threads(task.threads)
    train, test = data.load(task.data_dir, task.n_train, task.n_test, task.seed)
    torch.manual_seed(task.seed)  # pythae re-seeds with training_config.seed before training too
    enc, dec = layers(task)
    model = AE(
        model_config=AEConfig(input_dim=(task.input_dim,), latent_dim=task.latent),
        encoder=Encoder(enc),
        decoder=Decoder(dec),
    )
    timer = Timer()
    with tempfile.TemporaryDirectory() as out:
        config = BaseTrainerConfig(
            output_dir=out,
            num_epochs=task.epochs,
            learning_rate=task.lr,
            per_device_train_batch_size=task.batch_size,
            per_device_eval_batch_size=task.batch_size,
            optimizer_cls="Adam",
            seed=task.seed,
            no_cuda=True,
        )
        pipeline = TrainingPipeline(model=model, training_config=config)
        pipeline(train_data=train, eval_data=None, callbacks=[timer])
        trained = pipeline.trainer.model
    train_s = timer.end - timer.start

    net = nn.Sequential(trained.encoder.net, trained.decoder.net)
    mse = test_mse(net, torch.from_numpy(test))
    samples = len(train) * task.epochs
    return Measurement(
        samples / train_s, train_s, mse, {"pythae": pythae.__version__ if hasattr(pythae, "__version__") else None}
    )
