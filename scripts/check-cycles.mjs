// Proves the import graph has no cycle. eslint's import-x/no-cycle skips `import type` by design, so
// two modules that need each other only for a type pass it; this check counts every static import
// and re-export (type-only ones included) and every import() of a literal path between our own files.
// Usage: node scripts/check-cycles.mjs [folder…] (default: src simulators test bench). Exit 1 on a cycle.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const roots = process.argv.length > 2 ? process.argv.slice(2) : ['src', 'simulators', 'test', 'bench'];

function sourceFiles(folder) {
  if (!existsSync(folder)) return [];
  return readdirSync(folder).flatMap((name) => {
    const file = path.join(folder, name);
    if (statSync(file).isDirectory()) return sourceFiles(file);
    return /\.(ts|mts)$/.test(name) && !name.endsWith('.d.ts') ? [path.resolve(file)] : [];
  });
}

/** `./x.js` in a .ts file names `./x.ts` (NodeNext resolution); a folder names its index. */
function resolve(from, specifier) {
  if (!specifier.startsWith('.')) return undefined;
  const target = path.resolve(path.dirname(from), specifier);
  const candidates = [target.replace(/\.m?js$/, (ending) => (ending === '.mjs' ? '.mts' : '.ts')), target];
  candidates.push(`${target}.ts`, path.join(target, 'index.ts'));
  return candidates.find((file) => existsSync(file) && statSync(file).isFile());
}

function importsOf(file) {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const specifiers = [];
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier)
      specifiers.push(node.moduleSpecifier.text);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference))
      specifiers.push(node.moduleReference.expression.text);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      if (argument && ts.isStringLiteralLike(argument)) specifiers.push(argument.text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument))
      specifiers.push(node.argument.literal.text);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return specifiers.map((specifier) => resolve(file, specifier)).filter(Boolean);
}

/** Strongly connected components with more than one module, or a module importing itself (Tarjan). */
function cycles(graph) {
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const found = [];
  let next = 0;
  const connect = (file) => {
    index.set(file, next);
    low.set(file, next++);
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file) ?? []) {
      if (!index.has(target)) {
        connect(target);
        low.set(file, Math.min(low.get(file), low.get(target)));
      } else if (onStack.has(target)) low.set(file, Math.min(low.get(file), index.get(target)));
    }
    if (low.get(file) !== index.get(file)) return;
    const component = [];
    let member;
    do {
      member = stack.pop();
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1 || graph.get(file)?.includes(file)) found.push(component.sort());
  };
  for (const file of graph.keys()) if (!index.has(file)) connect(file);
  return found;
}

const graph = new Map();
for (const file of roots.flatMap(sourceFiles)) graph.set(file, importsOf(file));
for (const targets of graph.values()) for (const target of targets) if (!graph.has(target)) graph.set(target, []);
const found = cycles(graph);
const relative = (file) => path.relative(process.cwd(), file);
for (const component of found) console.error(`import cycle: ${component.map(relative).join(' ↔ ')}`);
console.log(`${graph.size} modules, ${found.length} import cycles`);
process.exitCode = found.length > 0 ? 1 : 0;
