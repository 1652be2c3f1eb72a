"""Type stubs of dropkit (the classes live in the extension module dropkit._dropkit)."""

from typing import (
    Any,
    Literal,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    TypedDict,
    TypeVar,
    Union,
    final,
    overload,
)

from typing_extensions import Self

import numpy as np
import numpy.typing as npt

__all__ = [
    "AlphaDropout",
    "Dropout",
    "FeatureAlphaDropout",
    "GaussianDropout",
    "GaussianNoise",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "__version__",
    "default_generator_state",
    "num_threads",
    "rank_seed",
    "set_default_generator_state",
    "set_num_threads",
    "set_seed",
]

__version__: str

_Self = TypeVar("_Self", bound="_Layer")

_GeneratorName = Literal["philox", "bigdl"]
"""Generator names; any case is accepted at run time."""

_DataFormatName = Literal["NCHW", "NHWC"]
# Any case of these; the property reports the canonical "NCHW" / "NHWC".
_DataFormatSpelling = Union[_DataFormatName, Literal["channels_first", "channels_last"], str]
"""Data formats; any case is accepted at run time."""

class _PhiloxState(TypedDict):
    """Position of a Philox generator: ``draw`` is the next training forward's draw index."""

    generator: Literal["philox"]
    seed: int
    draw: int

class _BigDlState(TypedDict):
    """Position of a BigDL (MT19937) stream: 32-bit words consumed since seeding, and where
    (after how many words) the Box-Muller pair whose second normal is pending was drawn, or
    None when no normal is pending."""

    generator: Literal["bigdl"]
    seed: int
    words: int
    pending_pair: Optional[int]

_GeneratorState = Union[_PhiloxState, _BigDlState]

_Float = Union[np.float32, np.float64, np.float16]
_ArrayIn = npt.NDArray[np.generic]
"""float32, float64, float16 and bfloat16 (ml_dtypes.bfloat16, not spelled here) arrays keep their dtype;
integer and bool arrays become float32."""
_ArrayOut = npt.NDArray[_Float]

class _CudaArray(Protocol):
    """A CUDA array (torch.Tensor on a GPU, cupy.ndarray, Numba device array)."""

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]: ...

class _DlpackArray(Protocol):
    """A DLPack array on a CUDA device (a bfloat16 torch.Tensor on a GPU, a jax.Array), or
    on the CPU when it is not a numpy array (a bfloat16 torch.Tensor on the CPU: float16,
    bfloat16, float32 and float64, read in place through DLPack; the result an array of its
    framework through its from_dlpack, else a numpy array)."""

    def __dlpack__(self, *, stream: Any = ...) -> Any: ...
    def __dlpack_device__(self) -> tuple[int, int]: ...

_Device = TypeVar("_Device", bound=Union[_CudaArray, _DlpackArray])

