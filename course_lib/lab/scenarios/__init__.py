"""The demonstrations each lesson runs on the reference code: races, herds, out-of-order commits.

A scenario drives a topic's code through the race harness and counts what happened; the topic itself
only marks its moments with failpoints, so the same code runs unchanged in production.
"""
