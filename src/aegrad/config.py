"""Typed configuration: presets, YAML files and ``a.b=value`` overrides.

Every field carries a comment saying what it means. Unknown keys are rejected
(``extra="forbid"``) and every choice is a ``Literal``, so a typo fails with the
list of valid values. ``apply_overrides`` is the one override function: the
CLI's ``--set``, study grids and remedy patches all go through it.
"""

from __future__ import annotations

import argparse
import copy
import typing
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aegrad import safeyaml
from aegrad.errors import UserError

DataSource = Literal["digits", "fashion-mnist", "mnist", "random", "npy", "csv", "images", "text", "skimage"]
Activation = Literal["sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "selu", "gelu", "silu"]
Init = Literal[
    "default", "xavier_uniform", "glorot_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal",
    "lecun", "orthogonal_critical",
]
Optimizer = Literal["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad"]
Schedule = Literal["constant", "step", "exponential", "cosine", "warmup_cosine", "warmup", "plateau"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# ---- text (data.source=text, data/text/): lines as token ids under a vocabulary fitted on the training split
class TextConfig(_Strict):
    corpus: Literal["file", "fortunes", "wamerican"] = "file"  # file: data.path (a UTF-8 file, or a folder of them), a
    # sample per line; fortunes / wamerican: the Debian packages' files
    categories: list[str] | None = None  # fortunes: category files to read, their order giving labels 0, 1, ... (None:
    # every category)
    errors: Literal["strict", "replace", "skip"] = "strict"  # invalid UTF-8 in a file: strict stops naming the line;
    # replace writes U+FFFD; skip drops the line (both counted, logged)
    vocab_size: int = Field(128, ge=8)  # symbols, 4 specials included (<pad>=0, <bos>, <eos>, <unk>); the training
    # split's most frequent characters fill the rest, others map to <unk>
    long_lines: Literal["drop", "truncate"] = "drop"  # lines longer than data.max_len characters: left out (counted,
    # logged) or cut
    tokenizer: Literal["char", "bpe"] = "char"  # char: one id per character; bpe: byte-level BPE (Hugging Face
    # tokenizers), merges learned on the training split, data.max_len counts tokens, vocab_size >= 260
    min_len: int = Field(1, ge=1)  # lines shorter than this many characters are left out


class DataConfig(_Strict):
    source: DataSource = "digits"  # where samples come from (a registered data source)
    path: str | None = None  # file or folder for npy/csv/images/text; for IDX sets the only folder searched (and the
    # download target)
    labels_path: str | None = None  # optional .npy/.csv of integer labels beside `path` (npy/csv)
    label_column: int | None = None  # csv: index of a label column to split off (negative counts from the end)
    limit: int | None = Field(None, ge=1)  # at most this many training samples (seeded subset)
    test_limit: int | None = Field(None, ge=1)  # at most this many test samples (seeded subset)
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)  # held-out share when the source has no split of its own
    normalize: Literal["none", "minmax", "zscore"] = "minmax"  # fitted on the training split, saved with the model
    samples: int = Field(1000, ge=2)  # random: number of N(0,1) samples (the seed's 1000)
    dim: int = Field(100, ge=1)  # random: features per sample (the seed's 100)
    image_size: int = Field(28, ge=4)  # images: side length every image is resized to
    grayscale: bool = True  # images: convert to one channel (False: RGB)
    download: bool = True  # fashion-mnist/mnist: fetch from the official mirror when missing
    max_len: int = Field(64, ge=4)  # text: characters per line (tokens per sample); longer lines per
    # data.text.long_lines
    binarize: Literal["none", "static", "dynamic"] = "none"  # VAE, Bernoulli likelihood: static: both splits sampled
    # once; dynamic: test once, train re-sampled every batch (data/binarize.py)
    text: TextConfig = Field(default_factory=TextConfig)  # data.source=text: corpus, vocabulary, invalid UTF-8
    # (data/text/)


# ---- codec (model.kind=codec, models/codec/): a learned image codec trained on D + lambda*R
class CodecConfig(_Strict):
    lmbda: float = Field(0.01, gt=0.0)  # rate-distortion trade-off: loss = lmbda*255^2*MSE + bpp (CompressAI's scale);
    # larger = more bits, less distortion
    channels: int = Field(32, ge=1)  # hidden channels of the analysis/synthesis transforms (cost grows with its square)
    latent_channels: int = Field(16, ge=1)  # channels of the quantised latent, each with its own entropy model
    stages: int = Field(2, ge=1)  # stride-2 conv stages: the latent is 2^stages times smaller per side
    kernel_size: int = Field(5, ge=1)  # conv kernel side in both transforms
    gdn: bool = True  # GDN / inverse GDN between stages (Balle et al. 2016); false: leaky_relu
    prior_filters: list[int] = Field(default_factory=lambda: [3, 3, 3])  # hidden widths of the per-channel factorised
    # density (Balle et al. 2018, appendix 6.1)
    prior: Literal["channel", "position", "hyper"] = "channel"  # one density per latent channel (any image size), or
    # per channel and latent position (fixed-size images, e.g. centred Fashion-MNIST), or hyper: a Gaussian per element
    # whose scale a coded side latent predicts (Balle et al. 2018)
    hyper_channels: int = Field(32, ge=1)  # prior=hyper: hidden and side-latent channels of the hyper transforms h_a,
    # h_s
    hyper_stages: int = Field(2, ge=1)  # prior=hyper: stride-2 stages of h_a; the side latent is 2^hyper_stages smaller
    # per side than y


# ---- variational autoencoder (model.variational: true, models/variational/)
class VAEConfig(_Strict):
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"  # decoder p(x|z): bernoulli on binary pixels (needs
    # data.binarize), or gaussian with fixed std `sigma`
    sigma: float = Field(0.1, gt=0.0)  # gaussian: the decoder's fixed std, in model units
    beta: float = Field(1.0, ge=0.0)  # weight of the KL term (beta-VAE, Higgins et al. 2017); 1 gives the ELBO
    kl_warmup_steps: int = Field(0, ge=0)  # KL weight ramps linearly from 0 to beta over this many optimizer steps
    # (Bowman et al. 2016)
    free_bits: float = Field(0.0, ge=0.0)  # nats per latent dimension the KL may use unpenalised (Kingma et al. 2016)
    decoder_widths: list[int] | None = None  # mlp: the decoder's hidden widths, listed like model.widths (None: mirror
    # the encoder); narrower = weaker decoder


# ---- sequence autoencoder (model.kind=seq, models/seq/): recurrent encoder -> latent -> autoregressive decoder
class SeqConfig(_Strict):
    cell: Literal["gru", "lstm", "rnn", "transformer"] = "gru"  # recurrent cell of encoder and decoder; rnn: the plain
    # tanh (Elman) cell, whose gradients vanish through time; transformer: self-attention encoder (pooled to z) and
    # causal decoder fed z (models/seq/transformer.py)
    hidden: int = Field(256, ge=1)  # hidden state size of encoder and decoder, the model width for the transformer
    # (cost grows with its square per character)
    embed: int = Field(64, ge=1)  # size of a symbol's embedding
    vocab_size: int | None = Field(None, ge=8)  # symbols the model reads and predicts; None: data.text.vocab_size
    # (filled in when the config is validated)
    layer_norm: bool = False  # layer norm on the cell's input and recurrent pre-activations (Ba et al. 2016): steadier
    # gradients through time
    word_dropout: float = Field(0.0, ge=0.0, lt=1.0)  # training: share of the decoder's input characters replaced by
    # <unk>, so it must read z (Bowman et al. 2016)
    layers: int = Field(2, ge=1)  # transformer: blocks in the encoder and in the decoder
    heads: int = Field(4, ge=1)  # transformer: attention heads per block (model.seq.hidden must be divisible by it)
    reverse_input: bool = False  # the encoder reads each line last character first (Sutskever et al. 2014): the start
    # of the line, which the decoder writes first, is one step from z instead of len


class ModelConfig(_Strict):
    kind: Literal["mlp", "conv", "codec", "seq", "unet"] = "mlp"  # mlp: dense layers on flattened input; conv: strided
    # conv for images; codec: learned image codec (models/codec/); seq: recurrent sequence autoencoder for text
    # (models/seq/); unet: conv stages with skip connections, no bottleneck (denoising, models/unet/)
    widths: list[int] = Field(default_factory=lambda: [512, 256])  # encoder hidden widths; decoder mirrors them
    depth: int | None = Field(None, ge=1)  # if set, replaces widths with `depth` hidden layers of `width`
    width: int = Field(256, ge=1)  # hidden width used with `depth`
    latent: int = Field(32, ge=1)  # size of the code z (linear layer, no activation)
    activation: Activation = "relu"  # hidden activation
    negative_slope: float = Field(0.01, ge=0.0)  # leaky_relu slope (and prelu's initial slope)
    init: Init = "kaiming_uniform"  # weight initialisation; kaiming/xavier gains match `activation`
    init_gain: float = Field(1.0, gt=0.0)  # multiplies every initial weight (>1 builds an exploding net)
    bias_init: float | None = None  # constant for every hidden bias (None: zero, or PyTorch's for init=default; no bias
    # with norm=batch)
    norm: Literal["none", "batch", "layer"] = "none"  # normalisation after each hidden linear/conv
    residual: bool = False  # identity skip around each hidden block whose input and output shapes match
    residual_style: Literal["post", "pre"] = "post"  # residual blocks (docs/depth.md): post: x + act(norm(W x));
    # pre: x + W act(norm(x)), the norm inside the branch and the identity path untouched (He et al. 2016, "Identity
    # Mappings")
    branch_scale: Literal["none", "rezero", "layerscale"] = "none"  # residual blocks: x + a*f(x), a learned; rezero:
    # one scalar starting at 0 (Bachlechner et al. 2020); layerscale: one per feature, starting at layerscale_init
    # (Touvron et al. 2021)
    layerscale_init: float = Field(1e-4, gt=0.0)  # branch_scale=layerscale: every feature's initial scale
    branch_init: Literal["default", "zero", "depth"] = "default"  # residual_style=pre: the branch's linear layer starts
    # at zero (zero: SkipInit/Fixup, De & Smith 2020, Zhang et al. 2019) or at model.init's weights times L^-1/2, L the
    # residual blocks per side (depth: Fixup-style)
    output: Literal["sigmoid", "identity"] = "sigmoid"  # activation on the reconstruction
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # dropout after each hidden activation
    channels: list[int] = Field(default_factory=lambda: [32, 64])  # conv: channels per stride-2 stage
    kernel_size: int = Field(3, ge=1)  # conv: kernel side
    predict_noise: bool = False  # unet: x_hat = x - predicted noise (residual learning, DnCNN, Zhang et al. 2017);
    # needs output: identity
    codec: CodecConfig = Field(default_factory=CodecConfig)  # model.kind=codec: transforms, entropy model and lambda
    variational: bool = False  # mlp/conv: a VAE, Gaussian encoder q(z|x) (mean, log-variance) and prior N(0, I) (Kingma
    # & Welling 2014)
    vae: VAEConfig = Field(default_factory=VAEConfig)  # model.variational: likelihood, beta, KL warm-up, free bits
    seq: SeqConfig = Field(default_factory=SeqConfig)  # model.kind=seq: cell, hidden size, embedding, vocabulary
    # (models/seq/)

    def hidden_widths(self) -> list[int]:
        """The encoder's hidden widths after `depth` is taken into account."""
        return [self.width] * self.depth if self.depth is not None else list(self.widths)

    def residual_blocks(self) -> int:
        """Hidden blocks per side whose input and output widths are equal: those ``residual`` skips (mlp)."""
        widths = self.hidden_widths()
        return sum(a == b for a, b in zip(widths[:-1], widths[1:]))

    @model_validator(mode="after")
    def _check_depth_options(self) -> ModelConfig:
        _check_residual_options(self)
        return self


class TrainConfig(_Strict):
    epochs: int = Field(10, ge=0)  # passes over the training split
    batch_size: int = Field(128, ge=1)  # samples per micro-batch
    optimizer: Optimizer = "adam"  # a registered optimizer
    lr: float = Field(1e-3, gt=0.0)  # base learning rate
    momentum: float = Field(0.9, ge=0.0, lt=1.0)  # momentum/nesterov: velocity decay
    betas: tuple[float, float] = (0.9, 0.999)  # adam/adamw: moment decay rates
    eps: float = Field(1e-8, gt=0.0)  # adam/adamw/rmsprop/adagrad: denominator guard
    alpha: float = Field(0.99, gt=0.0, lt=1.0)  # rmsprop: squared-gradient decay
    schedule: Schedule = "constant"  # learning-rate schedule, stepped per optimizer step (plateau: per epoch)
    step_size: int = Field(1000, ge=1)  # step schedule: optimizer steps between decays
    gamma: float = Field(0.5, gt=0.0, le=1.0)  # step/exponential/plateau decay factor
    warmup_steps: int = Field(100, ge=0)  # warmup, warmup_cosine: linear warm-up length in optimizer steps
    min_lr: float = Field(0.0, ge=0.0)  # cosine/warmup_cosine/plateau floor
    plateau_patience: int = Field(2, ge=0)  # plateau: epochs without improvement tolerated; it decays on the next one
    clip_norm: float | None = Field(None, gt=0.0)  # global-norm clipping threshold
    clip_value: float | None = Field(None, gt=0.0)  # element-wise clipping threshold
    clip_agc: float | None = Field(None, gt=0.0)  # adaptive clipping: max unit-wise ||g||/||w|| (Brock et al. 2021)
    accumulate: int = Field(1, ge=1)  # micro-batches per optimizer step
    shuffle: bool = True  # a new seeded sample order every epoch (False: the data's own order, as Keras' shuffle=False)
    drop_last: bool = False  # skip the epoch's last micro-batch when it is short
    l1: float = Field(0.0, ge=0.0)  # L1 penalty on weights (biases and norm parameters excluded)
    l2: float = Field(0.0, ge=0.0)  # L2 penalty on weights, 0.5*l2*||w||^2 (biases and norm excluded)
    weight_decay: float = Field(0.0, ge=0.0)  # decoupled weight decay w -= lr*wd*w for every optimizer (adam + wd =
    # adamw), distinct from l2
    objective: Literal["auto", "mse", "bce", "rate_distortion", "elbo", "masked_ce"] = "auto"  # what is minimised
    # (aegrad/objectives, or the family's own folder); auto: the model family's own (mse for plain autoencoders)
    latent_l1: float = Field(0.0, ge=0.0)  # L1 activity penalty on the code z (sparse autoencoder)
    noise: Literal["none", "gaussian", "masking", "salt_pepper"] = "none"  # input corruption (denoising autoencoder)
    noise_level: float = Field(0.1, ge=0.0)  # gaussian: std; masking: fraction of inputs zeroed; salt_pepper: fraction
    # set to 0 or 1
    pretrain: Literal["none", "layerwise"] = "none"  # greedy layer-wise pretraining before fine-tuning
    pretrain_epochs: int = Field(1, ge=1)  # epochs per layer-wise stage
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: bf16 products, float32 weights and Adam (autocast / dense step)
    compile: bool = False  # torch.compile the model (falls back with a warning)
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: cuda when available
    threads: int | None = Field(None, ge=1)  # torch intra-op threads (None: one for tiny steps, else PyTorch's default)
    log_every: int = Field(50, ge=1)  # optimizer steps between step records in metrics.jsonl
    checkpoint_every: int | None = Field(None, ge=1)  # also checkpoint every N optimizer steps
    checkpoint_interval_s: float = Field(1.0, ge=0.0)  # epoch-end checkpoints at most this often (the last epoch's
    # always); 0: every epoch
    patience: int | None = Field(None, ge=1)  # early stopping: epochs without test-loss improvement
    nan_patience: int = Field(3, ge=1)  # consecutive non-finite steps before rolling back
    max_rollbacks: int = Field(3, ge=0)  # rollbacks (each halving lr) before the run stops


class MonitorConfig(_Strict):
    enabled: bool = True  # gradient/activation statistics in every run
    sync_every: int = Field(50, ge=1)  # steps per window; device statistics are synced once per window
    activation_every: int = Field(50, ge=1)  # activation statistics are taken on every Nth step only


class Config(_Strict):
    name: str | None = None  # a label for the run (presets set it)
    seed: int = 0  # seeds data splits, init, shuffling and noise
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)

    @model_validator(mode="after")
    def _check(self) -> Config:
        if self.data.source in ("npy", "csv", "images", "text") and self.data.path is None:
            if not (self.data.source == "text" and self.data.text.corpus != "file"):
                raise ValueError(f"data.path is required for data.source={self.data.source}")
        # ---- text (models/seq/): the model's vocabulary is the data's unless set
        if self.model.kind == "seq" and self.model.seq.vocab_size is None:
            self.model.seq.vocab_size = self.data.text.vocab_size
        seq_text = self.model.kind == "seq" and self.data.source == "text"
        if seq_text and self.model.seq.vocab_size != self.data.text.vocab_size:
            raise ValueError("model.seq.vocab_size must equal data.text.vocab_size (or be left unset)")
        if (self.data.source == "text") != (self.model.kind == "seq"):
            raise ValueError("data.source=text gives token ids that only model.kind=seq reads (set both, or neither)")
        if self.model.kind == "seq" and (self.train.pretrain != "none" or self.train.noise != "none"):
            raise ValueError("model.kind=seq takes neither train.pretrain (it has no dense stages) "
                             "nor train.noise (ids are not values)")
        if self.model.kind == "unet" and self.train.pretrain != "none":
            raise ValueError("model.kind=unet takes no train.pretrain: its decoder stages read the encoder's skip "
                             "features, so no stage pair trains alone")
        if self.train.noise in ("masking", "salt_pepper") and self.train.noise_level > 1:
            raise ValueError(
                f"train.noise_level is the fraction of inputs hit for noise={self.train.noise}: 0..1, "
                f"got {self.train.noise_level}"
            )
        if (self.data.labels_path is not None or self.data.label_column is not None) and self.data.source not in (
            "npy",
            "csv",
        ):
            raise ValueError("data.labels_path/data.label_column apply to data.source=npy or csv only")
        if self.model.kind == "conv" and not self.model.channels:
            raise ValueError("model.channels must list at least one stage for model.kind=conv")
        if self.model.depth is None and not self.model.widths:
            raise ValueError("model.widths must list at least one width (or set model.depth)")
        # ---- targets the output can reach: z-scores lie outside a sigmoid's (0, 1)
        # (measured: 0.87x trivial, "healthy")
        if self.data.normalize == "zscore" and self.model.output == "sigmoid":
            raise ValueError(
                "data.normalize=zscore gives targets outside model.output=sigmoid's (0, 1) range, so they cannot "
                "be reconstructed; set model.output=identity or data.normalize=minmax"
            )
        _check_ranges(self)  # finite floats, betas, seed, widths, run name
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# ---- the residual-branch options (docs/depth.md): only an mlp's equal-width dense blocks have them

