'use strict';
// Logs in with mysql2 and runs a few commands, for tests/integration/test_sha2_upstream.py.
//
// Usage: node sha2_login.js '<json>'
//   {"host": "127.0.0.1", "port": N | "socketPath": P, "user": U, "password": W,
//    "database": D?, "ca": "/path/ca.pem"?  (TLS, verifying the server certificate),
//    "nativeFirst": bool?  (start with mysql_native_password, forcing an AuthSwitchRequest),
//    "ping": bool?, "reset": bool?  (COM_PING, COM_RESET_CONNECTION after login),
//    "queries": ["SELECT 'x'", ...]?}
// Prints one JSON line: {"ok": true, "results": [[row, ...] per query]} or
// {"ok": false, "stage": "connect"|"command", "errno", "code", "sqlState", "message"}.
// Exit code: 0 ok, 1 MySQL/connection error (JSON printed), 2 bad usage.

const fs = require('fs');
const mysql = require('mysql2/promise');
const { authPlugins } = require('mysql2');

function options(cfg) {
  const opts = {
    user: cfg.user,
    password: cfg.password,
    database: cfg.database,
    connectTimeout: 20000,  // generous: CI shares 2 cores between the server, the client and builds
  };
  if (cfg.socketPath) {
    opts.socketPath = cfg.socketPath;
  } else {
    opts.host = cfg.host || '127.0.0.1';
    opts.port = cfg.port;
  }
  if (cfg.ca) {
    opts.ssl = { ca: fs.readFileSync(cfg.ca), rejectUnauthorized: true };
  }
  if (cfg.nativeFirst) {
    // mysql2 answers the greeting's plugin directly unless a custom plugin is
    // registered for it; then it sends mysql_native_password and waits for the switch.
    opts.authPlugins = {
      caching_sha2_password: authPlugins.caching_sha2_password({}),
    };
  }
  return opts;
}

function failure(stage, err) {
  return {
    ok: false,
    stage,
    errno: err.errno,
    code: err.code,
    sqlState: err.sqlState,
    message: err.message,
  };
}

async function run(cfg) {
  let conn;
  try {
    conn = await mysql.createConnection(options(cfg));
  } catch (err) {
    return failure('connect', err);
  }
  try {
    if (cfg.ping) await conn.ping();
    if (cfg.reset) await conn.reset();
    const results = [];
    for (const sql of cfg.queries || []) {
      const [rows] = await conn.query({ sql, rowsAsArray: true });
      results.push(rows);
    }
    return { ok: true, results };
  } catch (err) {
    return failure('command', err);
  } finally {
    await conn.end().catch(() => {});
  }
}

let cfg;
try {
  cfg = JSON.parse(process.argv[2]);
} catch (err) {
  console.error(`usage: node sha2_login.js '<json>' (${err.message})`);
  process.exit(2);
}
run(cfg).then((result) => {
  console.log(JSON.stringify(result));
  process.exitCode = result.ok ? 0 : 1;
});
