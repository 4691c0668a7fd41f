"""Model registry: the promotion gate and the manual override (the moves of its aliases).

Gate: the new version and the current `champion` are scored on the NEW run's
validation window (the caller scores; this module decides and records). `champion`
moves to the new version only if its average precision beats the champion's by
`registry.promotion_margin` (always when there is no champion); otherwise the new
version gets the alias `challenger`. The decision, both figures and the window are
tagged on the version (keys `gate.*`).

Moving an alias is check-then-set: MLflow has no compare-and-set, so a move first reads
`champion` again (the request right before the move) and, when it is no longer the version
the decision was made against (`gate.champion_version`), decides again instead of moving
(`register_decided`); after the move it reads the alias back and records a later mover in
`superseded_by`. What remains: a move by another process between that last read and the
move itself (one request's round trip) is overwritten unseen. On an embedded sqlite store
the callers also hold fraud_app.tracking.store_lock, which closes that window between
processes of one machine.

The lookups (version numbers, aliases, the version listing, absent vs a store that could
not answer) are fraud_app.tracking.registry_lookup's; their names are re-exported here.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from fraud_app.errors import ConfigError, ModelLoadError, TrackingError
from fraud_app.tracking.champion_history import read_history, record_move
from fraud_app.tracking.killed_runs import end_killed_runs, end_stopped_run, start_owned_run
from fraud_app.tracking.registry_lookup import MAX_VERSION as MAX_VERSION
from fraud_app.tracking.registry_lookup import absent as absent
from fraud_app.tracking.registry_lookup import alias_version as alias_version
from fraud_app.tracking.registry_lookup import list_versions as list_versions
from fraud_app.tracking.registry_lookup import no_such_model as no_such_model
from fraud_app.tracking.registry_lookup import registered_model as registered_model
from fraud_app.tracking.registry_lookup import store_failed as store_failed
from fraud_app.tracking.registry_lookup import version_number as version_number
from fraud_app.tracking.registry_lookup import versions_filter as versions_filter

logger = logging.getLogger(__name__)
CHAMPION, CHALLENGER = "champion", "challenger"
# how many times the gate decides again when the champion keeps moving under it
GATE_ATTEMPTS = 3
# `promote --reason` is kept as the version's `gate.reason` tag. MLflow refuses a tag value
# over its limit (100,000 characters in 3.x, 5,000 on servers of older releases), and that
# refusal came after `champion` had moved: the champion changed with its record half
# written (no history entry, the old champion's tags unchanged) and a traceback (session 46)
REASON_MAX_CHARS = 5000
DEFAULT_REASON = "manual promotion (fraud-app promote)"  # a promote given no --reason


@dataclass(frozen=True)
class GateDecision:
    name: str
    version: str
    decision: str  # "champion" | "challenger" | "manual"
    margin: float
    new_ap: float | None
    champion_ap: float | None
    champion_version: str | None
    window: dict[str, str] | None
    reason: str
    # the version holding the alias when it was read back after the move, when that is
    # not this version (another process moved it right after: it won)
    superseded_by: str | None = None
    # no frauds (or only frauds) in the validation window: new_ap is None, and the gate
    # promoted nothing on it (unless registry.promote_undefined_ap; see decide)
    validation_ap_undefined: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def undefined(ap: float | None) -> bool:
    """Whether an AP is undefined: None (as JSON gives it back) or NaN (a window without
    frauds, or of frauds only)."""
    return ap is None or (isinstance(ap, float) and not math.isfinite(ap))


UNDEFINED_AP = "validation AP undefined (no frauds in the validation window)"


def decide(
    new_ap: float | None, champion_ap: float | None, margin: float, *,
    champion: bool | None = None, promote_undefined: bool = False,
) -> tuple[str, str]:  # fmt: skip
    """(alias for the new version, reason). Pure: the whole promotion rule.

    champion: whether a champion exists (default: champion_ap is not None). A new AP that
    is undefined (a validation window without frauds) is never promoted over a champion,
    and without one only when `promote_undefined` (registry.promote_undefined_ap): nothing
    shows that such a model ranks frauds (it was promoted silently)."""
    has_champion = champion_ap is not None if champion is None else champion
    if undefined(new_ap):
        if has_champion:
            return CHALLENGER, f"{UNDEFINED_AP}: not compared; the champion stays"
        if promote_undefined:
            return CHAMPION, (
                f"no champion yet; {UNDEFINED_AP}: promoted unvalidated because "
                "registry.promote_undefined_ap is true"
            )
        return CHALLENGER, (
            f"no champion yet, but {UNDEFINED_AP}: not promoted (promote it with `fraud-app "
            "promote VERSION`, or set registry.promote_undefined_ap: true)"
        )
    if champion_ap is None:
        return CHAMPION, "no champion yet"
    if new_ap > champion_ap + margin:
        return (
            CHAMPION,
            f"AP {new_ap:.4f} beats the champion's {champion_ap:.4f} by more than {margin:g}",
        )
    return (
        CHALLENGER,
        f"AP {new_ap:.4f} does not beat the champion's {champion_ap:.4f} by {margin:g}",
    )


def current_champion(client, name: str):
    """The version holding `champion`, or None when there is none. A store that cannot
    answer is a TrackingError: read as "no champion", it made the gate promote any new
    version unconditionally."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        if absent(exc):
            return None
        raise store_failed(client, exc, f"looking up the champion of {name!r}") from None


