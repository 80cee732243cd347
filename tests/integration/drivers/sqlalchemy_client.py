"""SQLAlchemy (over psycopg2) through the gateway: what the dialect runs on
connect, inspect(engine) (get_table_names, get_columns, get_pk_constraint,
get_foreign_keys, get_indexes, get_unique_constraints, get_table_comment,
get_enums), MetaData.reflect, a select with a bound parameter on a
reflected table, and two reads that must be refused.

The engine URL carries no address: libpq reads PGHOST, PGPORT, PGDATABASE,
PGUSER, PGPASSWORD. The tables are the ones drivers_test.cc creates. Prints
one `key: value` line per finding and exits 1 when anything was not as
expected."""

import sys

import sqlalchemy as sa
from sqlalchemy import exc

failures = 0


def fail(what):
    global failures
    failures += 1
    print("FAILED: " + what)


engine = sa.create_engine("postgresql+psycopg2://", connect_args={"connect_timeout": 20})


def step(name, fn):
    try:
        fn()
    except exc.DBAPIError as e:
        fail("%s: %s %s" % (name, getattr(e.orig, "pgcode", None), str(e.orig).strip()))
    except Exception as e:  # noqa: BLE001 - any other failure is reported the same way
        fail("%s: %s %s" % (name, type(e).__name__, e))


def introspect():
    insp = sa.inspect(engine)
    print("tables: " + ",".join(sorted(t for t in insp.get_table_names() if t.startswith("drv_"))))
    print("columns: " + ",".join(
        "%s %s %s" % (c["name"], type(c["type"]).__name__, "nullable" if c["nullable"] else "not-null")
        for c in insp.get_columns("drv_t")))
    pk = insp.get_pk_constraint("drv_t")
    print("primary key: %s %s" % (",".join(pk["constrained_columns"]), pk["name"]))
    print("foreign keys: " + ",".join(
        "%s->%s.%s" % (",".join(f["constrained_columns"]), f["referred_table"],
                       ",".join(f["referred_columns"])) for f in insp.get_foreign_keys("drv_child")))
    print("unique constraints: " + ",".join(u["name"] for u in
                                           insp.get_unique_constraints("drv_child")))
    print("indexes: %d" % len(insp.get_indexes("drv_child")))
    print("comment: %s" % insp.get_table_comment("drv_t")["text"])
    print("enums: " + ",".join("%s(%s)" % (e["name"], "|".join(e["labels"]))
                               for e in insp.get_enums()))
    print("views: %d" % len(insp.get_view_names()))
    print("has_table: %s" % insp.has_table("drv_t"))


reflected = sa.MetaData()


def reflect():
    reflected.reflect(bind=engine, only=lambda name, _: name.startswith("drv_"))
    child = reflected.tables["drv_child"]
    print("reflected: " + ",".join(sorted(reflected.tables)))
    print("reflected fk: " + ",".join(sorted(str(fk.column) for fk in child.foreign_keys)))


def parameterized():
    t = reflected.tables["drv_t"]
    with engine.connect() as conn:
        row = conn.execute(sa.select(t.c.id, t.c.label).where(t.c.id == sa.bindparam("i")),
                           {"i": 2}).one()
        print("parameterized: %s=%s" % (row.id, row.label))


def must_be_denied(name, stmt):
    try:
        conn = engine.connect()
    except exc.DBAPIError as e:
        fail("connect before %s: %s %s" % (name, getattr(e.orig, "pgcode", None), e.orig))
        return
    with conn:
        try:
            rows = conn.execute(stmt).fetchall()
            fail("ALLOWED %s: %d rows" % (name, len(rows)))
        except exc.DBAPIError as e:
            print("denied %s: %s %s" % (name, e.orig.pgcode, str(e.orig).strip().splitlines()[0]))


step("introspection", introspect)
step("reflect", reflect)
step("parameterized", parameterized)
must_be_denied("pg_authid", sa.text("SELECT rolname, rolpassword FROM pg_catalog.pg_authid"))
if "drv_other" in reflected.tables:
    must_be_denied("drv_other", sa.select(reflected.tables["drv_other"]))
else:
    fail("drv_other was not reflected")
engine.dispose()
print("sqlalchemy: ok" if failures == 0 else "sqlalchemy: %d failures" % failures)
sys.exit(0 if failures == 0 else 1)
