/**
 * The live tail of GET /v1/admin/events over fetch: EventSource cannot send an
 * Authorization header, and a token in the URL would end up in access logs. Frames are
 * parsed as the SSE specification says (id, event, data; comments ignored). The tail
 * resumes from the last id it saw with Last-Event-ID, so pausing, an overflow or a token
 * refresh loses and repeats nothing.
 */
import { api } from './api.js';

export interface TailEvent {
  id: string;
  type: string;
  stream_id: string;
  revision: string;
  position: string;
  occurred_at: string;
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

export interface Frame {
  id: string | null;
  event: string;
  data: string;
}

/** Splits a growing text buffer into complete frames; returns them and the unfinished rest. */
export function parseFrames(buffer: string): { frames: Frame[]; rest: string } {
  const frames: Frame[] = [];
  const normalised = buffer.replace(/\r\n?/g, '\n');
  const blocks = normalised.split('\n\n');
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    let id: string | null = null;
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length > 0 || id !== null) frames.push({ id, event, data: data.join('\n') });
  }
  return { frames, rest };
}

export interface TailHandlers {
  onEvent(event: TailEvent): void;
  /** The server ended the stream (`overflow`, `token_expired`, …) with the last id written. */
  onEnd(reason: string, lastEventId: string | null): void;
  onOpen(): void;
  onError(message: string): void;
}

/** Opens the tail after `from` (exclusive); call the returned function to stop it. */
export function openTail(from: string | null, types: string[], handlers: TailHandlers): () => void {
  const abort = new AbortController();
  void (async () => {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (from !== null) headers['last-event-id'] = from;
    const query = types.length > 0 ? `?types=${encodeURIComponent(types.join(','))}` : '';
    let response: Response;
    try {
      response = await api.fetch(`/v1/admin/events${query}`, { headers, signal: abort.signal });
    } catch (error) {
      if (!abort.signal.aborted) handlers.onError(error instanceof Error ? error.message : 'the connection failed');
      return;
    }
    if (!response.ok || response.body === null) {
      handlers.onError(`the tail was refused (${response.status})`);
      return;
    }
    handlers.onOpen();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let last = from;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const { frames, rest } = parseFrames(buffer + value);
        buffer = rest;
        for (const frame of frames) {
          if (frame.event === 'overflow' || frame.event === 'end') {
            const info = JSON.parse(frame.data || '{}') as { reason?: string; last_event_id?: string | null };
            handlers.onEnd(frame.event === 'overflow' ? 'overflow' : info.reason ?? 'end', info.last_event_id ?? last);
            return;
          }
          if (frame.id !== null) last = frame.id;
          handlers.onEvent(JSON.parse(frame.data) as TailEvent);
        }
      }
      handlers.onEnd('closed', last);
    } catch (error) {
      if (!abort.signal.aborted) handlers.onError(error instanceof Error ? error.message : 'the connection broke');
    }
  })();
  return () => abort.abort();
}
