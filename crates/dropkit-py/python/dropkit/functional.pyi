"""Type stubs of dropkit.functional (the functions live in the extension module)."""

from typing import Any, Literal, Optional, Protocol, Sequence, TypeVar, Union, overload

import numpy as np
import numpy.typing as npt

__all__ = [
    "alpha_dropout",
    "alpha_dropout_backward",
    "dropout",
    "dropout_backward",
    "feature_alpha_dropout",
    "feature_alpha_dropout_backward",
    "gaussian_dropout",
    "gaussian_dropout_backward",
    "gaussian_noise",
    "gaussian_noise_backward",
    "spatial_dropout1d",
    "spatial_dropout1d_backward",
    "spatial_dropout2d",
    "spatial_dropout2d_backward",
    "spatial_dropout3d",
    "spatial_dropout3d_backward",
]

_Float = Union[np.float32, np.float64, np.float16]
_ArrayIn = npt.NDArray[np.generic]
"""float32, float64, float16 and bfloat16 (ml_dtypes.bfloat16, not spelled here) arrays keep their dtype;
integer and bool arrays become float32."""
_ArrayOut = npt.NDArray[_Float]

class _DlpackArray(Protocol):
    """A tensor on the CPU that offers DLPack (a bfloat16 torch.Tensor on the CPU)."""

    def __dlpack__(self, *, stream: Any = ...) -> Any: ...
    def __dlpack_device__(self) -> tuple[int, int]: ...

_HostTensor = TypeVar("_HostTensor", bound=_DlpackArray)
"""A CPU tensor that is not a numpy array: read through DLPack (float16, bfloat16, float32,
float64), the result an array of its framework (its from_dlpack), else a numpy array."""
_DataFormatName = Literal["NCHW", "NHWC"]
"""Data formats; any case is accepted at run time."""

@overload
def dropout(
    input: _ArrayIn,
    p: float = 0.5,
    *,
    seed: int,
    draw: int,
    training: bool = True,
    scale: bool = True,
    noise_shape: Union[Sequence[Optional[int]], None] = None,
) -> _ArrayOut:
    """Dropout's forward at (seed, draw): the layer's training forward number draw + 1."""
@overload
def dropout(
    input: _HostTensor,
    p: float = 0.5,
    *,
    seed: int,
    draw: int,
    training: bool = True,
    scale: bool = True,
    noise_shape: Union[Sequence[Optional[int]], None] = None,
) -> _HostTensor:
    """On a CPU DLPack tensor (a bfloat16 torch.Tensor): an array of its framework."""

@overload
def dropout_backward(
    input: Any,
    grad_output: _ArrayIn,
    p: float = 0.5,
    *,
    seed: int,
    draw: int,
    training: bool = True,
    scale: bool = True,
    noise_shape: Union[Sequence[Optional[int]], None] = None,
) -> _ArrayOut:
    """The input gradient of dropout at the same arguments (only input's shape is read)."""
@overload
def dropout_backward(
    input: Any,
    grad_output: _HostTensor,
    p: float = 0.5,
    *,
    seed: int,
    draw: int,
    training: bool = True,
    scale: bool = True,
    noise_shape: Union[Sequence[Optional[int]], None] = None,
) -> _HostTensor:
    """On a CPU DLPack tensor (a bfloat16 torch.Tensor): an array of its framework."""

@overload
def gaussian_dropout(
    input: _ArrayIn,
    rate: float,
    *,
    seed: int,
    draw: int,
    training: bool = True,
    noise_shape: Union[Sequence[Optional[int]], None] = None,
) -> _ArrayOut:
    """GaussianDropout(rate)'s forward at (seed, draw)."""
@overload
def gaussian_dropout(
    input: _HostTensor,
    rate: float,
    *,
    seed: int,
    draw: int,
    training: bool = True,
    noise_shape: Union[Sequence[Optional[int]], None] = None,
) -> _HostTensor:
    """On a CPU DLPack tensor (a bfloat16 torch.Tensor): an array of its framework."""

@overload
def gaussian_dropout_backward(
    input: Any,
    grad_output: _ArrayIn,
    rate: float,
    *,
    seed: int,
    draw: int,
    training: bool = True,
    noise_shape: Union[Sequence[Optional[int]], None] = None,
) -> _ArrayOut:
    """The input gradient of gaussian_dropout at the same arguments."""
