import { access, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../core/errors.js';
import { authKinds, type AuthKind } from '../input/auth-schema.js';
import { loadConfig, clouds } from '../input/config.js';
import type { CliIO } from '../common/io.js';
import type { InitFlags } from '../common/settings.js';
import { setupSteps, type InitAnswers } from './init-steps.js';

const configName = 'sinkrule.config.json';
const usersName = 'users.csv';

/**
 * `sinkrule init`: the values from flags, the missing ones asked on a terminal; writes the
 * config and a users file with its header (never over existing files without --force), checks
 * the config loads, and prints the setup steps with the values filled in.
 */
export async function runInit(flags: InitFlags, io: CliIO): Promise<number> {
  const answers = await collect(flags, io);
  const dir = path.resolve(flags.dir);
  const configFile = path.join(dir, configName);
  const usersFile = path.join(dir, usersName);
  if (!flags.force) {
    const existing = (
      await Promise.all([configFile, usersFile].map(async (file) => ((await exists(file)) ? file : undefined)))
    ).filter(Boolean);
    if (existing.length)
      throw new InputError(
        [`${existing.join(' and ')}: already exist${existing.length === 1 ? 's' : ''}: refusing to overwrite`],
        { fix: 'Pass --force to overwrite, or --dir to write somewhere else.' },
      );
  }
  await mkdir(dir, { recursive: true });
  await writeFile(configFile, `${JSON.stringify(configFor(answers), null, 2)}\n`);
  await writeFile(usersFile, `${usersHeader(answers)}\n`);
  const pending = await checkWritten(configFile);
  const steps = setupSteps(answers);
  if (flags.output === 'json') {
    const files = { config: configFile, users: usersFile };
    const summary = { command: 'init', files, config: configFor(answers), pending, steps };
    io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } else {
    if (!io.quiet)
      io.stderr.write(
        `Wrote ${configFile} and ${usersFile} (header only: add the CRM ` +
          `users).\n${pending.map((line) => `Still to do: ${line}\n`).join('')}\n`,
      );
    io.stdout.write(`${steps.map((step) => `## ${step.title}\n\n${step.text}\n`).join('\n')}`);
  }
  return 0;
}

/**
 * The written config must load exactly as a run loads it. The one thing allowed to be missing is
 * the certificate the steps tell the admin to make: that is returned as still to do.
 */
async function checkWritten(configFile: string): Promise<string[]> {
  try {
    await loadConfig(configFile);
    return [];
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    const certificate = (problem: string) => /\.certificatePath: .*: not found: /.test(problem);
    if (!error.problems.every(certificate)) throw error;
    return error.problems.map(
      (problem) =>
        `${problem.replace(/^.*?\.certificatePath: (.*?): not found: .*$/, '$1')} does not exist yet: make ` +
        `it (App registration step 3); until then runs stop with "not found"`,
    );
  }
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** Flags first; what is missing is asked on a terminal, or named as an error without one. */
async function collect(flags: InitFlags, io: CliIO): Promise<InitAnswers> {
  const interactive = io.stdinIsTTY;
  const missing: string[] = [];
  const value = async (
    current: string | undefined,
    flag: string,
    question: string,
    fallback?: string,
    check?: (answer: string) => string | undefined,
  ): Promise<string | undefined> => {
    if (current !== undefined) return current;
    if (!interactive) {
      if (fallback === undefined) missing.push(flag);
      return fallback;
    }
    for (;;) {
      const answer = await io.ask(question, fallback);
      const problem = check?.(answer);
      if (!problem) return answer || undefined;
      io.stderr.write(`${problem}\n`);
    }
  };
  const oneOf = (choices: readonly string[]) => (answer: string) =>
    choices.includes(answer) ? undefined : `Answer one of: ${choices.join(', ')}`;
  const isGuid = (answer: string) =>
    /^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/i.test(answer)
      ? undefined
      : 'A GUID, e.g. 00000000-0000-0000-0000-000000000000';
  const isEmail = (answer: string) =>
    /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(answer) ? undefined : 'The forward mailbox address, e.g. crm-sink@contoso.com';

  const sink = await value(flags.sink, '--sink', 'Forward (sink) mailbox address', undefined, isEmail);
  const backEndsText =
    flags.backEnds?.join(',') ??
    (await value(
      undefined,
      '--back-ends',
      'Back ends, comma-separated: graph (Exchange Online), ews (on-premises), manual (POP3)',
      'graph',
      (a) =>
        a.split(',').every((b) => ['graph', 'ews', 'manual'].includes(b.trim()))
          ? undefined
          : 'graph, ews and/or manual',
    ));
  const backEnds = [...new Set((backEndsText ?? 'graph').split(',').map((b) => b.trim()))] as InitAnswers['backEnds'];
  const answers: InitAnswers = { sink: sink ?? '', backEnds, cloud: flags.cloud ?? 'global' };
  if (backEnds.includes('graph')) {
    answers.cloud = (flags.cloud ??
      (await value(
        undefined,
        '--cloud',
        `Cloud (${Object.keys(clouds).join(', ')})`,
        'global',
        oneOf(Object.keys(clouds)),
      ))) as InitAnswers['cloud'];
    const auth = (await value(
      flags.auth,
      '--auth',
      `How sinkrule signs in (${authKinds.join(', ')})`,
      interactive ? 'certificate' : undefined,
      oneOf(authKinds),
    )) as AuthKind | undefined;
    answers.auth = auth;
    const needsApp = auth === 'secret' || auth === 'certificate';
    if (auth !== 'managed-identity') {
      answers.tenantId = await value(
        flags.tenantId,
        '--tenant-id',
        'Directory (tenant) ID',
        needsApp ? undefined : '',
        isGuid,
      );
      answers.clientId = await value(
        flags.clientId,
        '--client-id',
        'Application (client) ID',
        needsApp ? undefined : '',
        isGuid,
      );
    } else {
      answers.managedIdentityClientId = await value(
        flags.managedIdentityClientId,
        '--managed-identity-client-id',
        'Client ID of a user-assigned identity (empty: system-assigned)',
        '',
        (a) => (a ? isGuid(a) : undefined),
      );
    }
    if (auth === 'certificate')
      answers.certificatePath = await value(
        flags.certificatePath,
        '--certificate-path',
        'Certificate file (PEM or PFX)',
        'sinkrule.pfx',
      );
  }
  if (backEnds.includes('ews')) {
    answers.ewsUrl = await value(flags.ewsUrl, '--ews-url', 'EWS URL', undefined, (a) =>
      /^https:\/\/.+\/ews\/exchange\.asmx$/i.test(a) ? undefined : 'e.g. https://mail.contoso.com/EWS/Exchange.asmx',
    );
    answers.ewsUsername = await value(
      flags.ewsUsername,
      '--ews-username',
      'EWS service account (CONTOSO\\svc-sinkrule)',
    );
  }
  if (missing.length) {
    throw new InputError(
      [`init: no terminal to ask on, and ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not given`],
      { fix: `Pass ${missing.join(', ')} (see sinkrule init --help), or run sinkrule init on a terminal.` },
    );
  }
  return answers;
}

function configFor(a: InitAnswers): Record<string, unknown> {
  const graph = a.backEnds.includes('graph')
    ? {
        ...(a.tenantId ? { tenantId: a.tenantId } : {}),
        ...(a.clientId ? { clientId: a.clientId } : {}),
        cloud: a.cloud,
        auth: a.auth,
        ...(a.certificatePath ? { certificatePath: a.certificatePath } : {}),
        ...(a.managedIdentityClientId ? { managedIdentityClientId: a.managedIdentityClientId } : {}),
      }
    : undefined;
  const ews = a.backEnds.includes('ews') ? { url: a.ewsUrl, username: a.ewsUsername, auth: 'ntlm' } : undefined;
  const defaultTarget = a.backEnds[0] === 'manual' ? 'pop3' : a.backEnds[0];
  return { sink: a.sink, defaultTarget, ...(graph ? { graph } : {}), ...(ews ? { ews } : {}) };
}

function usersHeader(a: InitAnswers): string {
  return a.backEnds.includes('manual')
    ? 'email,displayName,target,sink,server,instructions,confirmed'
    : 'email,displayName,target,sink';
}
