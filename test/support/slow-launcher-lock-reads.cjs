// Preloaded into a launcher (NODE_OPTIONS=--require) by a test: every read of
// a file named launcher.pid returns (or fails) one second after it read the
// file, as if the launcher were descheduled between looking at its lock and
// taking it, which a busy machine can do at any instruction. Two launchers
// started together then both look before either takes, so a lock that is read
// and then written lets both in; a lock taken in one atomic step is not
// affected.

const fs = require('node:fs');
const path = require('node:path');

const PAUSE_MS = 1000;
const pause = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, PAUSE_MS);
const readFileSync = fs.readFileSync;
fs.readFileSync = function slowLockRead(file, ...rest) {
  if (typeof file !== 'string' || path.basename(file) !== 'launcher.pid') return readFileSync.call(this, file, ...rest);
  try {
    return readFileSync.call(this, file, ...rest);
  } finally {
    pause();
  }
};
