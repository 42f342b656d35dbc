import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressProblem } from '../../src/input/address.js';

describe('mailbox addresses (RFC 5321 local parts, RFC 1035/1123 domain labels)', () => {
  it('accepts what Exchange accepts', () => {
    for (const address of [
      'alex.wilber@contoso.com',
      "o'brien+crm@sub.contoso.co.uk",
      'a@b.io',
      'user@xn--mnchen-3ya.de',
      'x@123.contoso.com',
      `${'a'.repeat(64)}@${'b'.repeat(63)}.com`,
    ]) {
      assert.equal(addressProblem(address), undefined, address);
    }
  });

  it('rejects every malformed domain label and local part, saying what is wrong', () => {
    const cases: Array<[string, RegExp]> = [
      ['user@contoso-.test', /label "contoso-" .*must not start or end with a hyphen/],
      ['user@-contoso.test', /label "-contoso"/],
      ['user@con_toso.com', /label "con_toso" may hold only letters, digits and hyphens/],
      ['user@contoso', /needs at least two labels/],
      ['user@contoso..com', /empty label/],
      ['user@contoso.com.', /empty label/],
      ['user@10.0.0.1', /top-level domain "1" is all digits/],
      [`user@${'a'.repeat(64)}.com`, /longer than 63 characters/],
      [`${'a'.repeat(65)}@contoso.com`, /before @ is longer than 64/],
      ['.user@contoso.com', /separated by single dots/],
      ['us..er@contoso.com', /separated by single dots/],
      ['us er@contoso.com', /before @/],
      ['user@', /name@domain/],
      ['@contoso.com', /name@domain/],
      ['user', /name@domain/],
      ['user@cöntoso.com', /label "cöntoso"/],
    ];
    for (const [address, pattern] of cases) assert.match(addressProblem(address) ?? 'accepted', pattern, address);
  });
});
