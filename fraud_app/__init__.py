"""fraud_app."""
