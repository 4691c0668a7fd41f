"""Every error dlcore raises on purpose.

One class per failure a user can meet. All attributes are primitives so the
exceptions pickle across process boundaries (Spark tasks, multiprocessing).
"""

from __future__ import annotations


class DlcoreError(Exception):
    """Base class of all dlcore errors."""


class ConfigError(DlcoreError, ValueError):
    """An argument or config value is invalid. The message names it and the value received."""


class ShapeError(DlcoreError, ValueError):
    """An array has a shape or dtype the operation cannot accept."""


class NotBuiltError(DlcoreError, RuntimeError):
    """A model or layer was used before `build()` allocated its parameters."""


class BackendError(DlcoreError, RuntimeError):
    """A compute backend was requested that cannot be loaded or used here."""


class SerializationError(DlcoreError, ValueError):
    """A saved model or checkpoint is malformed, truncated or does not match the architecture."""


class CommunicationError(DlcoreError, ConnectionError):
    """A peer connection failed, closed early, or sent something we cannot accept."""


class AuthenticationError(CommunicationError):
    """A peer did not prove knowledge of the job secret."""


class FrameError(CommunicationError):
    """A wire frame is malformed, oversized, or of an unexpected kind."""


class WireVersionError(FrameError):
    """A peer speaks another wire version (another dlcore): permanent, never retried."""


class PeerTimeoutError(CommunicationError, TimeoutError):
    """A socket wait passed its deadline. The message says what was awaited."""


class DivergedError(DlcoreError, RuntimeError):
    """Training produced a NaN or infinite loss or weight; the message names where."""
