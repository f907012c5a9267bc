"""Idempotency keys: the seed design's races, and the claim-first store that fixes them (notebook 01).

    from course_lib.idempotency import IdempotencyStore, Request, create_charge, seed_create_charge
"""

from __future__ import annotations

from course_lib.failpoints import SimulatedCrash
from course_lib.idempotency.charges import executions
from course_lib.idempotency.endpoints import create_charge, seed_create_charge
from course_lib.idempotency.keys import HEADER, KeyRejected, fingerprint, key_problem, parse_key
from course_lib.idempotency.operation import Operation
from course_lib.idempotency.schema import reset
from course_lib.idempotency.seed import SEED_HEADER
from course_lib.idempotency.store import Claim, IdempotencyStore, replay_response
from course_lib.messages import REPLAY_HEADER, Request, Response

__all__ = [
    "HEADER",
    "REPLAY_HEADER",
    "SEED_HEADER",
    "Claim",
    "IdempotencyStore",
    "KeyRejected",
    "Operation",
    "Request",
    "Response",
    "SimulatedCrash",
    "create_charge",
    "executions",
    "fingerprint",
    "key_problem",
    "parse_key",
    "replay_response",
    "reset",
    "seed_create_charge",
]
