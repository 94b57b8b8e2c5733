import { describe, expect, test } from 'bun:test';
import { packMaps, unpack } from '../lib/byte-keys';
import { type CountsMessage, decode, encode, messageId, subjectToken, WireError } from '../lib/wire';

const message = (): CountsMessage => ({
  v: 1,
  agent: 'web-1',
  seq: 7,
  clock: 1767225605,
  segments: [
    {
      second: 1767225600,
      perSecond: new Map([[1767225599, 2], [1767225600, 3]]),
      hits: 5,
      invalid: 1,
      keys: packMaps({ sections: new Map([['/api', 4], ['/é', 1]]), hosts: new Map([['10.0.0.1', 5]]), methods: new Map([['GET', 5]]) }),
      status: [0, 0, 4, 0, 1, 0],
      codes: new Map([[200, 3], [204, 1], [503, 1]]),
      bytes: 1234,
    },
  ],
  files: [{ path: '/var/log/a.log', id: '2049:12:1767225000000', offset: 99, head: new Uint8Array([1, 2, 3]) }],
});

describe('wire format', () => {
  test('a message survives encode and decode, keys included', () => {
    const back = decode(encode(message()));
    expect(back.agent).toBe('web-1');
    expect(back.seq).toBe(7);
    expect(back.clock).toBe(1767225605);
    const s = back.segments[0]!;
    expect([...s.perSecond]).toEqual([[1767225599, 2], [1767225600, 3]]);
    expect([s.hits, s.invalid, s.bytes, s.status]).toEqual([5, 1, 1234, [0, 0, 4, 0, 1, 0]]);
    expect([...s.codes]).toEqual([[200, 3], [204, 1], [503, 1]]);
    expect(Object.fromEntries(unpack(s.keys, 'sections'))).toEqual({ '/api': 4, '/é': 1 });
    expect(Object.fromEntries(unpack(s.keys, 'hosts'))).toEqual({ '10.0.0.1': 5 });
    expect(back.files).toEqual([{ path: '/var/log/a.log', id: '2049:12:1767225000000', offset: 99, head: new Uint8Array([1, 2, 3]) }]);
    expect(messageId(back)).toBe('web-1:7');
  });

  test('bad input says what is wrong, never decodes to nonsense', () => {
    const good = JSON.parse(Buffer.from(encode(message())).toString());
    const bad = (change: (m: any) => void) => {
      const m = structuredClone(good);
      change(m);
      return () => decode(Buffer.from(JSON.stringify(m)));
    };
    expect(() => decode(Buffer.from('{not json'))).toThrow(new WireError('not JSON'));
    expect(bad((m) => (m.v = 2))).toThrow('unknown version 2');
    expect(bad((m) => delete m.v)).toThrow('unknown version undefined');
    expect(bad((m) => (m.seq = -1))).toThrow('seq is negative');
    expect(bad((m) => (m.segments[0].hits = 1.5))).toThrow('segments[0].hits is not a whole number');
    expect(bad((m) => (m.segments[0].status = [1, 2]))).toThrow('segments[0].status has 2 classes, not 6');
    expect(bad((m) => (m.segments[0].entries[4] = 10_000))).toThrow('segments[0].entries points outside its keys');
    expect(bad((m) => (m.segments[0].entries[0] = 9))).toThrow('segments[0].entries does not match its key counts');
    expect(bad((m) => (m.files = 'x'))).toThrow('files is not a list');
    expect(bad((m) => (m.segments[0].codes = [[404, -1]]))).toThrow('segments[0].codes[0][1] is negative');
  });

  test('a segment from an agent that did not count status codes has none', () => {
    const m = JSON.parse(Buffer.from(encode(message())).toString());
    delete m.segments[0].codes;
    const s = decode(Buffer.from(JSON.stringify(m))).segments[0]!;
    expect(s.codes.size).toBe(0);
    expect(s.status).toEqual([0, 0, 4, 0, 1, 0]);
  });

  test('an agent name becomes one subject token', () => {
    expect(subjectToken('web-1.example.com')).toBe('web-1_example_com');
    expect(subjectToken('a b*>')).toBe('a_b__');
    expect(subjectToken('')).toBe('_');
  });

  test('a clock or a second outside 2000–9999 is a bad message, never the fleet\'s time', () => {
    const bad = (edit: (m: Record<string, any>) => void) => {
      const m = JSON.parse(Buffer.from(encode(message())).toString());
      edit(m);
      return () => decode(Buffer.from(JSON.stringify(m)));
    };
    expect(bad((m) => (m.clock = 0))).toThrow(/clock 0 is not a time from 2000 to 9999/);
    expect(bad((m) => (m.clock = 8.64e15))).toThrow(WireError);
    expect(bad((m) => (m.segments[0].second = -1))).toThrow(/segments\[0\]\.second/);
    expect(bad((m) => (m.segments[0].perSecond[0][0] = 253_402_300_800))).toThrow(/perSecond/);
  });

  test('an instance id travels with the message and makes its ID one no other publisher can guess', () => {
    const back = decode(encode({ ...message(), instance: 'k3J9xQ2mZp7vL0aB' }));
    expect(back.instance).toBe('k3J9xQ2mZp7vL0aB');
    expect(messageId(back)).toBe('web-1:k3J9xQ2mZp7vL0aB:7');
    const m = JSON.parse(Buffer.from(encode(message())).toString());
    m.instance = 'x y';
    expect(() => decode(Buffer.from(JSON.stringify(m)))).toThrow(/instance/);
  });
});
