/**
 * What every command-line tool shares: its shape (`Command`), parsing on node:util
 * `parseArgs`, `--help`, the exit codes, and progress lines on stderr.
 *
 * Exit codes, the same for every tool:
 *   0  done
 *   1  failed: a value, file, setting or service it could not use (the message names it)
 *   2  usage: the command line does not parse (unknown command or option, a missing or
 *      malformed value, options that exclude each other); the usage follows on stderr
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export interface Command {
  readonly name: string;
  /** The whole `--help` text. */
  readonly usage: string;
  /** Resolves to the exit code; throws UsageError for a command line that does not parse. */
  run(argv: readonly string[]): Promise<number>;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A failure the user can act on: printed as its message alone, exit 1. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  help: boolean;
}

/**
 * `parseArgs` in strict mode (unknown options and `--name --role` are usage errors), plus
 * `-h`/`--help`, and list options that also take the words after them (`--corpus a.json
 * b.json`, as the tools always accepted) besides repeating the option.
 */
export function parseCommandLine(argv: readonly string[], options: Options, lists: readonly string[] = []): Parsed {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true, tokens: true });
  } catch (err) {
    throw new UsageError(usageMessage(err as Error & { code?: string }));
  }
  const values: Parsed['values'] = { ...parsed.values };
  const seen = new Set<string>();
  let list: string | undefined; // the list option the next bare words belong to
  for (const t of parsed.tokens) {
    if (t.kind === 'option' && !options[t.name]?.multiple && seen.has(t.name)) throw new UsageError(`--${t.name} is given twice`);
    if (t.kind === 'option') seen.add(t.name);
    if (t.kind === 'option') list = lists.includes(t.name) ? t.name : undefined;
    else if (t.kind === 'positional' && list) (values[list] as string[]).push(t.value);
    else if (t.kind === 'positional') throw new UsageError(`unexpected argument ${JSON.stringify(t.value)}`);
    else list = undefined; // `--`
  }
  return { values, help: values.help === true };
}

/** parseArgs' messages, which suggest `--` tricks, in a line a user reads at a glance. */
function usageMessage(err: Error & { code?: string }): string {
  const option = /'(-[^' ]+)/.exec(err.message)?.[1] ?? '';
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${option}`;
  if (/does not take an argument/.test(err.message)) return `${option} takes no value`;
  if (/ambiguous/.test(err.message)) return `${option} needs a value (one starting with a dash: ${option}=-…)`;
  if (/argument missing/.test(err.message)) return `${option} needs a value`;
  return err.message;
}

/** A string option's value, checked to be a number in [min, max]; `integer` for whole numbers. */
export function numberOption(values: Parsed['values'], name: string, min: number, max: number, integer = false): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) throw new UsageError(`--${name} needs ${integer ? 'a whole number' : 'a number'} from ${min} to ${max} (got ${JSON.stringify(raw)})`);
  return n;
}

/**
 * Runs a command as the process: exit code from `run`, usage errors with the usage on
 * stderr, CommandError as its message, anything else with its stack (a bug).
 */
export async function runCommand(command: Command, argv: readonly string[]): Promise<number> {
  try {
    return await command.run(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${command.name}: ${err.message}\n\n${command.usage}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof CommandError) process.stderr.write(`${command.name}: ${err.message}\n`);
    else process.stderr.write(`${command.name} failed: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT_FAILED;
  }
}

/** For `if (require.main === module) main(command)` in each tool's file. */
export function main(command: Command): void {
  runCommand(command, process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

/**
 * Progress of long work on stderr: on a terminal one line rewritten in place (at most
 * every 100 ms); elsewhere (a pipe, a container's log) a line every `everyMs`, so a log
 * shows the work going on without filling up. `done()` prints the last count.
 */
export function progress(render: () => string, everyMs = 5_000, out: NodeJS.WriteStream = process.stderr): { tick(): void; done(): void } {
  const tty = out.isTTY === true;
  const interval = tty ? 100 : everyMs;
  let last = Date.now();
  let shown = false;
  return {
    tick() {
      const now = Date.now();
      if (now - last < interval) return;
      last = now;
      shown = true;
      out.write(tty ? `\r${render()}\x1b[K` : `${render()}\n`);
    },
    done() {
      if (tty && shown) out.write(`\r${render()}\x1b[K\n`);
      else if (shown) out.write(`${render()}\n`);
    },
  };
}
