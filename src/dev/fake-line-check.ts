/**
 * What the LINE fake checks in a push request, as the Messaging API does: the message
 * objects and their limits, each problem reported as LINE reports it, in `details` with the
 * JSON path as `property` (developers.line.biz/en/reference/messaging-api/#message-objects,
 * #action-objects, #items-object, #error-responses). Only what our adapter can send is
 * modelled in depth (text, image, video, audio, sticker, location, buttons template).
 */
export interface LineErrorDetail {
  message: string;
  property: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const HTTPS = /^https:\/\/\S+$/i;
const URI_SCHEMES = /^(https?|line|tel):\S+$/i;

class Problems {
  readonly list: LineErrorDetail[] = [];
  add(property: string, message: string): void {
    this.list.push({ message, property });
  }
  /** A required string of `min`..`max` characters (LINE counts UTF-16 code units in text). */
  text(v: unknown, at: string, min: number, max: number): void {
    if (v === undefined || v === null) return this.add(at, 'must be specified');
    if (typeof v !== 'string') return this.add(at, 'must be a string');
    if (v.length < min || v.length > max) this.add(at, min > 0 && v.length === 0 ? 'May not be empty' : `Length must be between ${min} and ${max}`);
  }
  optionalText(v: unknown, at: string, max: number): void {
    if (v !== undefined) this.text(v, at, 0, max);
  }
  https(v: unknown, at: string): void {
    if (v === undefined) return this.add(at, 'must be specified');
    if (typeof v !== 'string' || !HTTPS.test(v)) return this.add(at, 'Must be a valid HTTPS URL');
    if (v.length > 2000) this.add(at, 'Length must be between 0 and 2000');
  }
  size(v: unknown, at: string, min: number, max: number): v is unknown[] {
    if (!Array.isArray(v)) {
      this.add(at, 'must be specified');
      return false;
    }
    if (v.length < min || v.length > max) this.add(at, `Size must be between ${min} and ${max}`);
    return true;
  }
}

function checkAction(a: unknown, at: string, p: Problems): void {
  if (!isObj(a)) return p.add(at, 'must be specified');
  p.text(a.label, `${at}.label`, 1, 20);
  switch (a.type) {
    case 'postback':
      p.text(a.data, `${at}.data`, 0, 300);
      p.optionalText(a.displayText, `${at}.displayText`, 300);
      return;
    case 'message':
      p.text(a.text, `${at}.text`, 1, 300);
      return;
    case 'uri':
      if (typeof a.uri !== 'string' || !URI_SCHEMES.test(a.uri) || a.uri.length > 1000) p.add(`${at}.uri`, 'Must be a valid URI of the http, https, line or tel scheme, at most 1000 characters');
      return;
    default:
      p.add(`${at}.type`, 'Invalid action type');
  }
}

function checkTemplate(t: unknown, at: string, p: Problems): void {
  if (!isObj(t)) return p.add(at, 'must be specified');
  if (t.type !== 'buttons') return p.add(`${at}.type`, 'Only the buttons template is modelled by this fake');
  const withHeader = t.title !== undefined || t.thumbnailImageUrl !== undefined;
  p.optionalText(t.title, `${at}.title`, 40);
  if (t.thumbnailImageUrl !== undefined) p.https(t.thumbnailImageUrl, `${at}.thumbnailImageUrl`);
  p.text(t.text, `${at}.text`, 1, withHeader ? 60 : 160);
  if (p.size(t.actions, `${at}.actions`, 1, 4)) t.actions.forEach((a, i) => checkAction(a, `${at}.actions[${i}]`, p));
}

function checkMessage(m: unknown, at: string, p: Problems): void {
  if (!isObj(m)) return p.add(at, 'must be specified');
  switch (m.type) {
    case 'text':
      p.text(m.text, `${at}.text`, 1, 5000);
      break;
    case 'image':
      p.https(m.originalContentUrl, `${at}.originalContentUrl`);
      p.https(m.previewImageUrl, `${at}.previewImageUrl`);
      break;
    case 'video':
      p.https(m.originalContentUrl, `${at}.originalContentUrl`);
      p.https(m.previewImageUrl, `${at}.previewImageUrl`);
      break;
    case 'audio':
      p.https(m.originalContentUrl, `${at}.originalContentUrl`);
      if (!Number.isInteger(m.duration) || (m.duration as number) <= 0) p.add(`${at}.duration`, 'must be specified');
      break;
    case 'sticker':
      p.text(m.packageId, `${at}.packageId`, 1, 100);
      p.text(m.stickerId, `${at}.stickerId`, 1, 100);
      break;
    case 'location':
      p.text(m.title, `${at}.title`, 1, 100);
      p.text(m.address, `${at}.address`, 1, 100);
      if (typeof m.latitude !== 'number' || typeof m.longitude !== 'number') p.add(`${at}.latitude`, 'must be specified');
      break;
    case 'template':
      p.text(m.altText, `${at}.altText`, 1, 1500);
      checkTemplate(m.template, `${at}.template`, p);
      break;
    default:
      p.add(`${at}.type`, 'Invalid message type');
  }
  if (m.quickReply !== undefined) {
    const q = m.quickReply;
    if (!isObj(q)) return p.add(`${at}.quickReply`, 'must be an object');
    if (p.size(q.items, `${at}.quickReply.items`, 1, 13)) {
      q.items.forEach((item, i) => {
        const ia = `${at}.quickReply.items[${i}]`;
        if (!isObj(item) || item.type !== 'action') return p.add(`${ia}.type`, 'must be "action"');
        checkAction(item.action, `${ia}.action`, p);
      });
    }
  }
}

/** Every problem of a push body's `messages` (`to` is checked by the caller: an unknown user is a different error). */
export function checkPushMessages(body: Obj): LineErrorDetail[] {
  const p = new Problems();
  if (p.size(body.messages, 'messages', 1, 5)) body.messages.forEach((m, i) => checkMessage(m, `messages[${i}]`, p));
  return p.list;
}
