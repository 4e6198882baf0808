/**
 * Messenger's Handover Protocol webhooks (messaging_handovers: pass_thread_control,
 * take_thread_control, request_thread_control) in the documented wire format become neutral
 * events the inbox acts on, not unknown ones; a CHANNELS_FILE entry's inbox fields are checked.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAnswered, isHandled } from '../../src/channels/event';
import { checkMessengerEntry, messengerInbox } from '../../src/channels/messenger/channel';
import { parseWebhook } from '../helpers/fb';

const envelope = (event: Record<string, unknown>) => ({ object: 'page', entry: [{ id: '101', time: 1_700_000_000_000, messaging: [{ sender: { id: 'u1' }, recipient: { id: '101' }, timestamp: 1_700_000_000_123, ...event }] }] });

test('thread control events are parsed and handled, never answered', () => {
  const cases = [
    { pass_thread_control: { previous_owner_app_id: '263902037430900', new_owner_app_id: '1', metadata: 'done' } },
    { take_thread_control: { previous_owner_app_id: '1', new_owner_app_id: '263902037430900', metadata: 'staff' } },
    { request_thread_control: { requested_owner_app_id: 263902037430900, metadata: 'a person wants it' } },
  ];
  const events = cases.map((c) => parseWebhook(envelope(c)));
  assert.deepEqual(
    events.map((r) => r.unknown.length),
    [0, 0, 0],
  );
  const [pass, take, request] = events.map((r) => r.events[0]!.event);
  assert.deepEqual([pass!.kind, pass!.account, pass!.user, pass!.thread], ['pass_thread_control', '101', 'u1', { newOwner: '1', previousOwner: '263902037430900', metadata: 'done' }]);
  assert.equal(take!.kind, 'take_thread_control');
  assert.equal(request!.thread?.requestedOwner, '263902037430900', 'an app id given as a number is read as a string');
  for (const e of [pass!, take!, request!]) assert.deepEqual([isAnswered(e), isHandled(e)], [false, true]);
});

test("an echo of the page (the Page Inbox's app id, no metadata of ours) is queued and handled, not answered", () => {
  const r = parseWebhook({
    object: 'page',
    entry: [{ id: '101', time: 1, messaging: [{ sender: { id: '101' }, recipient: { id: 'u1' }, timestamp: 2, message: { is_echo: true, app_id: 263902037430900, mid: 'm-staff', text: 'Hi, Pat here' } }] }],
  });
  const p = r.events[0]!;
  assert.deepEqual([p.event.kind, p.queue, p.confirms, isAnswered(p.event), isHandled(p.event)], ['echo', true, undefined, false, true]);
});

test('CHANNELS_FILE: pageInbox, pageInboxAppId and staffEchoes are checked; the Page Inbox is the default target', () => {
  const entry = (fields: Record<string, unknown>) => ({ type: 'messenger', id: '101', fields: { accessToken: 'token-0123456789', ...fields }, where: 'CHANNELS_FILE x channels[0]' });
  assert.deepEqual(checkMessengerEntry(entry({ pageInbox: 'yes', pageInboxAppId: 'abc', staffEchoes: 1 })).length, 3);
  assert.deepEqual(messengerInbox(entry({ pageInbox: true })), { staffEchoes: true, pageInboxAppId: '263902037430900' });
  assert.deepEqual(messengerInbox(entry({ staffEchoes: false })), { staffEchoes: false });
});
