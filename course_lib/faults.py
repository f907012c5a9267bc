"""Injected failures for the lessons, benchmarks and property tests."""

from __future__ import annotations


class SimulatedCrash(RuntimeError):
    """A worker died at a named phase (the process was killed, the pod evicted), mid-request or mid-batch."""
