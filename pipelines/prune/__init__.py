PRUNE_LOCK = ".fraud-app-prune.lock"  # one prune per paths.root (pipelines.prune.pipeline)
