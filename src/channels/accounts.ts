/**
 * The accounts a deployment serves (promise 7: each account is a tenant): a Messenger page,
 * an Instagram account, a WhatsApp phone number, a LINE channel, a web chat site. Events of
 * an account not listed are counted and not queued. A channel may be "open" (Messenger with a
 * single FB_PAGE_ACCESS_TOKEN and no pages file): it then serves any account id.
 */
import { accountKey } from './conversation';

export interface Account {
  channel: string;
  id: string;
  name?: string;
  /** How the agent inbox treats the account (CHANNELS_FILE fields). */
  inbox?: AccountInbox;
}

export interface AccountInbox {
  /** This account's handoff alerts go here instead of HANDOFF_WEBHOOK_URL. */
  handoffWebhookUrl?: string;
  /** Messenger's Handover Protocol: a conversation that goes to a person is passed to this app (the Page Inbox: 263902037430900). */
  pageInboxAppId?: string;
  /** A message the page sends from elsewhere (not through us) puts the conversation in a person's hands. */
  staffEchoes?: boolean;
}

export class AccountDirectory {
  private readonly byKey: Map<string, Account>;

  constructor(
    accounts: readonly Account[],
    private readonly open: ReadonlySet<string> = new Set(),
  ) {
    this.byKey = new Map(accounts.map((a) => [accountKey(a.channel, a.id), a]));
  }

  serves(channel: string, id: string): boolean {
    return this.open.has(channel) || this.byKey.has(accountKey(channel, id));
  }

  get(channel: string, id: string): Account | undefined {
    return this.byKey.get(accountKey(channel, id)) ?? (this.open.has(channel) ? { channel, id } : undefined);
  }

  /** Every listed account (open channels have none to list). */
  list(): Account[] {
    return [...this.byKey.values()];
  }

  /** Channels with at least one account, or open. */
  channels(): string[] {
    return [...new Set([...this.list().map((a) => a.channel), ...this.open])].sort();
  }
}
