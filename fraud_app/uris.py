"""What a path or URI from the config names: a directory on this machine, or not.

Owns the one parse that the run locks, the output-root check and the local readers share
(each looked for "://", so `hdfs:/x`, Hadoop's name for /x on the default name node, was
taken for a local folder named `hdfs:`). Does not own reading or writing.

A string is remote when it starts with a URI scheme (RFC 3986: a letter, then letters,
digits, '+', '-' or '.', then ':') other than `file`: `hdfs:/x`, `hdfs:///x`,
`hdfs://nn:8020/x`, `s3a://bucket/key`, `gs://b/k`. A `file:` URI naming another host
(`file://host/x`) is not on this machine either. Local: a plain path, `file:/x`,
`file:///x` and `file://localhost/x` (the path /x), and a Windows drive letter
(`C:\\x`, `C:/x`, `file:///C:/x`): a one-letter "scheme" is a drive, never a store.
Percent escapes are not decoded: the path is the text, as the locks and checks need.
"""

from __future__ import annotations

import posixpath
import re
import tempfile
from pathlib import Path

from fraud_app.errors import ConfigError, ModelLoadError
from fraud_app.redaction import redact_text

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_DRIVE_PATH = re.compile(r"/[A-Za-z]:[/\\]")  # file:///C:/x -> path /C:/x


def scheme(uri: str) -> str:
    """The URI scheme of `uri`, lower-cased; "" for a plain path or a Windows drive letter."""
    match = _SCHEME.match(uri)
    if match is None or len(match.group(1)) == 1:
        return ""
    return match.group(1).lower()


def local_path(uri: str) -> Path | None:
    """The local path `uri` names (a plain path or a file: URI on this host); None when
    it names a remote location (any other scheme, or a file: URI of another host)."""
    found = scheme(uri)
    if found == "":
        return Path(uri)
    if found != "file":
        return None
    rest = uri[len("file:") :]
    if rest.startswith("//"):  # an authority: empty or localhost is this machine
        host, slash, path = rest[2:].partition("/")
        if host not in ("", "localhost"):
            return None
        rest = slash + path
    if _DRIVE_PATH.match(rest):
        rest = rest[1:]
    return Path(rest or "/")


def joinable(root: str) -> str:
    """`root` as pathlib may join paths to it: `file://localhost/x` as `file:///x`, the same
    path. pathlib reads `//localhost` as a folder: `Path("file://localhost/x") / "models"`
    is `file:/localhost/x/models`, so with that paths.root the models, scores and
    checkpoints (and their locks) went to /localhost/x while the run lock was in /x
    (review43a). Any other text as it is."""
    if scheme(root) == "file" and root[len("file:") :].startswith("//localhost/"):
        return "file:///" + root[len("file://localhost/") :]
    return root


def not_local(uri: str, *, writes: bool) -> str:
    """Why `uri` (remote: `local_path` gave None) cannot be used where Python itself reads
    (`writes` False) or writes it: what was given and what is expected, without the name of
    the argument or setting (a config validator's error line names it)."""
    verb, copy = ("writes", "copy it to remote storage afterwards, e.g. `hdfs dfs -put`")
    if not writes:
        verb, copy = ("reads", "copy it here first, e.g. `hdfs dfs -get`, and give that copy")
    return (
        f"{redacted(uri)!r} is not on this machine, but fraud-app {verb} it with Python: give "
        f"a local path or a file: URI ({copy})"
    )


def local_argument(uri: str | Path, what: str, *, writes: bool) -> Path:
    """The local path a CLI argument or config value `what` (e.g. "export-onnx OUT.onnx",
    "--config") names: a `file:` URI as its path (pathlib made `file:/x` a folder `file:`),
    ConfigError (the CLI's usage error, exit 2) for a remote one: pathlib made
    `hdfs://nn/x` a local folder `hdfs:/nn/x`."""
    found = local_path(str(uri))
    if found is None:
        raise ConfigError(f"{what} {not_local(str(uri), writes=writes)}")
    return found


def is_remote(uri: str) -> bool:
    """True when `uri` names no local path (see the module doc)."""
    return local_path(uri) is None


def model_uri(uri: str) -> str:
    """A `models:/` or `runs:/` URI spelt one way: without trailing slashes, so that
    `runs:/<id>/model/` is the model of `runs:/<id>/model` (it was labelled apart on every
    scored row and evaluation, and downloaded into a cache entry of its own), and without
    an empty authority: MLflow reads `runs:///<id>/model` and `models:///fraud/1` as
    `runs:/<id>/model` and `models:/fraud/1` (session 51: they were labelled apart). An
    authority that is there (a Databricks profile, `runs://profile@databricks/<id>/model`)
    is kept. Any other string is returned as given. A run URI without an artifact path
    (`runs:/<id>/`, `runs:/<id>`, `runs:///<id>`) is a ModelLoadError: MLflow downloaded
    ALL of the run's artifacts before it was found to hold no ensemble (session 50)."""
    scheme_, sep, rest = uri.partition(":/")
    if not sep or scheme_ not in ("models", "runs"):
        return uri
    authority = ""
    if rest.startswith("/"):  # `scheme://authority/path`; an empty authority is `scheme:/path`
        authority, _, rest = rest[1:].partition("/")
    rest = rest.rstrip("/")
    if not rest or rest.startswith("/"):  # no path, or `runs:////x`: MLflow's own error
        return uri
    prefix = f"{scheme_}://{authority}/" if authority else f"{scheme_}:/"
    # `runs:/<id>/.` (`<id>/model/..`) is the run's root too: MLflow downloads all of it
    if scheme_ == "runs" and ("/" not in rest or posixpath.normpath(rest.split("/", 1)[1]) == "."):
        run = rest.split("/", 1)[0]
        raise ModelLoadError(
            f"model {uri!r} names run {run!r} but no artifact path in it (MLflow would "
            f"download all of the run's artifacts): name the run's model, e.g. "
            f"{prefix}{run}/model (where `fraud-app train` logs its ensemble), or a "
            "registered version, models:/<name>/<version>"
        )
    return prefix + rest


def redacted(text: str) -> str:
    """`text` fit for messages and logs: the user information of every URI in it
    (`user:password@`, a token as `token@`) shown as `***@` (http://u:p@host:5000/x ->
    http://***@host:5000/x) and secret query parameters as `token=***`
    (`fraud_app.redaction.redact_text`). The URI itself (to connect with) is kept as given."""
    return redact_text(text)


def unwritable(directory: Path, probe: str = ".fraud-app-write-test-") -> OSError | None:
    """Why `directory` cannot be created or written by this user (the OSError of making it
    or a temporary file `<probe>*` in it); None when it can."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=probe):
            pass
    except OSError as exc:
        return exc
    return None
