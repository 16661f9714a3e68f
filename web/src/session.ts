// Who is signed in, the idle lock, and the step-up dialog.

import { type Me, ApiError, api, call, forget, onEnded, onStepUp, plainError, stepUp } from "./api";
import { byId, h } from "./dom";

export const IDLE_LIMIT_MS = 15 * 60 * 1000;

let me: Me | null = null;
let lastActivity = Date.now();
let idleTimer: number | undefined;
let lockHandler: (reason: string) => void = () => undefined;

export function currentUser(): Me | null {
  return me;
}

export function isDsl(): boolean {
  return me?.role === "dsl" || me?.role === "deputy_dsl";
}

export async function loadMe(): Promise<Me> {
  me = await call(() => api.GET("/api/v1/auth/me"));
  return me;
}

/** Clears the tokens and who is signed in, and hands over to the sign-in page. */
export function lock(reason: string): void {
  forget();
  const dialog = byId<HTMLDialogElement>("step-up");
  if (dialog.open) dialog.close();
  me = null;
  window.clearInterval(idleTimer);
  lockHandler(reason);
}

export function startSession(onLock: (reason: string) => void): void {
  lockHandler = onLock;
  lastActivity = Date.now();
  window.clearInterval(idleTimer);
  idleTimer = window.setInterval(() => {
    if (me && Date.now() - lastActivity > IDLE_LIMIT_MS) {
      lock("The session was locked after 15 minutes without use. Sign in again.");
    }
  }, 15_000);
}

for (const kind of ["pointerdown", "keydown", "touchstart", "input"]) {
  window.addEventListener(kind, () => {
    lastActivity = Date.now();
  }, { passive: true });
}

onEnded((reason) => lock(reason));

// Step-up (contract section 13): a <dialog> asks for a fresh one-time code.
onStepUp(
  () =>
    new Promise<string | null>((resolve) => {
      const dialog = byId<HTMLDialogElement>("step-up");
      const code = h("input", {
        id: "step-up-code",
        name: "totp",
        inputmode: "numeric",
        autocomplete: "one-time-code",
        pattern: "[0-9]{6}",
        maxlength: 6,
        required: true,
        "aria-describedby": "step-up-hint step-up-error",
      });
      const error = h("p", { id: "step-up-error", class: "error-text", "aria-live": "assertive" });
      const form = h(
        "form",
        { method: "dialog", novalidate: true },
        h("h2", { id: "step-up-title" }, "Confirm it is you"),
        h(
          "p",
          { id: "step-up-hint" },
          "This needs a recent sign-in. Enter the 6-digit code from your authenticator app.",
        ),
        h("div", { class: "field" }, h("label", { for: "step-up-code" }, "Code"), code),
        error,
        h(
          "div",
          { class: "actions" },
          h("button", { type: "submit", class: "primary" }, "Confirm"),
          h("button", { type: "button", class: "secondary", id: "step-up-cancel" }, "Cancel"),
        ),
      );
      dialog.replaceChildren(form);
      let done = false;
      const finish = (value: string | null): void => {
        if (done) return;
        done = true;
        dialog.close();
        dialog.replaceChildren();
        resolve(value);
      };
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const value = code.value.trim();
        if (!/^[0-9]{6}$/.test(value)) {
          error.textContent = "Enter the 6 digits of the code.";
          code.setAttribute("aria-invalid", "true");
          code.focus();
          return;
        }
        stepUp(value).then(
          () => finish(value),
          (failure: unknown) => {
            error.textContent =
              failure instanceof ApiError && failure.status === 422
                ? "That code is wrong, expired or already used. Wait for the next code and try again."
                : plainError(failure);
            code.setAttribute("aria-invalid", "true");
            code.select();
          },
        );
      });
      byId("step-up-cancel").addEventListener("click", () => finish(null));
      dialog.addEventListener("cancel", () => finish(null), { once: true });
      dialog.showModal();
      code.focus();
    }),
);