@overload
def gaussian_dropout_backward(
    input: Any,
    grad_output: _HostTensor,
    rate: float,
    *,
    seed: int,
    draw: int,
    training: bool = True,
    noise_shape: Union[Sequence[Optional[int]], None] = None,
) -> _HostTensor:
    """On a CPU DLPack tensor (a bfloat16 torch.Tensor): an array of its framework."""

@overload
def gaussian_noise(
    input: _ArrayIn,
    stddev: float,
    *,
    seed: int,
    draw: int,
    training: bool = True,
    noise_shape: Union[Sequence[Optional[int]], None] = None,
) -> _ArrayOut:
    """GaussianNoise(stddev)'s forward at (seed, draw)."""
@overload
def gaussian_noise(
    input: _HostTensor,
    stddev: float,
    *,
    seed: int,
    draw: int,
    training: bool = True,
    noise_shape: Union[Sequence[Optional[int]], None] = None,
) -> _HostTensor:
    """On a CPU DLPack tensor (a bfloat16 torch.Tensor): an array of its framework."""

@overload
def gaussian_noise_backward(
    input: Any,
    grad_output: _ArrayIn,
    stddev: float,
    *,
    seed: int,
    draw: int,
    training: bool = True,
    noise_shape: Union[Sequence[Optional[int]], None] = None,
) -> _ArrayOut:
    """The input gradient of gaussian_noise: a copy of grad_output."""
@overload
def gaussian_noise_backward(
    input: Any,
    grad_output: _HostTensor,
    stddev: float,
    *,
    seed: int,
    draw: int,
    training: bool = True,
    noise_shape: Union[Sequence[Optional[int]], None] = None,
) -> _HostTensor:
    """On a CPU DLPack tensor (a bfloat16 torch.Tensor): an array of its framework."""

@overload
def spatial_dropout1d(
    input: _ArrayIn,
    p: float = 0.5,
    *,
    seed: int,
    draw: int,
    training: bool = True,
    scale: bool = False,
) -> _ArrayOut:
    """SpatialDropout1D(p)'s forward at (seed, draw) on (N, T, C) or (T, C) input."""
@overload
def spatial_dropout1d(
    input: _HostTensor,
    p: float = 0.5,
    *,
    seed: int,
    draw: int,
    training: bool = True,
    scale: bool = False,
) -> _HostTensor:
    """On a CPU DLPack tensor (a bfloat16 torch.Tensor): an array of its framework."""

@overload
def spatial_dropout1d_backward(
    input: Any,
    grad_output: _ArrayIn,
    p: float = 0.5,
    *,
    seed: int,
    draw: int,
    training: bool = True,
    scale: bool = False,
) -> _ArrayOut:
    """The input gradient of spatial_dropout1d at the same arguments."""
@overload
def spatial_dropout1d_backward(
    input: Any,
    grad_output: _HostTensor,
    p: float = 0.5,
    *,
    seed: int,
    draw: int,
    training: bool = True,
    scale: bool = False,
) -> _HostTensor:
    """On a CPU DLPack tensor (a bfloat16 torch.Tensor): an array of its framework."""

@overload
def spatial_dropout2d(
    input: _ArrayIn,
    p: float = 0.5,
    data_format: _DataFormatName = "NCHW",
    *,
    seed: int,
    draw: int,
    training: bool = True,
    scale: bool = False,
) -> _ArrayOut:
    """SpatialDropout2D(p, data_format)'s forward at (seed, draw)."""
@overload
def spatial_dropout2d(
    input: _HostTensor,
    p: float = 0.5,
    data_format: _DataFormatName = "NCHW",
    *,
    seed: int,
    draw: int,
    training: bool = True,
    scale: bool = False,
) -> _HostTensor:
    """On a CPU DLPack tensor (a bfloat16 torch.Tensor): an array of its framework."""

@overload
def spatial_dropout2d_backward(
    input: Any,
    grad_output: _ArrayIn,
    p: float = 0.5,
    data_format: _DataFormatName = "NCHW",
    *,
    seed: int,
    draw: int,
    training: bool = True,
    scale: bool = False,
) -> _ArrayOut:
    """The input gradient of spatial_dropout2d at the same arguments."""
@overload
def spatial_dropout2d_backward(
    input: Any,
    grad_output: _HostTensor,
    p: float = 0.5,
    data_format: _DataFormatName = "NCHW",
    *,
    seed: int,
    draw: int,
    training: bool = True,
    scale: bool = False,
) -> _HostTensor:
    """On a CPU DLPack tensor (a bfloat16 torch.Tensor): an array of its framework."""

