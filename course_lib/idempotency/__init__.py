"""Idempotency keys: the seed design's races, and the claim-first store that fixes them (notebook 01).

    from course_lib.idempotency import IdempotencyStore, Request, create_charge, seed_create_charge
"""

from __future__ import annotations

from ..faults import SimulatedCrash
from .charges import executions
from .endpoints import create_charge, seed_create_charge
from .keys import HEADER, fingerprint, key_problem
from .messages import REPLAY_HEADER, Request, Response
from .operation import Operation
from .schema import reset
from .seed import SEED_HEADER
from .store import Claim, IdempotencyStore, replay_response

__all__ = [
    "HEADER", "REPLAY_HEADER", "SEED_HEADER", "Claim", "IdempotencyStore", "Operation", "Request", "Response",
    "SimulatedCrash", "create_charge", "executions", "fingerprint", "key_problem", "replay_response", "reset",
    "seed_create_charge",
]
