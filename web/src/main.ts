// The reference web client: staff quick-log and the DSL desk, on the public API only.
//
// Navigation is in memory: the address bar stays /app/ and the page title stays
// "concernlog", so no child's name or id reaches the URL, the title or the history.

import "./styles.css";
import { plainError } from "./api";
import { alertError, byId, h, show } from "./dom";
import { discardAll, setOwner, waiting } from "./outbox";
import { myConcernsPage, quickLogPage } from "./quicklog";
import { currentUser, isDsl, loadMe, lock, startSession } from "./session";
import { signInPage } from "./signin";
import { deskPages, stopDesk } from "./desk";
import { enrolPage } from "./mfa";

type Page = { label: string; open: () => Promise<void> | void };

let home: Page | null = null;

function nav(pages: Page[]): void {
  const bar = byId("nav");
  const user = currentUser();
  home = pages[0] ?? null;
  bar.replaceChildren(
    h(
      "ul",
      {},
      pages.map((page) =>
        h(
          "li",
          {},
          h("button", { type: "button", class: "nav-link", "data-page": page.label, onclick: () => void go(page) }, page.label),
        ),
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
  for (const link of byId("nav").querySelectorAll("button[data-page]")) {
    if (link.getAttribute("data-page") === page.label) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
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
  discardAll();
  lock("You have signed out.");
}

async function afterSignIn(): Promise<void> {
  const me = await loadMe();
  startSession(locked);
  setOwner(me.id);
  if (me.role !== "staff" && !me.mfa_enrolled) {
    nav([]);
    await enrolPage(() => lock("Two-factor sign-in is on. Sign in again with a code from your app."));
    return;
  }
  if (me.role === "admin") {
    nav([]);
    show(
      h("h1", {}, "Nothing here for your role"),
      h("p", {}, "This client is for staff and the safeguarding team. Manage accounts through the API."),
    );
    return;
  }
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

/** After the session is locked or ended (session.lock has cleared the tokens). */
function locked(reason: string): void {
  stopDesk();
  setOwner(null);
  nav([]);
  const unsent = waiting().length;
  const notice =
    unsent
      ? `${reason} ${unsent} concern(s) are waiting to be sent: sign in again to send them.`
      : reason;
  signInPage(afterSignIn, notice);
}

// The browser's Back button: history holds one extra entry, always "/app/" with no state
// (nothing about a child), and Back takes the signed-in person to their first page
// instead of away from the client (which would lose the session and anything unsent).
history.replaceState(null, "", location.pathname);
history.pushState(null, "", location.pathname);
window.addEventListener("popstate", () => {
  history.pushState(null, "", location.pathname);
  if (currentUser() && home) void go(home);
});

// Closing or reloading the tab loses what has not been sent: ask first.
window.addEventListener("beforeunload", (event) => {
  if (waiting().length) event.preventDefault();
});

signInPage(afterSignIn);
