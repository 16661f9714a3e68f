// Concerns on their way to the service. Held in this page's memory only, never in
// localStorage or IndexedDB: a concern's words must not stay on a shared device
// (docs/adr/0116). Each keeps the Idempotency-Key it was first tried with, so sending it
// again after a dropped connection can never make a second record.

import { type Schemas, ApiError, Offline, api, call, newKey, plainError } from "./api";

export type ConcernCreate = Schemas["ConcernCreate"];

export interface Pending {
  readonly key: string;
  readonly ownerId: string;
  body: ConcernCreate | null; // dropped once sent
  state: "waiting" | "sending" | "sent" | "refused";
  concernId?: string;
  problem?: string;
}

const queue: Pending[] = [];
const listeners = new Set<(item: Pending) => void>();
let ownerNow: string | null = null;
const RETRY_MS = 4000;

export function onChange(listener: (item: Pending) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function changed(item: Pending): void {
  for (const listener of listeners) listener(item);
}

/** Who may send: only the person who wrote a concern sends it (after a lock, once they
 * sign in again). */
export function setOwner(userId: string | null): void {
  ownerNow = userId;
  if (userId) void flush();
}

export function waiting(): Pending[] {
  return queue.filter((item) => item.state === "waiting" || item.state === "sending");
}

/** Try to send a concern now; answers after that first try. Sent, or kept to send when
 * the connection returns ("waiting"), or refused (then dropped: the form still holds it). */
export async function enqueue(body: ConcernCreate, ownerId: string): Promise<Pending> {
  const item: Pending = { key: newKey(), ownerId, body, state: "waiting" };
  queue.push(item);
  await send(item);
  if (item.state === "refused") queue.splice(queue.indexOf(item), 1);
  return item;
}

async function send(item: Pending): Promise<void> {
  if (item.state !== "waiting" || !item.body || item.ownerId !== ownerNow) return;
  item.state = "sending";
  const body = item.body;
  try {
    const concern = await call(() =>
      api.POST("/api/v1/concerns", { body, headers: { "Idempotency-Key": item.key } }),
    );
    item.state = "sent";
    item.concernId = concern.id;
    item.body = null;
  } catch (error) {
    if (error instanceof Offline || (error instanceof ApiError && error.status >= 500)) {
      item.state = "waiting";
    } else if (error instanceof ApiError && error.status === 401) {
      item.state = "waiting"; // signed out meanwhile: sent when they sign in again
    } else {
      item.state = "refused";
      item.problem = plainError(error);
      item.body = null;
    }
  }
  changed(item);
}

export async function flush(): Promise<void> {
  for (const item of queue) {
    if (item.state === "waiting") await send(item);
  }
}

/** Forget what was refused (the person has read why) and what was sent. */
export function prune(): void {
  for (let index = queue.length - 1; index >= 0; index -= 1) {
    const item = queue[index];
    if (item && (item.state === "sent" || item.state === "refused")) queue.splice(index, 1);
  }
}

window.addEventListener("online", () => void flush());
window.setInterval(() => {
  if (queue.some((item) => item.state === "waiting")) void flush();
}, RETRY_MS);

/** Signing out on purpose: what was not sent is dropped from memory (the person was asked). */
export function discardAll(): void {
  queue.splice(0, queue.length);
}
