"""Event sourcing: the Order's rules, the store's optimistic concurrency, snapshots and time travel."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course_lib import failpoints
from course_lib.backends import sql_backend
from course_lib.clock import utc_now
from course_lib.events import (
    ConcurrencyError,
    DomainError,
    EventStore,
    ItemAdded,
    Order,
    OrderCreated,
    OrderRepository,
    Projection,
)
from course_lib.events import store as store_module
from course_lib.events.projections import EVENT_APPLIED, daily_revenue, order_summary
from course_lib.events.repository import snapshots_table
from course_lib.events.store import events_table
from course_lib.failpoints import SimulatedCrash


@pytest.fixture
def store(sql_engine):
    store = EventStore(sql_engine)
    store.reset()
    return store


# --- the aggregate's rules -------------------------------------------------------------------------


def opened() -> Order:
    return Order.replay("o", [OrderCreated("alice"), ItemAdded("book", 2, 1500)])


def test_replay_rebuilds_state_and_counts_versions():
    order = opened()
    assert (order.status, order.total, order.version) == ("open", 3000, 2)


@pytest.mark.parametrize(("command", "message"), [
    (lambda o: o.pay(1), "payment must equal the total"),
    (lambda o: o.ship("dhl"), "cannot ship"),
    (lambda o: o.remove_item("book", 3), "holds 2"),
    (lambda o: o.add_item("pen", 0, 100), "quantity must be positive"),
    (lambda o: o.create("bob"), "already exists"),
])
def test_commands_enforce_the_rules(command, message):
    with pytest.raises(DomainError, match=message):
        command(opened())


def test_no_items_after_payment():
    order = opened()
    for event in order.pay(3000):
        order.apply(event)
    with pytest.raises(DomainError, match="is paid"):
        order.add_item("pen", 1, 100)


# --- the store --------------------------------------------------------------------------------------


def test_append_is_atomic_and_versions_are_gapless(store):
    assert store.append("o", 0, [OrderCreated("alice"), ItemAdded("book", 1, 100)]) == 2
    with pytest.raises(ConcurrencyError, match="reload"):
        store.append("o", 1, [ItemAdded("pen", 1, 10), ItemAdded("ink", 1, 10)])  # version 2 is taken
    assert [r.version for r in store.load("o")] == [1, 2]  # the failed batch left nothing behind


def test_of_two_writers_at_the_same_version_exactly_one_wins(store):
    store.append("o", 0, [OrderCreated("alice")])
    outcomes = []
    barrier = threading.Barrier(2)

    def writer(sku: str) -> None:
        barrier.wait()
        try:
            store.append("o", 1, [ItemAdded(sku, 1, 100)])
            outcomes.append("won")
        except ConcurrencyError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=writer, args=(s,)) for s in ("pen", "ink")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "won"]


def test_sixteen_writers_lose_nothing_and_duplicate_no_version(store):
    repo = OrderRepository(store)
    repo.execute("o", lambda o: o.create("alice"))
    errors = []

    def writer(i: int) -> None:
        try:
            repo.execute("o", lambda o: o.add_item(f"sku-{i}", 1, 100))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    versions = [r.version for r in store.load("o")]
    assert not errors and versions == list(range(1, 18))
    assert len(repo.load("o").lines) == 16


def test_time_travel_by_version_and_by_timestamp(store):
    repo = OrderRepository(store)
    repo.execute("o", lambda o: o.create("alice"))
    repo.execute("o", lambda o: o.add_item("book", 1, 1500))
    middle = store.load("o")[-1].recorded_at
    repo.execute("o", lambda o: o.add_item("pen", 1, 200))
    as_of_v2 = Order.replay("o", [r.decode() for r in store.load("o", to_version=2)])
    as_of_t = Order.replay("o", [r.decode() for r in store.load("o", as_of=middle)])
    assert as_of_v2.total == as_of_t.total == 1500 and repo.load("o").total == 1700


# --- snapshots --------------------------------------------------------------------------------------


def test_snapshot_plus_tail_equals_full_replay(store):
    repo = OrderRepository(store, snapshot_every=5)
    repo.execute("o", lambda o: o.create("alice"))
    for i in range(12):
        repo.execute("o", lambda o, i=i: o.add_item(f"sku-{i % 3}", 1, 100))
    with store.engine.connect() as conn:
        assert repo._snapshot("o", conn).version == 10
    assert repo.load("o") == repo.load("o", use_snapshot=False)


def test_a_snapshot_of_an_old_schema_is_ignored(store):
    repo = OrderRepository(store, snapshot_every=2)
    repo.execute("o", lambda o: o.create("alice"))
    repo.execute("o", lambda o: o.add_item("book", 1, 100))
    with store.engine.begin() as conn:
        conn.execute(snapshots_table.update().values(schema_version=0, state='{"garbage": true}'))
    with store.engine.connect() as conn:
        assert repo._snapshot("o", conn) is None
    assert repo.load("o").total == 100


# --- property: every way of reading gives the same state ---------------------------------------------

commands = st.lists(st.one_of(
    st.tuples(st.just("add"), st.sampled_from(["a", "b", "c"]), st.integers(1, 3), st.integers(0, 500)),
    st.tuples(st.just("remove"), st.sampled_from(["a", "b", "c"]), st.integers(1, 3), st.just(0)),
    st.tuples(st.just("pay"), st.just(""), st.just(0), st.just(0)),
    st.tuples(st.just("ship"), st.just(""), st.just(0), st.just(0)),
    st.tuples(st.just("cancel"), st.just(""), st.just(0), st.just(0)),
), max_size=25)


def run(order: Order, cmd: tuple) -> list:
    kind, sku, qty, price = cmd
    return {"add": lambda: order.add_item(sku, qty, price), "remove": lambda: order.remove_item(sku, qty),
            "pay": lambda: order.pay(order.total), "ship": lambda: order.ship("dhl"),
            "cancel": lambda: order.cancel("changed mind")}[kind]()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cmds=commands, every=st.integers(1, 6))
def test_full_replay_equals_snapshot_plus_tail(tmp_path, cmds, every):
    store = EventStore(sql_backend.connect(f"sqlite:///{tmp_path / 'prop.sqlite'}").engine)
    store.reset()
    repo = OrderRepository(store, snapshot_every=every)
    repo.execute("o", lambda o: o.create("alice"))
    for cmd in cmds:
        with contextlib.suppress(DomainError):  # a refused command records nothing
            repo.execute("o", lambda o, cmd=cmd: run(o, cmd))
    versions = [r.version for r in store.load("o")]
    assert versions == list(range(1, len(versions) + 1))
    full = repo.load("o", use_snapshot=False)
    assert repo.load("o") == full and full.version == len(versions)
    assert full.total >= 0 and (full.status != "shipped" or full.paid == full.total)
    Projection(store).catch_up()
    assert projected_summaries(store) == {"o": (full.customer, full.status, full.total, full.version)}


# --- projections --------------------------------------------------------------------------------------


def expected_summaries(repo: OrderRepository, ids: list[str]) -> dict[str, tuple]:
    return {i: (o.customer, o.status, o.total, o.version) for i in ids for o in [repo.load(i, use_snapshot=False)]}


def projected_summaries(store: EventStore) -> dict[str, tuple]:
    with store.engine.connect() as conn:
        return {r.order_id: (r.customer, r.status, r.total, r.version) for r in conn.execute(sa.select(order_summary))}


def busy_day(repo: OrderRepository) -> list[str]:
    ids = [f"o{i}" for i in range(6)]
    for i, oid in enumerate(ids):
        repo.execute(oid, lambda o, i=i: o.create(f"customer-{i}"))
        repo.execute(oid, lambda o: o.add_item("book", 2, 1500))
        repo.execute(oid, lambda o: o.add_item("pen", 3, 200))
        repo.execute(oid, lambda o: o.remove_item("pen", 1))
        if i % 2 == 0:
            repo.execute(oid, lambda o: o.pay(o.total))
        if i % 3 == 0:
            repo.execute(oid, lambda o: o.cancel("changed mind"))
    return ids


def test_projection_equals_full_replay_even_after_a_crash_mid_batch(store):
    repo = OrderRepository(store)
    ids = busy_day(repo)
    projection = Projection(store, batch_size=10)
    with pytest.raises(SimulatedCrash), failpoints.crash_at(EVENT_APPLIED, on_hit=16):  # dies in the second batch
        projection.catch_up()
    assert projection.checkpoint() == 10  # the first batch committed, the second rolled back whole
    projection.catch_up()
    assert projected_summaries(store) == expected_summaries(repo, ids)
    assert projection.lag() == 0
    with store.engine.connect() as conn:
        revenue = conn.execute(sa.select(sa.func.sum(daily_revenue.c.revenue))).scalar_one()
    assert revenue == sum(o.paid for o in map(repo.load, ids) if o.status == "paid")
    projection.rebuild()
    assert projected_summaries(store) == expected_summaries(repo, ids)


def test_a_rolled_back_position_is_passed_at_once_no_transaction_can_fill_it(store):
    if store.engine.dialect.name == "sqlite":
        pytest.skip("SQLite reuses a rolled-back rowid and commits writers in order: it has no gaps")
    projection = Projection(store)
    store.append("a", 0, [OrderCreated("alice")])
    with store.engine.begin() as conn:  # a position taken and rolled back: a hole at 2
        conn.execute(sa.insert(events_table).values(
            stream_id="ghost", version=1, type="OrderCreated", schema_version=1, data='{"customer": "x"}',
            metadata="{}", recorded_at=utc_now()))
        conn.rollback()
    store.append("b", 0, [OrderCreated("bob")])
    assert projection.catch_up(wait=False) == 2 and projection.checkpoint() == 3  # no waiting on a hole


@pytest.mark.services
def test_a_commit_that_comes_late_is_still_applied_in_order(mariadb_engine):
    """The writer holding position p commits 1.5 s after p + 1: longer than any timer would have waited.
    The open transaction is the evidence that p may still fill, so the reader waits for it."""
    store = EventStore(mariadb_engine)
    store.reset()
    projection, applied = Projection(store, name="late", handlers=(lambda _c, r, _e: applied.append(r.stream_id),)), []
    with mariadb_engine.connect() as slow, slow.begin():
        slow.execute(sa.insert(events_table).values(
            stream_id="slow", version=1, type="OrderCreated", schema_version=1, data='{"customer": "s"}',
            metadata="{}", recorded_at=utc_now()))
        store.append("fast", 0, [OrderCreated("fast")])
        assert projection.catch_up(wait=False) == 0
        time.sleep(1.5)
        assert projection.catch_up(wait=False) == 0, "still open: p may still commit"
    assert projection.catch_up(wait=False) == 2 and applied == ["slow", "fast"]


@pytest.mark.services
def test_with_auto_increment_increment_2_every_position_is_a_hole_and_the_reader_keeps_pace(mariadb_engine):
    """Positions 1, 3, 5, ... (a multi-writer Galera setup): no gap can fill, so none is waited for."""
    stepped = sa.create_engine(mariadb_engine.url,
                               connect_args={"init_command": "SET SESSION auto_increment_increment=2"})
    try:
        store = EventStore(stepped)
        store.reset()
        for i in range(40):
            store.append(f"o{i}", 0, [OrderCreated(f"c{i}")])
        start = time.perf_counter()
        applied = Projection(store, name="stepped").catch_up()
        took = time.perf_counter() - start
    finally:
        stepped.dispose()
    assert applied == 40 and took < 2.0, f"{applied} events in {took:.1f} s"


def test_old_schema_events_are_upcast_on_read(store):
    with store.engine.begin() as conn:
        conn.execute(sa.insert(events_table).values(
            stream_id="o", version=1, type="ItemAdded", schema_version=1,
            data='{"sku": "book", "quantity": 1, "unit_price": 900}', metadata="{}", recorded_at=utc_now()))
    (event,) = [r.decode() for r in store.load("o")]
    assert event == ItemAdded("book", 1, 900, currency="EUR")


def test_rollback_is_compensating_events_not_deletes(store):
    repo = OrderRepository(store)
    repo.execute("o", lambda o: o.create("alice"))
    repo.execute("o", lambda o: o.add_item("book", 1, 1500))
    repo.execute("o", lambda o: o.add_item("pen", 5, 200))
    past = Order.replay("o", [r.decode() for r in store.load("o", to_version=2)])
    order = repo.execute("o", lambda o: o.compensate_to(past))
    assert order.lines == past.lines and order.version == 4 and len(store.load("o")) == 4


def test_a_projection_started_at_the_head_applies_only_new_events(store):
    store.append("old", 0, [OrderCreated("alice")])
    seen = []
    projection = Projection(store, name="tail", handlers=(lambda _c, r, _e: seen.append(r.stream_id),))
    assert projection.start_from_head() == projection.checkpoint() > 0
    store.append("new", 0, [OrderCreated("bob")])
    assert projection.catch_up() == 1 and seen == ["new"]


# --- against the sources: EventStoreDB / eventsourcing semantics, and what a committed command means ----

def test_an_expected_version_ahead_of_the_stream_is_refused(store):
    """EventStoreDB's expected revision and eventsourcing's originator version must equal the current one:
    appending "after v5" to a v1 stream would leave v2..v5 missing and a later save landing before it."""
    store.append("o1", 0, [OrderCreated("alice")])
    with pytest.raises(ConcurrencyError, match="is at version 1, not 5"):
        store.append("o1", 5, [ItemAdded("book", 1, 100)])
    store.append("o1", 1, [ItemAdded("book", 1, 100)])
    assert [r.version for r in store.load("o1")] == [1, 2]


def test_time_travel_cuts_at_a_version_even_when_writers_clocks_disagree(store, monkeypatch):
    """v2 was written by a server 1.5 s ahead of the one that wrote v3: its timestamp is later than v3's.
    As of a moment between the two, the stream is v1 alone, never v1 and v3 without v2."""
    t0 = utc_now()
    clocks = iter([t0, t0 + timedelta(seconds=2.5), t0 + timedelta(seconds=1)])
    monkeypatch.setattr(store_module, "utc_now", lambda: next(clocks))
    for version in range(3):
        store.append("o2", version, [OrderCreated("a") if version == 0 else ItemAdded(f"s{version}", 1, 1)])
    as_of = t0 + timedelta(seconds=1.5)
    assert [r.version for r in store.load("o2", as_of=as_of)] == [1]
    assert [r.version for r in store.load("o2", as_of=t0 + timedelta(seconds=3))] == [1, 2, 3]


def test_an_older_snapshot_never_overwrites_a_newer_one(store):
    repo = OrderRepository(store, snapshot_every=1)
    repo.execute("o3", lambda o: o.create("alice"))
    for i in range(4):
        repo.execute("o3", lambda o, i=i: o.add_item(f"sku-{i}", 1, 100))
    stale = Order.replay("o3", [OrderCreated("alice")])  # a slow writer's snapshot of version 1
    repo.write_snapshot(stale)
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(snapshots_table.c.version)).scalar_one() == 5


@pytest.mark.services
def test_a_command_whose_snapshot_cannot_be_written_still_succeeds_once(mariadb_engine):
    """A report holds the snapshot row (SELECT ... FOR UPDATE). The command's events commit; its snapshot
    write gives up after a second instead of 50 s; the command reports success, so its caller does not
    retry it and add the line twice."""
    store = EventStore(mariadb_engine)
    store.reset()
    repo = OrderRepository(store, snapshot_every=1)
    repo.execute("o4", lambda o: o.create("alice"))
    with mariadb_engine.connect() as report, report.begin():
        report.execute(sa.select(snapshots_table).where(snapshots_table.c.stream_id == "o4").with_for_update())
        started = time.perf_counter()
        order = repo.execute("o4", lambda o: o.add_item("book", 1, 1500))
        waited = time.perf_counter() - started
    assert order.lines == {"book": (1, 1500)} and repo.snapshot_failures == 1 and waited < 5
    assert repo.load("o4").lines == {"book": (1, 1500)}, "the event committed exactly once"
    with mariadb_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT @@SESSION.innodb_lock_wait_timeout").scalar_one() >= 1
