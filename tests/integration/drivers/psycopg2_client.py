"""psycopg2 through the gateway: connect (libpq reads PGHOST, PGPORT,
PGDATABASE, PGUSER, PGPASSWORD), server_version, a query with parameters,
cursor.description, a named (server-side) cursor, psycopg2.extras reading
the type catalog (register_composite, register_hstore's lookup), and two
reads that must be refused.

The tables are the ones drivers_test.cc creates. Prints one `key: value`
line per finding and exits 1 when anything was not as expected."""

import sys

import psycopg2
import psycopg2.extras

failures = 0


def fail(what):
    global failures
    failures += 1
    print("FAILED: " + what)


def step(name, fn):
    try:
        fn()
    except psycopg2.Error as e:
        fail("%s: %s %s" % (name, e.pgcode, str(e).strip()))
        conn.rollback()
    except Exception as e:  # noqa: BLE001 - any other failure is reported the same way
        fail("%s: %s %s" % (name, type(e).__name__, e))
        conn.rollback()


def must_be_denied(name, sql):
    with conn.cursor() as cur:
        try:
            cur.execute(sql)
            fail("ALLOWED %s: %d rows" % (name, len(cur.fetchall())))
        except psycopg2.Error as e:
            print("denied %s: %s %s" % (name, e.pgcode, str(e).strip().splitlines()[0]))
    conn.rollback()


conn = psycopg2.connect(connect_timeout=20)
print("server_version: %d" % conn.server_version)


def parameterized():
    with conn.cursor() as cur:
        cur.execute("SELECT id, label, mood FROM public.drv_t WHERE id = %s AND label <> %s",
                    (2, "none"))
        row = cur.fetchone()
        print("parameterized: %s=%s/%s" % row)
        print("description: " + ",".join("%s:%d" % (d.name, d.type_code) for d in cur.description))
    conn.commit()


def dict_cursor():
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute("SELECT id, label FROM public.drv_t ORDER BY id")
        print("dict rows: " + ",".join(r["label"] for r in cur.fetchall()))
    conn.commit()


def named_cursor():
    # DECLARE ... CURSOR, FETCH FORWARD n, CLOSE inside a transaction.
    with conn.cursor(name="drv_named") as cur:
        cur.itersize = 1
        cur.execute("SELECT id FROM public.drv_t ORDER BY id")
        print("named cursor: " + ",".join(str(r[0]) for r in cur))
    conn.commit()


def composite():
    # Reads pg_type, pg_namespace and pg_attribute for the type's fields.
    info = psycopg2.extras.register_composite("public.drv_pair", conn)
    with conn.cursor() as cur:
        cur.execute("SELECT (7, 'seven')::public.drv_pair")
        value = cur.fetchone()[0]
        print("composite: %s a=%d b=%s" % (info.name, value.a, value.b))
    conn.commit()


def hstore_lookup():
    # What register_hstore (and SQLAlchemy on connect) runs to find the type.
    oids = psycopg2.extras.HstoreAdapter.get_oids(conn)
    print("hstore oids: %d" % len(oids[0]))
    conn.commit()


for name, fn in [("parameterized", parameterized), ("dict cursor", dict_cursor),
                 ("named cursor", named_cursor), ("composite", composite),
                 ("hstore lookup", hstore_lookup)]:
    step(name, fn)

must_be_denied("pg_authid", "SELECT rolname, rolpassword FROM pg_catalog.pg_authid")
must_be_denied("drv_other", "SELECT secret FROM public.drv_other")


def still_usable():
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM public.drv_child")
        print("still usable: %d" % cur.fetchone()[0])
    conn.commit()


step("after denials", still_usable)
conn.close()
print("psycopg2: ok" if failures == 0 else "psycopg2: %d failures" % failures)
sys.exit(0 if failures == 0 else 1)
