/**
 * What the WhatsApp Cloud API fake refuses, and how: the checks `POST /{phone-number-id}/
 * messages` makes on a body, with the limits of Meta's references (Messages API, interactive
 * reply buttons and list messages, media messages, mark as read / typing indicators) and its
 * error codes (100 invalid parameter, 131008 required parameter missing, 131009 parameter value
 * not valid). Written from the documentation, not from our renderer: the fake is the judge.
 */

export interface Refusal {
  code: 100 | 131008 | 131009;
  details: string;
}

export const REFUSAL_TITLES: Record<Refusal['code'], string> = { 100: 'Invalid parameter', 131008: 'Required parameter is missing', 131009: 'Parameter value is not valid' };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const missing = (details: string): Refusal => ({ code: 131008, details });
const invalid = (details: string): Refusal => ({ code: 131009, details });
const URL_RE = /^https?:\/\/\S+$/;

/** A string of `min`..`max` characters, or the refusal naming `what`. */
function length(v: unknown, what: string, min: number, max: number): Refusal | undefined {
  if (v === undefined) return min > 0 ? missing(`${what} is required`) : undefined;
  if (typeof v !== 'string') return { code: 100, details: `${what} must be a string` };
  if (v.length < min || v.length > max) return invalid(`${what} length invalid. Min length: ${min}, Max length: ${max}`);
  if (min > 0 && v.trim() === '') return invalid(`${what} must not be blank`);
  return undefined;
}

function unique(values: string[], what: string): Refusal | undefined {
  return new Set(values).size === values.length ? undefined : invalid(`${what} must be unique within the message`);
}

function checkButtons(action: Obj): Refusal | undefined {
  const buttons = action.buttons;
  if (!Array.isArray(buttons) || buttons.length < 1 || buttons.length > 3) return invalid('Buttons count invalid. Min: 1, Max: 3');
  for (const [i, b] of buttons.entries()) {
    if (!isObj(b) || b.type !== 'reply' || !isObj(b.reply)) return { code: 100, details: `action.buttons[${i}] must be {"type":"reply","reply":{"id","title"}}` };
    const bad = length(b.reply.id, `Button id (action.buttons[${i}])`, 1, 256) ?? length(b.reply.title, 'Button title', 1, 20);
    if (bad) return bad;
  }
  const replies = buttons.map((b) => (b as { reply: { id: string; title: string } }).reply);
  return (
    unique(
      replies.map((r) => r.id),
      'Button ids',
    ) ??
    unique(
      replies.map((r) => r.title),
      'Button titles',
    )
  );
}

function checkList(action: Obj): Refusal | undefined {
  const bad = length(action.button, 'Button text (action.button)', 1, 20);
  if (bad) return bad;
  const sections = action.sections;
  if (!Array.isArray(sections) || sections.length < 1 || sections.length > 10) return invalid('Sections count invalid. Min: 1, Max: 10');
  const rows: Obj[] = [];
  for (const [i, s] of sections.entries()) {
    if (!isObj(s) || !Array.isArray(s.rows) || s.rows.length === 0) return missing(`action.sections[${i}].rows is required (at least one row)`);
    const title = length(s.title, `Section title (action.sections[${i}].title)`, sections.length > 1 ? 1 : 0, 24);
    if (title) return title;
    if (!s.rows.every(isObj)) return { code: 100, details: `action.sections[${i}].rows must be objects` };
    rows.push(...(s.rows as Obj[]));
  }
  if (rows.length > 10) return invalid(`Total row count exceed max allowed count: 10`);
  for (const [i, r] of rows.entries()) {
    const b = length(r.id, `Row id (row ${i})`, 1, 200) ?? length(r.title, `Row title (row ${i})`, 1, 24) ?? length(r.description, `Row description (row ${i})`, 0, 72);
    if (b) return b;
  }
  return unique(
    rows.map((r) => r.id as string),
    'Row ids',
  );
}

