import { createReadStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

/**
 * The lines of a text file, a read's worth at a time: the report's row files are copied into
 * report.json and report.html in a few large writes instead of one await per row (10,000 rows
 * took a third of a second line by line). Empty lines are skipped.
 */
export async function* lineBatches(file: string): AsyncIterable<string[]> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const lines = (rest + decoder.write(chunk as Buffer)).split('\n');
    rest = lines.pop()!;
    const batch = lines.filter((line) => line !== '');
    if (batch.length > 0) yield batch;
  }
  rest += decoder.end();
  if (rest !== '') yield [rest];
}
