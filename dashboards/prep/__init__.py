"""Data preparation behind every plot: pure functions of saved figures, unit-tested.

Drawing (dashboards.pages) only lays out what these functions return.
"""