_WORKS = "model.kind=mlp with model.residual=true and equal widths, e.g. model.depth with model.width"
KINDS_WITHOUT_SKIPS = ("codec", "seq", "unet")  # no block whose input and output shapes match


def _check_residual_options(m: ModelConfig) -> None:
    """One line per misuse, naming what works (a ValueError: an invalid config, exit 2 on the CLI)."""
    if m.residual and m.kind in KINDS_WITHOUT_SKIPS:
        raise ValueError(f"model.residual=true needs blocks of equal input and output shapes, and "
                         f"model.kind={m.kind} has none: {_WORKS}")
    set_ = [f"model.{k}={getattr(m, k)}" for k, default in _BRANCH_DEFAULTS.items() if getattr(m, k) != default]
    if not set_:
        return
    if m.kind != "mlp":
        raise ValueError(f"{set_[0]} needs residual blocks of equal widths, and model.kind={m.kind} has none: {_WORKS}")
    if not m.residual:
        raise ValueError(f"{set_[0]} needs model.residual=true (residual blocks of equal widths: model.depth with "
                         "model.width)")
    # widths with no two equal neighbours (model.depth 1) have no residual block: the options, like
    # model.residual itself, then change nothing, so a study's depth grid may start at 1
    if m.branch_scale == "rezero" and m.branch_init == "zero":
        raise ValueError("model.branch_scale=rezero with model.branch_init=zero never trains: alpha = 0 and W = 0 give "
                         "each other zero gradients; use one of them")
    if m.branch_init != "default" and m.residual_style != "pre":
        raise ValueError(f"model.branch_init={m.branch_init} needs model.residual_style=pre: the branch must end in "
                         "its linear layer (post's act(norm(W x)) follows W, and a norm undoes W's scale)")


