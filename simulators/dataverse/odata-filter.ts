/**
 * The part of OData v4 `$filter` a Dataverse `mailboxes` query can use: comparisons
 * (`eq ne gt ge lt le`) of a column with a literal (integer, `true`/`false`, `null`, `'text'`,
 * GUID), joined by `and` / `or`, `not` and parentheses. Anything else is rejected the way the OData
 * library behind the Web API rejects it (400, code 0x80060888), with its wording where known.
 */
export type EdmType = 'Edm.Int32' | 'Edm.Boolean' | 'Edm.String' | 'Edm.Guid' | 'Edm.DateTimeOffset';
export type Row = Record<string, unknown>;
export type Predicate = (row: Row) => boolean;

/** A query the Web API refuses with 400; `code` is the Web API's hex error code. */
export class ODataQueryError extends Error {
  constructor(
    message: string,
    readonly code = '0x80060888',
  ) {
    super(message);
  }
}

const operators = {
  eq: 'Equal',
  ne: 'NotEqual',
  gt: 'GreaterThan',
  ge: 'GreaterThanOrEqual',
  lt: 'LessThan',
  le: 'LessThanOrEqual',
} as const;
type Operator = keyof typeof operators;

interface Token {
  text: string;
  position: number;
}

function tokenize(filter: string): Token[] {
  const tokens: Token[] = [];
  const pattern = /\s*('(?:[^']|'')*'|\(|\)|[^\s()]+)/gy;
  let end = 0;
  for (let match = pattern.exec(filter); match !== null; match = pattern.exec(filter)) {
    tokens.push({ text: match[1]!, position: match.index + match[0].length - match[1]!.length });
    end = pattern.lastIndex;
  }
  if (filter.slice(end).trim()) throw new ODataQueryError(`Syntax error at position ${end} in '${filter}'.`);
  return tokens;
}

/** Compiles a `$filter` against the table's columns; throws ODataQueryError with Dataverse's message. */
export function compileFilter(
  filter: string,
  columns: Readonly<Record<string, EdmType>>,
  entityType: string,
): Predicate {
  const tokens = tokenize(filter);
  let at = 0;
  const peek = () => tokens[at];
  const syntaxError = (): never => {
    throw new ODataQueryError(`Syntax error at position ${peek()?.position ?? filter.length} in '${filter}'.`);
  };

  const expression = (): Predicate => {
    let left = conjunction();
    while (peek()?.text === 'or') {
      at++;
      const [a, b] = [left, conjunction()];
      left = (row) => a(row) || b(row);
    }
    return left;
  };
  const conjunction = (): Predicate => {
    let left = unary();
    while (peek()?.text === 'and') {
      at++;
      const [a, b] = [left, unary()];
      left = (row) => a(row) && b(row);
    }
    return left;
  };
  const unary = (): Predicate => {
    const token = peek() ?? syntaxError();
    if (token.text === 'not') {
      at++;
      const inner = unary();
      return (row) => !inner(row);
    }
    if (token.text === '(') {
      at++;
      const inner = expression();
      if (peek()?.text !== ')') syntaxError();
      at++;
      return inner;
    }
    return comparison();
  };
  const comparison = (): Predicate => {
    const property = tokens[at++] ?? syntaxError();
    if (!/^[A-Za-z_][\w]*$/.test(property.text)) syntaxError();
    const type = columns[property.text];
    if (!type) throw new ODataQueryError(`Could not find a property named '${property.text}' on type '${entityType}'.`);
    const operator = tokens[at++] ?? syntaxError();
    if (!(operator.text in operators)) syntaxError();
    const literal = tokens[at++] ?? syntaxError();
    const value = parseLiteral(literal.text, type, operators[operator.text as Operator]) ?? syntaxError();
    return compare(property.text, operator.text as Operator, value.value);
  };

  const predicate = expression();
  if (at < tokens.length) syntaxError();
  return predicate;
}

function parseLiteral(text: string, type: EdmType, operatorKind: string): { value: unknown } | undefined {
  const mismatch = (found: EdmType) =>
    new ODataQueryError(
      `A binary operator with incompatible types was detected. Found operand types '${type}' and '${found}' ` +
        `for operator kind '${operatorKind}'.`,
    );
  if (text === 'null') return { value: null };
  if (text === 'true' || text === 'false') {
    if (type !== 'Edm.Boolean') throw mismatch('Edm.Boolean');
    return { value: text === 'true' };
  }
  if (/^-?\d+$/.test(text)) {
    if (type !== 'Edm.Int32') throw mismatch('Edm.Int32');
    return { value: Number(text) };
  }
  if (/^'(?:[^']|'')*'$/.test(text)) {
    if (type !== 'Edm.String') throw mismatch('Edm.String');
    return { value: text.slice(1, -1).replace(/''/g, "'") };
  }
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text)) {
    if (type !== 'Edm.Guid') throw mismatch('Edm.Guid');
    return { value: text.toLowerCase() };
  }
  return undefined;
}

function compare(column: string, operator: Operator, value: unknown): Predicate {
  // Dataverse compares text case-insensitively
  const normalise = (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : (v ?? null));
  const wanted = normalise(value);
  return (row) => {
    const actual = normalise(row[column]);
    switch (operator) {
      case 'eq':
        return actual === wanted;
      case 'ne':
        return actual !== wanted;
      default: {
        if (actual === null || wanted === null) return false;
        const [a, b] = [actual as number | string, wanted as number | string];
        return operator === 'gt' ? a > b : operator === 'ge' ? a >= b : operator === 'lt' ? a < b : a <= b;
      }
    }
  };
}
