"""The one place dlcore reads environment variables.

DLCORE_BACKEND      auto | numpy | mkl    (default auto: measured on first use)
DLCORE_NUM_THREADS  BLAS threads per process (default 1)
DLCORE_TUNE_MALLOC  1 | 0: keep freed buffers in-process (glibc mallopt; default 1)
DLCORE_TRANSPORT    auto | socket | shm: what CommConfig(transport="auto") means for
                    dlcore.collective (default auto); an explicit CommConfig.transport wins
DLCORE_TOPOLOGY     auto | flat | hierarchical: what CommConfig(topology="auto") means
                    (default auto = hierarchical where ranks share hosts); explicit wins
DLCORE_CRC32        auto | zlib-ng | zlib: the code that computes the wire's CRC-32
                    trailers (default auto = zlib-ng when installed; the same value
                    either way, dlcore/collective/checksum.py validates the name)
"""

from __future__ import annotations

import os

from dlcore.errors import ConfigError

BACKENDS = ("auto", "numpy", "mkl")


def backend_name() -> str:
    """DLCORE_BACKEND, checked here so a wrong value names the variable (it was `unknown
    dlcore backend 'cuda'`, which did not say where the name came from)."""
    raw = os.environ.get("DLCORE_BACKEND", "auto")
    name = raw.strip().lower() or "auto"
    if name not in BACKENDS:
        raise ConfigError(
            f"environment variable DLCORE_BACKEND is {raw!r}; expected "
            f"{', '.join(BACKENDS[:-1])} or {BACKENDS[-1]} (any case). Fix or unset it"
        )
    return name


def num_threads() -> int:
    raw = os.environ.get("DLCORE_NUM_THREADS", "1").strip()
    try:
        n = int(raw)
    except ValueError:
        raise ConfigError(
            f"DLCORE_NUM_THREADS must be a positive integer. Received: {raw!r}"
        ) from None
    if n < 1:
        raise ConfigError(f"DLCORE_NUM_THREADS must be >= 1. Received: {n}")
    return n


_ON = ("1", "true", "yes", "on")
_OFF = ("0", "false", "no", "off")


def tune_malloc() -> bool:
    """DLCORE_TUNE_MALLOC: 1/true/yes/on or 0/false/no/off, any case ('False' and 'off'
    kept the tuning on without a word)."""
    raw = os.environ.get("DLCORE_TUNE_MALLOC", "1").strip().lower() or "1"
    if raw not in _ON + _OFF:
        raise ConfigError(
            f"DLCORE_TUNE_MALLOC must be 1 or 0 (or true/false, yes/no, on/off). Received: {raw!r}"
        )
    return raw in _ON


def transport() -> str:
    """DLCORE_TRANSPORT, lower-cased; dlcore.collective.config validates the value."""
    return os.environ.get("DLCORE_TRANSPORT", "auto").strip().lower() or "auto"


def shm_signal() -> str:
    """DLCORE_SHM_SIGNAL, lower-cased; dlcore.collective.config validates the value."""
    return os.environ.get("DLCORE_SHM_SIGNAL", "auto").strip().lower() or "auto"


def topology() -> str:
    """DLCORE_TOPOLOGY, lower-cased; dlcore.collective.config validates the value."""
    return os.environ.get("DLCORE_TOPOLOGY", "auto").strip().lower() or "auto"


def crc32() -> str:
    """DLCORE_CRC32, lower-cased; dlcore.collective.checksum validates the value."""
    return os.environ.get("DLCORE_CRC32", "auto").strip().lower() or "auto"
