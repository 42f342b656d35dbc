import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The Graph v1.0 type model for message rules, read from Microsoft's own metadata (an excerpt of
 * msgraph-metadata's cleanMetadata.xml, MIT), so the simulator rejects exactly the property names
 * and types that Graph's OData layer rejects, not what sinkrule happens to send.
 */
export const csdlFile = fileURLToPath(new URL('./messageRule.csdl.xml', import.meta.url));

interface TypeModel {
  complex: Map<string, Map<string, string>>;
  enums: Map<string, Set<string>>;
}

let model: TypeModel | undefined;

function loadModel(): TypeModel {
  const xml = readFileSync(csdlFile, 'utf8');
  const complex = new Map<string, Map<string, string>>();
  const enums = new Map<string, Set<string>>();
  for (const match of xml.matchAll(
    /<(ComplexType|EntityType) Name="(\w+)"[^>]*?(?:BaseType="graph\.(\w+)")?[^>]*>([\s\S]*?)<\/\1>/g,
  )) {
    const [, , name, base, body] = match;
    const properties = new Map<string, string>(base ? [...(complex.get(base) ?? [])] : []);
    for (const prop of body!.matchAll(/<Property Name="(\w+)" Type="([^"]+)"/g)) properties.set(prop[1]!, prop[2]!);
    complex.set(name!, properties);
  }
  for (const match of xml.matchAll(/<EnumType Name="(\w+)">([\s\S]*?)<\/EnumType>/g)) {
    enums.set(match[1]!, new Set([...match[2]!.matchAll(/<Member Name="(\w+)"/g)].map((m) => m[1]!)));
  }
  return { complex, enums };
}

/** Why a request body does not fit type `typeName`, in Graph's wording; undefined when it fits. */
export function validateAgainstType(value: unknown, typeName: string): string | undefined {
  model ??= loadModel();
  return check(model, value, typeName);
}

function check(m: TypeModel, value: unknown, type: string): string | undefined {
  if (value === null) return undefined;
  const collection = /^Collection\((.+)\)$/.exec(type);
  if (collection) {
    if (!Array.isArray(value))
      return (
        `An unexpected '${jsonNode(value)}' node was found when reading from the JSON reader. A 'StartArray' ` +
        `node was expected.`
      );
    for (const item of value) {
      const problem = check(m, item, collection[1]!);
      if (problem) return problem;
    }
    return undefined;
  }
  switch (type) {
    case 'Edm.String':
      return typeof value === 'string'
        ? undefined
        : `Cannot convert a primitive value to the expected type 'Edm.String'.`;
    case 'Edm.Boolean':
      return typeof value === 'boolean'
        ? undefined
        : `Cannot convert a primitive value to the expected type 'Edm.Boolean'.`;
    case 'Edm.Int32':
      return Number.isInteger(value) && Math.abs(value as number) < 2 ** 31
        ? undefined
        : `Cannot convert the literal '${String(value)}' to the expected type 'Edm.Int32'.`;
  }
  const local = type.replace(/^graph\./, '');
  const members = m.enums.get(local);
  if (members)
    return typeof value === 'string' && members.has(value)
      ? undefined
      : `Requested value '${String(value)}' was not found.`;
  const properties = m.complex.get(local);
  if (!properties) return `The type 'microsoft.graph.${local}' is not known to this simulator.`;
  if (typeof value !== 'object' || Array.isArray(value))
    return (
      `An unexpected '${jsonNode(value)}' node was found when reading from the JSON reader. A 'StartObject' ` +
      `node was expected.`
    );
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
    if (key.startsWith('@odata.')) continue;
    const propertyType = properties.get(key);
    if (!propertyType) {
      return (
        `The property '${key}' does not exist on type 'microsoft.graph.${local}'. Make sure to only use ` +
        `property names that are defined by the type or mark the type as open type.`
      );
    }
    const problem = check(m, inner, propertyType);
    if (problem) return problem;
  }
  return undefined;
}

function jsonNode(value: unknown): string {
  if (Array.isArray(value)) return 'StartArray';
  if (typeof value === 'object') return 'StartObject';
  return 'PrimitiveValue';
}
