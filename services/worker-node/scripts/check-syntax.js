'use strict';
// `node --check` on every JavaScript file of the worker (src/, test/, scripts/): a syntax
// error fails here even where no test loads the file.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const files = [];
const walk = (dir) => {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== 'node_modules') walk(full);
    else if (entry.isFile() && /\.[cm]?js$/.test(entry.name)) files.push(full);
  }
};
walk(root);
for (const file of files) execFileSync(process.execPath, ['--check', file], { stdio: 'inherit' });
console.log(`node --check: ${files.length} files`);
