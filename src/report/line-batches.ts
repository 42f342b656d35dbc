import { createReadStream } from 'node:fs';

/**
 * The lines of a text file, a read's worth at a time, as bytes: the report's row files are copied
 * into report.json and report.html in a few large writes, and never decoded and encoded again on
 * the way (10,000 rows took a third of a second line by line, and decoding 14 MB of rows to strings
 * and back most of what was left). A split at \n is always between characters in UTF-8. Empty lines
 * are skipped.
 */
export async function* lineBatches(file: string): AsyncIterable<Buffer[]> {
  let rest: Buffer | undefined;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    const data = rest ? Buffer.concat([rest, chunk]) : chunk;
    const batch: Buffer[] = [];
    let from = 0;
    for (let at = data.indexOf(0x0a); at >= 0; at = data.indexOf(0x0a, from)) {
      if (at > from) batch.push(data.subarray(from, at));
      from = at + 1;
    }
    rest = from < data.length ? data.subarray(from) : undefined;
    if (batch.length > 0) yield batch;
  }
  if (rest) yield [rest];
}
