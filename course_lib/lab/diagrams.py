"""The lessons' diagrams, drawn as SVG files that JupyterLab, the slide decks and GitHub all show as they are.

A picture is the explanation in four places: the claim's states (01), a lease and its fencing tokens on one
timeline (02), a snapshot and the replay after it (04), and who talks to whom in a presigned multipart upload
(05). Mermaid would need its JavaScript in every viewer (a deck opened offline has none), so the diagrams are
plain SVG, written from the descriptions below by `course diagrams` into notebooks/figures/; a test checks
the committed files are what this module draws, so a diagram never drifts from its description.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from pathlib import Path

FIGURES = Path(__file__).parents[2] / "notebooks" / "figures"
FONT = "font-family='DejaVu Sans, Helvetica, Arial, sans-serif'"
INK, MUTED, ACCENT, GOOD, BAD = "#1f2937", "#6b7280", "#2563eb", "#15803d", "#b91c1c"
FILLS = {"plain": "#f3f4f6", "active": "#dbeafe", "good": "#dcfce7", "bad": "#fee2e2", "warn": "#fef3c7"}


@dataclass
class Canvas:
    """Just enough SVG: boxes, arrows with labels, text and lines, in drawing order."""

    width: int
    height: int
    parts: list[str] = field(default_factory=list)

    def text(self, x: float, y: float, words: str, size: int = 13, anchor: str = "middle", colour: str = INK,
             bold: bool = False) -> None:
        weight = " font-weight='bold'" if bold else ""
        for n, line in enumerate(words.split("\n")):
            self.parts.append(f"<text x='{x:g}' y='{y + n * (size + 3):g}' font-size='{size}' text-anchor='{anchor}' "
                              f"fill='{colour}'{weight}>{escape(line)}</text>")

    def box(self, x: float, y: float, w: float, h: float, label: str, fill: str = "plain", size: int = 13,
            bold: bool = False) -> None:
        self.parts.append(f"<rect x='{x:g}' y='{y:g}' width='{w:g}' height='{h:g}' rx='6' fill='{FILLS[fill]}' "
                          f"stroke='{INK}' stroke-width='1.2'/>")
        lines = label.count("\n") + 1
        self.text(x + w / 2, y + h / 2 - (lines - 1) * (size + 3) / 2 + size * 0.35, label, size, bold=bold)

    def line(self, x1: float, y1: float, x2: float, y2: float, colour: str = MUTED, dashed: bool = False,
             width: float = 1.2) -> None:
        dash = " stroke-dasharray='5 4'" if dashed else ""
        self.parts.append(f"<line x1='{x1:g}' y1='{y1:g}' x2='{x2:g}' y2='{y2:g}' stroke='{colour}' "
                          f"stroke-width='{width:g}'{dash}/>")

    def arrow(self, x1: float, y1: float, x2: float, y2: float, label: str = "", colour: str = INK,
              dashed: bool = False, above: float = 6) -> None:
        """An arrow from (x1, y1) to (x2, y2), its label centred above the middle."""
        dash = " stroke-dasharray='5 4'" if dashed else ""
        marker = {INK: "ink", GOOD: "good", BAD: "bad", ACCENT: "accent", MUTED: "muted"}[colour]
        self.parts.append(f"<line x1='{x1:g}' y1='{y1:g}' x2='{x2:g}' y2='{y2:g}' stroke='{colour}' "
                          f"stroke-width='1.4'{dash} marker-end='url(#head-{marker})'/>")
        if label:
            lines = label.count("\n")
            self.text((x1 + x2) / 2, (y1 + y2) / 2 - above - lines * 14, label, 11, colour=colour)

    def svg(self, title: str) -> str:
        heads = "".join(
            f"<marker id='head-{name}' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' markerHeight='7' "
            f"orient='auto-start-reverse'><path d='M 0 0 L 10 5 L 0 10 z' fill='{colour}'/></marker>"
            for name, colour in (("ink", INK), ("good", GOOD), ("bad", BAD), ("accent", ACCENT), ("muted", MUTED)))
        body = "\n".join(self.parts)
        return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{self.width}' height='{self.height}' "
                f"viewBox='0 0 {self.width} {self.height}' {FONT} role='img' aria-label='{escape(title)}'>\n"
                f"<title>{escape(title)}</title>\n<defs>{heads}</defs>\n"
                f"<rect width='{self.width}' height='{self.height}' fill='white'/>\n{body}\n</svg>\n")


def claim_states() -> str:
    """01: an idempotency key's record, from the first request to its stored answer."""
    c = Canvas(820, 330)
    c.text(410, 24, "One idempotency key: what its record goes through, and what a retry is told", 15, bold=True)
    c.box(20, 120, 130, 56, "no record", "plain")
    c.box(270, 120, 170, 56, "in progress\n(holder + lease)", "active", bold=True)
    c.box(610, 120, 190, 56, "completed\n(status + body stored)", "good", bold=True)
    c.box(270, 250, 170, 56, "taken over\n(new holder, new lease)", "warn")
    c.arrow(150, 148, 268, 148, "INSERT wins the\nunique (scope, key)")
    c.arrow(440, 148, 608, 148, "work done, response\nstored in one commit", GOOD)
    c.arrow(330, 178, 330, 248, "", ACCENT)
    c.text(325, 222, "lease expired:", 11, anchor="end", colour=ACCENT)
    c.text(325, 236, "a retry claims it", 11, anchor="end", colour=ACCENT)
    c.arrow(440, 278, 640, 178, "resumes from its recovery\npoint, then completes", GOOD, above=14)
    c.text(385, 72, "retry while the lease holds: 409 + Retry-After", 12, colour=BAD)
    c.line(385, 78, 385, 118, BAD, dashed=True)
    c.text(705, 72, "retry: 200 with the stored body", 12, colour=GOOD)
    c.line(705, 78, 705, 118, GOOD, dashed=True)
    c.text(20, 232, "Whatever the state: the same key", 12, anchor="start", colour=BAD)
    c.text(20, 248, "with another payload (its", 12, anchor="start", colour=BAD)
    c.text(20, 264, "fingerprint differs): 422", 12, anchor="start", colour=BAD)
    return c.svg("State machine of an idempotency key's record")


