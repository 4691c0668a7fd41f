"""Retention of per-run records: which old runs, reports and cached models `fraud-app prune`
removes (fraud_app.retention.plan decides; pipelines.prune finds and removes)."""
