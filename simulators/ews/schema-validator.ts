import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../../src/paths.js';

/**
 * Microsoft's EWS schema (messages.xsd, types.xsd) with the offline wrapper from shared/ref/ews.
 * SINKRULE_EWS_SCHEMA_DIR overrides where it is looked for.
 */
export function ewsSchemaDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = [env.SINKRULE_EWS_SCHEMA_DIR, path.join(packageRoot, '..', 'shared', 'ref', 'ews')].filter((d): d is string => Boolean(d));
  return candidates.find((dir) => existsSync(path.join(dir, 'schema-support', 'ews-messages-wrapper.xsd')));
}

export interface ValidationResult {
  ok: boolean;
  errors: string[];
}

/** A long-lived libxml2 schema validator (Debian python3-lxml), so each message validates in <1 ms. */
export class EwsSchemaValidator {
  private readonly pending = new Map<number, (result: ValidationResult) => void>();
  private nextId = 0;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {}

  static async start(schemaDir: string): Promise<EwsSchemaValidator> {
    const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
    const child = spawn(python, [fileURLToPath(new URL('./validate-ews.py', import.meta.url)), path.join(schemaDir, 'schema-support', 'ews-messages-wrapper.xsd')]);
    const validator = new EwsSchemaValidator(child);
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const lines = createInterface({ input: child.stdout });
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`EWS schema validator exited (${code}): ${stderr.trim()} — install python3-lxml (apt-get install python3-lxml)`)));
      lines.once('line', () => resolve());
    });
    child.removeAllListeners('exit');
    // A helper of the simulator: it must not keep the process (a test runner, the demo) alive.
    child.unref();
    for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as { unref?: () => void }).unref?.();
    lines.on('line', (line) => {
      const { id, ok, errors } = JSON.parse(line) as { id: number; ok: boolean; errors: string[] };
      validator.pending.get(id)?.({ ok, errors });
      validator.pending.delete(id);
    });
    return validator;
  }

  validate(xml: string): Promise<ValidationResult> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.child.stdin.write(`${JSON.stringify({ id, xml })}\n`);
    });
  }

  stop(): void {
    this.child.stdin.end();
    this.child.kill();
  }
}
