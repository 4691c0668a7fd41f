"""The messages of the shared-memory negotiation (dlcore.collective.shm): what each rank
offers and what its probe found, as they travel, and what the offers decide.

Owns: the offer (host key, segment name, random token, error, requested transport, signal
kind; `ShmTransport._offer` fills it in) and the probe result as compact JSON (`to_json`); a
peer's parsed and checked (`parse_offer`: every key a string, the token hex, the name a
segment's; `parse_problem`: a string), a FrameError for a malformed one; `offers_problem`,
why a group's offers rule shared memory out. Does not own creating, mapping or unlinking the
segments, or the exchanges round the ring (`shm.ShmTransport.establish`,
`shm_control.exchange`).
"""

from __future__ import annotations

import json
from typing import Any

from dlcore.collective.segment import is_segment_name
from dlcore.errors import FrameError


def offers_problem(offers: list[dict[str, Any]]) -> str:
    """Why these offers rule shared memory out ("" when they do not): first error by rank,
    or ranks on different hosts."""
    errors = [offer["error"] for offer in offers if offer["error"]]
    if errors:
        return errors[0]
    hosts: dict[str, list[int]] = {}
    for rank, offer in enumerate(offers):
        hosts.setdefault(offer["host"], []).append(rank)
    if len(hosts) > 1:
        groups = " and ".join(str(ranks) for ranks in hosts.values())
        return f"ranks {groups} run on different hosts (boot id, hostname or uid differ)"
    return ""


_OFFER_KEYS = ("host", "name", "token", "error", "transport", "signal")


def to_json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def parse_offer(body: bytes, who: str) -> dict[str, Any]:
    try:
        offer = json.loads(body)
        valid = isinstance(offer, dict) and all(isinstance(offer.get(k), str) for k in _OFFER_KEYS)
        if valid:
            offer["token"] = bytes.fromhex(offer["token"])
            valid = offer["name"] == "" or is_segment_name(offer["name"])
    except (ValueError, UnicodeDecodeError):
        valid = False
    if not valid:
        raise FrameError(f"{who} sent a malformed shared-memory segment offer")
    return offer


def parse_problem(body: bytes) -> str:
    try:
        problem = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        problem = None
    if not isinstance(problem, str):
        raise FrameError("a rank sent a malformed shared-memory probe result")
    return problem
