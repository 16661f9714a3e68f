// The reference web client: staff quick-log and the DSL desk, on the public API only.
//
// Navigation is in memory: the address bar stays /app/ and the page title stays
// "concernlog", so no child's name or id reaches the URL, the title or the history.

import "./styles.css";
import { plainError } from "./api";
import { alertError, byId, h } from "./dom";
import { setOwner, waiting } from "./outbox";
import { myConcernsPage, quickLogPage } from "./quicklog";
import { currentUser, isDsl, loadMe, startSession } from "./session";
import { signInPage } from "./signin";
import { deskPages, stopDesk } from "./desk";

type Page = { label: string; open: () => Promise<void> | void };

function nav(pages: Page[]): void {
  const bar = byId("nav");
  const user = currentUser();
  bar.replaceChildren(
    h(
      "ul",
      {},
      pages.map((page) =>
        h("li", {}, h("button", { type: "button", class: "nav-link", onclick: () => void go(page) }, page.label)),
      ),
      user
        ? h(
            "li",
            {},
            h("button", { type: "button", class: "nav-link", onclick: () => signOut() }, "Sign out"),
          )
        : null,
    ),
  );
}

async function go(page: Page): Promise<void> {
  try {
    await page.open();
  } catch (error) {
    alertError(plainError(error));
  }
}

function signOut(): void {
  const unsent = waiting().length;
  if (unsent && !window.confirm(`${unsent} concern(s) have not been sent yet and will be lost. Sign out anyway?`)) {
    return;
  }
  locked("You have signed out.", true);
}

async function afterSignIn(): Promise<void> {
  const me = await loadMe();
  startSession((reason) => locked(reason, false));
  setOwner(me.id);
  const staffPages: Page[] = [
    { label: "Log a concern", open: quickLogPage },
    { label: "My concerns", open: myConcernsPage },
  ];
  if (isDsl()) {
    const pages = [...deskPages(), ...staffPages];
    nav(pages);
    await go(pages[0] as Page);
  } else {
    nav(staffPages);
    await go(staffPages[0] as Page);
  }
}

function locked(reason: string, signedOut: boolean): void {
  stopDesk();
  setOwner(null);
  nav([]);
  const unsent = waiting().length;
  const notice =
    unsent && !signedOut
      ? `${reason} ${unsent} concern(s) are waiting to be sent: sign in again to send them.`
      : reason;
  signInPage(afterSignIn, notice);
}

signInPage(afterSignIn);
