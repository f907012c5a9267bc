"""Check your understanding: a few questions after a lesson's main section, with feedback either way.

Each question is answered by something the section just showed or measured, so a learner who followed it
can answer in their own words (short answers are checked by key terms, `course_lib.lab.drill.quiz`).
`ask(section)` shows the quiz widget in JupyterLab. With nobody to click (nbval, `course run`) the cell
still builds the widget and checks that every question accepts its own model answer, so a question whose
key terms drifted from its example fails there, not in front of a learner.
"""

from __future__ import annotations

from course_lib.lab.drill.quiz import MultipleChoice, Question, ShortAnswer, check, quiz_widget

SECTIONS: dict[str, list[Question]] = {
    "01 claim first": [
        MultipleChoice(
            "01", "Four identical retries arrive together. With the claim-first store, how many run the charge?",
            ("four, one per retry", "exactly one; the others are told 409 while it runs",
             "none until the first has finished"), 1,
            "The unique (scope, key) index lets one INSERT IGNORE win; the lock-step and stress runs above "
            "asserted a single charge."),
        ShortAnswer(
            "01", "Why must the claim be an INSERT that a duplicate ignores, not a SELECT followed by an INSERT?",
            (("unique", "index", "atomic", "constraint"), ("between", "race", "concurrent", "both", "meanwhile")),
            "between the SELECT and the INSERT another request can insert too; the unique index makes the "
            "INSERT itself decide, atomically",
            "A SELECT only tells you the past; the unique index decides at the moment of the write."),
        MultipleChoice(
            "01", "The first request crashed mid-work and its lease has expired. A retry arrives. What happens?",
            ("409 until someone deletes the key", "the retry takes the claim over and resumes from the last "
             "recovery point", "422: the key was used"), 1,
            "A lease turns 'in progress' into 'taken over' once it runs out, so a crash never blocks a key forever."),
    ],
    "02 fencing": [
        MultipleChoice(
            "02", "Worker A pauses 200 ms under a 100 ms lease. Without fencing, what did the stock show?",
            ("both sales", "one sale missing: A's stale write overwrote B's", "B could not sell: the lock held"),
            1, "Two holders, one resource: the lesson's first timeline asserted a lost update."),
        ShortAnswer(
            "02", "Why must the fence be checked in the same statement as the write?",
            (("atomic", "one statement", "same statement", "single statement", "between"),),
            "a check and then a write leave a moment between them for a newer holder; WHERE fence < :fence makes "
            "it one atomic statement",
            "The database row is the only place that sees every holder's write in order."),
        MultipleChoice(
            "02", "Move the sliders to a 300 ms lease and a 100 ms pause. What happens?",
            ("B is turned away and nothing is lost", "two holders, one sale lost", "A's write is refused"), 0,
            "The hazard needs a pause longer than the lease; the cell under the sliders asserts this case."),
    ],
    "03 jitter": [
        ShortAnswer(
            "03", "Why do clients with full jitter finish sooner than with plain exponential backoff?",
            (("spread", "random", "apart", "desynchronise", "desynchronize", "collide", "collision"),),
            "the random delays spread the clients apart, so fewer of them collide again in each round",
            "Same delays mean the same moments: the losers of one round meet again in the next."),
        MultipleChoice(
            "03", "A retry budget with botocore's rules starts at 500 tokens. 300 calls each fail once and then "
            "succeed, one after another. How many tokens are left?",
            ("500: each success gives back what its retry spent", "80", "none: the budget is drained"), 0,
            "Only a dependency that keeps failing drains the budget; exercise 3 checks your budget against this."),
    ],
    "04 versions and snapshots": [
        MultipleChoice(
            "04", "Two clerks load an order at version 1 and both append at expected version 1. What happens?",
            ("both land, as v2 and v3", "one lands at v2; the other gets ConcurrencyError, reloads and decides "
             "again", "the second overwrites the first"), 1,
            "UNIQUE(stream_id, version) lets one in; the lesson's two-writer cell asserted it."),
        MultipleChoice(
            "04", "Why refuse an expected version ahead of the stream (expected 5 on a version-1 stream)?",
            ("it wastes disk", "the caller decided on a state that never existed, and a later append would fill "
             "the hole out of order", "it is harmless"), 1,
            "Current version must equal expected version, as in EventStoreDB and the eventsourcing library."),
        MultipleChoice(
            "04", "With a snapshot every 100 events, at most how many events does a load replay?",
            ("100", "99", "all of them"), 1,
            "The tail after the latest snapshot is at most N - 1 events; the slider shows the trade-off."),
    ],
    "05 upload and resume": [
        MultipleChoice(
            "05", "Who holds the S3 credentials in this design?",
            ("the client", "the course API, which signs one URL per part", "both"), 1,
            "The client holds a token for the course API and sends bytes straight to S3 with presigned URLs."),
        ShortAnswer(
            "05", "What does binding the part's CRC32 into its presigned URL buy?",
            (("refuse", "reject", "baddigest", "bad digest", "400"),),
            "S3 refuses any body whose CRC32 differs from the signed one (400 BadDigest), so a corrupted part "
            "never lands",
            "The signature covers x-amz-checksum-crc32: the URL cannot carry other bytes."),
        MultipleChoice(
            "05", "After a crash, what does the resuming client ask S3 first?",
            ("nothing: it sends every part again", "ListParts: which parts S3 holds, with their checksums, so it "
             "sends only the rest", "the object's final ETag"), 1,
            "The lesson's resume sent only the parts S3 did not hold; exercise 3 writes that choice."),
    ],
    "06 pagination": [
        MultipleChoice(
            "06", "Page 5,000 of 20 rows with OFFSET: how many rows does the server walk to return 20?",
            ("20", "about 100,020", "5,000"), 1,
            "OFFSET reads and throws away every skipped row; the slider shows the time growing with the depth."),
        ShortAnswer(
            "06", "Why does a keyset on created_at alone lose rows?",
            (("tie", "same", "equal", "duplicate"),),
            "rows that tie with the last row's created_at are excluded by 'older than'; the id breaks the ties",
            "The order must be total: (created_at, id)."),
        MultipleChoice(
            "06", "Which index serves the keyset query, newest first?",
            ("(created_at, id)", "(id)", "(status, created_at)"), 0,
            "Its range seek starts right after the cursor and reads the page in order; the exercise checks the plan."),
    ],
    "07 tokens": [
        MultipleChoice(
            "07", "A valid token without the orders:create ability calls POST /api/orders. The answer?",
            ("401", "403", "404"), 1,
            "401 answers 'who are you?', 403 answers 'may you?': this token is known and may not."),
        ShortAnswer(
            "07", "Why does the database keep only a SHA-256 of each token?",
            (("stolen", "steal", "leak", "copy", "dump", "breach", "attacker"),),
            "a stolen copy of the table holds hashes, which cannot be presented as tokens",
            "A hash cannot be reversed, and nobody needs to see a token twice."),
        MultipleChoice(
            "07", "Why compare the hashes with hmac.compare_digest?",
            ("it is faster", "its time does not depend on how many leading characters match", "it hashes again"),
            1, "== stops at the first difference; timing would tell a guesser how much was right (exercise 2)."),
    ],
    "08 overlapping edits": [
        MultipleChoice(
            "08", "Two edits are in flight and the first fails. What does onError do?",
            ("restore the whole snapshot", "put back only the failed post's old title", "refetch at once"), 1,
            "The other edit is still on its way; restoring the snapshot would hide it."),
        MultipleChoice(
            "08", "When is the list refetched?",
            ("after each edit settles", "when the last edit in flight settles", "never"), 1,
            "An earlier refetch would briefly show the server's list without the edits still in flight."),
    ],
    "01 keys and transactions": [
        MultipleChoice(
            "01", "The key column is a plain utf8mb4 VARCHAR with a unique index. Clients send 'Invoice-A', "
            "'invoice-a' and 'invoice-a ' (a trailing space) for three orders. How many orders are kept?",
            ("three", "one: the collation folds case and ignores trailing spaces", "two"), 1,
            "The lesson's folded column kept one; VARBINARY compares bytes and kept three."),
        ShortAnswer(
            "01", "Why does the provider call run outside any transaction?",
            (("lock", "connection", "pool", "queue", "wait", "block"),),
            "a slow provider would hold row locks and a pooled connection for its whole latency, and every retry "
            "would wait behind it",
            "Three short phases: claim, call (no transaction), record + complete."),
        MultipleChoice(
            "01", "Two transactions run SELECT ... FOR UPDATE on a missing key, then INSERT it. What does InnoDB do?",
            ("both insert", "one waits, then inserts", "both take a gap lock, each INSERT waits for the other's, "
             "and InnoDB rolls one back (1213 deadlock)"), 2,
            "Gap locks do not conflict with each other; the lesson's lock-step run asserted error 1213."),
    ],
    "02 cost": [
        MultipleChoice(
            "02", "Where does the course API's extra CPU per request go, beside the plain upsert endpoint?",
            ("JSON encoding", "more blocking round trips: the claim's own commit, the stored response, the "
             "lock's two Redis calls", "TLS"), 1,
            "The lesson counted them on the wire: commits 2 against 1, and the Redis round trips."),
        ShortAnswer(
            "02", "Redis is down. Does create-order still make one order per key, and why?",
            (("unique", "claim", "database", "constraint", "upsert"),),
            "yes: the claim's unique key and the order upsert in the database guarantee it; the lock only saves "
            "work",
            "The no-lock server keeps every guarantee; the lock turns duplicates away earlier."),
    ],
    "03 beyond the model": [
        MultipleChoice(
            "03", "The server does one call at a time (finite capacity). Retrying with no backoff at all...",
            ("is still the fastest", "queues behind its own retries, and everyone waits longer than with jitter",
             "is refused by the server"), 1,
            "With finite capacity the calls queue; the lesson asserted no backoff loses to full jitter on time."),
        MultipleChoice(
            "03", "Three layers each retry up to 3 times and the database at the bottom is down. How many calls "
            "reach it per user request?", ("9", "27", "3"), 1,
            "3 x 3 x 3: retry at one layer, and let the others fail fast."),
    ],
    "04 projections": [
        MultipleChoice(
            "04", "A projection commits its counts, then its checkpoint in a second transaction, and is killed "
            "between the two. On restart?", ("nothing is lost or doubled", "that batch is counted twice",
                                              "that batch is skipped"), 1,
            "The lesson's naive reader counted more events than the log holds; commit both together."),
        ShortAnswer(
            "04", "Why may a projection not move its checkpoint past a gap in positions at once?",
            (("commit", "transaction", "open"), ("later", "late", "still", "yet", "order")),
            "the transaction that took the lower position may still commit later; passing it would skip that "
            "event forever",
            "Positions are taken at INSERT, not at COMMIT: the reader waits while an open transaction can fill it."),
    ],
    "05 etags": [
        MultipleChoice(
            "05", "A bucket encrypts with SSE-KMS. A client compares each part's ETag with the part's MD5. What "
            "happens?", ("it works", "every part looks corrupted, is retried, and the upload fails although "
                         "the bytes arrived intact", "S3 refuses the upload"), 1,
            "Under SSE-KMS an ETag is not an MD5 of the bytes; the lesson's legacy client gave up on an intact file."),
        ShortAnswer(
            "05", "What should a client compare instead of ETags?",
            (("checksum", "crc32", "crc", "crc32c", "sha256", "crc64nvme"),),
            "the checksums S3 computes and reports: each part's CRC32 and the object's composite CRC32",
            "A checksum means the same thing whatever the encryption; an ETag is an identifier."),
    ],
    "06 partitions and transactions": [
        MultipleChoice(
            "06", "Why is dropping a month's partition cheaper than DELETE ... WHERE created_at < :cutoff?",
            ("it skips the binary log", "it is a file operation; the DELETE locks every expiring row and writes "
             "undo for each", "DELETE is not allowed on partitioned tables"), 1,
            "The lesson counted the DELETE's row locks: at least one per row removed."),
        MultipleChoice(
            "06", "Partitioning the events table by month forces created_at into UNIQUE(stream_id, version). "
            "What breaks?", ("nothing", "the optimistic concurrency check: two writers at one version both win",
                             "only inserts get slower"), 1,
            "Every unique key must contain the partitioning columns; the lesson asserted both writers won."),
        ShortAnswer(
            "06", "A transaction updates an order, then calls a 2 s payment provider before COMMIT. The fix?",
            (("outside", "commit first", "before", "second transaction", "after"),),
            "make the call outside the transaction: commit the update first, then record the result in a second "
            "short transaction",
            "A longer lock-wait timeout only makes everyone wait longer."),
    ],
    "07 revocation": [
        MultipleChoice(
            "07", "A token's row is deleted. When does the token stop working?",
            ("at its expiry", "on the next request: every request looks the token up", "after a cache TTL"), 1,
            "The lesson's revocation answered 204, then 401 on the next call."),
        ShortAnswer(
            "07", "What does a self-contained signed token (a JWT) need, to be revoked before it expires?",
            (("deny", "denylist", "blocklist", "blacklist", "revocation list", "block list"),),
            "a deny-list the server checks on every request, which gives up what not looking up was for",
            "The price of not looking up: no instant revocation."),
    ],
    "08 the seed's save": [
        MultipleChoice(
            "08", "When does fetch() reject its promise?",
            ("on any status of 400 or more", "only when no response arrives (a network failure)", "on 5xx only"),
            1, "An HTTP 500 resolves; r.json() then parses the error body as if it were data."),
        ShortAnswer(
            "08", "What one rule fixes the seed's save?",
            (("reject", "throw", "error"), ("status", "ok", "failure", "http")),
            "the request function must throw on every failure the caller handles, HTTP statuses included "
            "(check response.ok)",
            "Only a rejected mutation runs onError, the rollback, and tells the user."),
    ],
}


def ask(section: str):
    """The quiz widget for `section`, after checking that each question accepts its own model answer."""
    if section not in SECTIONS:
        raise KeyError(f"no questions for {section!r}; known: {', '.join(SECTIONS)}")
    questions = SECTIONS[section]
    for question in questions:
        model = question.answer if isinstance(question, MultipleChoice) else question.example
        if not check(question, model).correct:
            raise ValueError(f"{question.prompt!r} refuses its own model answer: fix its key terms or its example")
    return quiz_widget(questions)
