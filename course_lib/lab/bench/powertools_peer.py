"""AWS Lambda Powertools' idempotency utility set up as the peer of `course bench idempotency`.

Three things make the comparison like for like:

- **The lease.** Outside Lambda, Powertools cannot see the invocation's remaining time, so a record
  left IN_PROGRESS by a killed process would block its key until the record expires (an hour).
  Registering a Lambda context whose remaining time is our lease (1 s) gives it the same recovery
  window as the claim-first store.
- **Payload validation.** `payload_validation_jmespath="body"` rejects a key reused with another
  body, as our fingerprint does (422).
- **Its Redis layer drops the validation hash** when it marks a record COMPLETED (3.x's
  `_update_record` writes only status, expiry and data), so with validation on, an *identical*
  retry of a completed call raises IdempotencyValidationError. `validation_rejects_identical_retry`
  shows it; `ValidationKeepingLayer` keeps the hash on completion (what the TypeScript port's fix
  does: powertools-lambda-typescript PR #5706) and is what the benchmark runs.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError
from aws_lambda_powertools.utilities.idempotency.persistence.redis import RedisCachePersistenceLayer


@dataclass(frozen=True)
class LeaseContext:
    """The one thing Powertools reads from a Lambda context here: the time left, which bounds how long
    an IN_PROGRESS record blocks its key once its process died."""

    lease_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return self.lease_ms


# 3.x marks the Redis layer deprecated for v4 (its replacement is the same class under another name),
# at import and at subclassing; it is the current one.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)

    class ValidationKeepingLayer(RedisCachePersistenceLayer):
        """Powertools' Redis layer, but a COMPLETED record keeps the payload hash its IN_PROGRESS record had."""

        def _update_record(self, data_record: Any) -> None:
            mapping = {self.data_attr: data_record.response_data, self.status_attr: data_record.status,
                       self.expiry_attr: data_record.expiry_timestamp}
            if self.payload_validation_enabled:
                mapping[self.validation_key_attr] = data_record.payload_hash
            ttl = self._get_expiry_second(data_record.expiry_timestamp)
            self.client.set(name=data_record.idempotency_key, value=self._json_serializer(mapping), ex=ttl)


def layer(redis_client: Any, keep_validation_hash: bool = True) -> RedisCachePersistenceLayer:
    """The Redis persistence layer on `redis_client` (a redis.Redis)."""
    with warnings.catch_warnings():  # 3.x marks its Redis layer deprecated for v4; it is the current one
        warnings.simplefilter("ignore", DeprecationWarning)
        cls = ValidationKeepingLayer if keep_validation_hash else RedisCachePersistenceLayer
        return cls(client=redis_client)


def config(lease_ms: int) -> IdempotencyConfig:
    """Key on (user, key) as ours scopes keys per user; validate the body; the lease as the in-progress expiry."""
    cfg = IdempotencyConfig(event_key_jmespath="[user, key]", payload_validation_jmespath="body",
                            expires_after_seconds=3600)
    cfg.register_lambda_context(LeaseContext(lease_ms))  # type: ignore[arg-type]  # duck-typed LambdaContext
    return cfg


def wrap(work: Callable[..., Any], redis_client: Any, lease_ms: int, keep_validation_hash: bool = True
         ) -> Callable[..., Any]:
    """`work(request=...)` made idempotent by Powertools, its keys under a fresh prefix (runs do not mix)."""
    return idempotent_function(data_keyword_argument="request", config=config(lease_ms),
                               persistence_store=layer(redis_client, keep_validation_hash),
                               key_prefix=f"bench-{uuid.uuid4().hex}")(work)


def validation_rejects_identical_retry(redis_client: Any, keep_validation_hash: bool) -> bool:
    """Run a call, then the identical call again: True when the retry was refused as a different payload."""
    runs: list[int] = []

    def work(request: dict) -> dict:
        runs.append(1)
        return {"run": len(runs)}

    call = wrap(work, redis_client, lease_ms=1000, keep_validation_hash=keep_validation_hash)
    request = {"user": "alice", "key": "k-1", "body": {"amount": 1000, "currency": "EUR"}}
    call(request=request)
    try:
        call(request=request)
    except IdempotencyValidationError:
        return True
    return False
