import { z } from 'zod';

// RFC 5321 §4.1.2 / RFC 5322 §3.2.3: a local part is a dot-atom of atext; RFC 5321 §4.5.3.1: at
// most 64 octets, a path at most 256 (an address at most 254). RFC 1035 §2.3.1 as relaxed by
// RFC 1123 §2.1: a domain label is letters, digits and inner hyphens, 1–63 characters; a top-level
// label is not all digits (RFC 3696 §2), the whole domain at most 253 characters.
const atom = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$/;
const label = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** What is wrong with a mailbox address, in words an admin can act on; undefined if it is valid. */
export function addressProblem(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return 'it needs the form name@domain';
  if (address.length > 254) return 'it is longer than 254 characters';
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.length > 64) return `the part before @ is longer than 64 characters`;
  if (!local.split('.').every((part) => atom.test(part)))
    return `the part before @ ("${local}") may hold letters, digits and !#$%&'*+/=?^_\`{|}~- separated by single dots`;
  if (domain.length > 253) return 'the domain is longer than 253 characters';
  const labels = domain.split('.');
  if (labels.length < 2) return `the domain "${domain}" needs at least two labels, e.g. contoso.com`;
  for (const part of labels) {
    if (part.length === 0) return `the domain "${domain}" has an empty label (two dots, or a dot at an end)`;
    if (part.length > 63) return `the domain label "${part.slice(0, 20)}…" is longer than 63 characters`;
    if (!label.test(part))
      return (
        `the domain label "${part}" may hold only letters, digits and hyphens, and must not start or end with ` +
        `a hyphen`
      );
  }
  if (/^\d+$/.test(labels.at(-1)!)) return `the top-level domain "${labels.at(-1)}" is all digits`;
  return undefined;
}

/** A zod string that is a valid mailbox address; the issue says `message (what is wrong)`. */
export function mailAddress(message = 'must be an email address') {
  return z.string().superRefine((value, ctx) => {
    const problem = addressProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: `${message} (${problem})` });
  });
}
