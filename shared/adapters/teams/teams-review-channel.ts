import type { Directory } from '../../domain/directory.js';
import type { MessageRef, ReviewBoard, ReviewView } from '../../ports/review.js';
import { ADAPTIVE_CARD_CONTENT_TYPE, cardSummary, reviewCard, threadNoteCard, type AdaptiveCard } from '../../teams/card.js';
import type { BotConnectorClient } from './bot-connector.js';

/** A message activity carrying one Adaptive Card. */
export function cardActivity(card: AdaptiveCard, summary?: string): Record<string, unknown> {
  return {
    type: 'message',
    ...(summary === undefined ? {} : { summary }),
    attachments: [{ contentType: ADAPTIVE_CARD_CONTENT_TYPE, content: card }],
  };
}

/**
 * Reviews in Microsoft Teams: the review card starts a thread in the group's channel (its
 * MessageRef is the thread's conversation id and the card's activity id), reminders and
 * escalation notes are replies in that thread, updates replace the card for everyone.
 */
export class TeamsReviewChannel implements ReviewBoard {
  constructor(
    private readonly client: BotConnectorClient,
    private readonly directory: Directory,
  ) {}

  async postReview(channelId: string, view: ReviewView): Promise<MessageRef> {
    const thread = await this.client.createChannelThread(channelId, cardActivity(reviewCard(view), cardSummary(view)));
    return { channel: thread.id, ts: thread.activityId };
  }

  async updateReview(message: MessageRef, view: ReviewView): Promise<void> {
    await this.client.updateActivity(message.channel, message.ts, cardActivity(reviewCard(view), cardSummary(view)));
  }

  /** A new thread in the channel holding the text as a card's plain TextRun (never Markdown). */
  async postAlert(channelId: string, text: string): Promise<void> {
    await this.client.createChannelThread(channelId, cardActivity(threadNoteCard(text, [])));
  }

  async postThreadNote(message: MessageRef, text: string, mentionAadObjectIds: string[], deadline?: string): Promise<void> {
    const mentions = mentionAadObjectIds.flatMap((aadObjectId) => {
      const member = this.directory.memberByAadObjectId(aadObjectId);
      return member === undefined ? [] : [{ aadObjectId: aadObjectId.toLowerCase(), name: member.id }];
    });
    await this.client.sendToConversation(message.channel, cardActivity(threadNoteCard(text, mentions, deadline)));
  }
}
