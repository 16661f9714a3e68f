// The sign-in page: email and password; the one-time code when the account asks for it.

import { ApiError, plainError, signIn } from "./api";
import { alertError, clearError, field, h, show } from "./dom";

export function signInPage(onSignedIn: () => Promise<void>, notice?: string): void {
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", {
    type: "password",
    name: "password",
    autocomplete: "current-password",
    required: true,
  });
  const code = h("input", {
    name: "totp",
    inputmode: "numeric",
    autocomplete: "one-time-code",
    pattern: "[0-9]{6}",
    maxlength: 6,
  });
  const codeField = field("One-time code", code, "The 6 digits your authenticator app shows now.");
  codeField.hidden = true;
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    { class: "panel narrow", novalidate: true },
    field("Email address", email),
    field("Password", password),
    codeField,
    submit,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearError();
    if (!email.value.trim() || !password.value) {
      alertError("Enter your email address and password.");
      (email.value.trim() ? password : email).focus();
      return;
    }
    if (!codeField.hidden && !/^[0-9]{6}$/.test(code.value.trim())) {
      alertError("Enter the 6-digit code from your authenticator app.");
      code.setAttribute("aria-invalid", "true");
      code.focus();
      return;
    }
    submit.disabled = true;
    signIn(email.value.trim(), password.value, codeField.hidden ? "" : code.value.trim())
      .then(async () => {
        password.value = "";
        await onSignedIn();
      })
      .catch((error: unknown) => {
        if (error instanceof ApiError && error.is("mfa-required")) {
          if (codeField.hidden) {
            codeField.hidden = false;
            alertError("Your account needs a one-time code. Enter the code from your authenticator app.");
          } else {
            alertError("That code is wrong or already used. Wait for the next code and try again.");
            code.setAttribute("aria-invalid", "true");
          }
          code.value = "";
          code.focus();
        } else if (error instanceof ApiError && error.status === 401) {
          alertError("The email address or password is wrong.");
          password.focus();
        } else if (error instanceof ApiError && error.status === 429) {
          alertError("Too many attempts. Wait a few minutes, then try again.");
        } else {
          alertError(plainError(error));
        }
      })
      .finally(() => {
        submit.disabled = false;
      });
  });
  show(
    h("h1", {}, "Sign in"),
    notice ? h("p", { class: "notice" }, notice) : null,
    form,
  );
  email.focus();
}
