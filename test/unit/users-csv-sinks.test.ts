import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fillSinkColumn, type RowDecision } from '../../src/input/users-csv-sinks.js';

const decide =
  (table: Record<string, RowDecision>) =>
  (email: string): RowDecision =>
    table[email.toLowerCase()];

describe('the users CSV with its sink column filled', () => {
  it('replaces only the sink field: quoting, line breaks, BOM, empty lines and order stay byte for byte', () => {
    const text =
      '\uFEFFemail;displayName;sink;target\r\n' +
      '"A@contoso.com";"Doe; Jane\r\nsecond line";old@contoso.com;graph\r\n' +
      '\r\n' +
      'b@contoso.com;"B ""the boss""";;ews\r\n' +
      'c@contoso.com;C;old@contoso.com;graph';
    const result = fillSinkColumn(
      text,
      ';',
      decide({
        'a@contoso.com': { sink: 'new1@contoso.com' },
        'b@contoso.com': { sink: 'new2@contoso.com' },
        'c@contoso.com': { leaveOut: 'too busy; 3,200 an hour' },
      }),
    );
    assert.equal(
      result.users,
      '\uFEFFemail;displayName;sink;target\r\n' +
        '"A@contoso.com";"Doe; Jane\r\nsecond line";new1@contoso.com;graph\r\n' +
        '\r\n' +
        'b@contoso.com;"B ""the boss""";new2@contoso.com;ews\r\n',
    );
    assert.equal(
      result.leftOut,
      '\uFEFFemail;displayName;sink;target;reason\r\nc@contoso.com;C;old@contoso.com;graph;"too busy; 3,200 an hour"\n',
    );
  });

  it('adds a sink column at the end of a file without one (empty for a row given no decision)', () => {
    const text = 'email,target\nx@contoso.com,graph\ny@contoso.com,pop3\n';
    const result = fillSinkColumn(text, ',', decide({ 'x@contoso.com': { sink: 's@contoso.com' } }));
    assert.equal(result.users, 'email,target,sink\nx@contoso.com,graph,s@contoso.com\ny@contoso.com,pop3,\n');
    assert.equal(result.leftOut, undefined);
  });
});
