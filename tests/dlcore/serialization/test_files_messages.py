"""The file layer's refusals, pinned whole: they name the file, what was found and expected.

Also archives written with .npy format 2.0 headers (numpy writes those for big headers).
These close the gaps the mutation check (`make mutation`) found in files.py.
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import numpy as np
import pytest

from dlcore.errors import SerializationError
from dlcore.serialization import (
    files,
    load_model,
    read_json,
    read_npz,
    sha256_array,
    write_json_atomic,
    write_npz_atomic,
)
from tests.dlcore.serialization.helpers import Tripwire, edit_json


def _error(fn, *args, **kwargs) -> str:
    with pytest.raises(SerializationError) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_read_json_refuses_a_non_object_naming_its_type(tmp_path):
    (tmp_path / "m.json").write_text("[1, 2]")
    assert _error(read_json, tmp_path / "m.json") == (
        f"{tmp_path / 'm.json'}: expected a JSON object. Received list"
    )


def test_read_json_reads_utf8(tmp_path):
    (tmp_path / "m.json").write_bytes('{"city": "Zürich"}'.encode())
    assert read_json(tmp_path / "m.json") == {"city": "Zürich"}


def test_archive_with_format_2_headers_is_read(tmp_path):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.arange(6, dtype=np.float32).reshape(2, 3), version=(2, 0))
    with zipfile.ZipFile(tmp_path / "v2.npz", "w") as zf:
        zf.writestr("w.npy", buf.getvalue())
    back = read_npz(tmp_path / "v2.npz", {"w": ((2, 3), np.float32)})
    np.testing.assert_array_equal(back["w"], np.arange(6, dtype=np.float32).reshape(2, 3))


def test_object_member_message_names_the_archive(tmp_path):
    buf = io.BytesIO()
    obj = np.array([Tripwire(tmp_path / "tripwire")], dtype=object)
    np.lib.format.write_array(buf, obj, allow_pickle=True)
    with zipfile.ZipFile(tmp_path / "o.npz", "w") as zf:
        zf.writestr("x.npy", buf.getvalue())
    assert _error(read_npz, tmp_path / "o.npz") == (
        f"{tmp_path / 'o.npz'}: array 'x' has object dtype; it could only be loaded by "
        "unpickling, which dlcore never does"
    )
    assert not (tmp_path / "tripwire").exists()


def test_checksum_message_names_the_archive_and_the_array(tmp_path):
    write_npz_atomic(tmp_path / "a.npz", {"v": np.ones(3, np.float32)})
    wrong = sha256_array(np.zeros(3, np.float32))
    assert _error(read_npz, tmp_path / "a.npz", checksums={"v": wrong}) == (
        f"{tmp_path / 'a.npz'}: array 'v' fails its sha256 checksum; the file is corrupted "
        "or was modified after saving"
    )


def test_records_entry_that_is_not_a_list(saved):
    edit_json(saved, lambda m: m.update(params={}))
    assert _error(load_model, saved) == (
        f"{saved / 'model.json'}: 'params' must be a list of array records"
    )


@pytest.mark.parametrize("shape", [[4, -8], [4, 8.0], [4, True]])
def test_record_shapes_must_be_non_negative_integers(saved, shape):
    edit_json(saved, lambda m: m["params"][0].update(shape=shape))
    rec = json.loads((saved / "model.json").read_text())["params"][0]
    assert _error(load_model, saved) == (
        f"{saved / 'model.json'}: params[0] must be a record with a unique name, shape, dtype "
        f"and sha256. Received {rec!r}"
    )


def test_zero_length_arrays_round_trip(tmp_path):
    write_npz_atomic(tmp_path / "z.npz", {"empty": np.zeros((0, 3), np.float32)})
    assert read_npz(tmp_path / "z.npz", {"empty": ((0, 3), np.float32)})["empty"].shape == (0, 3)


def test_unknown_record_dtype_is_named(saved):
    edit_json(saved, lambda m: m["params"][2].update(dtype="float99"))
    assert _error(load_model, saved) == f"{saved / 'model.json'}: params[2] has an unknown dtype"


def test_record_names_that_do_not_match_the_architecture(saved):
    edit_json(saved, lambda m: m["params"][0].update(name="renamed"))
    assert _error(load_model, saved) == (
        f"{saved / 'model.json'}: arrays do not match. Missing: ['model/0_linear.W']; "
        "unexpected: ['renamed']"
    )


def test_json_is_written_sorted_and_indented_creating_parents(tmp_path):
    write_json_atomic(tmp_path / "a" / "b" / "m.json", {"b": [1, 2], "a": "Zürich"})
    assert (tmp_path / "a" / "b" / "m.json").read_bytes() == (
        b'{\n  "a": "Z\\u00fcrich",\n  "b": [\n    1,\n    2\n  ]\n}'
    )


def test_the_temporary_is_a_hidden_sibling_named_after_the_target(tmp_path):
    seen: list[str] = []

    def write(f) -> None:
        seen.extend(p.name for p in tmp_path.iterdir())
        f.write(b"data")

    files._write_atomic(tmp_path / "m.json", write)
    assert len(seen) == 1 and re.fullmatch(r"\.m\.json\.[^.]+\.tmp", seen[0]), seen
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


@pytest.mark.parametrize("name", ["", 5])
def test_writer_refuses_empty_and_non_string_names(tmp_path, name):
    assert _error(write_npz_atomic, tmp_path / "a.npz", {name: np.zeros(2)}) == (
        f"{tmp_path / 'a.npz'}: array names must be non-empty strings. Received {name!r}"
    )
    assert list(tmp_path.iterdir()) == []


def test_check_finite_covers_complex_arrays(tmp_path):
    bad = np.array([1 + 1j, complex(np.nan, 0)])
    assert _error(files.check_finite, tmp_path / "c.npz", {"z": bad}, "save").startswith(
        f"{tmp_path / 'c.npz'}: array 'z' holds 1 non-finite values (NaN or inf); refusing to save"
    )


def test_a_write_that_fails_leaves_no_temporary_and_keeps_its_error(tmp_path):
    def write(f) -> None:
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="^disk full$"):
        files._write_atomic(tmp_path / "m.json", write)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("field", "xor", "why"),
    [
        (10, 0x55, "That compression method is not supported"),  # zipfile: NotImplementedError
        (8, 0x40, r"strong encryption \(flag bit 6\)"),  # NotImplementedError
        (8, 0x01, "is encrypted, password required"),  # RuntimeError
    ],
)
def test_a_damaged_method_or_flag_field_of_an_npz_is_named(tmp_path, field, xor, why):
    """A flipped byte in the central directory's compression method or flags: a traceback
    from zipfile (found by flipping every byte of a saved ensemble: 2 of 113 refusals)."""
    from dlcore.serialization import load_model, save_model
    from tests.dlcore.serialization.helpers import make_model

    save_model(make_model(), tmp_path / "m")
    path = tmp_path / "m" / "params.npz"
    data = bytearray(path.read_bytes())
    data[data.index(b"PK\x01\x02") + field] ^= xor
    path.write_bytes(bytes(data))
    with pytest.raises(SerializationError, match=rf"^{re.escape(str(path))}: cannot read archive \(.*{why}"):  # fmt: skip
        load_model(tmp_path / "m")
