/**
 * `admin-user --hash` reads a password on stdin and prints the scrypt hash for
 * ADMIN_USERS_FILE; `--name N --role R --accounts messenger:P,whatsapp:Q` prints a whole user entry
 * (`--pages P,Q` names Messenger pages, as before channels).
 */
import { hashPassword, ROLES, type Role } from '../admin/users';
import { CommandError, EXIT_OK, main, parseCommandLine, UsageError, type Command } from './command';

const USAGE = `usage: echo PASSWORD | ordered-chatbot admin-user --hash
       echo PASSWORD | ordered-chatbot admin-user --name NAME [--role admin|agent|viewer] [--pages ID,ID|*]

  --hash          print the scrypt hash of the password read on stdin
  --name NAME     print a whole entry for {"users":[…]} in ADMIN_USERS_FILE
  --role ROLE     ${ROLES.join(', ')} (default: agent)
  --accounts KEYS the accounts the user may see, as <channel>:<id> comma separated (messenger:1234,whatsapp:5678),
                  or * for every account (default: *)
  --pages IDS     Messenger pages, comma separated (the form before channels; same as --accounts messenger:ID,…)
  -h, --help      this text

The password (at least 10 characters) is read from stdin, never from the command line.
Exit: 0 done, 1 failed (a short password), 2 usage.`;

async function readStdin(): Promise<string> {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  return input.replace(/\r?\n$/, '');
}

async function run(argv: readonly string[]): Promise<number> {
  const { values, help } = parseCommandLine(argv, { hash: { type: 'boolean' }, name: { type: 'string' }, role: { type: 'string' }, accounts: { type: 'string' }, pages: { type: 'string' } });
  if (help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT_OK;
  }
  const name = values.name as string | undefined;
  if (values.hash === true && name !== undefined) throw new UsageError('give --hash or --name, not both');
  if (values.hash !== true && name === undefined) throw new UsageError('give --hash or --name NAME');
  if (name === undefined && (values.role !== undefined || values.pages !== undefined || values.accounts !== undefined)) throw new UsageError('--role, --accounts and --pages go with --name');
  if (values.pages !== undefined && values.accounts !== undefined) throw new UsageError('give --accounts or --pages, not both');
  const role = (values.role ?? 'agent') as Role;
  if (!ROLES.includes(role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')} (got ${JSON.stringify(role)})`);
  const pages = (values.pages as string | undefined)?.split(',').map((p) => p.trim());
  if (pages?.some((p) => !p)) throw new UsageError('--pages needs page ids separated by commas, or *');
  const accounts = pages ? pages.map((p) => (p === '*' ? p : `messenger:${p}`)) : ((values.accounts as string | undefined) ?? '*').split(',').map((a) => a.trim());
  if (accounts.some((a) => a !== '*' && !/^[a-z][a-z0-9_-]{0,31}:[A-Za-z0-9_.@+=-]{1,128}$/.test(a))) throw new UsageError('--accounts needs <channel>:<id> keys separated by commas (messenger:1234), or *');
  if (process.stdin.isTTY) process.stderr.write('password (then Enter and Ctrl-D): ');
  const password = await readStdin();
  if (password.length < 10) throw new CommandError('the password must be at least 10 characters');
  const passwordHash = hashPassword(password);
  if (name === undefined) console.log(passwordHash);
  else console.log(JSON.stringify({ name, role, accounts, passwordHash }));
  return EXIT_OK;
}

export const adminUserCommand: Command = { name: 'admin-user', usage: USAGE, run };

if (require.main === module) main(adminUserCommand);
