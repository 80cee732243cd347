// node-postgres (`pg`) through the gateway: connect (the client reads PGHOST,
// PGPORT, PGDATABASE, PGUSER, PGPASSWORD), queries with parameters (the
// extended protocol: Parse/Bind/Describe/Execute/Sync), a named prepared
// statement run twice, the fields' table and column ids, information_schema
// with a parameter, and two reads that must be refused — each followed by a
// query that must still work on the same connection.
//
// Run from this directory after `npm ci`. The tables are the ones
// drivers_test.cc creates. Prints one `key: value` line per finding and
// exits 1 when anything was not as expected.
'use strict';
const { Client } = require('pg');

let failures = 0;
function fail(what) {
  failures++;
  console.log('FAILED: ' + what);
}

async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    fail(`${name}: ${e.code} ${e.message}`);
  }
}

async function mustBeDenied(client, name, text, values) {
  try {
    const r = await client.query({ text, values });
    fail(`ALLOWED ${name}: ${r.rowCount} rows`);
  } catch (e) {
    console.log(`denied ${name}: ${e.code} ${e.message}`);
  }
}

async function main() {
  const client = new Client({ connectionTimeoutMillis: 20000, query_timeout: 60000 });
  await client.connect();
  await step('server version', async () => {
    const r = await client.query('SHOW server_version_num');
    console.log('server_version_num: ' + r.rows[0].server_version_num);
  });
  await step('parameterized', async () => {
    const r = await client.query('SELECT id, label, mood FROM public.drv_t WHERE id = $1', [2]);
    const row = r.rows[0];
    console.log(`parameterized: ${row.id}=${row.label}/${row.mood}`);
    console.log('fields: ' + r.fields.map((f) => `${f.name}:${f.dataTypeID}:${f.tableID > 0 ? 'table' : 'none'}`).join(','));
  });
  await step('named statement', async () => {
    const seen = [];
    for (const id of [1, 2]) {
      const r = await client.query({ name: 'drv-by-id', text: 'SELECT label FROM public.drv_t WHERE id = $1', values: [id] });
      seen.push(r.rows[0].label);
    }
    console.log('named statement: ' + seen.join(','));
  });
  await step('information_schema', async () => {
    const r = await client.query(
      'SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
      ['public', 'drv_t']);
    console.log('information_schema: ' + r.rows.map((c) => `${c.column_name} ${c.data_type}`).join(','));
  });
  await step('pg_catalog', async () => {
    const r = await client.query(
      "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname LIKE $2 ORDER BY 1",
      ['public', 'drv\\_%']);
    console.log('pg_class: ' + r.rows.map((c) => c.relname).join(','));
  });
  await mustBeDenied(client, 'pg_authid', 'SELECT rolname, rolpassword FROM pg_catalog.pg_authid WHERE rolname <> $1', ['']);
  await step('after pg_authid', async () => {
    const r = await client.query('SELECT count(*)::int AS n FROM public.drv_child WHERE id > $1', [0]);
    console.log('still usable: ' + r.rows[0].n);
  });
  await mustBeDenied(client, 'drv_other', 'SELECT secret FROM public.drv_other');
  await step('after drv_other', async () => {
    const r = await client.query({ name: 'drv-by-id', text: 'SELECT label FROM public.drv_t WHERE id = $1', values: [1] });
    console.log('still usable: ' + r.rows[0].label);
  });
  await client.end();
}

main().then(
  () => {
    console.log(failures === 0 ? 'node-postgres: ok' : `node-postgres: ${failures} failures`);
    process.exit(failures === 0 ? 0 : 1);
  },
  (e) => {
    console.log(`FAILED: ${e.code} ${e.message}`);
    process.exit(1);
  });
