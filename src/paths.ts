import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The package root (this file is compiled to dist/src/paths.js). */
export const packageRoot = fileURLToPath(new URL('../../', import.meta.url));
export const templatesDir = path.join(packageRoot, 'templates');
export const samplesDir = path.join(packageRoot, 'samples');
export const toolVersion: string = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version;