def lease_and_fencing() -> str:
    """02: a pause longer than the lease, and the fence that keeps the late write out."""
    c = Canvas(900, 300)
    c.text(450, 24, "A pause longer than the lease: two holders believe they hold the lock", 15, bold=True)
    x0, scale = 130, 68  # x of t = 0 s, pixels per second
    for name, y in (("holder A", 75), ("holder B", 145), ("orders row", 220)):
        c.text(20, y + 20, name, 13, anchor="start", bold=True)
    c.line(x0 + 3 * scale, 58, x0 + 3 * scale, 255, BAD, dashed=True)  # first: the boxes cover it
    c.text(x0 + 3 * scale, 52, "A's lease expires (3 s)", 11, colour=BAD)
    c.box(x0, 75, 1.8 * scale, 30, "lock, fence 33", "active", 11)
    c.box(x0 + 1.8 * scale, 75, 4.7 * scale, 30, "GC pause: A still believes it holds the lock", "warn", 11)
    c.box(x0 + 3.4 * scale, 145, 3.2 * scale, 30, "B: lock, fence 34", "good", 11)
    c.arrow(x0 + 5 * scale, 175, x0 + 5 * scale, 218, "", GOOD)
    c.text(x0 + 5 * scale - 6, 204, "B writes: accepted", 11, anchor="end", colour=GOOD)
    c.arrow(x0 + 6.5 * scale, 105, x0 + 7.5 * scale, 218, "", BAD)
    c.text(x0 + 7.5 * scale + 8, 204, "A wakes, writes, fence 33: rejected", 11, anchor="start", colour=BAD)
    c.box(x0, 220, 5 * scale, 28, "fence = 33", "plain", 11)
    c.box(x0 + 5 * scale, 220, 5.6 * scale, 28, "fence = 34: WHERE fence < :fence refuses 33", "good", 11)
    c.text(450, 285, "The lock saves work; the check at the resource keeps the data correct.", 12, colour=MUTED)
    return c.svg("Timeline of a lease expiring during a pause, and fencing tokens")


