"""fraud_app.uris: which paths and URIs name a local directory. The locks, the output-root
check and the local readers looked for "://", so `hdfs:/x` (Hadoop's /x on the default
name node, and what Path() makes of hdfs://nn/x) was taken for a local folder `hdfs:`."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraud_app.uris import is_remote, local_path, redacted, scheme

LOCAL = [
    ("/data/work", "/data/work"),
    ("work/scores", "work/scores"),
    ("file:/data/work", "/data/work"),
    ("file:///data/work", "/data/work"),
    ("FILE:///data/work", "/data/work"),
    ("file://localhost/data/work", "/data/work"),
    ("file:///", "/"),
    ("C:\\work", "C:\\work"),  # a Windows drive letter, not a scheme
    ("c:/work", "c:/work"),
    ("file:///C:/work", "C:/work"),
    ("a%20b/c", "a%20b/c"),  # escapes are not decoded
]
REMOTE = [
    "hdfs:/fraud/root",
    "hdfs:///fraud/root",
    "hdfs://nn:8020/fraud/root",
    "s3a://bucket/key",
    "gs:/bucket/key",
    "abfss://c@acct.dfs.core.windows.net/x",
    "viewfs+x.y-z:/a",
    "file://otherhost/data",  # a file URI of another machine
]


@pytest.mark.parametrize(("uri", "path"), LOCAL)
def test_local_paths_and_file_uris_name_a_local_path(uri, path):
    assert local_path(uri) == Path(path)
    assert not is_remote(uri)


@pytest.mark.parametrize("uri", REMOTE)
def test_any_other_scheme_is_remote_whatever_its_slashes(uri):
    assert local_path(uri) is None
    assert is_remote(uri)


def test_scheme_is_lower_cased_and_empty_for_paths_and_drive_letters():
    assert [scheme(u) for u in ("HDFS:/x", "s3a://b", "C:/x", "/x", "xy:z", "1a:/x")] == [
        "hdfs",
        "s3a",
        "",
        "",
        "xy",
        "",
    ]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://u:p%40ss@host:5000/x", "http://***@host:5000/x"),
        ("http://u:p@ss@host/x", "http://***@host/x"),  # an unescaped @ in the password
        (
            "see https://token@h/a and sqlite:////t/m.db",
            "see https://***@h/a and sqlite:////t/m.db",
        ),
        ("databricks://profile:prefix@x", "databricks://***@x"),
        ("http://host:5000/api?x=a@b", "http://host:5000/api?x=a@b"),  # no user information
    ],
)
def test_redacted_masks_the_user_information_of_every_uri(text, shown):
    assert redacted(text) == shown
