"""Point-in-time features: spec (YAML) -> resolved FeatureSet -> compiled Spark columns.

    definitions.py  KINDS: the registry of feature kinds (`kind:` in a spec -> its class)
    window_kinds.py the window kinds (window_agg, amount_ratio, fraud_rate, ...): one
                    frozen, validated model per kind (deterministic names); novelty.py `novelty`
    encoding_kinds.py  frequency_encoding, target_encoding
    row_kinds.py    calendar, cross_border, column, one_hot
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
