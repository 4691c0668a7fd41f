"""The CRC-32 of wire payloads: one function, from the fastest implementation installed.

Owns: choosing the code that computes the CRC-32 which wire.py appends to every tensor
payload (IEEE 802.3 polynomial, reflected, the value of `zlib.crc32`). Does not own the
framing or what a mismatch means (wire.py).

Every implementation returns the same 32 bits for the same bytes, so ranks that picked
different ones interoperate; the choice changes only the cost. CPython's `zlib` (and
`binascii.crc32`, the same code) computes 2.4-3.8 GiB/s per core on this project's VM;
`zlib_ng.zlib_ng.crc32` (the `zlib-ng` wheel: zlib-ng's folding CRC with PCLMULQDQ /
VPCLMULQDQ on x86-64, its own SIMD code elsewhere, and a portable fallback) computes
33-51 GiB/s, about 10x, so the check no longer costs the TCP ring a second pass over
memory at CPU speed (docs/BENCHMARKS.md, "CRC-32 at memory speed"). Both release the
GIL on large buffers, as the sender thread needs.

DLCORE_CRC32 (dlcore/settings.py): `auto` (default: zlib-ng when importable, else zlib),
`zlib-ng` (fail if it is missing) or `zlib`. A CRC-32C (Castagnoli, `crc32c` /
`google-crc32c`) would be as fast but is another polynomial: a wire-format change that
buys nothing over zlib-ng's CRC-32.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from typing import Any

from dlcore import settings
from dlcore.errors import ConfigError

logger = logging.getLogger(__name__)

Crc32 = Callable[[Any], int]
CHOICES = ("auto", "zlib-ng", "zlib")
_CHECK = (b"123456789", 0xCBF43926)  # the CRC-32/ISO-HDLC check value of the catalogue


def _zlib_ng() -> Crc32 | None:
    try:
        from zlib_ng import zlib_ng  # optional: the `zlib-ng` wheel
    except ImportError:
        return None
    return zlib_ng.crc32


def resolve(name: str) -> tuple[str, Crc32]:
    """(implementation name, crc32 function) for a DLCORE_CRC32 value."""
    if name not in CHOICES:
        raise ConfigError(f"DLCORE_CRC32 must be one of {', '.join(CHOICES)}. Received: {name!r}")
    fast = None if name == "zlib" else _zlib_ng()
    if fast is not None and fast(_CHECK[0]) != _CHECK[1]:  # a broken build: never on the wire
        logger.warning("zlib_ng.crc32 fails the CRC-32 check value; not using it")
        fast = None
    if fast is not None:
        return "zlib-ng", fast
    if name == "zlib-ng":
        raise ConfigError(
            "DLCORE_CRC32=zlib-ng but zlib_ng.crc32 cannot be imported or fails the CRC-32 "
            "check value; install the 'zlib-ng' wheel or use DLCORE_CRC32=auto"
        )
    return "zlib", zlib.crc32


IMPLEMENTATION, crc32 = resolve(settings.crc32())
