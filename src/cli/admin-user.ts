/**
 * `npm run admin-user -- --hash` reads a password on stdin and prints the scrypt hash for
 * ADMIN_USERS_FILE; `--name N --role R --accounts messenger:P,whatsapp:Q` prints a whole user entry
 * (`--pages P,Q` names Messenger pages, as before channels).
 */
import { hashPassword, ROLES, type Role } from '../admin/users';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (k: string) => {
    const i = args.indexOf(k);
    return i >= 0 ? args[i + 1] : undefined;
  };
  if (!args.includes('--hash') && !opt('--name')) {
    console.error('usage: npm run admin-user -- --hash  |  --name NAME --role admin|agent|viewer --accounts CHANNEL:ID,CHANNEL:ID|*   (password on stdin)');
    process.exit(2);
  }
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const password = input.replace(/\r?\n$/, '');
  if (password.length < 10) {
    console.error('the password must be at least 10 characters');
    process.exit(1);
  }
  const passwordHash = hashPassword(password);
  const name = opt('--name');
  if (!name) return void console.log(passwordHash);
  const role = (opt('--role') ?? 'agent') as Role;
  if (!ROLES.includes(role)) {
    console.error(`--role must be one of ${ROLES.join(', ')}`);
    process.exit(1);
  }
  const pages = opt('--pages')?.split(',').map((p) => (p === '*' || p.includes(':') ? p : `messenger:${p}`));
  console.log(JSON.stringify({ name, role, accounts: pages ?? (opt('--accounts') ?? '*').split(','), passwordHash }));
}

void main();
