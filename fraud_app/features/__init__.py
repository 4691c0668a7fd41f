"""Point-in-time features: spec (YAML) -> resolved FeatureSet -> compiled Spark columns.

    definitions.py  one frozen, validated model per feature kind (deterministic names)
    spec.py         YAML files -> FeatureSet (errors name the file and the key path)
    labels.py       when a label becomes known; `as_known_at` (the world at a cut-off)
    windows.py      per-entity windows (velocity, ratios, fraud rates): one sort per entity
    encodings.py    categorical frequency / delayed target rate as daily snapshots
    rowwise.py      calendar, cross-border, a column's own value
    profile.py      one job before compiling: all-null inputs, the data's span, log1p domain
    compile.py      compute_features(df, feature_set) -> FeatureResult (lazy DataFrame)
    table.py        write/read the feature table and its `_features.json`
    splits.py       time-based train / validation / test with a label-delay gap
    pipeline.py     config-driven entry points used by `fraud-app features`

Kept import-free: fraud_app.config imports features.config, which must not pull Spark.
"""
