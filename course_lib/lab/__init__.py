"""The classroom: everything a lesson needs that production code would not have.

The race harness (`race`), notebook helpers (`notebook`), widgets, plots, saved results, slide decks,
the interview drill, exercises with their reference solutions, the scenarios each lesson runs
(`scenarios/`), the fault-injecting network (`flaky_network`) and the side-by-side benchmarks
(`bench/`). It may import the topics and the API; no topic imports it (tests/test_architecture.py).
"""
