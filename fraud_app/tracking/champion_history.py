"""Who was the champion when: every move of the `champion` alias (the gate's, a manual
`fraud-app promote`, a rollback) appended to the registered model's tag `champion.history`,
and the replaced version tagged `champion.replaced_by` / `champion.until`.

Before, a rollback (`promote 1` after v2) left v2 tagged `gate.decision: manual`, no alias
and nothing saying it had been the champion, until when, or what replaced it; a version
promoted twice kept only the last `gate.promoted_from`. MLflow's alias is a pointer
without a past. The callers hold the store's lock on an embedded sqlite store (the read of
the tag and its write are one step there); on a tracking server two movers at the same
instant may each append to the history they read, and the later write stands.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

logger = logging.getLogger(__name__)
HISTORY_TAG = "champion.history"
KEPT = 30  # moves kept in the tag at most (older ones drop off)
REASON_CHARS = 120
# MLflow's registered-model tag column is VARCHAR(5000) (SqlRegisteredModelTag.value, MLflow
# 3.17): a Postgres or MySQL store refuses a longer value (sqlite does not check), and 30
# moves took ~6,900 characters; older moves drop off until the value fits
TAG_CHARS = 5000
# on a replaced champion: when and by what (removed when it becomes the champion again)
ENDED_TAGS = ("champion.until", "champion.replaced_by")


def read_history(tags: dict[str, str] | None) -> list[dict[str, Any]]:
    """The moves recorded in a registered model's tags, oldest first ([] when none, or a
    tag edited into something that is not a list of moves)."""
    try:
        history = json.loads((tags or {}).get(HISTORY_TAG) or "[]")
    except ValueError:
        return []
    if not isinstance(history, list):
        return []
    return [m for m in history if isinstance(m, dict) and "version" in m]


def record_move(client, name: str, version: str, previous: str | None, how: str, reason: str):
    """Record that `version` became the champion of `name`, replacing `previous` (None: no
    champion before), by `how` ("gate" or "manual")."""
    from mlflow.exceptions import MlflowException

    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    history = read_history(client.get_registered_model(name).tags)
    if not history and previous:  # the first move recorded: its predecessor as far as known
        history.append(_first(client, name, previous))
    history.append({"version": str(version), "since": at, "how": how, "replaced": previous,
                    "reason": (reason or "")[:REASON_CHARS]})  # fmt: skip
    client.set_registered_model_tag(name, HISTORY_TAG, _tag_value(history[-KEPT:]))
    client.set_model_version_tag(name, str(version), "champion.since", at)
    # a version champion again (a rollback): the end of its earlier period is the history's
    # now; left on it, the champion read `champion.replaced_by: 2 (gate)` (session 50)
    held = client.get_model_version(name, str(version)).tags or {}
    for key in ENDED_TAGS:
        if key in held:
            client.delete_model_version_tag(name, str(version), key)
    if previous and previous != str(version):
        try:
            client.set_model_version_tag(name, previous, "champion.until", at)
            client.set_model_version_tag(name, previous, "champion.replaced_by",
                                         f"{version} ({how})")  # fmt: skip
        except MlflowException as exc:  # deleted meanwhile: the history still names it
            logger.warning("registry: could not tag the replaced champion v%s: %s", previous, exc)


def _tag_value(history: list[dict[str, Any]]) -> str:
    """The newest moves as JSON of at most TAG_CHARS characters (non-ASCII kept as it is:
    escaped, a reason of 120 accented letters took 720 characters)."""
    while True:
        value = json.dumps(history, ensure_ascii=False)
        if len(value) <= TAG_CHARS or len(history) <= 1:
            return value
        history = history[1:]


def _first(client, name: str, version: str) -> dict[str, Any]:
    """The champion in place before any move was recorded: since its gate's time, when its
    gate (or a manual promotion) made it so."""
    from mlflow.exceptions import MlflowException

    try:
        tags = client.get_model_version(name, version).tags or {}
    except MlflowException:
        tags = {}
    how = tags.get("gate.decision")
    how = "gate" if how == "champion" else how if how == "manual" else "unknown"
    return {"version": str(version), "since": tags.get("gate.at") or None, "how": how,
            "replaced": tags.get("gate.promoted_from") or None,
            "reason": "(recorded before the history was kept)"}  # fmt: skip


def periods(history: list[dict[str, Any]], version: str) -> list[dict[str, Any]]:
    """The periods `version` held `champion` (oldest first): since, until (None: holds it
    now), how it became champion, and what replaced it."""
    out = []
    for i, move in enumerate(history):
        if str(move.get("version")) != str(version):
            continue
        after = history[i + 1] if i + 1 < len(history) else None
        out.append({"since": move.get("since"), "until": after and after.get("since"),
                    "how": move.get("how"), "replaced": move.get("replaced"),
                    "replaced_by": after and str(after.get("version"))})  # fmt: skip
    return out


def history_lines(history: list[dict[str, Any]], shown: int = 10) -> list[str]:
    """The moves for a person, newest first (the last `shown`)."""
    lines = []
    for move in reversed(history[-shown:]):
        was = f", replaced v{move['replaced']}" if move.get("replaced") else ""
        why = f": {move['reason']}" if move.get("reason") else ""
        lines.append(f"  v{move['version']:<6} since {move.get('since') or 'unknown'}  "
                     f"{move.get('how')}{was}{why}")  # fmt: skip
    if len(history) > shown:
        lines.append(f"  ... {len(history) - shown} earlier move(s): `fraud-app models --json`")
    return lines
