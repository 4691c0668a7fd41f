"""The .npz/JSON layer: never unpickle, unique `<name>.npy` members, atomic writes."""

from __future__ import annotations

import io
import pickle
import warnings
import zipfile

import numpy as np
import pytest

from dlcore.errors import SerializationError
from dlcore.serialization import load_model, read_npz, write_json_atomic, write_npz_atomic
from dlcore.serialization.files import check_finite
from tests.dlcore.serialization.helpers import Tripwire, npz_arrays


def test_object_arrays_are_refused_without_unpickling(saved, tmp_path):
    tripwire = tmp_path / "tripwire"
    arrays = npz_arrays(saved / "params.npz")
    arrays["model/0_linear.b"] = np.array([Tripwire(tripwire)] * 8, dtype=object)
    np.savez(saved / "params.npz", **arrays)  # numpy pickles object arrays on save
    with pytest.raises(SerializationError, match="'model/0_linear.b' has object dtype.*never does"):
        load_model(saved)
    assert not tripwire.exists()


def test_pickle_file_posing_as_npz_is_refused(tmp_path):
    tripwire = tmp_path / "tripwire"
    (tmp_path / "evil.npz").write_bytes(pickle.dumps(Tripwire(tripwire)))
    with pytest.raises(SerializationError, match="evil.npz: not an .npz"):
        read_npz(tmp_path / "evil.npz")
    assert not tripwire.exists()


def test_writer_refuses_object_arrays(tmp_path):
    with pytest.raises(SerializationError, match="array 'x' has object dtype"):
        write_npz_atomic(tmp_path / "a.npz", {"x": np.array([None], dtype=object)})
    assert list(tmp_path.iterdir()) == []


# -- generic helpers ------------------------------------------------------------------------
def test_write_json_atomic_rejects_nan_and_leaves_no_file(tmp_path):
    with pytest.raises(SerializationError, match="cannot encode as JSON"):
        write_json_atomic(tmp_path / "m.json", {"loss": float("nan")})
    assert list(tmp_path.iterdir()) == []


def test_read_npz_without_expectations_and_with_awkward_names(tmp_path):
    arrays = {"file": np.arange(3), "a/b.c": np.ones((2, 2), np.float32)}
    write_npz_atomic(tmp_path / "x.npz", arrays)
    back = read_npz(tmp_path / "x.npz")
    assert sorted(back) == ["a/b.c", "file"]
    np.testing.assert_array_equal(back["file"], np.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["x.npz"]


def test_read_npz_checks_zip_crc(tmp_path):
    write_npz_atomic(tmp_path / "x.npz", {"v": np.zeros(64, np.float32)})
    with zipfile.ZipFile(tmp_path / "x.npz") as zf:
        offset = zf.getinfo("v.npy").header_offset + 200
    data = bytearray((tmp_path / "x.npz").read_bytes())
    data[offset] ^= 0xFF
    (tmp_path / "x.npz").write_bytes(bytes(data))
    with pytest.raises(SerializationError, match="x.npz: cannot read archive"):
        read_npz(tmp_path / "x.npz")


# -- issue 8: member names, non-finite weights, limits before allocation ---------------------
def test_member_beside_its_npy_twin_is_refused_without_unpickling(tmp_path):
    """`a` beside `a.npy`: numpy would read `a` for npz['a'] after the header check read `a.npy`."""
    tripwire = tmp_path / "tripwire"
    honest, evil = io.BytesIO(), io.BytesIO()
    np.lib.format.write_array(honest, np.zeros(3, np.float32))
    np.lib.format.write_array(evil, np.array([Tripwire(tripwire)], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(tmp_path / "twin.npz", "w") as zf:
        zf.writestr("a.npy", honest.getvalue())
        zf.writestr("a", evil.getvalue())
    with pytest.raises(
        SerializationError, match=r"twin.npz: not an archive written by dlcore.*\['a'\]"
    ):
        read_npz(tmp_path / "twin.npz", {"a": ((3,), np.float32)})
    assert not tripwire.exists()


def test_repeated_member_names_are_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "dup.npz", "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        for _ in range(2):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.zeros(2, np.float32))
            zf.writestr("v.npy", buf.getvalue())
    with pytest.raises(SerializationError, match=r"repeated: \['v.npy'\]"):
        read_npz(tmp_path / "dup.npz")


def test_check_finite_counts_every_bad_value_and_ignores_integers(tmp_path):
    check_finite(tmp_path, {"ids": np.array([1, 2], np.int64), "ok": np.ones(3, np.float32)}, "x")
    with pytest.raises(SerializationError) as info:
        check_finite(tmp_path / "f.npz", {"w": np.array([np.nan, 1.0, np.inf, -np.inf])}, "save")
    assert str(info.value) == (
        f"{tmp_path / 'f.npz'}: array 'w' holds 3 non-finite values (NaN or inf); refusing to "
        "save it. Training diverged: lower the learning rate or clip gradients, and resume from "
        "an earlier checkpoint"
    )
