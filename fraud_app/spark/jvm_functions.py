"""The JVM classes that building Columns names on every call, looked up once per session.

A classic session builds each Column through py4j, and finds the Scala method it calls by
reflection first: `pyspark.sql.functions` (F.*) does
`getattr(getattr(sc._jvm, "org.apache.spark.sql.functions"), name)`, a round trip for the
class and one for the method, before the one that calls it; a literal operand or `~`
(`sc._jvm.functions.lit`, `.not`) and every list of Columns (`sc._jvm.PythonUtils.toSeq`:
concat, coalesce, greatest, select) do the same. Building the ETL's rule columns made
~2,300 such lookups on a tiny delivery (docs/PROBES.md, session 47, helper etlplan47:
1.8 s of a 17 s replace run; the feature compiler's 130 features ~2,000 F.* calls).

`install` puts those classes (CLASSES) in the session's JVM view as classes that remember
each method they found: the view answers the name without a round trip, the class its
methods. The methods are static methods of these Scala objects, valid while the JVM
gateway is; a session in another JVM has another view, without them until `install` runs
there (`ensure_utc`, which every step calls). The calls themselves are unchanged, so the
Columns, plans and results are the same. A remembered member holds no connection (each
call takes its own thread's, py4j's client), so threads share them; a stopped session's
successor in the same process keeps the gateway, the view and the memo (session 47 review:
tests/fraud_app/spark/test_jvm_functions.py).

Owns only these lookups; a view that is no py4j JVMView (Spark Connect has none) is left
as it is.
"""

from __future__ import annotations

from typing import Any

# the JVM view's names of the classes whose methods Column building calls: F.*'s lookup,
# the literal / operator helpers' (pyspark.sql.classic.column), the Seq of a Column list
CLASSES = ("org.apache.spark.sql.functions", "functions", "PythonUtils")


def install(spark) -> bool:
    """Remember CLASSES and their methods in `spark`'s JVM view (idempotent); False for a
    session without one (Spark Connect)."""
    try:
        jvm = spark.sparkContext._jvm
    except Exception:  # a Connect session has no SparkContext (PySparkNotImplementedError)
        return False
    memo = _memo_class()
    if memo is None or jvm is None or not hasattr(jvm, "_gateway_client"):
        return False
    for name in CLASSES:
        if isinstance(vars(jvm).get(name), memo):
            continue
        found = getattr(jvm, name)  # the view's own lookup, once
        if isinstance(found, memo.__mro__[1]):  # a class (py4j's JavaClass)
            vars(jvm)[name] = memo(found._fqn, jvm._gateway_client)
    return True


def uninstall(spark) -> None:
    """The view's own lookups back (the tests compare both)."""
    jvm = spark.sparkContext._jvm
    for name in CLASSES:
        vars(jvm).pop(name, None)


_MEMO: list[Any] = []


def _memo_class():
    """py4j's JavaClass, remembering the methods (and nested classes) it looks up: a
    field's value is read each time (it may change)."""
    if _MEMO:
        return _MEMO[0]
    try:
        from py4j.java_gateway import JavaClass, JavaMember
    except ImportError:  # pragma: no cover - pyspark always brings py4j
        return None

    class MemoClass(JavaClass):
        def __getattr__(self, name):
            found = super().__getattr__(name)
            if isinstance(found, JavaMember | JavaClass):
                vars(self)[name] = found  # found by the instance from now on
            return found

    _MEMO.append(MemoClass)
    return MemoClass
