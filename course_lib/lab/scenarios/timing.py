"""What `==` leaks about a secret, measured: comparison time against the length of the matching prefix.

`a == b` on bytes or str stops at the first differing byte (memcmp), so it returns sooner the
earlier the guess goes wrong. An attacker who can time many requests learns how much of a guess is
right, one character at a time. `hmac.compare_digest` looks at every byte whatever the input.

The leak per byte is under a nanosecond, so the textbook measurement uses a long secret to make it
visible on a noisy laptop; notebook 07 then measures the 64-byte digests a token check really compares.
For scale, the best published remote measurements resolved about 100 ns on a local network and 15-100 µs
across the Internet (Crosby, Wallach and Riedi, "Opportunities and Limits of Remote Timing Attacks", 2009).
"""

from __future__ import annotations

import functools
import hmac
import secrets
import timeit
from collections.abc import Callable, Sequence

COMPARATORS: dict[str, Callable[[bytes, bytes], bool]] = {
    "==": lambda a, b: a == b,
    "hmac.compare_digest": hmac.compare_digest,
}


def comparison_times(length: int = 64 * 1024, prefixes: Sequence[float] = (0, 0.25, 0.5, 0.75, 1.0),
                     number: int = 100, repeat: int = 7, seed_secret: bytes | None = None) -> dict[str, list[float]]:
    """Per comparator, microseconds per comparison for guesses right in the first `prefix` share of bytes.

    A prefix of 1.0 means every byte but the last is right (an identical guess would be the same
    object, which `==` answers without comparing at all).

    Each figure is the fastest of `repeat` runs of `number` comparisons: the minimum is the run with
    the least interference from the rest of the machine, the usual choice for micro-timings.
    """
    secret = seed_secret or secrets.token_bytes(length)
    guesses = []
    for share in prefixes:
        right = min(int(len(secret) * share), len(secret) - 1)
        wrong = bytes(b ^ 0xFF for b in secret[right:])  # every byte after the prefix differs
        guesses.append(secret[:right] + wrong)
    return {name: [min(timeit.repeat(functools.partial(compare, secret, g), number=number, repeat=repeat))
                   / number * 1e6 for g in guesses]
            for name, compare in COMPARATORS.items()}
