"""`--env-archive` at a path with a space, a comma, a '#' or a non-ASCII letter (session 23
probes): `spark.archives` is split at ',' and each entry read by Spark's own
`Utils.resolveURI`, whose fragment is the alias executors unpack it as (`environment`,
where PYSPARK_PYTHON points). A plain path with a space is no URI to Spark: it took the
whole text, `#environment` included, for the file's name (no alias, no such file)."""

from __future__ import annotations

import pytest

from fraud_app.spark.session import ARCHIVE_ALIAS, archive_settings


@pytest.mark.parametrize("folder", ["plain", "with space", "a,b", "hash#1", "ümlaut"])
def test_spark_reads_the_archive_entry_as_the_file_and_its_alias(spark, tmp_path, folder):
    archive = tmp_path / folder / "env.tar.gz"
    archive.parent.mkdir()
    archive.write_bytes(b"x")
    conf, _ = archive_settings("spark://h:7077", str(archive), {"spark.archives": "/o.zip#o"})
    utils = spark._jvm.org.apache.spark.util.Utils
    seq = utils.stringToSeq(conf["spark.archives"])  # Spark's own split at ','
    entries = list(spark._jvm.scala.jdk.javaapi.CollectionConverters.asJava(seq))
    assert len(entries) == 2
    uri = utils.resolveURI(entries[1])
    assert (uri.getScheme(), uri.getPath(), uri.getFragment()) == (
        "file",
        str(archive),
        ARCHIVE_ALIAS,
    )