class _Layer:
    """What every dropkit layer has (not a class of the module: for the stubs only)."""

    @overload
    def forward(self, input: _ArrayIn) -> _ArrayOut:
        """The output for ``input``: a new array of input's dtype (float32 for integer and
        bool input); with inplace=True, ``input`` overwritten and returned."""
    @overload
    def forward(self, input: _Device) -> _Device:
        """On a CUDA array: computed on its GPU, an array of its framework. On a CPU DLPack
        tensor (a bfloat16 torch.Tensor): an array of its framework, or ``input``
        overwritten with inplace=True."""
    @overload
    def backward(self, input: Any, grad_output: _ArrayIn) -> _ArrayOut:
        """The input gradient of the last forward (only ``input``'s shape is read); a new
        array of grad_output's dtype, or with inplace=True ``grad_output`` overwritten."""
    @overload
    def backward(self, input: Any, grad_output: _Device) -> _Device:
        """On a CUDA grad_output: computed on its GPU, an array of its framework; on a CPU
        DLPack tensor, an array of its framework (or grad_output overwritten)."""
    def training(self: _Self) -> _Self:
        """Training mode (the initial mode); returns the layer."""
    def evaluate(self: _Self) -> _Self:
        """Evaluation mode; returns the layer."""
    def is_training(self) -> bool:
        """Whether the layer is in training mode."""
    @property
    def inplace(self) -> bool:
        """Whether forward overwrites its input and backward its grad_output."""
    def set_seed(self: _Self, seed: int, generator: _GeneratorName = "philox") -> _Self:
        """A generator of the layer's own, seeded, at its first draw; returns the layer."""
    def use_default_generator(self: _Self) -> _Self:
        """Draw from the process-wide default generator again; returns the layer."""
    @property
    def generator_state(self) -> _GeneratorState:
        """The position of the generator the layer draws from (its own or the default)."""
    @generator_state.setter
    def generator_state(self, state: _GeneratorState) -> None: ...
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments: every option, and seed and generator for a layer with
        a generator of its own."""
    @classmethod
    def from_config(cls: type[_Self], config: Mapping[str, Any]) -> _Self:
        """cls(**config): a layer equal to the configured one, its generator at its start;
        unknown keys are a TypeError naming them."""

class _WithP(_Layer):
    @property
    def p(self) -> float:
        """The drop probability; assigning it is set_p."""
    @p.setter
    def p(self, p: float) -> None: ...
    def set_p(self: _Self, p: float) -> _Self:
        """The drop probability from the next forward, in [0, 1]; returns the layer."""

class _WithProbability(_WithP):
    @property
    def scale(self) -> bool:
        """Whether kept elements (maps) are divided by 1 - p in training."""

@final
class Dropout(_WithProbability):
    """Element-wise dropout (BigDL's Dropout): in training, each element is dropped with
    probability p, and kept ones are divided by 1 - p when scale is true; identity in
    evaluation (times 1 - p without scale)."""

    def __new__(
        cls,
        init_p: float = 0.5,
        inplace: bool = False,
        scale: bool = True,
        *,
        seed: Union[int, None] = None,
        generator: _GeneratorName = "philox",
        noise_shape: Union[Sequence[Optional[int]], None] = None,
    ) -> Dropout: ...
    @property
    def noise_shape(self) -> Optional[tuple[Optional[int], ...]]:
        """Keras's noise shape (None entries: the input's size), or None."""
    def set_resampling(self, resampling: bool) -> Dropout:
        """With False, training forwards reuse the last mask (BigDL's isResampling)."""
    def is_resampling(self) -> bool:
        """Whether each training forward draws a new mask."""

@final
class GaussianDropout(_Layer):
    """Multiplicative Gaussian noise N(1, rate / (1 - rate)) in training; identity in
    evaluation. rate in [0, 1)."""

    def __new__(
        cls,
        rate: float,
        *,
        seed: Union[int, None] = None,
        generator: _GeneratorName = "philox",
        store_noise: bool = False,
        inplace: bool = False,
        noise_shape: Union[Sequence[Optional[int]], None] = None,
    ) -> GaussianDropout: ...
    @property
    def noise_shape(self) -> Optional[tuple[Optional[int], ...]]:
        """Keras's noise shape (None entries: the input's size), or None."""
    @property
    def rate(self) -> float: ...
    @property
    def stddev(self) -> float:
        """sqrt(rate / (1 - rate))."""
    @property
    def store_noise(self) -> bool:
        """Whether training forwards keep their noise for backward."""

@final
class GaussianNoise(_Layer):
    """Additive Gaussian noise N(0, stddev**2) in training; identity in evaluation and in
    backward."""

    def __new__(
        cls,
        stddev: float,
        *,
        seed: Union[int, None] = None,
        generator: _GeneratorName = "philox",
        inplace: bool = False,
        noise_shape: Union[Sequence[Optional[int]], None] = None,
    ) -> GaussianNoise: ...
    @property
    def noise_shape(self) -> Optional[tuple[Optional[int], ...]]:
        """Keras's noise shape (None entries: the input's size), or None."""
    @property
    def stddev(self) -> float: ...

@final
class SpatialDropout1D(_WithProbability):
    """Drops whole channels of (N, T, C) / (T, C) ("NHWC") or (N, C, L) / (C, L) ("NCHW") input."""

    def __new__(
        cls,
        init_p: float = 0.5,
        data_format: _DataFormatSpelling = "NHWC",
        *,
        scale: bool = False,
        seed: Union[int, None] = None,
        generator: _GeneratorName = "philox",
        inplace: bool = False,
    ) -> SpatialDropout1D: ...
    @property
    def data_format(self) -> _DataFormatName: ...

class _WithFormat(_WithProbability):
    def __new__(
        cls,
        init_p: float = 0.5,
        data_format: _DataFormatSpelling = "NCHW",
        *,
        scale: bool = False,
        seed: Union[int, None] = None,
        generator: _GeneratorName = "philox",
        inplace: bool = False,
    ) -> Self: ...
    @property
    def data_format(self) -> _DataFormatName: ...

@final
class SpatialDropout2D(_WithFormat):
    """Drops whole 2-D feature maps of NCHW (N, C, H, W) / (C, H, W) or NHWC input."""

@final
class SpatialDropout3D(_WithFormat):
    """Drops whole 3-D feature maps of NCHW (N, C, D, H, W) / (C, D, H, W) or NHWC input."""

@final
class AlphaDropout(_WithP):
    """Alpha dropout for SELU networks (PyTorch's AlphaDropout): in training, kept elements
    become a * x + b and dropped ones a * alpha' + b (alpha' = -1.7580993408473766,
    a = ((1 - p)(1 + p alpha'**2))**-0.5, b = -a alpha' p), so a standard normal input keeps
    mean 0 and variance 1; backward grad * a where kept, 0 where dropped; identity in
    evaluation. p = 1 gives zeros."""

    def __new__(
        cls,
        p: float = 0.5,
        *,
        seed: Union[int, None] = None,
        generator: _GeneratorName = "philox",
        inplace: bool = False,
    ) -> AlphaDropout: ...

@final
class FeatureAlphaDropout(_WithP):
    """AlphaDropout of whole channels: one draw per (sample, channel) of input of rank 2 or
    more, (N, C, ...) channels first (default) or (N, ..., C) channels last; the Spatial
    layers' (N, C) mask."""

    def __new__(
        cls,
        p: float = 0.5,
        data_format: _DataFormatSpelling = "channels_first",
        *,
        seed: Union[int, None] = None,
        generator: _GeneratorName = "philox",
        inplace: bool = False,
    ) -> FeatureAlphaDropout: ...
    @property
    def data_format(self) -> _DataFormatName: ...

def set_seed(seed: int, generator: _GeneratorName = "philox") -> None:
    """Seed the process-wide default generator and choose its algorithm."""

def rank_seed(seed: int, rank: int) -> int:
    """The seed of data-parallel rank ``rank`` in a job seeded with ``seed``: ``seed XOR
    mix(rank)``, ``mix`` a bijection of the 64-bit ints (SplitMix64's finalizer of ``rank *
    0x9E3779B97F4A7C15``). For one seed, distinct ranks get distinct seeds, so they never draw
    the same mask; rank 0 gets ``seed``. Both in [0, 2**64); a negative or larger int is a
    ValueError naming the parameter, a non-int a TypeError."""

def default_generator_state() -> _GeneratorState:
    """The process-wide default generator's position."""

def set_default_generator_state(state: _GeneratorState) -> None:
    """Move the process-wide default generator to ``state`` (a "bigdl" state at any "words"
    by jump-ahead, in milliseconds; a "pending_pair" above words - 2 is a ValueError)."""

def set_num_threads(n: int) -> None:
    """Threads the CPU kernels use, 1 to 1024 (ValueError otherwise); results do not depend
    on it. A forked child process starts threads of its own."""

def num_threads() -> int:
    """Threads the CPU kernels use."""
