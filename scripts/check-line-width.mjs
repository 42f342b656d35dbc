// Lines at most 120 characters in src/, simulators/, test/ and bench/ (Prettier's printWidth, which
// does not wrap strings, comments or regular expressions: this check covers them, and data files too).
// Usage: node scripts/check-line-width.mjs [folder…]. Exit 1, naming each FILE:LINE, when one is longer.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const maxWidth = 120;
const folders = process.argv.length > 2 ? process.argv.slice(2) : ['src', 'simulators', 'test', 'bench'];

const files = (folder) =>
  readdirSync(folder).flatMap((name) => {
    const file = path.join(folder, name);
    return statSync(file).isDirectory() ? files(file) : [file];
  });

let long = 0;
for (const file of folders.flatMap(files)) {
  readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .forEach((line, index) => {
      const width = [...line].length;
      if (width <= maxWidth) return;
      long++;
      console.error(`${file}:${index + 1}: ${width} characters, at most ${maxWidth}: split the string or comment`);
    });
}
console.log(`${long} lines over ${maxWidth} characters`);
process.exitCode = long > 0 ? 1 : 0;
