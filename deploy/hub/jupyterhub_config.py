"""The workshop hub (one machine): `course hub` starts JupyterHub with this file.

Every setting lives in course_lib/hub/config.py, read from COURSE_HUB_* variables, so the tests, `course
bench hub` and a real workshop run the same configuration. Add site-specific lines (TLS, another
authenticator) below the call.
"""

from course_lib.hub.config import configure

configure(c)  # noqa: F821 (`c` is the config object JupyterHub provides)
