"""Errors the dashboards raise on purpose (dashboards imports nothing from fraud_app)."""

from __future__ import annotations


class DashboardError(Exception):
    """Base class of all dashboards errors."""


class DashboardInputError(DashboardError, ValueError):
    """A saved report or score file is missing, unreadable or breaks its contract.

    The message names the file (or field), what was expected and what was received."""