@overload
def spatial_dropout3d(
    input: _ArrayIn,
    p: float = 0.5,
    data_format: _DataFormatName = "NCHW",
    *,
    seed: int,
    draw: int,
    training: bool = True,
    scale: bool = False,
) -> _ArrayOut:
    """SpatialDropout3D(p, data_format)'s forward at (seed, draw)."""
@overload
def spatial_dropout3d(
    input: _HostTensor,
    p: float = 0.5,
    data_format: _DataFormatName = "NCHW",
    *,
    seed: int,
    draw: int,
    training: bool = True,
    scale: bool = False,
) -> _HostTensor:
    """On a CPU DLPack tensor (a bfloat16 torch.Tensor): an array of its framework."""

@overload
def spatial_dropout3d_backward(
    input: Any,
    grad_output: _ArrayIn,
    p: float = 0.5,
    data_format: _DataFormatName = "NCHW",
    *,
    seed: int,
    draw: int,
    training: bool = True,
    scale: bool = False,
) -> _ArrayOut:
    """The input gradient of spatial_dropout3d at the same arguments."""
@overload
def spatial_dropout3d_backward(
    input: Any,
    grad_output: _HostTensor,
    p: float = 0.5,
    data_format: _DataFormatName = "NCHW",
    *,
    seed: int,
    draw: int,
    training: bool = True,
    scale: bool = False,
) -> _HostTensor:
    """On a CPU DLPack tensor (a bfloat16 torch.Tensor): an array of its framework."""

@overload
def alpha_dropout(
    input: _ArrayIn, p: float = 0.5, *, seed: int, draw: int, training: bool = True
) -> _ArrayOut:
    """AlphaDropout(p)'s forward at (seed, draw)."""
@overload
def alpha_dropout(
    input: _HostTensor, p: float = 0.5, *, seed: int, draw: int, training: bool = True
) -> _HostTensor:
    """On a CPU DLPack tensor (a bfloat16 torch.Tensor): an array of its framework."""

@overload
def alpha_dropout_backward(
    input: Any,
    grad_output: _ArrayIn,
    p: float = 0.5,
    *,
    seed: int,
    draw: int,
    training: bool = True,
) -> _ArrayOut:
    """The input gradient of alpha_dropout at the same arguments."""
@overload
def alpha_dropout_backward(
    input: Any,
    grad_output: _HostTensor,
    p: float = 0.5,
    *,
    seed: int,
    draw: int,
    training: bool = True,
) -> _HostTensor:
    """On a CPU DLPack tensor (a bfloat16 torch.Tensor): an array of its framework."""

@overload
def feature_alpha_dropout(
    input: _ArrayIn,
    p: float = 0.5,
    data_format: Union[_DataFormatName, Literal["channels_first", "channels_last"], str] = (
        "channels_first"
    ),
    *,
    seed: int,
    draw: int,
    training: bool = True,
) -> _ArrayOut:
    """FeatureAlphaDropout(p, data_format)'s forward at (seed, draw)."""
@overload
def feature_alpha_dropout(
    input: _HostTensor,
    p: float = 0.5,
    data_format: Union[_DataFormatName, Literal["channels_first", "channels_last"], str] = (
        "channels_first"
    ),
    *,
    seed: int,
    draw: int,
    training: bool = True,
) -> _HostTensor:
    """On a CPU DLPack tensor (a bfloat16 torch.Tensor): an array of its framework."""

@overload
def feature_alpha_dropout_backward(
    input: Any,
    grad_output: _ArrayIn,
    p: float = 0.5,
    data_format: Union[_DataFormatName, Literal["channels_first", "channels_last"], str] = (
        "channels_first"
    ),
    *,
    seed: int,
    draw: int,
    training: bool = True,
) -> _ArrayOut:
    """The input gradient of feature_alpha_dropout at the same arguments."""
@overload
def feature_alpha_dropout_backward(
    input: Any,
    grad_output: _HostTensor,
    p: float = 0.5,
    data_format: Union[_DataFormatName, Literal["channels_first", "channels_last"], str] = (
        "channels_first"
    ),
    *,
    seed: int,
    draw: int,
    training: bool = True,
) -> _HostTensor:
    """On a CPU DLPack tensor (a bfloat16 torch.Tensor): an array of its framework."""