_BRANCH_DEFAULTS = {"residual_style": "post", "branch_scale": "none", "branch_init": "default"}


# ---- what the fields' own bounds cannot say, checked before anything runs

FLOAT32_MAX = 3.4028234663852886e38  # numpy.finfo(numpy.float32).max: larger values become inf in training
SEED_MAX = 2**63 - 1  # torch.manual_seed's and numpy's non-negative range
_WIDTH_LISTS = ("model.widths", "model.channels", "model.vae.decoder_widths", "model.codec.prior_filters")


def _floats(node: Any, key: str = ""):
    """(dotted key, value) for every float in a model_dump, lists included."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _floats(v, f"{key}.{k}" if key else str(k))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _floats(v, f"{key}[{i}]")
    elif isinstance(node, float):
        yield key, node


def _check_ranges(cfg: Config) -> None:
    dump = cfg.model_dump()
    for key, value in _floats(dump):
        if not (abs(value) <= FLOAT32_MAX):  # also False for nan
            raise ValueError(f"{key} must be a finite number (in float32, |x| <= 3.4e38), got {value!r}")
    if not all(0.0 <= b < 1.0 for b in cfg.train.betas):
        raise ValueError(f"train.betas must both lie in [0, 1), got {list(cfg.train.betas)}")
    if not 0 <= cfg.seed <= SEED_MAX:
        raise ValueError(f"seed must lie in [0, 2**63 - 1], got {cfg.seed}")
    for key in _WIDTH_LISTS:
        node: Any = dump
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node and any(w < 1 for w in node):
            raise ValueError(f"{key} must list sizes of at least 1, got {node}")
    name = cfg.name
    if name is not None and ("/" in name or "\\" in name or "\0" in name or ".." in name):
        raise ValueError(f"name is a label and part of the run folder's name: no slashes or '..', got {name[:40]!r}")


# ---- validation errors as one line (the one formatter: configs here, study specs in study/spec.py)


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(the pydantic model a field holds, whether through a dict[str, Model]) for `X`, `X | None`, `dict[str, X]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is dict and len(args) == 2:
        inner, _ = _model_of(args[1])
        return inner, inner is not None
    for arg in args:  # X | None
        inner, _ = _model_of(arg)
        if inner is not None:
            return inner, False
    return None, False


def valid_keys(root: type[BaseModel], loc: tuple[Any, ...], hidden: tuple[str, ...] = ()) -> list[str]:
    """The keys `root`'s section at `loc` takes (a bundle name inside ``bundles`` is stepped over)."""
    model, skip = root, False
    for part in loc:
        if skip:
            skip = False
            continue
        field = model.model_fields.get(str(part))
        inner, skip = _model_of(field.annotation) if field is not None else (None, False)
        if inner is None:
            break
        model = inner
    return [k for k in model.model_fields if k not in hidden]


