import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../src/paths.js';

/**
 * Where the CLIs a test process starts keep their learnt paces: one folder per test process, so
 * tests never read or write the admin's own (~/.local/state/sinkrule) nor each other's.
 */
export const testStateDir = path.join(tmpdir(), `sinkrule-test-state-${process.pid}`);

/** The `sinkrule` command as npm installs it (the launcher in front of cli.js). */
export const cliPath = path.join(packageRoot, 'dist/src/bin.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunCliOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Copy the child's stderr to ours as it comes (the demo shows progress). */
  echoStderr?: boolean;
  /** The child is killed after this long, so a hung run fails its test instead of outliving it. @default 240000 */
  timeoutInMs?: number;
}

/**
 * Runs the built sinkrule CLI in a child process, the way an admin runs it. Asynchronous on
 * purpose: the simulators answering it live in this process's event loop.
 */
export function runCli(args: string[], options: RunCliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      cwd: options.cwd,
      env: { ...process.env, SINKRULE_STATE_DIR: testStateDir, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutInMs ?? 240_000,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (options.echoStderr) process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
