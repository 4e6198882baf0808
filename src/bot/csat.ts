/**
 * The satisfaction survey sent after a conversation is resolved (CSAT_SURVEY): one question
 * with five quick replies, whose payloads (`CSAT:1` … `CSAT:5`) come back as the user's answer.
 * The answer is recorded (`csat_answers`, for the agent who held the conversation) and thanked.
 */
import type { InboundEvent } from '../channels/event';
import type { Reply } from '../channels/reply';

export const CSAT_PAYLOAD = 'CSAT:';

export const CSAT_SURVEY: Reply = {
  text: 'How would you rate the help you got today? 1 is poor, 5 is excellent.',
  quickReplies: [1, 2, 3, 4, 5].map((n) => ({ title: `${n} ${'★'.repeat(n)}`, payload: `${CSAT_PAYLOAD}${n}` })),
};

/** The score a tapped survey answer gives, or undefined for any other event. */
export function csatAnswer(e: InboundEvent): number | undefined {
  if (e.kind !== 'quick_reply' && e.kind !== 'postback') return undefined;
  const m = /^CSAT:([1-5])$/.exec(e.payload ?? '');
  return m ? Number(m[1]) : undefined;
}

export const csatReply = (score: number): Reply => ({ text: score >= 4 ? 'Thank you for your feedback! Glad we could help.' : 'Thank you for your feedback. We will use it to do better.' });
