"""Data for the GAN experiments: Gaussian mixtures, bundled digits, CIFAR-10 and MNIST readers.

* :func:`eight_gaussians` -- LEAD App. I.1: 8 Gaussians whose means lie uniformly on the unit
  circle, variance 0.05 (std ``sqrt(0.05)``), as the paper states.
* :func:`mog1d` and :func:`grid2d` -- FR App. D.2: ``(N(-4, .01) + N(0, .01) + N(4, .01)) / 3``
  and the 3 x 3 grid with means in ``{-3, 0, 3}^2``, covariance ``0.01 I``.
* :func:`load_digits_images` -- scikit-learn's bundled 8 x 8 digits (no download).
* :func:`read_cifar10`, :func:`read_mnist` -- the standard distribution files from a directory
  the user names. Nothing is ever downloaded, and no arbitrary object is ever unpickled.

Images are float32 tensors ``(N, C, H, W)`` scaled to ``[-1, 1]`` (the range of the
generators' ``tanh`` output). Samplers draw from an explicit ``torch.Generator`` whose state
is part of their ``state_dict``, so a resumed run sees the same batches.
"""
from __future__ import annotations

import gzip
import math
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


class DataFormatError(ValueError):
    """A data file is missing, truncated or not in the format it claims to be."""


# ---------------------------------------------------------------- Gaussian mixtures
@dataclass(frozen=True)
class GaussianMixture:
    """Equal-weight mixture of isotropic Gaussians: ``means`` (K, d), common ``std``."""

    means: torch.Tensor
    std: float
    name: str = "mixture"

    def __post_init__(self):
        if self.means.dim() != 2 or self.means.shape[0] < 1:
            raise ValueError(f"means must have shape (K, d), got {tuple(self.means.shape)}")
        if not (self.std > 0 and math.isfinite(self.std)):
            raise ValueError(f"std must be positive and finite, got {self.std}")

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    @property
    def n_modes(self) -> int:
        return int(self.means.shape[0])

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` float32 samples: a uniform mode, then ``mean + std * N(0, I)``."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        k = torch.randint(self.n_modes, (n,), generator=generator)
        noise = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return (self.means[k] + self.std * noise).float()


def eight_gaussians(radius: float = 1.0, variance: float = 0.05) -> GaussianMixture:
    """LEAD App. I.1: means ``radius * (cos 2 pi k/8, sin 2 pi k/8)``, variance 0.05. The
    official code's mixture (radius ``2 / 1.414``, std ``0.05 / 1.414``) is the ``lead-code``
    preset of :mod:`gans.presets`."""
    if not (radius > 0 and math.isfinite(radius)):
        raise ValueError(f"radius must be positive and finite, got {radius}")
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    means = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return GaussianMixture(means, math.sqrt(variance), "8gaussians")


def mog1d(variance: float = 0.01) -> GaussianMixture:
    """FR App. D.2: one-dimensional, three modes at -4, 0, 4, variance 0.01."""
    return GaussianMixture(torch.tensor([[-4.0], [0.0], [4.0]], dtype=torch.float64),
                           math.sqrt(variance), "mog1d")


def grid2d(variance: float = 0.01, spacing: float = 3.0) -> GaussianMixture:
    """FR App. D.2: nine modes at ``{-3, 0, 3}^2``, covariance ``0.01 I``."""
    ticks = torch.tensor([-spacing, 0.0, spacing], dtype=torch.float64)
    means = torch.cartesian_prod(ticks, ticks)
    return GaussianMixture(means, math.sqrt(variance), "grid")


# -------------------------------------------------------------------------- images
def to_unit_range(images: np.ndarray, max_value: float) -> torch.Tensor:
    """uint8 / integer images in ``[0, max_value]`` -> float32 in ``[-1, 1]``."""
    return (torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)) * (2.0 / max_value) - 1.0).float()


def resize(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """Bilinear resize of ``(N, C, H, W)`` images to ``size x size`` (None: unchanged)."""
    if size is None or tuple(images.shape[-2:]) == (size, size):
        return images
    if size < 1:
        raise ValueError(f"image size must be >= 1, got {size}")
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)


def load_digits_images(size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's bundled digits (1797 images, 8 x 8, values 0..16): ``(images, labels)``,
    images ``(N, 1, size, size)`` in ``[-1, 1]``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = to_unit_range(d.images.reshape(-1, 1, 8, 8), 16.0)
    return resize(images, size), torch.from_numpy(d.target.astype(np.int64))


def _read_bytes(path: Path) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataFormatError(f"cannot read {path}: {err}") from None


def _find(directory: Path, names: list[str], what: str) -> Path:
    for sub in ("", "cifar-10-batches-bin", "cifar-10-batches-py", "MNIST/raw", "raw"):
        for name in names:
            for candidate in (directory / sub / name, directory / sub / (name + ".gz")):
                if candidate.is_file():
                    return candidate
    raise DataFormatError(f"{what}: none of {', '.join(names)} found in {directory}")


def _check_dir(directory) -> Path:
    directory = Path(directory)
    if not directory.is_dir():
        raise DataFormatError(f"data directory {directory} does not exist")
    return directory


# ------------------------------------------------------------------------ CIFAR-10
CIFAR_RECORD = 1 + 3 * 32 * 32  #: one record of the binary version: label byte + 3072 pixels


def parse_cifar10_bin(raw: bytes, name: str = "CIFAR-10 file") -> tuple[np.ndarray, np.ndarray]:
    """The binary version: records of 1 label byte (0..9) and 3 x 32 x 32 uint8 pixels."""
    if len(raw) == 0 or len(raw) % CIFAR_RECORD:
        raise DataFormatError(f"{name} has {len(raw)} bytes, not a positive multiple of the "
                              f"{CIFAR_RECORD}-byte CIFAR-10 record (truncated or not CIFAR-10 binary)")
    rec = np.frombuffer(raw, dtype=np.uint8).reshape(-1, CIFAR_RECORD)
    labels = rec[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DataFormatError(f"{name} has label {labels.max()} > 9: not CIFAR-10 binary")
    return rec[:, 1:].reshape(-1, 3, 32, 32), labels


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Accepts numpy arrays (and the dicts, lists, strings and numbers pickle builds
    natively); refuses every other global, so a pickle cannot run code."""

    @staticmethod
    def _allowed() -> dict:
        reconstruct = np.zeros(0).__reduce__()[0]  # numpy's array _reconstruct, wherever it lives
        frombuffer = np.zeros(1).__reduce_ex__(5)[0]
        import codecs
        # _codecs.encode: how Python 3 writes bytes under protocol 2 (str -> bytes, harmless)
        allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                   ("_codecs", "encode"): codecs.encode}
        for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
            allowed[(mod, "_reconstruct")] = reconstruct
        for mod in ("numpy.core.numeric", "numpy._core.numeric"):
            allowed[(mod, "_frombuffer")] = frombuffer
        return allowed

    def find_class(self, module, name):
        obj = self._allowed().get((module, name))
        if obj is None:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: only numpy arrays, "
                                         "lists, strings and dicts are accepted")
        return obj


def parse_cifar10_pickle(raw: bytes, name: str = "CIFAR-10 batch") -> tuple[np.ndarray, np.ndarray]:
    """The python version (a pickled dict with ``data`` (N, 3072) and ``labels``), read with an
    unpickler that accepts only arrays, lists, strings and dicts."""
    import io
    try:
        obj = _ArraysOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except pickle.UnpicklingError as err:
        raise DataFormatError(f"{name}: {err}") from None
    except (EOFError, ValueError, TypeError, LookupError, AttributeError, OverflowError,
            MemoryError, RecursionError, struct.error,
            SystemError) as err:   # LookupError: bad codec; SystemError: numpy's C reconstruct
        raise DataFormatError(f"{name} is truncated or not a CIFAR-10 pickle: "
                              f"{type(err).__name__}: {' '.join(str(err).split())[:100]}") from None
    if not isinstance(obj, dict):
        raise DataFormatError(f"{name} holds a {type(obj).__name__}, not a dict")
    obj = {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}
    data, labels = obj.get("data"), obj.get("labels")
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072:
        raise DataFormatError(f"{name}: 'data' must be an (N, 3072) array")
    if data.dtype.kind not in "iu" or (data.size and (data.min() < 0 or data.max() > 255)):
        raise DataFormatError(f"{name}: 'data' must hold bytes 0..255, got dtype {data.dtype}")
    if not isinstance(labels, list) or len(labels) != data.shape[0]:
        raise DataFormatError(f"{name}: 'labels' must be a list with one label per image")
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 9 for v in labels):
        raise DataFormatError(f"{name}: 'labels' must be integers 0..9")
    return data.astype(np.uint8).reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def read_cifar10(directory, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 from ``directory`` (or its ``cifar-10-batches-bin`` / ``-py`` folder):
    ``data_batch_1..5`` (train) or ``test_batch`` (test), binary ``.bin`` preferred.
    Returns images ``(N, 3, 32, 32)`` in ``[-1, 1]`` and labels."""
    directory = _check_dir(directory)
    stems = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    if split not in stems:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images, labels = [], []
    for stem in stems[split]:
        path = _find(directory, [stem + ".bin", stem], f"CIFAR-10 {split}")
        raw = _read_bytes(path)
        parse = parse_cifar10_bin if ".bin" in path.name else parse_cifar10_pickle
        x, y = parse(raw, str(path))
        images.append(x)
        labels.append(y)
    return to_unit_range(np.concatenate(images), 255.0), torch.from_numpy(np.concatenate(labels))


# --------------------------------------------------------------------------- MNIST
_IDX_TYPES = {0x08: np.uint8}


def parse_idx(raw: bytes, name: str = "IDX file") -> np.ndarray:
    """The IDX format of MNIST: magic ``00 00 <type> <ndim>``, ``ndim`` big-endian uint32
    sizes, then the data. Only unsigned bytes (type 0x08) are used by MNIST."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataFormatError(f"{name} is not an IDX file (bad magic number)")
    dtype, ndim = raw[2], raw[3]
    if dtype not in _IDX_TYPES:
        raise DataFormatError(f"{name}: IDX data type 0x{dtype:02x} is not unsigned byte")
    if ndim < 1 or len(raw) < 4 + 4 * ndim:
        raise DataFormatError(f"{name} is truncated: its header is incomplete")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    expected = 4 + 4 * ndim + int(np.prod(dims))
    if len(raw) != expected:
        raise DataFormatError(f"{name} has {len(raw)} bytes but its header {dims} needs {expected}"
                              f"{' (truncated)' if len(raw) < expected else ''}")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def read_mnist(directory, split: str = "train", size: int | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST from the idx-ubyte files (optionally ``.gz``) in ``directory``:
    images ``(N, 1, 28, 28)`` (or ``size x size``) in ``[-1, 1]`` and labels."""
    directory = _check_dir(directory)
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    ipath = _find(directory, [f"{prefix}-images-idx3-ubyte", f"{prefix}-images.idx3-ubyte"],
                  f"MNIST {split} images")
    lpath = _find(directory, [f"{prefix}-labels-idx1-ubyte", f"{prefix}-labels.idx1-ubyte"],
                  f"MNIST {split} labels")
    images = parse_idx(_read_bytes(ipath), str(ipath))
    labels = parse_idx(_read_bytes(lpath), str(lpath))
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DataFormatError(f"MNIST files disagree: images {images.shape}, labels {labels.shape}")
    return resize(to_unit_range(images[:, None], 255.0), size), torch.from_numpy(labels.astype(np.int64))


# ------------------------------------------------------------------------ samplers
class MixtureSampler:
    """Fresh batches from a :class:`GaussianMixture`; its generator state is its state."""

    def __init__(self, mixture: GaussianMixture, batch_size: int, seed: int):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.mixture, self.batch_size = mixture, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def next(self) -> torch.Tensor:
        return self.mixture.sample(self.batch_size, self.generator)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


class TensorSampler:
    """Minibatches from a fixed tensor, one random permutation per epoch."""

    def __init__(self, data: torch.Tensor, batch_size: int, seed: int):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if data.shape[0] < batch_size:
            raise ValueError(f"batch size {batch_size} exceeds the {data.shape[0]} examples")
        self.data, self.batch_size = data, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(data.shape[0], generator=self.generator)
        self.pos = 0

    def next(self) -> torch.Tensor:
        if self.pos + self.batch_size > self.perm.numel():
            self.perm = torch.randperm(self.data.shape[0], generator=self.generator)
            self.pos = 0
        idx = self.perm[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return self.data[idx]

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "perm": self.perm.clone(), "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.perm, self.pos = state["perm"].clone(), int(state["pos"])
