// The API client (generated from /openapi.json: src/generated/api.d.ts) and the session.
//
// Tokens live in this module's memory only: never localStorage, sessionStorage, cookies or
// IndexedDB. Reloading the page or closing the tab signs out. See docs/adr/0115.

import createClient from "openapi-fetch";
import type { components, paths } from "./generated/api";

export type Schemas = components["schemas"];
export type Me = Schemas["Me"];
export type Problem = Schemas["Problem"];

interface Tokens {
  access: string;
  refresh: string | null;
  expiresAt: number;
}

let tokens: Tokens | null = null;
let refreshing: Promise<boolean> | null = null;

export const api = createClient<paths>({ baseUrl: "" });

api.use({
  async onRequest({ request }) {
    if (tokens && !request.url.includes("/auth/refresh") && !request.url.includes("/auth/token")) {
      if (Date.now() > tokens.expiresAt - 60_000) await refresh();
      if (tokens) request.headers.set("Authorization", `Bearer ${tokens.access}`);
    }
    return request;
  },
});

export function signedIn(): boolean {
  return tokens !== null;
}

export function accessToken(): string | null {
  return tokens?.access ?? null;
}

function keep(answer: Schemas["TokenResponse"]): void {
  tokens = {
    access: answer.access_token,
    refresh: answer.refresh_token ?? null,
    expiresAt: Date.now() + answer.expires_in * 1000,
  };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Partial<Problem>,
  ) {
    super(problem.detail ?? problem.title ?? `The service answered ${status}.`);
  }

  is(slug: string): boolean {
    return (this.problem.type ?? "").endsWith(slug);
  }
}

/** Thrown when the network is down (fetch itself failed): the caller may queue and retry. */
export class Offline extends Error {
  constructor() {
    super("No connection.");
  }
}

export function plainError(error: unknown): string {
  if (error instanceof Offline) return "There is no connection. Try again when you are back online.";
  if (error instanceof ApiError) {
    const issues = error.problem.errors ?? [];
    if (issues.length) {
      return issues
        .map((issue) => `${issue.loc.filter((part) => part !== "body").join(" ")}: ${issue.msg}`)
        .join(". ");
    }
    return error.message;
  }
  return "Something went wrong. Try again.";
}

type Outcome = { data?: unknown; error?: unknown; response: Response };

let stepUpPrompt: (() => Promise<string | null>) | null = null;
let onSessionEnded: ((reason: string) => void) | null = null;

export function onStepUp(prompt: () => Promise<string | null>): void {
  stepUpPrompt = prompt;
}

export function onEnded(handler: (reason: string) => void): void {
  onSessionEnded = handler;
}

/** Run one API call: a step-up challenge asks for a code and tries again once; a refused
 * token is refreshed once; any other problem is thrown as an ApiError. */
export async function call<R extends Outcome>(
  request: () => Promise<R>,
): Promise<NonNullable<R["data"]>> {
  return (await callFull(request)).data;
}

/** As ``call``, with the answer's headers (an ETag for If-Match). */
export async function callFull<R extends Outcome>(
  request: () => Promise<R>,
): Promise<{ data: NonNullable<R["data"]>; response: Response }> {
  let outcome = await send(request);
  if (outcome.response.status === 401) {
    const problem = (outcome.error ?? {}) as Partial<Problem>;
    if ((problem.type ?? "").endsWith("step-up-required") && stepUpPrompt) {
      const done = await stepUpPrompt();
      if (done === null) throw new ApiError(401, { ...problem, detail: "Not confirmed: the code was not given." });
      outcome = await send(request);
    } else if (tokens?.refresh && (await refresh())) {
      outcome = await send(request);
    }
    const again = (outcome.error ?? {}) as Partial<Problem>;
    if (outcome.response.status === 401 && !(again.type ?? "").endsWith("step-up-required")) {
      end("Your session has ended. Sign in again.");
    }
  }
  if (outcome.error !== undefined || !outcome.response.ok) {
    throw new ApiError(outcome.response.status, (outcome.error ?? {}) as Partial<Problem>);
  }
  return { data: outcome.data as NonNullable<R["data"]>, response: outcome.response };
}

/** The access token, renewed first when it is about to expire (for the event stream,
 * which is read with plain fetch). */
export async function freshToken(): Promise<string | null> {
  if (tokens && Date.now() > tokens.expiresAt - 60_000) await refresh();
  return tokens?.access ?? null;
}

async function send<R extends Outcome>(request: () => Promise<R>): Promise<R> {
  try {
    return await request();
  } catch (error) {
    if (error instanceof TypeError) throw new Offline();
    throw error;
  }
}

export async function signIn(email: string, password: string, totp: string): Promise<void> {
  const form = new URLSearchParams({ grant_type: "password", username: email, password });
  if (totp) form.set("totp", totp);
  let response: Response;
  try {
    response = await fetch("/api/v1/auth/token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: form,
    });
  } catch {
    throw new Offline();
  }
  const body = (await response.json()) as Schemas["TokenResponse"] & Partial<Problem>;
  if (!response.ok) throw new ApiError(response.status, body);
  keep(body);
}

async function refresh(): Promise<boolean> {
  if (!tokens?.refresh) return false;
  if (!refreshing) {
    const refreshToken = tokens.refresh;
    refreshing = (async () => {
      try {
        const response = await fetch("/api/v1/auth/refresh", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ refresh_token: refreshToken }),
        });
        if (!response.ok) return false;
        keep((await response.json()) as Schemas["TokenResponse"]);
        return true;
      } catch {
        return false;
      } finally {
        refreshing = null;
      }
    })();
  }
  return refreshing;
}

/** POST /auth/step-up: a new token pair whose sign-in time is now. */
export async function stepUp(code: string): Promise<void> {
  const answer = await call(() => api.POST("/api/v1/auth/step-up", { body: { totp: code } }));
  keep(answer);
}

/** Forget the tokens (and revoke the refresh token's family when the network allows). */
export function forget(): void {
  const refreshToken = tokens?.refresh;
  tokens = null;
  if (refreshToken) {
    void fetch("/api/v1/auth/logout", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: refreshToken }),
    }).catch(() => undefined);
  }
}

function end(reason: string): void {
  forget();
  onSessionEnded?.(reason);
}

/** A fresh Idempotency-Key (random, 128 bits). */
export function newKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
