import type { RunInfo } from '../report/run-info.js';
import type { WatchlistPart } from './watchlist.js';

/**
 * The alerts a rollout of forward-as-attachment rules raises (exchange-facts.md, "Security
 * operations"; issue 24): what the SOC will see, by name.
 */
export const expectedAlerts = [
  'Defender for Office 365 default alert policy "Creation of forwarding/redirect rule"',
  'Defender XDR / Sentinel analytics on New-InboxRule, Set-InboxRule or UpdateInboxRules with ForwardAsAttachmentTo',
  'Defender XDR "Suspicious inbox forwarding" / "Suspicious inbox manipulation rule" ' +
    '(many mailboxes forwarding to one destination)',
  'Entra ID Protection risk detection "Suspicious inbox forwarding"',
];

export interface NoticeFacts {
  run: RunInfo;
  /** Mailboxes holding sinkrule's rule after the run (the watchlist rows). */
  holding: number;
  /** Rules that left (remove). */
  leaving: number;
  parts: WatchlistPart[];
  leavingParts: WatchlistPart[];
  contact?: string;
  generatedAt: string;
}

const mailboxes = (n: number) => `${n.toLocaleString('en-US')} mailbox${n === 1 ? '' : 'es'}`;

/** notice.md: what the SOC needs before (and after) the run, in plain words. */
export function renderNotice(facts: NoticeFacts): string {
  const { run } = facts;
  const counts = run.counts as Record<string, number>;
  const count = (...names: string[]) => names.reduce((sum, name) => sum + (counts[name] ?? 0), 0);
  const planned = run.dryRun;
  const removing = run.command === 'remove';
  const changing = removing
    ? count('removed', 'would-remove')
    : count('created', 'updated', 'would-create', 'would-update');
  const apps = Object.entries(run.identity.signedIn);
  const when = planned
    ? `planned; this dry run read the mailboxes at ${run.startedAt}`
    : `${run.startedAt} to ${run.finishedAt}`;
  const lines = [
    `# Notice to the security operations team: sinkrule ${run.command}${planned ? ' (planned)' : ''}`,
    '',
    `Generated ${facts.generatedAt} from the report of the run that started ${run.startedAt}.`,
    '',
    '## What will happen',
    '',
    removing
      ? `sinkrule removes its own inbox rule "${run.ruleName}" from ${mailboxes(changing)}.`
      : `sinkrule ${planned ? 'will create or repair' : 'created or repaired'} one server-side inbox rule, ` +
        `"${run.ruleName}", in ${mailboxes(changing)}. The rule forwards every incoming message ` +
        'as an attachment to the Dynamics 365 forward mailbox (the sink) that server-side synchronization ' +
        'processes. This is the Dynamics 365 "forward mailbox" setup, not a compromise.',
    '',
    `- When: ${when}`,
    `- Mailboxes in the list: ${run.mailboxes.toLocaleString('en-US')}` +
      ` (${Object.entries(counts)
        .map(([name, n]) => `${name} ${n}`)
        .join(', ')})`,
    ...(planned
      ? []
      : [`- Mailboxes holding the rule after the run (watchlist rows): ${facts.holding.toLocaleString('en-US')}`]),
    ...(facts.leaving ? [`- Rules removed (leaving rows): ${facts.leaving.toLocaleString('en-US')}`] : []),
    `- Sinks (forward targets): ${run.sinks.length ? run.sinks.join(', ') : run.sink}`,
    `- Operator: ${run.identity.operator.user} on ${run.identity.operator.host}, sinkrule ${run.toolVersion}`,
    '',
    '## The app that writes the rules',
    '',
    ...(apps.length
      ? apps.map(
          ([route, app]) =>
            `- ${route}: client id ${app.appId ?? 'unknown'}, tenant ${app.tenantId ?? 'unknown'}` +
            `${app.appDisplayName ? `, "${app.appDisplayName}"` : ''}; application permissions: ` +
            `${app.roles.length ? app.roles.join(', ') : 'none in the token'}`,
        )
      : ['- No token-based sign-in was recorded (EWS with NTLM or basic authentication, or manual rows).']),
    '',
    '## Alerts to expect',
    '',
    ...expectedAlerts.map((name) => `- ${name}`),
    '',
    'Defender has no API to pre-approve these rules: expect the alerts and close them with the checks below.',
    '',
    '## How to tell a rule is ours',
    '',
    "A rule is sinkrule's only when **all three** match a row of the watchlist: the mailbox (MailboxUpn), " +
      'the rule name (RuleDisplayName) and the forward target (ForwardTarget). The target alone proves ' +
      'nothing: an attacker may forward to the same sink under another name, or use our name with another target.',
    '',
    ...watchlistLines(facts),
    '',
    '## Who to call',
    '',
    facts.contact
      ? facts.contact
      : 'No contact is configured (set "soc": {"contact": "…"} in the sinkrule config): ' +
        `ask ${run.identity.operator.user}, who ran sinkrule.`,
    '',
  ];
  return `${lines.join('\n')}`;
}

function watchlistLines(facts: NoticeFacts): string[] {
  if (facts.parts.length === 0)
    return [
      facts.run.dryRun
        ? '- The watchlist is written after the run, with the rule ids the service returns: ' +
          "sinkrule soc --report <the run's report folder>."
        : '- No mailbox holds the rule after this run: there is no watchlist to upload.',
      ...(facts.leavingParts.length
        ? [
            `- ${facts.leavingParts.map((p) => p.file).join(', ')}: the rules that left, with their ids: ` +
              'delete these items from the sinkrule watchlist (or re-upload the watchlist of the next deploy).',
          ]
        : []),
    ];
  return [
    `- Watchlist${facts.parts.length > 1 ? 's' : ''}: ${facts.parts
      .map((p) => `${p.file} (alias ${p.alias}, ${p.rows} rows)`)
      .join(', ')}, search key MailboxUpn.`,
    '- Upload: sinkrule soc upload --report <folder> --workspace <workspace resource id>, or ' +
      'az deployment group create -g <resource group> --template-file watchlist.arm.json -p workspaceName=<workspace>.',
    '- exclusion.kql joins New-InboxRule, Set-InboxRule and UpdateInboxRules events (OfficeActivity, ' +
      'CloudAppEvents) to the watchlist on the three keys: IsSinkrule = true marks our rules.',
    ...(facts.leavingParts.length
      ? [`- ${facts.leavingParts.map((p) => p.file).join(', ')}: rules that left in this run, with their ids.`]
      : []),
  ];
}
