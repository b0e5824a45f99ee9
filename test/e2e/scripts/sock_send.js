#!/usr/bin/env node
/*
 * sock_send.js MOUNTPOINT [EXPECTED]: send stdin to the control socket of the
 * vdpafs kernel at MOUNTPOINT as it is (any bytes), print every reply line,
 * and exit once EXPECTED replies came (default: one per non-empty input
 * line) or after 10 s of silence. Exit 3 if the socket closed first.
 * Standalone (node builtins only), so an unprivileged user can run it.
 */
'use strict';
const net = require('node:net');
const fs = require('node:fs');
const path = require('node:path');
const { createHash } = require('node:crypto');

const [mnt, expectedArg] = process.argv.slice(2);
const real = fs.realpathSync(mnt);
const key = createHash('sha256').update(real).digest('hex').slice(0, 16);
const sock = path.join(process.env.VDPAFS_RUN_DIR || '/run/vdpafs', `${key}.sock`);

const input = fs.readFileSync(0);
const expected = expectedArg !== undefined ? Number(expectedArg) : input.toString('latin1').split('\n').filter((l) => l.trim()).length;
let got = 0;
let buf = '';
const s = net.createConnection(sock);
let timer = setTimeout(() => finish(2), 10_000);
s.on('connect', () => {
  s.write(input);
  if (expected === 0) setTimeout(() => finish(0), 200);
});
s.on('data', (d) => {
  buf += d.toString('utf8');
  let nl;
  while ((nl = buf.indexOf('\n')) !== -1) {
    process.stdout.write(buf.slice(0, nl + 1));
    buf = buf.slice(nl + 1);
    got++;
  }
  clearTimeout(timer);
  timer = setTimeout(() => finish(2), 10_000);
  if (got >= expected) finish(0);
});
s.on('error', (e) => {
  process.stderr.write(`sock_send: ${e.message}\n`);
  finish(3);
});
s.on('close', () => finish(got >= expected ? 0 : 3));
function finish(code) {
  clearTimeout(timer);
  s.destroy();
  process.exitCode = code;
}
