import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PORT, LocalStackError } from '../../local/local-stack.js';
import { parseStartArguments } from '../../local/start-arguments.js';

// The README's local options, as `npm start -- ...` passes them (the stack itself is run by test/cli/).
describe('npm start arguments', () => {
  it('defaults: port 4010, real time, the data kept', () => {
    expect(parseStartArguments([], {})).toEqual({ help: false, fresh: false, port: DEFAULT_PORT, timeScale: 1 });
  });

  it('npm start -- --fresh starts clean', () => {
    expect(parseStartArguments(['--fresh'], {}).fresh).toBe(true);
  });

  it('npm start -- --port 4011 and PORT=4011 npm start move the port; the flag wins over PORT', () => {
    expect(parseStartArguments(['--port', '4011'], {}).port).toBe(4011);
    expect(parseStartArguments(['--port=4011'], {}).port).toBe(4011);
    expect(parseStartArguments([], { PORT: '4011' }).port).toBe(4011);
    expect(parseStartArguments(['--port', '4012'], { PORT: '4011' }).port).toBe(4012);
    expect(parseStartArguments([], { PORT: '' }).port).toBe(DEFAULT_PORT);
  });

  it('npm start -- --time-scale 600 and COUNTERSIGN_TIME_SCALE speed up workflow time', () => {
    expect(parseStartArguments(['--time-scale', '600'], {}).timeScale).toBe(600);
    expect(parseStartArguments([], { COUNTERSIGN_TIME_SCALE: '60' }).timeScale).toBe(60);
  });

  it('npm start -- --data-dir DIR keeps the data in DIR, as an absolute path', () => {
    expect(parseStartArguments(['--data-dir', 'tmp/x'], {}).dataDir).toBe(resolve('tmp/x'));
  });

  it('--help', () => {
    expect(parseStartArguments(['--help'], {}).help).toBe(true);
    expect(parseStartArguments(['-h'], {}).help).toBe(true);
  });

  it.each([
    [['--port', 'abc'], /port "abc" is not a port number/],
    [['--port', '70000'], /port "70000" is not a port number/],
    [['--port'], /argument missing.*usage: npm start/],
    [['--time-scale', '0'], /time scale "0" is not a number of at least 1/],
    [['--data-dir', ' '], /--data-dir needs a folder/],
    [['--frseh'], /Unknown option '--frseh'.*usage: npm start/],
    [['extra'], /Unexpected argument 'extra'.*usage: npm start/],
  ])('refuses %j with one line that says what is wrong', (argv, message) => {
    expect(() => parseStartArguments(argv, {})).toThrow(LocalStackError);
    expect(() => parseStartArguments(argv, {})).toThrow(message);
  });
});
