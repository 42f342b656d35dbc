/**
 * The join clauses of a KQL query, parsed enough to read their keys: after `join` (with its
 * optional kind= and the right-hand table), `on` takes a comma-separated list of
 * `$left.A == $right.B` pairs (or a bare column name, which joins on that column of both sides)
 * up to the next pipe. Comments and string literals are removed first.
 */
export function joinKeys(kql: string): Array<Array<{ left: string; right: string }>> {
  const code = kql.replace(/\/\/[^\n]*/g, '').replace(/@"(?:[^"]|"")*"|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  const joins: Array<Array<{ left: string; right: string }>> = [];
  for (const match of code.matchAll(/\|\s*join\b([^|]*?)\bon\b([^|]*)/g)) {
    const pairs = match[2]!
      .split(',')
      .map((term) => term.trim())
      .filter(Boolean)
      .map((term) => {
        const pair = /^\$left\.(\w+)\s*==\s*\$right\.(\w+)$/.exec(term);
        if (pair) return { left: pair[1]!, right: pair[2]! };
        if (/^\w+$/.test(term)) return { left: term, right: term };
        throw new Error(`not a join key: ${term}`);
      });
    joins.push(pairs);
  }
  return joins;
}
