"""A small aegrad MLP autoencoder as a scikit-learn estimator, and ``AutoencoderTransformer``.

``AutoencoderEstimator`` follows scikit-learn's contract: ``__init__`` stores
its arguments, ``fit`` validates ``X`` (NaN/inf, width, dtype through
``validate_data``, so bad input gives scikit-learn's usual ``ValueError``),
builds the network with aegrad's model registry (``create_model``) and its
optimizer registry (``create_optimizer``) and trains it on
min E||x - D(E(x))||^2 with a short loop. Learned state ends in ``_``.

The trained network is kept in float64 for inference: the results then do not
depend on how the rows are batched (scikit-learn checks that predictions on
subsets equal those on the whole, to 1e-7), which float32 products do not
guarantee.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from aegrad.config import ModelConfig, TrainConfig
from aegrad.data.normalize import Normalizer
from aegrad.models import create_model
from aegrad.train.optim import create_optimizer, param_groups
from aegrad.data.noise import corrupt


def _seed(random_state: int | None) -> int:
    """A torch seed from scikit-learn's ``random_state`` (None draws one, as scikit-learn does)."""
    if random_state is None:
        return int(np.random.default_rng().integers(2**31))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31))
    return int(random_state)


def train_autoencoder(
    x: torch.Tensor, model_cfg: ModelConfig, train_cfg: TrainConfig, seed: int
) -> tuple[torch.nn.Module, list[float]]:
    """Train an aegrad autoencoder on rows `x` (N, D), already normalised; returns (model, epoch losses).

    Mini-batches by a seeded permutation; with ``train_cfg.noise`` the input is
    corrupted and the clean row is the target (a denoising autoencoder,
    Vincent et al. 2008). Initialisation and shuffling draw from `seed` only,
    so two fits with one seed give the same network.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = create_model(model_cfg, (x.shape[1],))
    gen = torch.Generator().manual_seed(seed)
    opt = create_optimizer(param_groups(model, train_cfg), train_cfg)
    batch = min(train_cfg.batch_size, len(x))
    losses: list[float] = []
    model.train()
    for _ in range(train_cfg.epochs):
        perm = torch.randperm(len(x), generator=gen)
        total = torch.zeros(())
        for i in range(0, len(x), batch):
            target = x[perm[i : i + batch]]
            x_hat = model(corrupt(target, train_cfg.noise, train_cfg.noise_level, gen))["x_hat"]
            loss = torch.nn.functional.mse_loss(x_hat, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(target)
        losses.append(float(total) / len(x))  # one sync per epoch
    return model.eval(), losses


class AutoencoderEstimator(BaseEstimator):
    """Shared ``fit`` of the autoencoder estimators: validate, normalise, train.

    Parameters are aegrad config fields (``model.*`` and ``train.*``); see
    ``aegrad.config`` for what each means. ``normalize`` is fitted on the
    training rows: ``zscore`` (per feature) for tabular data, ``minmax`` for
    pixels.
    """

    def __init__(
        self,
        latent: int = 8,
        widths: tuple[int, ...] = (64,),
        activation: str = "relu",
        epochs: int = 50,
        batch_size: int = 64,
        lr: float = 1e-3,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
        noise: str = "none",
        noise_level: float = 0.1,
        normalize: str = "zscore",
        random_state: int | None = 0,
    ) -> None:
        self.latent = latent
        self.widths = widths
        self.activation = activation
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.noise = noise
        self.noise_level = noise_level
        self.normalize = normalize
        self.random_state = random_state

    def _configs(self) -> tuple[ModelConfig, TrainConfig]:
        # pydantic validates every hyperparameter (choices, ranges) with a ValueError naming the field
        model = ModelConfig(
            kind="mlp", widths=list(self.widths), latent=self.latent, activation=self.activation, output="identity"
        )
        train = TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            optimizer=self.optimizer,
            weight_decay=self.weight_decay,
            noise=self.noise,
            noise_level=self.noise_level,
        )
        return model, train

    def fit(self, X, y=None):  # noqa: N803 (scikit-learn's names)
        """Train the autoencoder on the rows of `X` (y is ignored); returns self."""
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        model_cfg, train_cfg = self._configs()
        x = torch.from_numpy(X.astype(np.float32))
        self.normalizer_ = Normalizer(self.normalize).fit(x)
        model, self.loss_curve_ = train_autoencoder(
            self.normalizer_.transform(x), model_cfg, train_cfg, _seed(self.random_state)
        )
        self.model_ = model.double()
        return self

    def _validated(self, X) -> torch.Tensor:
        """`X` checked against the fit (fitted, width, finite) and normalised, as float64."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.normalizer_.transform(torch.tensor(X, dtype=torch.float64))

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.model_.encode(x)

    def _reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.model_(x)["x_hat"]


class AutoencoderTransformer(TransformerMixin, AutoencoderEstimator):
    """Rows -> latent codes (``transform``) and back (``inverse_transform``), for Pipelines.

    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> pipe = make_pipeline(AutoencoderTransformer(latent=16), LogisticRegression())
    """

    def transform(self, X):  # noqa: N803
        """The codes z = E(x), shape (n_samples, latent), float64."""
        return self._encode(self._validated(X)).numpy()

    def inverse_transform(self, X):  # noqa: N803
        """Rows D(z) in the units of the training data, from codes of shape (n_samples, latent)."""
        check_is_fitted(self, "model_")
        from sklearn.utils import check_array

        z = check_array(X, dtype=np.float64)
        if z.shape[1] != self.latent:
            raise ValueError(f"X has {z.shape[1]} features, but inverse_transform expects {self.latent} "
                             f"(the latent size)")
        with torch.no_grad():
            x_hat = self.model_.decode(torch.tensor(z, dtype=torch.float64))
        return self.normalizer_.inverse(x_hat).numpy()

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "model_")
        return np.asarray([f"autoencodertransformer{i}" for i in range(self.latent)], dtype=object)
