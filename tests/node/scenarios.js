'use strict';
// The client scenarios of tests/integration/test_clients.py, through Node mysql2.
//
//   node tests/node/scenarios.js '{"host":"127.0.0.1","port":3306,"user":"u","password":"p",
//     "wrong_password":"x","database":"camdb","tag":"mysql2_direct","load_file":"/tmp/rows.csv",
//     "blob_bytes":20971520,"scenarios":["select_success", ...]}'
//
// Prints one JSON line per scenario, the same observation shape as the Python drivers
// in tests/tools/client_scenarios.py:
//   {"scenario": name, "ok": true, ...what was seen}
//   {"scenario": name, "ok": false, "error": {"errno", "sqlstate", "message"}}

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const mysql = require('mysql2/promise');
// Not in mysql2's "exports" map: load it by file path (the same module instance the
// handshake code uses).
const Packets = require(path.join(path.dirname(require.resolve('mysql2')), 'lib', 'packets', 'index.js'));

const SHA2_PLUGIN = 'caching_sha2_password';
const args = JSON.parse(process.argv[2]);

// mysql2 starts with the plugin the server advertises. To act as a MySQL 8 client
// that starts with caching_sha2_password, rewrite the advertised name while asked to.
let forceSha2 = false;
const originalFromPacket = Packets.Handshake.fromPacket;
Packets.Handshake.fromPacket = function fromPacket(packet) {
  const handshake = originalFromPacket.call(this, packet);
  if (forceSha2) {
    handshake.authPluginName = SHA2_PLUGIN;
  }
  return handshake;
};

function connect(overrides = {}) {
  return mysql.createConnection({
    host: args.host,
    port: args.port,
    user: args.user,
    password: args.password,
    database: args.database,
    connectTimeout: 20000,
    ...overrides,
  });
}

async function withConnection(overrides, fn) {
  const conn = await connect(overrides);
  try {
    return await fn(conn);
  } finally {
    await conn.end();
  }
}

async function one(conn, sql, params) {
  const [rows] = await conn.query({ sql, rowsAsArray: true }, params);
  return rows[0][0];
}

function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

function errorOf(err) {
  return {
    errno: typeof err.errno === 'number' ? err.errno : -1,
    sqlstate: err.sqlState || null,
    message: err.sqlMessage || err.message,
  };
}

const scenarios = {
  async wrong_password() {
    return withConnection({ password: args.wrong_password }, async (c) => ({
      value: await one(c, "SELECT 'Success!'"),
    }));
  },

  async select_success() {
    return withConnection({}, async (c) => ({ value: await one(c, "SELECT 'Success!'") }));
  },

  async transaction_rollback() {
    const table = `transaction_rollback_${args.tag}`;
    return withConnection({}, async (c) => {
      await c.query(`DROP TABLE IF EXISTS ${table}`);
      await c.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB`);
      await c.beginTransaction();
      await c.query(`INSERT INTO ${table} VALUES (1, 'x')`);
      const inside = await one(c, `SELECT COUNT(*) FROM ${table}`);
      await c.rollback();
      return { inside, after: await one(c, `SELECT COUNT(*) FROM ${table}`) };
    });
  },

  async prepared_statement() {
    // execute() = COM_STMT_PREPARE + COM_STMT_EXECUTE (binary protocol).
    return withConnection({}, async (c) => {
      const sums = [];
      let text;
      for (const [a, b] of [[2, 3], [5, 6]]) {
        const [rows] = await c.execute({ sql: 'SELECT ? + ?, ?', rowsAsArray: true }, [a, b, 'abc']);
        sums.push(Number(rows[0][0]));
        text = rows[0][1];
      }
      return { sums, text };
    });
  },

  async blob_20mib() {
    const table = `blob_20mib_${args.tag}`;
    const blob = crypto.randomBytes(args.blob_bytes);
    return withConnection({}, async (c) => {
      await c.query(`DROP TABLE IF EXISTS ${table}`);
      await c.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, b LONGBLOB)`);
      await c.query(`INSERT INTO ${table} VALUES (1, ?)`, [blob]);
      const back = await one(c, `SELECT b FROM ${table} WHERE id = 1`);
      return { sent_sha256: sha256(blob), received_sha256: sha256(back), received_len: back.length };
    });
  },

  async multi_statements() {
    return withConnection({ multipleStatements: true }, async (c) => {
      const [results] = await c.query({ sql: "SELECT 1 AS a; SELECT 'two' AS b", rowsAsArray: true });
      return { result_sets: results.map((rows) => rows.map((row) => row.map(String))) };
    });
  },

  async load_data_local() {
    const table = `load_data_local_${args.tag}`;
    return withConnection({}, async (c) => {
      await c.query(`DROP TABLE IF EXISTS ${table}`);
      await c.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, name VARCHAR(32))`);
      const [result] = await c.query({
        sql: `LOAD DATA LOCAL INFILE ? INTO TABLE ${table} FIELDS TERMINATED BY ',' LINES TERMINATED BY '\\n'`,
        values: [args.load_file],
        infileStreamFactory: (path) => fs.createReadStream(path),
      });
      const [rows] = await c.query({ sql: `SELECT COUNT(*), SUM(id) FROM ${table}`, rowsAsArray: true });
      return { affected: result.affectedRows, count: Number(rows[0][0]), sum: Number(rows[0][1]) };
    });
  },

  async use_unknown_database() {
    return withConnection({}, async (c) => {
      try {
        await c.query('USE nosuchdb');
      } catch (err) {
        return { error: errorOf(err), still_usable: await one(c, "SELECT 'Success!'") };
      }
      return { error: null };
    });
  },

  async connect_unknown_database() {
    return withConnection({ database: 'nosuchdb' }, async (c) => ({
      value: await one(c, "SELECT 'Success!'"),
    }));
  },

  async caching_sha2_start() {
    forceSha2 = true;
    try {
      return await withConnection({}, async (c) => ({ value: await one(c, "SELECT 'Success!'") }));
    } finally {
      forceSha2 = false;
    }
  },
};

async function main() {
  for (const name of args.scenarios) {
    let result;
    if (!scenarios[name]) {
      result = { ok: false, error: { errno: -1, sqlstate: null, message: `unknown scenario ${name}` } };
    } else {
      try {
        result = { ok: true, ...(await scenarios[name]()) };
      } catch (err) {
        result = { ok: false, error: errorOf(err) };
      }
    }
    process.stdout.write(`${JSON.stringify({ scenario: name, ...result })}\n`);
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
