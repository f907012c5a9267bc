"""Reference solutions for notebook 07: 401 before 403, the constant-time check, the token's checksum."""

from __future__ import annotations

import hashlib
import hmac
import re
import zlib


def auth_status(token_state: str, abilities: set[str], needed: str) -> int:
    if token_state != "valid":
        return 401
    return 200 if "*" in abilities or needed in abilities else 403


def verify_token(stored_hash: str, secret: str) -> bool:
    # compare_digest takes as long whatever the first differing character: no timing hint for a guesser.
    return hmac.compare_digest(stored_hash, hashlib.sha256(secret.encode()).hexdigest())


def well_formed_token(secret: str) -> bool:
    if not re.fullmatch(r"[A-Za-z0-9]{40}[0-9a-f]{8}", secret):  # fullmatch: no trailing newline slips through
        return False
    return f"{zlib.crc32(secret[:40].encode()):08x}" == secret[40:]