def snapshot_and_replay(events: int = 12, every: int = 5) -> str:
    """04: loading an aggregate = its latest snapshot + the events after it."""
    c = Canvas(860, 250)
    c.text(430, 24, f"Loading order o1 at v{events}: the snapshot every {every} events, then replay the rest", 15,
           bold=True)
    w, gap, x0 = 56, 8, 40
    last_snapshot = events // every * every
    for v in range(1, events + 1):
        x = x0 + (v - 1) * (w + gap)
        c.box(x, 70, w, 36, f"v{v}", "active" if v > last_snapshot else "plain", 12)
        if v % every == 0:
            c.box(x - 4, 130, w + 8, 40, f"snapshot\nat v{v}", "good" if v == last_snapshot else "plain", 11)
            c.line(x + w / 2, 106, x + w / 2, 130, MUTED, dashed=True)
    x_snap = x0 + (last_snapshot - 1) * (w + gap) + w / 2
    x_end = x0 + (events - 1) * (w + gap) + w / 2
    c.arrow(x_snap + w / 2, 150, x_end, 150, "", ACCENT)
    c.text(x_snap, 190, f"1. read the latest snapshot (the state at v{last_snapshot})", 11, colour=GOOD)
    c.text(x_snap, 206, f"2. apply v{last_snapshot + 1}..v{events} to it: {events - last_snapshot} events, not "
           f"{events}", 11, colour=ACCENT)
    c.text(430, 240, f"Without snapshots a load replays all {events}; the events stay the truth, a snapshot is a "
           "cache that can always be rebuilt.", 12, colour=MUTED)
    return c.svg("Snapshot plus replay of the events after it")


def multipart_sequence() -> str:
    """05: who holds the credentials, and which requests go where."""
    c = Canvas(880, 430)
    c.text(440, 24, "Presigned multipart upload: the browser never holds S3 credentials", 15, bold=True)
    cols = {"client": 110, "course API": 440, "S3": 770}
    for name, x in cols.items():
        c.box(x - 75, 40, 150, 34, name, "active" if name == "course API" else "plain", 13, bold=True)
        c.line(x, 74, x, 420, MUTED, dashed=True)
    steps = [("client", "course API", 100, "1. POST /uploads (name, size)", INK),
             ("course API", "S3", 122, "CreateMultipartUpload", INK),
             ("S3", "course API", 144, "UploadId", MUTED),
             ("course API", "client", 166, "upload id + plan (part size, count)", MUTED),
             ("client", "course API", 200, "2. POST /sign (part numbers + CRC32 each)", INK),
             ("course API", "client", 222, "presigned PUT URLs, each bound to its length + CRC32", MUTED),
             ("client", "S3", 258, "3. PUT part n (x-amz-checksum-crc32), 8 in parallel, retried", ACCENT),
             ("S3", "client", 280, "ETag + CRC32 (a wrong body: 400 BadDigest)", MUTED),
             ("client", "course API", 316, "4. POST /complete (parts: ETag + CRC32 each)", INK),
             ("course API", "S3", 338, "CompleteMultipartUpload + planned size; S3 checks the parts", INK),
             ("S3", "course API", 360, "object's composite CRC32", MUTED),
             ("course API", "client", 382, "composite CRC32: the client compares it with its own", GOOD)]
    for src, dst, y, label, colour in steps:
        x1, x2 = cols[src], cols[dst]
        c.arrow(x1 + (4 if x2 > x1 else -4), y, x2 - (4 if x2 > x1 else -4), y, label, colour,
                dashed=colour == MUTED, above=4)
    c.text(440, 412, "Crash? GET /uploads/{id}/parts (ListParts) says what S3 holds: send only the rest.", 12,
           colour=MUTED)
    return c.svg("Sequence of a presigned multipart upload")


# The lesson each diagram is drawn for (its markdown links figures/<name>.svg); the tests look for it there.
SHOWN_IN = {"claim_states": "01_idempotency_keys", "lease_and_fencing": "02_create_order_case_study",
            "snapshot_and_replay": "04_event_sourcing", "multipart_sequence": "05_s3_multipart_upload"}
DIAGRAMS = {"claim_states": claim_states, "lease_and_fencing": lease_and_fencing,
            "snapshot_and_replay": snapshot_and_replay, "multipart_sequence": multipart_sequence}


def write(folder: Path = FIGURES) -> list[Path]:
    """Draw every diagram into `folder` (notebooks/figures by default); returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, draw in DIAGRAMS.items():
        path = folder / f"{name}.svg"
        path.write_text(draw(), encoding="utf-8")
        paths.append(path)
    return paths
