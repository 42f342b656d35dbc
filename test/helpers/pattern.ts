/**
 * One regular expression written in parts, their sources joined in order (flags from all parts), so
 * a long expected message fits the 120-column lines: `joined(/a /, /b/)` matches what `/a b/` does.
 */
export function joined(...parts: RegExp[]): RegExp {
  const flags = [...new Set(parts.flatMap((part) => [...part.flags]))].join('');
  return new RegExp(parts.map((part) => part.source).join(''), flags);
}
