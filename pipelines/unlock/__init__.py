"""`fraud-app unlock`: the locks and commit markers under the configured paths, who holds
each and whether this host can judge it (inventory), and clearing one on an operator's
word, recorded in an audit file (clear)."""