function checkInteractive(i: unknown): Refusal | undefined {
  if (!isObj(i)) return missing('The parameter interactive is required');
  if (!isObj(i.action)) return missing('The parameter interactive.action is required');
  const body = isObj(i.body) ? i.body.text : undefined;
  if (i.footer !== undefined && (!isObj(i.footer) || length(i.footer.text, 'Footer text', 1, 60))) return invalid('Footer text length invalid. Min length: 1, Max length: 60');
  switch (i.type) {
    case 'button':
      return length(body, 'Body text (interactive.body.text)', 1, 1024) ?? checkButtons(i.action);
    case 'list':
      return length(body, 'Body text (interactive.body.text)', 1, 4096) ?? checkList(i.action);
    case 'cta_url': {
      const p = isObj(i.action.parameters) ? i.action.parameters : {};
      if (i.action.name !== 'cta_url') return { code: 100, details: 'interactive.action.name must be "cta_url"' };
      if (typeof p.url !== 'string' || !URL_RE.test(p.url)) return invalid('interactive.action.parameters.url must be an http(s) URL');
      return length(body, 'Body text (interactive.body.text)', 1, 1024) ?? length(p.display_text, 'Display text', 1, 20);
    }
    default:
      return { code: 100, details: `interactive.type must be one of button, list, cta_url (others are not emulated), got ${JSON.stringify(i.type)}` };
  }
}

function checkMedia(type: string, m: unknown): Refusal | undefined {
  if (!isObj(m)) return missing(`The parameter ${type} is required`);
  if ((m.id === undefined) === (m.link === undefined)) return { code: 100, details: `${type} must have exactly one of "id" or "link"` };
  if (m.link !== undefined && (typeof m.link !== 'string' || !URL_RE.test(m.link))) return invalid(`${type}.link must be an http(s) URL`);
  if (m.caption !== undefined && (type === 'audio' || type === 'sticker')) return { code: 100, details: `${type} messages take no caption` };
  return length(m.caption, `${type}.caption`, 0, 1024);
}

/** The refusal of a `messages` body, or undefined when the Cloud API would take it. */
export function checkSend(body: Obj): Refusal | undefined {
  if (body.messaging_product !== 'whatsapp') return { code: 100, details: 'The parameter messaging_product is required and must be "whatsapp"' };
  if (body.status !== undefined) {
    if (body.status !== 'read') return { code: 100, details: 'status must be "read"' };
    if (body.typing_indicator !== undefined && !(isObj(body.typing_indicator) && body.typing_indicator.type === 'text')) return { code: 100, details: 'typing_indicator.type must be "text"' };
    // The id of a message the user sent (the `messages[].id` of a webhook): a wamid, nothing else.
    if (typeof body.message_id !== 'string' || !body.message_id.startsWith('wamid.')) return { code: 100, details: 'The parameter message_id is required and must be the WhatsApp message id (wamid) of a received message' };
    return length(body.message_id, 'The parameter message_id', 1, 512);
  }
  if (typeof body.to !== 'string' || !/^\+?[0-9]{5,20}$/.test(body.to)) return { code: 100, details: 'The parameter to is required and must be a phone number or WhatsApp id' };
  if (body.recipient_type !== undefined && body.recipient_type !== 'individual') return { code: 100, details: 'recipient_type must be "individual"' };
  const cb = length(body.biz_opaque_callback_data, 'biz_opaque_callback_data', 0, 512);
  if (cb) return cb;
  if (body.type !== undefined && typeof body.type !== 'string') return { code: 100, details: 'type must be a string' };
  const type = body.type ?? 'text';
  switch (type) {
    case 'text':
      return isObj(body.text) ? length(body.text.body, "Param text['body']", 1, 4096) : missing('The parameter text is required');
    case 'interactive':
      return checkInteractive(body.interactive);
    case 'image':
    case 'video':
    case 'audio':
    case 'document':
    case 'sticker':
      return checkMedia(type, body[type]);
    default:
      return { code: 100, details: `Param type must be one of {TEXT, INTERACTIVE, IMAGE, VIDEO, AUDIO, DOCUMENT, STICKER} in this emulator, got ${JSON.stringify(type)}` };
  }
}