def format_validation_error(
    err: ValidationError, root: type[BaseModel], noun: str = "config", where: str | None = None,
    hidden: tuple[str, ...] = (),
) -> str:
    """One line: [where: ] the dotted key, what was wrong, and the valid keys or values pydantic knows."""
    e = err.errors()[0]
    key = ".".join(str(p) for p in e["loc"])
    prefix = f"{where}: " if where else ""
    if e["type"] == "extra_forbidden":
        valid = ", ".join(valid_keys(root, e["loc"][:-1], hidden))
        return f"{prefix}unknown {noun} key {key!r}; valid keys here: {valid}"
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "value_error" or not key:
        return f"{prefix}invalid {noun}: {msg}"
    got = repr(e.get("input"))
    got = got if len(got) <= 80 else got[:77] + "..."
    return f"{prefix}invalid {noun} value for {key!r}: {msg} (got {got})"


def validate(data: dict[str, Any]) -> Config:
    """Build a Config from a plain dict, turning validation errors into one-line UserErrors."""
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        raise UserError(format_validation_error(err, Config)) from None


def parse_value(text: str) -> Any:
    """A --set value is a YAML scalar or flow collection: 8, 1e-3, true, null, [64, 32]."""
    try:
        return safeyaml.load(text, where="--set value")
    except UserError:
        return text


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of `data` with dotted keys set: {"model.depth": 8} sets data["model"]["depth"]."""
    out = copy.deepcopy(data)
    for key, value in overrides.items():
        parts = key.split(".")
        node = out
        for p in parts[:-1]:
            child = node.get(p)
            if child is None:
                child = node[p] = {}
            if not isinstance(child, dict):
                raise UserError(f"cannot set {key!r}: {p!r} is a value, not a section")
            node = child
        node[parts[-1]] = parse_value(value) if isinstance(value, str) else value
    return out


def add_config_args(
    p: argparse.ArgumentParser,
    preset_help: str = "a built-in config (see `aegrad presets`); default digits-mlp",
    config_help: str = "a YAML config file, e.g. runs/X/config.yaml",
    set_help: str = "override a config key, e.g. --set model.depth=8 (repeatable)",
) -> None:
    """The commands' one way to name a config: ``--preset NAME | --config FILE``, then ``--set KEY=VALUE``..."""
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", help=preset_help)
    src.add_argument("--config", help=config_help)
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help=set_help)


