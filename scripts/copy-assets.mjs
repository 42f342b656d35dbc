// Copies the simulators' data files (Graph's CSDL excerpt) next to their compiled
// modules, so each module resolves its data from its own folder in a clone and in the package.
import { cpSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const assetEndings = ['.xml', '.xsd'];

function copyAssets(from, to) {
  for (const name of readdirSync(from)) {
    const source = path.join(from, name);
    if (statSync(source).isDirectory()) copyAssets(source, path.join(to, name));
    else if (assetEndings.some((ending) => name.endsWith(ending))) cpSync(source, path.join(to, name));
  }
}

copyAssets('simulators', path.join('dist', 'simulators'));
