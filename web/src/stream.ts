// The desk's event stream (GET /desk/stream, Server-Sent Events). Read with fetch and a
// stream reader, not EventSource: EventSource cannot send the Authorization header, and
// tokens never go in a URL. Resumes with Last-Event-ID after a dropped connection.

import { freshToken } from "./api";

export interface DeskEvent {
  id: string;
  type: string;
  urgent: boolean;
}

export function openStream(
  onEvent: (event: DeskEvent) => void,
  onLive: (live: boolean) => void,
): () => void {
  const stop = new AbortController();
  let lastId: string | null = null;

  const parse = (block: string): void => {
    let id = "";
    let type = "message";
    let data = "";
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const name = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (name === "id") id = value;
      else if (name === "event") type = value;
      else if (name === "data") data += value;
    }
    if (!data) return;
    if (id) lastId = id;
    let urgent = false;
    try {
      const payload = JSON.parse(data) as { data?: { urgent?: boolean } };
      urgent = payload.data?.urgent === true;
    } catch {
      return;
    }
    onEvent({ id, type, urgent });
  };

  const run = async (): Promise<void> => {
    while (!stop.signal.aborted) {
      try {
        const token = await freshToken();
        if (!token) return;
        const headers: Record<string, string> = {
          Authorization: `Bearer ${token}`,
          Accept: "text/event-stream",
        };
        if (lastId) headers["Last-Event-ID"] = lastId;
        const response = await fetch("/api/v1/desk/stream", { headers, signal: stop.signal });
        if (!response.ok || !response.body) throw new Error(String(response.status));
        onLive(true);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          // A "\r" at the end may be half of "\r\n": keep it until the next chunk.
          const safe = buffer.endsWith("\r") ? buffer.length - 1 : buffer.length;
          let text = buffer.slice(0, safe).replace(/\r\n?/g, "\n");
          const rest = buffer.slice(safe);
          let boundary = text.indexOf("\n\n");
          while (boundary >= 0) {
            parse(text.slice(0, boundary));
            text = text.slice(boundary + 2);
            boundary = text.indexOf("\n\n");
          }
          buffer = text + rest;
        }
      } catch {
        // dropped, refused or stopped: try again below unless stopped
      }
      onLive(false);
      if (stop.signal.aborted) return;
      await new Promise((resolve) => window.setTimeout(resolve, 3000));
    }
  };
  void run();
  return () => stop.abort();
}
