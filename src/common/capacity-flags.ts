import { z } from 'zod';
import { mailAddress } from '../input/address.js';

const share = (what: string) =>
  z.coerce
    .number<number>({ error: (issue) => (issue.code === 'invalid_type' ? `must be ${what}` : undefined) })
    .gt(0, { error: `must be ${what}` })
    .max(1, { error: `must be ${what}` });
const positive = (what: string, max: number) =>
  z.coerce
    .number<number>({ error: (issue) => (issue.code === 'invalid_type' ? `must be ${what}` : undefined) })
    .gt(0, { error: `must be ${what}` })
    .max(max, { error: `must be ${what}` });

/** `--sinks a@x,b@x` (repeatable): the forward mailboxes to plan over, each a valid address, none twice. */
const sinkList = z
  .preprocess(
    (value) =>
      value === undefined
        ? undefined
        : (Array.isArray(value) ? value : [value])
            .flatMap((v) => String(v).split(','))
            .map((v) => v.trim())
            .filter(Boolean),
    z
      .array(mailAddress('must be forward mailbox addresses, e.g. --sinks crm-sink1@contoso.com,crm-sink2@contoso.com'))
      .min(1),
  )
  .refine((list) => new Set(list.map((s) => s.toLowerCase())).size === list.length, {
    error: 'names a sink twice: list each forward mailbox once',
  })
  .optional();

/** The flags only `sinkrule capacity` takes (registered in settings.ts). */
export const capacityFlags = {
  sinks: {
    schema: sinkList,
    describe:
      'The forward mailboxes to spread the users over (comma-separated); with --out the users CSV gets their sink',
  },
  period: {
    schema: z.enum(['D7', 'D30', 'D90', 'D180']).default('D30'),
    describe: 'The usage report period the volumes come from (Receive Count over its working days)',
  },
  volumes: {
    schema: z.string().min(1).optional(),
    describe:
      'Email activity user details CSV as the Microsoft 365 admin center exports it ' +
      '(national clouds, no Reports.Read.All, on-premises users); its rows win over the report',
  },
  peakHourShare: {
    schema: share('a share of the working day above 0 and at most 1, e.g. 0.2').default(0.2),
    describe: "Share of a working day's mail that arrives in the busiest hour",
  },
  headroom: {
    schema: share('a share of the limit above 0 and at most 1, e.g. 0.8').default(0.8),
    describe:
      'Plan each sink to this share of 3,600 messages an hour (and each user outside Exchange Online to it of 1,188)',
  },
  allowHotSinks: {
    schema: z.boolean().default(false),
    describe:
      'Let sinks whose users are all on Exchange Online go past the hourly cap (their copies are still delivered)',
  },
  sinkDeletes: {
    schema: z.enum(['yes', 'no']).optional(),
    describe:
      'Whether Dynamics 365 deletes processed mail from the sinks (Delete Emails After Processing); ' +
      "default: the forward mailbox record's with --from-dataverse, else no",
  },
  averageMessageKb: {
    schema: positive('a size in KB above 0, at most 153600', 153_600).default(75),
    describe: 'Average message size when a sink holds no mail yet to measure it from',
  },
  sinkQuotaGb: {
    schema: positive('a size in GB above 0, at most 100000', 100_000).optional(),
    describe: 'Sink quota where the mailbox usage report has none (an on-premises sink, a national cloud)',
  },
  maxBacklogHours: {
    schema: positive('a number of hours above 0, at most 8760', 8760).default(4),
    describe: 'A sink whose oldest Inbox message is older than this is behind (Dynamics is not keeping up)',
  },
} satisfies Record<string, { schema: z.ZodType; describe: string }>;

export const capacityFlagNames = Object.keys(capacityFlags) as Array<keyof typeof capacityFlags>;
