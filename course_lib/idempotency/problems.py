"""The idempotency errors as stable problem types (RFC 9457), each with a page that explains it.

The Idempotency-Key draft (section 2.7) says a 400 or a 422 SHOULD carry a link to documentation,
in the problem's `type` or in a `Link: <...>; rel="describedby"` header. Each problem here has a
stable `type` URI that the course API serves as a short HTML page (what happened, what to do), and
every response using it carries both.
"""

from __future__ import annotations

from dataclasses import dataclass

from course_lib.messages import Response, problem

DOCS_PREFIX = "/problems/"


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str
    happened: str  # what the server saw
    todo: str  # what the client should do

    @property
    def uri(self) -> str:
        return DOCS_PREFIX + self.slug

    def link(self) -> str:
        return f'<{self.uri}>; rel="describedby"; type="text/html"'

    def response(self, detail: str, headers: dict[str, str] | None = None) -> Response:
        """This problem as a problem+json response with a Link to its page."""
        return problem(self.status, self.title, detail, {"Link": self.link(), **(headers or {})}, type_uri=self.uri)


KEY_MISSING = ProblemType(
    "idempotency-key-missing", 400, "Idempotency-Key missing",
    "The request has no Idempotency-Key header, and this operation requires one.",
    'Generate a unique key per operation (a UUID), send it as Idempotency-Key: "<key>", and send the same '
    "key again when you retry that operation.")
KEY_MALFORMED = ProblemType(
    "idempotency-key-malformed", 400, "Idempotency-Key malformed",
    "The Idempotency-Key field is not one String (RFC 8941, section 3.3.3): it is empty, longer than 255 "
    "characters, an unterminated or badly escaped quoted string, a list, or sent on several field lines.",
    'Send exactly one field line with a quoted string of 1 to 255 printable ASCII characters, such as '
    'Idempotency-Key: "8e03978e-40d5-43e8-bc93-6894a57f9324". The unquoted form of the same characters is '
    "accepted as the same key.")
KEY_REUSED = ProblemType(
    "idempotency-key-reused", 422, "Idempotency-Key reused",
    "This key was already used with a request whose method, path or body differs from this one.",
    "Use a new key for a new operation. Send the first request's exact body to retry it.")
REQUEST_IN_PROGRESS = ProblemType(
    "request-in-progress", 409, "Request in progress",
    "A request with this key is still being processed (or its worker died and its lease has not run out).",
    "Retry the same request, unchanged, after the number of seconds in Retry-After.")

ALL = (KEY_MISSING, KEY_MALFORMED, KEY_REUSED, REQUEST_IN_PROGRESS)
BY_SLUG = {p.slug: p for p in ALL}
