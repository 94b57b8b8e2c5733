import { describe, expect, test } from 'bun:test';
import { InputScanner } from '../actors/input-scanner';
import { compileFormat } from '../lib/log-format';

const enc = (lines: string[]) => new TextEncoder().encode(lines.map((l) => `${l}\n`).join(''));
const CLF = '127.0.0.1 - james [09/May/2018:16:00:39 +0000] "GET /report HTTP/1.0" 200 123';
const COMBINED = `${CLF} "-" "curl/8.0"`;
const CADDY = JSON.stringify({
  level: 'info', ts: 1525881639.5, logger: 'http.log.access', msg: 'handled request',
  request: { remote_ip: '10.0.0.1', remote_port: '5555', proto: 'HTTP/1.1', method: 'GET', host: 'example.com', uri: '/api/x', headers: {} },
  user_id: '', duration: 0.0123, size: 512, status: 200, resp_headers: {},
});

function scanning(format?: string) {
  const told: [string, string][] = [];
  const scanner = new InputScanner(format === undefined ? undefined : compileFormat(format), '/var/log/x.log', (level, message) => told.push([level, message]));
  const totals = (lines: string[]) => {
    let hits = 0;
    let invalid = 0;
    let timed = 0;
    for (const s of scanner.scan(enc(lines)).segments) {
      hits += s.hits;
      invalid += s.invalid;
      timed += s.latency?.count ?? 0;
    }
    return { hits, invalid, timed };
  };
  return { told, totals, scanner };
}

describe('InputScanner', () => {
  test('reads CLF and combined as it always has, without a word', () => {
    const { told, totals } = scanning();
    expect(totals([COMBINED, COMBINED])).toEqual({ hits: 2, invalid: 0, timed: 0 });
    expect(totals([CLF])).toEqual({ hits: 1, invalid: 0, timed: 0 });
    expect(told).toHaveLength(0);
  });

  test('combined lines with more fields after them (a custom nginx format): said once, pointing at --log-format', () => {
    const { told, totals } = scanning();
    const timed = `${COMBINED} 0.012 0.010 shop.example`;
    expect(totals([timed, timed, timed])).toEqual({ hits: 3, invalid: 0, timed: 0 });
    expect(totals([timed])).toEqual({ hits: 1, invalid: 0, timed: 0 });
    expect(told).toHaveLength(1);
    expect(told[0]![0]).toBe('info');
    expect(told[0]![1]).toStartWith('/var/log/x.log: log format combined, with more fields after it that are not read');
  });

  test('detects a Caddy JSON log and reads its durations', () => {
    const { told, totals, scanner } = scanning();
    expect(totals([CADDY, CADDY, CADDY])).toEqual({ hits: 3, invalid: 0, timed: 3 });
    expect(told[0]![1]).toStartWith('/var/log/x.log: log format caddy');
    expect(scanner.highWater).toBe(1525881639);
  });

  test('lines in no known format: said once, with the first line that fails; detected later when a format shows', () => {
    const { told, totals } = scanning();
    expect(totals(['garbage one', 'garbage two'])).toEqual({ hits: 0, invalid: 2, timed: 0 });
    expect(totals(['more garbage'])).toEqual({ hits: 0, invalid: 1, timed: 0 });
    expect(told).toHaveLength(1);
    expect(told[0]![0]).toBe('warn');
    expect(told[0]![1]).toContain('the first line that fails: "garbage one"');
    expect(totals([CADDY, CADDY])).toEqual({ hits: 2, invalid: 0, timed: 2 });
    expect(told).toHaveLength(2);
    expect(told[1]![1]).toStartWith('/var/log/x.log: log format caddy');
  });

  test('a format given is used from the first line; lines that do not read as it are said once', () => {
    const { told, totals } = scanning('caddy');
    expect(totals([COMBINED, COMBINED])).toEqual({ hits: 0, invalid: 2, timed: 0 });
    expect(totals([COMBINED])).toEqual({ hits: 0, invalid: 1, timed: 0 });
    expect(told).toEqual([['warn', `/var/log/x.log: no line of its first 2 reads as --log-format caddy; the first: ${JSON.stringify(COMBINED)}`]]);
    expect(totals([CADDY])).toEqual({ hits: 1, invalid: 0, timed: 1 });
  });

  test('blank chunks decide nothing', () => {
    const { told, totals } = scanning();
    expect(totals(['', '   '])).toEqual({ hits: 0, invalid: 0, timed: 0 });
    expect(told).toHaveLength(0);
    expect(totals([CADDY])).toEqual({ hits: 1, invalid: 0, timed: 1 });
    expect(told).toHaveLength(1);
  });
});