def decision_tags(d: GateDecision) -> dict[str, str]:
    """The `gate.*` tags of a version: the decision, both figures, the window, the reason."""
    tags = {
        "gate.decision": d.decision,
        "gate.margin": d.margin,
        "gate.new_ap": d.new_ap,
        "gate.champion_ap": d.champion_ap,
        "gate.champion_version": d.champion_version,
        "gate.window_start": (d.window or {}).get("start"),
        "gate.window_end": (d.window or {}).get("end"),  # its end instant's date, as before
        "gate.window_last_day": (d.window or {}).get("last_day"),  # its last day of rows
        # the champion trained on the window's first days: both were compared after them
        "gate.champion_trained_through": (d.window or {}).get("champion_trained_through"),
        "gate.reason": d.reason,
        "gate.at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if d.validation_ap_undefined:
        tags["gate.validation_ap_undefined"] = "true"
    return {key: "" if value is None else str(value) for key, value in tags.items()}


def champion_version(client, name: str) -> str | None:
    """The version number holding `champion` now (one request), None when there is none."""
    mv = current_champion(client, name)
    return None if mv is None else str(mv.version)


# on a version: the alias the gate gave it (tracking.killed_runs.mark_orphans reads it)
ALIAS_HELD = "alias.held"


def register_decided(client, model_uri: str, d: GateDecision, redecide) -> GateDecision:
    """Register `model_uri` as a new version of d.name WITH its gate tags (one request),
    then give it the decided alias, checked: right before the move the champion is read
    again, and when it is no longer d.champion_version (another run's gate or a `promote`
    moved it since the decision) `redecide()` (the gate again, against the champion now in
    place) replaces the decision and the version's tags, up to GATE_ATTEMPTS times.
    d.version is ignored; the returned decision has it."""
    import mlflow

    mv = mlflow.register_model(model_uri, d.name, tags=decision_tags(d))
    d = replace(d, version=str(mv.version))
    for _ in range(GATE_ATTEMPTS):
        now = champion_version(client, d.name)  # the last read before the move
        if now == d.champion_version:
            client.set_registered_model_alias(d.name, d.decision, d.version)
            # that it held its alias, once another version took it (a retry of a run
            # killed after this point must not call it killed before its alias)
            client.set_model_version_tag(d.name, d.version, ALIAS_HELD, d.decision)
            break
        logger.info("registry: the champion moved (v%s -> v%s) since the gate of v%s; "
                    "deciding again", d.champion_version, now, d.version)  # fmt: skip
        d = replace(redecide(), version=d.version)
        _tag(client, d.name, d.version, decision_tags(d))
    else:
        raise TrackingError(
            f"the champion of {d.name!r} moved {GATE_ATTEMPTS} times while v{d.version} was "
            f"being decided (last seen: v{now}); v{d.version} is registered without an alias "
            f"and its gate.* tags hold the last decision. Promote it with `fraud-app promote "
            f"{d.version}` if wanted"
        )
    d = _read_back(client, d, d.decision)
    if d.decision == CHAMPION and d.superseded_by is None:
        record_move(client, d.name, d.version, d.champion_version, "gate", d.reason)
    logger.info("registry: %s v%s -> %s (%s)", d.name, d.version, d.decision, d.reason)
    return d


def _tag(client, name: str, version: str, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


def _read_back(client, d: GateDecision, alias: str) -> GateDecision:
    """d with superseded_by set when `alias` no longer names d.version right after the move
    (another process moved it in between: the later move stands); tagged on the version."""
    now = alias_version(client, d.name, alias)
    if now == d.version:
        return d
    logger.warning("registry: %s moved %s to v%s right after this process moved it to v%s; "
                   "v%s holds it", d.name, alias, now, d.version, now)  # fmt: skip
    client.set_model_version_tag(d.name, d.version, "gate.superseded_by", str(now or ""))
    return replace(d, superseded_by=now)


PROMOTION_MODEL = "promotion.model"  # the registered model a promotion run moved


def _version(client, name: str, version: str):
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        if not absent(exc):
            raise store_failed(client, exc, f"looking up model {name!r}") from None
        raise no_such_model(client, name, "") from None
    try:
        return client.get_model_version(name, str(version))
    except MlflowException as exc:
        if not absent(exc):
            raise store_failed(client, exc, f"looking up version {version!r} of {name!r}") from None
        raise ModelLoadError(
            f"version {version!r} of model {name!r} does not exist; see `fraud-app models`"
        ) from None


def promote(
    client, name: str, version: str, *, experiment_id: str, reason: str = ""
) -> GateDecision:
    """Manual override: `champion` -> `version`, tagged and logged as a run of its own.

    The version keeps the figures its gate recorded (gate.new_ap, gate.champion_ap, the
    window; they were blanked); gate.decision becomes `manual` and the automatic decision
    is kept as gate.auto_decision. Promoting the current champion changes nothing (no tag,
    no run): d.decision is then "unchanged"."""

    check_reason(reason)  # before anything is read or moved
    version = version_number(version) or str(version)  # '02' is v2 (an absent one: named)
    mv = _version(client, name, version)
    previous = current_champion(client, name)
    was = None if previous is None else str(previous.version)
    d = GateDecision(
        name, str(version), "manual", 0.0, None, None, was, None,
        reason or DEFAULT_REASON,
    )  # fmt: skip
    run_name = f"promote-{name}-v{version}"
    if was == str(version):
        # a promote of this version killed after its alias move leaves its run RUNNING, and
        # this retry starts none: it ends it (and any killed promote of this model) here
        ended = end_killed_runs(client, experiment_id, None, "promotion", None,
                                tags={PROMOTION_MODEL: name})  # fmt: skip
        said = f"v{version} is already the champion"
        if _finish_killed_move(client, mv, d, ended):
            said += ("; the promote of it killed after moving the alias is finished (the "
                     "version's gate.decision manual and the champion history entry)")  # fmt: skip
        return replace(d, decision="unchanged", reason=said)
    if str(getattr(mv, "current_stage", "") or "").lower() == "archived":
        # MLflow's legacy stage for a retired version (the UI, transition_model_version_stage):
        # it was made the champion without a word (session 50)
        logger.warning("registry: %s v%s is in MLflow's stage Archived (retired by someone, in "
                       "the registry's legacy stages); made the champion as asked, its stage "
                       "left as it is", name, version)  # fmt: skip
    # the reason too: `promote --reason` said "recorded on the version and the run", and the
    # run had none (session 46)
    tags = {"promotion.decision": "manual", PROMOTION_MODEL: name,
            "promotion.version": str(version), "promotion.previous_champion": was or "",
            "promotion.reason": d.reason}  # fmt: skip
    # the run first, then the moves: a promote killed after the alias moved left no run (or
    # one RUNNING for good, docs/PROBES.md session 41); now its run, RUNNING, names the
    # killed process, and the next promote of this model ends it as KILLED
    run_id = start_owned_run(client, experiment_id, run_name, "promotion", tags=tags)
    end_killed_runs(client, experiment_id, None, "promotion", run_id, tags={PROMOTION_MODEL: name})
    try:
        d = _move_champion(client, mv, d, was)
    except BaseException as exc:
        end_stopped_run(client, run_id, exc)
        raise
    if d.superseded_by is not None:
        client.set_tag(run_id, "promotion.superseded_by", str(d.superseded_by))
    client.set_terminated(run_id, "FINISHED")
    return d


def check_reason(reason: str) -> None:
    """ConfigError when a manual promotion's reason is longer than a registry tag may be,
    or is not text the store can keep (UTF-8)."""
    try:
        reason.encode("utf-8")
    except UnicodeEncodeError as exc:
        # a terminal or locale that is not UTF-8 (`--reason "café"` typed in Latin-1):
        # argv's bytes came as escapes, and the store's encoding failed with a traceback
        # (before session 46: after `champion` had moved; review46a)
        code = ord(reason[exc.start])
        what = f"the byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"U+{code:04X}"
        raise ConfigError(
            f"the promotion reason is not UTF-8 text (character {exc.start + 1} is {what}, "
            "from a terminal or locale in another encoding), and the tracking store keeps "
            "UTF-8: give the reason as UTF-8 text; nothing was changed"
        ) from None
    if len(reason) > REASON_MAX_CHARS:
        raise ConfigError(
            f"the promotion reason is {len(reason):,} characters; at most "
            f"{REASON_MAX_CHARS:,} (it is kept as the version's gate.reason tag, which the "
            "tracking store limits): give a short reason (a ticket id, a link); nothing was "
            "changed"
        )


def _finish_killed_move(client, mv, d: GateDecision, ended: list[str]) -> bool:
    """The moves a promote of d.version killed after its alias move had not made (the
    version's manual tags, the champion history entry), made now; whether it did. Only
    for a killed promotion run (`ended`: the ones this promote just ended) of this very
    version, and only when the history's newest entry is not this version (the killed
    run wrote it, or a gate made the version champion since). Before (review41a), the
    retry answered `unchanged` and the version kept its gate's decision (`rejected`) as
    the champion, with the history naming the version it replaced as the champion still."""
    name, version = d.name, str(d.version)
    for run_id in ended:
        tags = client.get_run(run_id).data.tags or {}
        if tags.get("promotion.version") != version:
            continue
        history = read_history(client.get_registered_model(name).tags)
        if history and str(history[-1].get("version")) == version:
            return False
        was = tags.get("promotion.previous_champion") or None
        # the killed promote's own reason (its run records it since session 46): the retry
        # wrote its own, the default when it gave none (session 41's Left). A killed one
        # given none keeps the retry's: its default replaced the retry's --reason (review46a)
        killed = tags.get("promotion.reason")
        if killed and killed != DEFAULT_REASON:
            d = replace(d, reason=killed)
        _manual_tags(client, mv, d, was)
        record_move(client, name, version, was, "manual", d.reason)
        if _alias_is(client, name, CHALLENGER, version):  # it no longer challenges itself
            client.delete_registered_model_alias(name, CHALLENGER)
        logger.warning("registry: %s v%s: finished the promote killed after moving the "
                       "alias (run %s): its manual tags and champion history entry",
                       name, version, run_id)  # fmt: skip
        return True
    return False


def _manual_tags(client, mv, d: GateDecision, was: str | None) -> None:
    """The version's tags of a manual promotion (its gate's decision kept as auto_decision)."""
    tags = mv.tags or {}
    manual = {"gate.decision": "manual", "gate.reason": d.reason, "gate.promoted_from": was or "",
              "gate.at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}  # fmt: skip
    if tags.get("gate.decision") not in (None, "", "manual"):
        manual["gate.auto_decision"] = tags["gate.decision"]
    for key, value in manual.items():
        client.set_model_version_tag(d.name, str(d.version), key, value)


def _move_champion(client, mv, d: GateDecision, was: str | None) -> GateDecision:
    """`champion` -> d.version, the version's manual tags, the champion history."""
    name, version = d.name, d.version
    client.set_registered_model_alias(name, CHAMPION, str(version))
    d = _read_back(client, d, CHAMPION)
    _manual_tags(client, mv, d, was)
    if d.superseded_by is None:
        record_move(client, name, str(version), was, "manual", d.reason)
    logger.info("registry: %s v%s -> champion (manual; previous %s)", name, version, was)
    if _alias_is(client, name, CHALLENGER, version):  # it no longer challenges itself
        client.delete_registered_model_alias(name, CHALLENGER)
    return d


def _alias_is(client, name: str, alias: str, version: str) -> bool:
    return alias_version(client, name, alias) == str(version)
