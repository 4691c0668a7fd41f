"""checksum.py: every CRC-32 implementation gives zlib's value, and DLCORE_CRC32 is validated."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from dlcore.collective import checksum, wire
from dlcore.errors import ConfigError, FrameError

# Lengths around zlib's GIL threshold (5 KiB) and SIMD block sizes, a 1 MiB ring chunk.
LENGTHS = [0, 1, 3, 15, 16, 17, 63, 64, 65, 255, 5 * 1024 + 1, 65_537, 1 << 20]


def installed() -> list[str]:
    return ["zlib"] + (["zlib-ng"] if checksum._zlib_ng() is not None else [])


@pytest.mark.parametrize("name", installed())
@pytest.mark.parametrize("length", LENGTHS)
def test_each_installed_implementation_computes_zlibs_crc32(name, length):
    resolved, crc32 = checksum.resolve(name)
    data = np.random.default_rng(length).bytes(length)
    arr = np.frombuffer(data, dtype=np.uint8)
    assert resolved == name
    assert crc32(data) == crc32(memoryview(arr)) == zlib.crc32(data)


def test_auto_takes_zlib_ng_when_it_is_importable(monkeypatch):
    monkeypatch.setattr(checksum, "_zlib_ng", lambda: zlib.crc32)  # a correct stand-in
    assert checksum.resolve("auto") == ("zlib-ng", zlib.crc32)
    monkeypatch.setattr(checksum, "_zlib_ng", lambda: None)
    assert checksum.resolve("auto") == ("zlib", zlib.crc32)


def test_a_build_that_fails_the_check_value_is_never_used(monkeypatch, caplog):
    monkeypatch.setattr(checksum, "_zlib_ng", lambda: lambda data: zlib.crc32(data) ^ 1)
    assert checksum.resolve("auto") == ("zlib", zlib.crc32)
    assert "fails the CRC-32 check value" in caplog.text
    with pytest.raises(ConfigError, match="DLCORE_CRC32=zlib-ng but zlib_ng.crc32 cannot"):
        checksum.resolve("zlib-ng")


def test_zlib_ng_requested_but_missing_says_what_to_do(monkeypatch):
    monkeypatch.setattr(checksum, "_zlib_ng", lambda: None)
    with pytest.raises(ConfigError, match="install the 'zlib-ng' wheel or use DLCORE_CRC32=auto"):
        checksum.resolve("zlib-ng")


def test_an_unknown_name_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"one of auto, zlib-ng, zlib\. Received: 'crc32c'"):
        checksum.resolve("crc32c")


def test_the_environment_variable_is_read_lower_cased(monkeypatch):
    from dlcore import settings

    monkeypatch.setenv("DLCORE_CRC32", " ZLIB ")
    assert settings.crc32() == "zlib"
    monkeypatch.delenv("DLCORE_CRC32")
    assert settings.crc32() == "auto"


def test_a_trailer_with_a_known_crc_is_not_recomputed_and_verify_returns_the_value():
    payload = b"forwarded chunk"
    assert wire.trailer(payload, crc=0x01020304) == b"\x01\x02\x03\x04"
    crc = wire.verify(payload, wire.trailer(payload), "a chunk", "rank 1")
    assert crc == zlib.crc32(payload)
    with pytest.raises(FrameError, match="do not match its CRC-32"):
        wire.verify(payload, wire.trailer(payload, crc ^ 1), "a chunk", "rank 1")
