#!/usr/bin/env node
/**
 * `ordered-chatbot <command> [options]`: the one entry of every tool (package.json `bin`;
 * on the image's PATH). A command is a line of COMMANDS, loaded only when it runs, so
 * `--help` is instant and one tool's dependencies never slow another.
 */
import fs from 'node:fs';
import path from 'node:path';
import { EXIT_OK, EXIT_USAGE, runCommand, type Command } from './command';

interface Entry {
  summary: string;
  load: () => Promise<Command>;
}

/** One line a command. */
export const COMMANDS: Readonly<Record<string, Entry>> = {
  migrate: { summary: 'apply the chatlog migrations to DATABASE_URL and exit', load: async () => (await import('./migrate')).migrateCommand },
  train: { summary: 'train an NLU model from corpus files; publish it to the running workers, list, roll back', load: async () => (await import('./train')).trainCommand },
  eval: { summary: 'score an NLU model trained on corpus files: accuracy, F1, confusion matrix', load: async () => (await import('./eval')).evalCommand },
  export: { summary: 'export the chatlog for retraining: nlp.js corpus, JSONL, CSV or Rasa YAML', load: async () => (await import('./export')).exportCommand },
  'admin-user': { summary: 'hash a password, or print a user entry, for ADMIN_USERS_FILE', load: async () => (await import('./admin-user')).adminUserCommand },
  forget: { summary: "erase one user's data everywhere (Redis and the chatlog), with a confirmation code", load: async () => (await import('./forget')).forgetCommand },
};

function version(): string {
  // dist/src/cli → the package root, as from src/cli under tsx.
  for (const up of ['../../..', '../..']) {
    const file = path.join(__dirname, up, 'package.json');
    if (fs.existsSync(file)) return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}

export function usage(): string {
  const w = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  return [
    'usage: ordered-chatbot <command> [options]',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(w)}  ${c.summary}`),
    '',
    'ordered-chatbot <command> --help   the options of a command',
    'ordered-chatbot --version          the version',
    '',
    'Settings come from the environment (README, "Configuration"). Exit codes of every command:',
    '0 done, 1 failed (the message says what), 2 usage (the command line does not parse).',
  ].join('\n');
}

export async function dispatch(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(`${usage()}\n`);
    return EXIT_USAGE;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return EXIT_OK;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${version()}\n`);
    return EXIT_OK;
  }
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) {
    process.stderr.write(`ordered-chatbot: unknown command ${JSON.stringify(name)}\n\n${usage()}\n`);
    return EXIT_USAGE;
  }
  return runCommand(await entry.load(), rest);
}

if (require.main === module) {
  dispatch(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
