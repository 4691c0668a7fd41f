"""What travels on the wire during the ring: float32 as is, or rounded to bf16 / fp16.

Owns: the codecs and their registry (`get_codec`). Accumulation always happens in
float32 on the receiving side; a codec only changes the bytes in flight, halving
them. bf16 keeps float32's exponent range (8 significant bits, relative rounding
error <= 2**-8; magnitudes from 3.3962e38, the top of float32's range, round to inf);
fp16 keeps 11 significant bits (error <= 2**-11) but overflows to inf from 65520 (NumPy's
"overflow encountered in cast" RuntimeWarning, by default once per process), loses precision below
6.1e-5 and rounds magnitudes up to 2**-25 (3.0e-8) to zero, so use it for well-scaled
values. The ring rounds each partial sum again at every hop (n-1 times, then once on the
all-gather), so these limits apply to the partial sums, not only to the inputs: 3 ranks
passing 30000 each sum to inf, 3 ranks passing 2e-8 each (sum 6e-8, an fp16 value) to 0.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from dlcore.errors import ConfigError


class Codec:
    """fp32 <-> wire representation. Subclasses set `name` and `wire_dtype`."""

    name: ClassVar[str | None] = None
    wire_dtype: ClassVar[np.dtype] = np.dtype(np.float32)
    lossless: ClassVar[bool] = True

    def encode(self, x: np.ndarray) -> np.ndarray:
        """A new wire array holding `x` (float32, 1-D, contiguous)."""
        return x.copy()

    def decode(self, wire: np.ndarray, out: np.ndarray) -> None:
        """out[:] = decoded wire."""
        np.copyto(out, wire)

    def decode_add(self, wire: np.ndarray, out: np.ndarray) -> None:
        """out += decoded wire, accumulated in float32."""
        np.add(out, wire, out=out)

    def roundtrip(self, x: np.ndarray) -> np.ndarray:
        out = np.empty_like(x)
        self.decode(self.encode(x), out)
        return out


class NoCompression(Codec):
    pass


class BF16(Codec):
    """bfloat16 by round-to-nearest-even on the float32 bit pattern (uint32 bit ops)."""

    name = "bf16"
    wire_dtype = np.dtype(np.uint16)
    lossless = False

    def encode(self, x: np.ndarray) -> np.ndarray:
        bits = x.view(np.uint32)
        # Add 0x7FFF plus the lowest kept bit, then truncate: ties go to the even value.
        # Only NaN patterns can wrap around uint32, and those are fixed below.
        rounded = bits + ((bits >> 16) & 1)
        rounded += 0x7FFF
        rounded >>= 16
        out = rounded.astype(np.uint16)
        nan = np.isnan(x)
        if nan.any():
            out[nan] = ((bits[nan] >> 16) & 0x8000).astype(np.uint16) | 0x7FC0
        return out

    def _widen(self, wire: np.ndarray) -> np.ndarray:
        return (wire.astype(np.uint32) << 16).view(np.float32)

    def decode(self, wire: np.ndarray, out: np.ndarray) -> None:
        np.copyto(out, self._widen(wire))

    def decode_add(self, wire: np.ndarray, out: np.ndarray) -> None:
        np.add(out, self._widen(wire), out=out)


class FP16(Codec):
    """IEEE half precision via `astype` (round-to-nearest-even)."""

    name = "fp16"
    wire_dtype = np.dtype(np.float16)
    lossless = False

    def encode(self, x: np.ndarray) -> np.ndarray:
        return x.astype(np.float16)


CODECS: dict[str | None, Codec] = {None: NoCompression(), "bf16": BF16(), "fp16": FP16()}
# Each codec's code in the ring frames' header (wire.FrameHeader.codec): a receiver whose
# `compression` differs from the sender's is told so instead of decoding the other's bytes
# (fp16 and bf16 have the same width: 3 + 3 summed to 5.125 on one rank, 2560 on another).
CODE: dict[str | None, int] = {None: 0, "bf16": 1, "fp16": 2}


def get_codec(name: str | None) -> Codec:
    try:
        return CODECS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown compression {name!r}. Valid values: None, 'bf16', 'fp16'"
        ) from None
