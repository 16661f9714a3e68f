// Setting up two-factor sign-in (privileged accounts must, before anything else works).

import { api, call, plainError } from "./api";
import { alertError, clearError, field, h, show } from "./dom";

export async function enrolPage(onDone: () => void): Promise<void> {
  clearError();
  const setup = await call(() => api.POST("/api/v1/auth/mfa/setup"));
  const code = h("input", {
    id: "enrol-code",
    inputmode: "numeric",
    autocomplete: "one-time-code",
    pattern: "[0-9]{6}",
    maxlength: 6,
  });
  const form = h(
    "form",
    { class: "panel narrow", novalidate: true },
    h(
      "p",
      {},
      "Your role needs a one-time code at each sign-in. In your authenticator app, add an " +
        "account with this key, then enter the code it shows.",
    ),
    h("p", { class: "secret" }, h("code", {}, setup.secret)),
    field("Code from the app", code),
    h("button", { type: "submit", class: "primary" }, "Turn on two-factor sign-in"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearError();
    if (!/^[0-9]{6}$/.test(code.value.trim())) {
      code.setAttribute("aria-invalid", "true");
      alertError("Enter the 6 digits of the code.");
      code.focus();
      return;
    }
    call(() => api.POST("/api/v1/auth/mfa/verify", { body: { code: code.value.trim() } }))
      .then(onDone)
      .catch((error: unknown) => {
        code.setAttribute("aria-invalid", "true");
        alertError(plainError(error));
        code.focus();
      });
  });
  show(h("h1", {}, "Set up two-factor sign-in"), form);
}
