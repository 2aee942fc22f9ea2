'use strict';
// An abortable pause: resolves after `seconds`, or early (with false) once `signal` aborts.

function sleep(seconds, signal) {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve(false);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, seconds * 1000);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

module.exports = { sleep };
