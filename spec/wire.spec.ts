import { describe, expect, test } from 'bun:test';
import { packMaps, unpack } from '../lib/byte-keys';
import { Sketch } from '../lib/sketch';
import { type CountsMessage, decode, encode, messageId, type Segment, sketchToWire, subjectToken, WIRE_VERSION, WireError } from '../lib/wire';

const message = (): CountsMessage => ({
  v: WIRE_VERSION,
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
    expect(bad((m) => (m.v = 3))).toThrow(new WireError('unknown version 3'));
    expect(bad((m) => delete m.v)).toThrow('unknown version undefined');
    expect(bad((m) => (m.seq = -1))).toThrow('seq is negative');
    expect(bad((m) => (m.segments[0].hits = 1.5))).toThrow('segments[0].hits is not a whole number');
    expect(bad((m) => (m.segments[0].status = [1, 2]))).toThrow('segments[0].status has 2 classes, not 6');
    expect(bad((m) => (m.segments[0].entries[5] = 10_000))).toThrow('segments[0].entries points outside its keys');
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

/** A sketch of these durations (ms). */
const sketchOf = (...ms: number[]) => {
  const s = new Sketch();
  for (const v of ms) s.add(v);
  return s;
};

/** A segment as an agent with a timed format ships it: durations overall, upstream, by section, vhost and status class. */
function timed(): Segment {
  const s = message().segments[0]!;
  return {
    ...s,
    keys: packMaps({ sections: new Map([['/api', 4], ['/é', 1]]), hosts: new Map([['10.0.0.1', 5]]), methods: new Map([['GET', 5]]), vhosts: new Map([['shop.example', 3], ['api.example', 2]]) }),
    latency: sketchOf(0, 1.5, 12, 48, 2300),
    upstream: sketchOf(1.2, 11, 45),
    sectionLatency: new Map([['/api', sketchOf(0, 1.5, 12, 48)], ['/é', sketchOf(2300)]]),
    vhostLatency: new Map([['shop.example', sketchOf(0, 1.5, 2300)], ['api.example', sketchOf(12, 48)]]),
    classLatency: [undefined, undefined, sketchOf(0, 1.5, 12, 48), undefined, undefined, sketchOf(2300)],
  };
}

/** What a reader can tell of a sketch: everything toJSON says. */
const seen = (s: Sketch | undefined) => s?.toJSON();

/**
 * A message exactly as the agents before version 2 wrote it (captured from the encoder at
 * f241423: four kinds of keys, no sketches), a CLF file's five lines, one invalid.
 */
const V1_CAPTURED =
  '{"v":1,"agent":"web-1","instance":"k3J9xQ2mZp7vL0aB","seq":42,"clock":1767225601,"segments":[{"second":1767225600,"perSecond":[[1767225600,2]],"hits":2,"invalid":0,"status":[0,0,2,0,0,0],"codes":[[200,1],[201,1]],"bytes":576,"keys":"L2FwaWFsaWNlMTAuMC4wLjExMC4wLjAuMkdFVFBPU1Q=","entries":[1,1,2,2,4,2,9,1,17,1,25,1,28,1,32,1]},{"second":1767225601,"perSecond":[[1767225601,2]],"hits":2,"invalid":1,"status":[0,0,0,1,0,1],"codes":[[304,1],[503,1]],"bytes":120,"keys":"L3N0YXRpYy9hcGlhbGljZTEwLjAuMC4xMTAuMC4wLjNHRVQ=","entries":[2,1,2,1,7,1,11,1,16,1,24,1,32,1,35,2]}],"files":[{"path":"/var/log/nginx/access.log","id":"2049:131:1767225000000","offset":321,"head":"MTAuMC4wLjEgLSBhbGljZQ=="}]}';

describe('wire format version 2: durations and vhosts', () => {
  test('every sketch of a segment survives encode and decode, and so do its vhosts', () => {
    const s = timed();
    const back = decode(encode({ ...message(), segments: [s] }));
    expect(back.v).toBe(2);
    const b = back.segments[0]!;
    expect(Object.fromEntries(unpack(b.keys, 'vhosts'))).toEqual({ 'shop.example': 3, 'api.example': 2 });
    expect(Object.fromEntries(unpack(b.keys, 'methods'))).toEqual({ GET: 5 });
    expect(seen(b.latency)).toEqual(seen(s.latency));
    expect(seen(b.upstream)).toEqual(seen(s.upstream));
    expect([...b.sectionLatency!].map(([k, v]) => [k, seen(v)])).toEqual([...s.sectionLatency!].map(([k, v]) => [k, seen(v)]));
    expect([...b.vhostLatency!].map(([k, v]) => [k, seen(v)])).toEqual([...s.vhostLatency!].map(([k, v]) => [k, seen(v)]));
    expect(b.classLatency!.map(seen)).toEqual(s.classLatency!.map(seen));
    expect(b.latency!.summary()).toEqual(s.latency!.summary());
    expect([b.latency!.count, b.latency!.sum, b.latency!.min, b.latency!.max]).toEqual([5, 0 + 1.5 + 12 + 48 + 2300, 0, 2300]);
  });

  test('a segment without durations carries no sketch fields, and decodes with none', () => {
    const json = JSON.parse(Buffer.from(encode(message())).toString());
    expect(Object.keys(json.segments[0])).toEqual(['second', 'perSecond', 'hits', 'invalid', 'status', 'codes', 'bytes', 'keys', 'entries']);
    const b = decode(encode(message())).segments[0]!;
    expect([b.latency, b.upstream, b.sectionLatency, b.vhostLatency, b.classLatency]).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });

  test('a sketch is a few numbers however far apart its durations: runs of empty buckets as one negative number', () => {
    const wire = sketchToWire(sketchOf(0, 1, 1, 10_000));
    // zero, offset, sum, min, max, then one bucket of 2, a run of empties, one bucket of 1.
    expect(wire.slice(0, 5)).toEqual([1, 0, 10_002, 0, 10_000]);
    expect(wire.slice(5, 6)).toEqual([2]);
    expect(wire).toHaveLength(8);
    expect(wire[6]).toBeLessThan(-400);
    expect(wire[7]).toBe(1);
    expect(sketchToWire(sketchOf(250))).toEqual([0, expect.any(Number), 250, 250, 250, 1]);
  });

  test('a bad sketch is a bad message, saying where', () => {
    const good = JSON.parse(Buffer.from(encode({ ...message(), segments: [timed()] })).toString());
    const bad = (change: (s: any) => void) => {
      const m = structuredClone(good);
      change(m.segments[0]);
      return () => decode(Buffer.from(JSON.stringify(m)));
    };
    expect(bad((s) => (s.latency = 'fast'))).toThrow(new WireError('segments[0].latency is not a list'));
    expect(bad((s) => (s.latency = [0, 1]))).toThrow(new WireError('segments[0].latency is not a sketch'));
    expect(bad((s) => s.latency.push('1'))).toThrow(/segments\[0\]\.latency\[\d+\] is not a number/);
    expect(bad((s) => s.latency.push(1.5))).toThrow(/segments\[0\]\.latency\[\d+\] is not a whole number/);
    expect(bad((s) => s.latency.push(0))).toThrow(/is an empty run/);
    expect(bad((s) => s.upstream.push(-1e12, 1))).toThrow(new WireError('segments[0].upstream has more than 10000 buckets'));
    expect(bad((s) => (s.upstream[0] = -1))).toThrow(new WireError('segments[0].upstream[0] is negative'));
    expect(bad((s) => (s.upstream[3] = -5))).toThrow(/segments\[0\]\.upstream is not a sketch/);
    expect(bad((s) => (s.upstream[4] = s.upstream[3] - 1))).toThrow(/segments\[0\]\.upstream is not a sketch/);
    expect(bad((s) => (s.upstream[1] = 1e9))).toThrow(/segments\[0\]\.upstream is not a sketch/);
    expect(bad((s) => (s.sectionLatency[1][0] = 7))).toThrow(new WireError('segments[0].sectionLatency[1][0] is not a string'));
    expect(bad((s) => (s.vhostLatency = {}))).toThrow(new WireError('segments[0].vhostLatency is not a list'));
    expect(bad((s) => (s.vhostLatency[0][1] = null))).toThrow(new WireError('segments[0].vhostLatency[0][1] is not a list'));
    expect(bad((s) => s.classLatency.push(null))).toThrow(new WireError('segments[0].classLatency has 7 classes, not 6'));
    expect(bad((s) => (s.classLatency[2] = [1, 2, 3]))).toThrow(new WireError('segments[0].classLatency[2] is not a sketch'));
    // entries of four counts in a version 2 message: the keys no longer add up.
    expect(bad((s) => s.entries.splice(4, 1))).toThrow(WireError);
  });

  test('a section named twice adds up, never one replacing the other', () => {
    const m = JSON.parse(Buffer.from(encode({ ...message(), segments: [timed()] })).toString());
    m.segments[0].sectionLatency.push(['/api', sketchToWire(sketchOf(7000))]);
    const api = decode(Buffer.from(JSON.stringify(m))).segments[0]!.sectionLatency!.get('/api')!;
    expect([api.count, api.max]).toEqual([5, 7000]);
  });
});

describe('wire format version 1 (agents of before durations): a rolling upgrade', () => {
  test('a message as those agents wrote it decodes: four kinds of keys, no vhosts, no sketches', () => {
    const m = decode(Buffer.from(V1_CAPTURED));
    expect([m.v, m.agent, m.instance, m.seq, m.clock]).toEqual([1, 'web-1', 'k3J9xQ2mZp7vL0aB', 42, 1767225601]);
    const [a, b] = m.segments;
    expect([a!.hits, a!.bytes, a!.status, [...a!.codes]]).toEqual([2, 576, [0, 0, 2, 0, 0, 0], [[200, 1], [201, 1]]]);
    expect(Object.fromEntries(unpack(a!.keys, 'sections'))).toEqual({ '/api': 2 });
    expect(Object.fromEntries(unpack(a!.keys, 'users'))).toEqual({ alice: 1 });
    expect(Object.fromEntries(unpack(a!.keys, 'hosts'))).toEqual({ '10.0.0.1': 1, '10.0.0.2': 1 });
    expect(Object.fromEntries(unpack(a!.keys, 'methods'))).toEqual({ GET: 1, POST: 1 });
    expect(Object.fromEntries(unpack(b!.keys, 'sections'))).toEqual({ '/static': 1, '/api': 1 });
    expect(Object.fromEntries(unpack(b!.keys, 'methods'))).toEqual({ GET: 2 });
    expect([b!.invalid, b!.status]).toEqual([1, [0, 0, 0, 1, 0, 1]]);
    for (const s of m.segments) {
      expect(unpack(s.keys, 'vhosts').size).toBe(0);
      // Five counts (the fifth, vhosts, 0), then six keys' entries.
      expect([...s.keys.entries.subarray(0, 5)].reduce((n, k) => n + k, 0)).toBe(6);
      expect(s.keys.entries.length).toBe(5 + 2 * 6);
      expect([s.latency, s.upstream, s.sectionLatency, s.vhostLatency, s.classLatency]).toEqual([undefined, undefined, undefined, undefined, undefined]);
    }
    // An agent upgraded over it goes on from it: its checkpoint.
    expect(m.files).toEqual([{ path: '/var/log/nginx/access.log', id: '2049:131:1767225000000', offset: 321, head: new Uint8Array(Buffer.from('10.0.0.1 - alice')) }]);
  });

  test('encoded as version 1 again, it is byte for byte what those agents wrote', () => {
    expect(Buffer.from(encode(decode(Buffer.from(V1_CAPTURED)))).toString()).toBe(V1_CAPTURED);
  });

  test('version 1 cannot say vhosts or durations: encode refuses rather than drops them', () => {
    expect(() => encode({ ...message(), v: 1, segments: [timed()] })).toThrow(WireError);
    expect(() => encode({ ...message(), v: 1, segments: [{ ...timed(), latency: undefined, upstream: undefined, sectionLatency: undefined, vhostLatency: undefined, classLatency: undefined }] })).toThrow(WireError);
  });

  test('a version 1 message with four counts read as version 2 would be refused: the version decides', () => {
    const m = JSON.parse(V1_CAPTURED);
    m.v = 2;
    expect(() => decode(Buffer.from(JSON.stringify(m)))).toThrow(WireError);
  });
});

describe("an agent's metrics totals (--metrics)", () => {
  test('ride in a message as its `metrics` field, as they were given; a message without them has none', () => {
    const totals = { v: 1, requests: { '2xx': 3 }, bytes: 10 };
    const withTotals = decode(encode({ ...message(), metrics: totals }));
    expect(withTotals.metrics).toEqual(totals);
    expect(JSON.parse(Buffer.from(encode({ ...message(), metrics: totals })).toString()).metrics).toEqual(totals);
    const without = decode(encode(message()));
    expect('metrics' in without).toBe(false);
    expect(Buffer.from(encode(message())).toString()).not.toContain('"metrics"');
  });
});