def config_from_args(args: argparse.Namespace, default_preset: str | None = None) -> Config:
    """The config ``add_config_args``' arguments name (`default_preset` when neither --preset nor --config is given)."""
    preset = args.preset or (None if args.config else default_preset)
    return load_config(preset=preset, path=args.config, overrides=parse_set_args(args.sets))


def parse_set_args(items: list[str]) -> dict[str, Any]:
    """Turn ["a.b=1", ...] from --set into {"a.b": "1", ...} (values parsed later as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set expects key=value (e.g. model.depth=8), got {item!r}")
        out[key.strip()] = value
    return out


def list_presets() -> dict[str, str]:
    """Preset name -> its one-line description (the YAML's leading comment)."""
    out = {}
    for entry in sorted(resources.files("aegrad.presets").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yaml"):
            first = entry.read_text(encoding="utf-8").splitlines()[0]
            out[entry.name.removesuffix(".yaml")] = first.lstrip("# ").strip()
    return out


def _preset_dict(name: str) -> dict[str, Any]:
    presets = list_presets()
    if name not in presets:
        raise UserError(f"unknown preset {name!r}; valid: {', '.join(presets)}")
    text = resources.files("aegrad.presets").joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    return safeyaml.load(text, where=f"preset {name}") or {}


def read_yaml_mapping(path: str | Path, what: str, expected: str) -> dict[str, Any]:
    """A YAML file that must hold a mapping (a config, a study spec); one-line UserErrors otherwise."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{what} not found: {p}")
    if p.stat().st_size > safeyaml.MAX_BYTES:  # before reading it: a config is a few KB
        raise UserError(f"{what} {p} is {p.stat().st_size:,} bytes; at most {safeyaml.MAX_BYTES:,} are read")
    data = safeyaml.load(p.read_bytes(), where=f"{what} {p}")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{what} {p} must be a mapping ({expected})")
    return data


def _file_dict(path: str | Path) -> dict[str, Any]:
    return read_yaml_mapping(path, "config file", "sections data, model, train, monitor")


DEFAULT_PRESET = "digits-mlp"


def load_config(
    preset: str | None = None,
    path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> Config:
    """Resolve a config: a preset (default digits-mlp) or a YAML file, then dotted overrides."""
    if preset is not None and path is not None:
        raise UserError("give a preset or a config file, not both")
    data = _file_dict(path) if path is not None else _preset_dict(preset or DEFAULT_PRESET)
    return validate(apply_overrides(data, overrides or {}))


def with_overrides(cfg: Config, overrides: dict[str, Any]) -> Config:
    """A new Config: `cfg` with dotted overrides applied and validated."""
    return validate(apply_overrides(cfg.to_dict(), overrides))


def dump_yaml(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
