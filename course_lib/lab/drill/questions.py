"""The quiz bank: two questions per topic notebook, each answered by something the notebook showed."""

from __future__ import annotations

from course_lib.lab.drill.quiz import MultipleChoice, Question, ShortAnswer

QUESTIONS: list[Question] = [
    MultipleChoice(
        "00 races",
        "Sixteen callers each read a counter, wait 5 ms, and write read + 1. What does the counter end at?",
        ("16", "somewhere between 1 and 16, often 1", "0"), 1,
        "They all read before anyone writes, so most writes overwrite each other: notebook 00's run of 16 callers "
        "lost most of its updates (its stress cell prints how many on your machine)."),
    ShortAnswer(
        "00 races",
        "Name one way to make that read-modify-write safe.",
        (("lock", "atomic", "increment", "incr", "transaction", "compare-and-set", "for update"),),
        "an atomic UPDATE counter = counter + 1, or a lock around read and write",
        "Either make the read and the write one atomic step, or let only one caller in at a time."),
    MultipleChoice(
        "01 idempotency",
        "A client reuses an Idempotency-Key with a different body. What should the server answer?",
        ("200 with the first response", "409 Conflict", "422 Unprocessable Content", "201 and do the work again"),
        2, "The key was used for another operation: the IETF draft says 422, and nothing runs."),
    ShortAnswer(
        "01 idempotency",
        "Why does 'check the key, do the work, then upsert the response' charge twice under concurrent retries?",
        (("check", "select", "read"), ("before", "both", "concurrent", "race", "same time")),
        "both retries check before either writes, so both see no key and both do the work",
        "Check-then-act is a race; claim the key first with an insert that a unique index lets only one win."),
    MultipleChoice(
        "02 create-order",
        "Redis is down. What should idempotent create-order do?",
        ("return 503 until Redis is back", "go on without the lock; the database claim still guarantees one order",
        "skip the idempotency check"), 1,
        "The lock only saves work; the unique constraint in the database is what guarantees correctness."),
    ShortAnswer(
        "02 create-order",
        "A lock holder pauses longer than its lease. What stops its stale write from corrupting data?",
        (("fencing", "fence", "token"),),
        "a fencing token: each holder gets a larger number and the resource refuses older ones",
        "Check the token at the resource, from the first access (the read) to the write."),
    MultipleChoice(
        "03 retries",
        "Many clients fail at once and retry with plain exponential backoff. What happens?",
        ("they spread out evenly", "they retry in synchronised waves and collide again", "the server scales up"),
        1, "Same delays, same moments: herds. Full jitter spreads them and cut the calls in notebook 03."),
    ShortAnswer(
        "03 retries",
        "Which requests are safe to retry automatically?",
        (("idempotent", "get", "put", "delete", "idempotency-key", "idempotency key"),),
        "idempotent ones (GET, PUT, DELETE) and POSTs that carry an Idempotency-Key",
        "Retrying a non-idempotent request without a key can run it twice."),
    MultipleChoice(
        "04 events",
        "Why snapshot an event-sourced aggregate every N events?",
        ("to replace the events", "so loading replays only the tail after the snapshot", "to save disk space"), 1,
        "Snapshots are a cache: loading replays only the tail after the snapshot, so load time stops growing with "
        "the stream (notebook 04 plots it for 100 to 10,000 events on your backend)."),
    ShortAnswer(
        "04 events",
        "Two writers append to the same stream at the same version. What prevents both from winning?",
        (("unique", "optimistic", "version", "concurrency"),),
        "a unique index on (stream, version): the second append fails and retries on the new version",
        "Optimistic concurrency: the database refuses the duplicate version; the loser reloads and decides again."),
    MultipleChoice(
        "05 s3",
        "What is the ETag of a completed multipart upload?",
        ("the MD5 of the whole object", "the MD5 of the concatenated part MD5s, then -N",
        "a random id"), 1, "Computing it locally proves the server assembled exactly your parts, in order."),
    ShortAnswer(
        "05 s3",
        "Why do presigned part URLs matter for large uploads?",
        (("credential", "credentials", "bytes", "servers", "server", "directly"),),
        "the client sends the bytes straight to S3 without ever holding credentials",
        "The backend only signs; the data never passes through your servers and each URL expires."),
    MultipleChoice(
        "06 sql",
        "Which index serves WHERE status = ? ORDER BY created_at DESC LIMIT 50?",
        ("(created_at, status)", "(status, created_at)", "(status) and (created_at) separately"), 1,
        "Equality column first, sort column second: the index seeks and reads 50 entries in order."),
    ShortAnswer(
        "06 sql",
        "Why is OFFSET pagination slow on deep pages, and what replaces it?",
        (("skip", "discard", "throw away", "read", "scan", "walk"), ("keyset", "seek", "cursor")),
        "the server reads and throws away every skipped row; keyset (seek) pagination starts after the last row",
        "Notebook 06 measured both at increasing depths on your backend: OFFSET's time grows with the page, "
        "keyset's stays flat (build/results/sql_performance.json keeps your figures)."),
    MultipleChoice(
        "08 optimistic ui",
        "An optimistic save fails while another edit to a different post already succeeded. What should onError do?",
        ("restore the whole snapshot taken before the edit", "put back only the failed post's old title",
         "refetch and do nothing else"), 1,
        "Restoring the whole snapshot would also undo the edit that succeeded; notebook 08's exercise."),
    ShortAnswer(
        "08 optimistic ui",
        "Why call cancelQueries at the start of onMutate?",
        (("refetch", "fetch", "query", "queries", "request"), ("overwrite", "replace", "stale", "old")),
        "a refetch already in flight would land later and overwrite the optimistic value with the old one",
        "Without it, a response that left the server before the edit can replace the new value on screen."),
    MultipleChoice(
        "07 tokens",
        "A valid token lacks the orders:create ability. Which status?",
        ("401 Unauthorized", "403 Forbidden", "404 Not Found"), 1,
        "401 means we do not know who you are; 403 means we know, and you may not."),
    ShortAnswer(
        "07 tokens",
        "Why compare token hashes with hmac.compare_digest rather than ==?",
        (("time", "timing", "constant"),),
        "== stops at the first differing byte, so its timing leaks how much of a guess is right",
        "compare_digest takes the same time whatever the input; notebook 07 measured the leak of ==."),
]
