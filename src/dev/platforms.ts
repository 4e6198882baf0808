/**
 * Dev mode's platforms: the built-in fakes of every send API the configuration does not point
 * elsewhere (GRAPH_API_URL, LINE_API_URL unset) — the Graph API (Messenger, with Instagram
 * and WhatsApp mounted on the same base URL), LINE — their routes under /_dev, the webhooks
 * they post to once the gateway listens, and the emulator page that plays their users.
 */
import type express from 'express';
import type { LoadedChannels } from '../channels/registry';
import type { Config } from '../config';
import type { Logger } from '../log';
import { emulatorRouter, messengerSender } from './emulator';
import { instagramDriver, lineDriver, messengerDriver, whatsappDriver, type EmuDriver } from './emulator-drivers';
import { FakeGraph } from './fake-graph';
import { FakeInstagram } from './fake-instagram';
import { FakeLine } from './fake-line';
import { FakeWhatsApp } from './fake-whatsapp';

export class DevPlatforms {
  readonly graph?: FakeGraph;
  readonly line?: FakeLine;
  readonly whatsapp?: FakeWhatsApp;
  readonly instagram?: FakeInstagram;
  private port = 0;

  /** The fakes a worker sends to (only a process with the worker role sends anything). */
  constructor(
    private readonly loaded: LoadedChannels,
    private readonly config: Config,
    workerRole: boolean,
  ) {
    const { messenger, instagram, whatsapp, line } = loaded.settings;
    if (!config.fb.graphApiUrl && workerRole) {
      // With FB_APP_ID, the ID Matching API (the data-deletion callback's look-up) accepts this app's token.
      const app = config.fb.appId ? { app: { id: config.fb.appId, secret: config.fb.appSecret } } : {};
      this.graph = new FakeGraph(messenger.pages.size ? { tokens: new Map([...messenger.pages.values()].map((p) => [p.accessToken, p.id])), ...app } : { anyTokenPage: 'dev-page', ...app });
      if (whatsapp.numbers.size) {
        this.whatsapp = new FakeWhatsApp({ numbers: new Map([...whatsapp.numbers.values()].map((n) => [n.id, n.accessToken])) });
        this.graph.mount(this.whatsapp.router());
      }
      if (instagram.accounts.size) this.instagram = new FakeInstagram(this.graph, { accounts: new Map([...instagram.accounts.values()].map((a) => [a.accessToken, a.id])) });
    }
    if (!config.lineApiUrl && workerRole && line.accounts.size) this.line = new FakeLine({ channels: [...line.accounts.values()] });
  }

  /** Their routes (and, on a gateway, the emulator page). */
  mounts(gateway: boolean): [string, express.Router][] {
    const out: [string, express.Router][] = [];
    if (this.graph) out.push(['/_dev/graph', this.graph.router()]);
    if (this.line) out.push(['/_dev/line', this.line.router()]);
    if (gateway && (this.graph || this.line)) out.push(['/emulator', emulatorRouter({ drivers: () => this.drivers() })]);
    return out;
  }

  /** Once the HTTP server listens: where the fakes post their webhooks (echoes, statuses, users' messages). */
  listening(port: number, gateway: boolean): void {
    this.port = port;
    if (!gateway) return;
    const webhook = { url: `http://127.0.0.1:${port}/webhook`, appSecret: this.config.fb.appSecret };
    if (this.graph && this.loaded.settings.messenger.pages.size) this.graph.setEcho({ webhookUrl: webhook.url, appSecret: webhook.appSecret });
    this.whatsapp?.setWebhook(webhook);
    this.instagram?.setWebhook({ webhookUrl: webhook.url, appSecret: webhook.appSecret });
    this.line?.setWebhook(`http://127.0.0.1:${port}/webhook/line`);
  }

  /** Send API base URLs for the workers: the fakes' unless the configuration names the real ones. */
  get urls(): { graphApiUrl: string; lineApiUrl: string } {
    return { graphApiUrl: this.config.fb.graphApiUrl ?? `http://127.0.0.1:${this.port}/_dev/graph/v21.0`, lineApiUrl: `http://127.0.0.1:${this.port}/_dev/line` };
  }

  /** The channels the emulator page plays, Messenger first. */
  private drivers(): EmuDriver[] {
    const { messenger, instagram, whatsapp, line } = this.loaded.settings;
    const out: EmuDriver[] = [];
    if (this.graph) {
      const page = () => [...messenger.pages.keys(), 'dev-page'][0]!;
      const igAccounts = new Set(instagram.accounts.keys());
      out.push(
        messengerDriver(
          this.graph,
          page(),
          messengerSender(this.config.fb.appSecret, page, () => `http://127.0.0.1:${this.port}/webhook`),
          () => igAccounts,
        ),
      );
      const ig = [...instagram.accounts.keys()][0];
      if (this.instagram && ig) out.push(instagramDriver(this.instagram, this.graph, ig));
      const wa = [...whatsapp.numbers.keys()][0];
      if (this.whatsapp && wa) out.push(whatsappDriver(this.whatsapp, wa));
    }
    const bot = [...line.accounts.keys()][0];
    if (this.line && bot) out.push(lineDriver(this.line, bot));
    return out;
  }

  log(logger: Logger): void {
    const u = this.urls;
    if (this.graph) logger.info({ graphApiUrl: u.graphApiUrl }, 'GRAPH_API_URL not set: Messenger, Instagram and WhatsApp replies go to the built-in Graph API emulator');
    if (this.line) logger.info({ lineApiUrl: u.lineApiUrl }, 'LINE_API_URL not set: LINE replies go to the built-in LINE emulator');
  }

  async close(): Promise<void> {
    await Promise.all([this.line?.close(), this.whatsapp?.close()]);
  }
}
