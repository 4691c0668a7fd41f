"""Class-balancing strategies (unionpay_subsets, class_weights, undersample).

Import from fraud_app.balancing.registry (`from_config`, `get_strategy`, `STRATEGIES`);
this package init stays light because fraud_app.config imports balancing.config.
"""
