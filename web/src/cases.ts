// Cases: a child's case with its concerns, actions, decisions, tasks and referrals;
// opening one from a concern, and recording an action or a decision (If-Match).

import { type Schemas, ApiError, api, call, callFull, plainError } from "./api";
import { type Child, alertError, announce, clearError, field, formatWhen, h, localInputValue, show, words } from "./dom";
import { chronologyPage, concernPage, leave, select } from "./desk";

type Concern = Schemas["ConcernPublic"];
type CaseLevel = Schemas["CaseLevel"];
type ActionType = Schemas["ActionType"];

const LEVELS: CaseLevel[] = ["monitoring", "early_help", "child_in_need", "child_protection", "looked_after"];
const ACTIONS: ActionType[] = [
  "discussion",
  "contact_parent",
  "contact_police",
  "referral_childrens_social_care",
  "referral_early_help",
  "referral_other_agency",
  "meeting",
  "other",
];

function refused(error: unknown): string {
  return error instanceof ApiError && error.status === 412
    ? "Someone else changed this case meanwhile. It has been reloaded: check and try again."
    : plainError(error);
}

function required(pairs: [HTMLInputElement | HTMLTextAreaElement, string][]): boolean {
  for (const [control] of pairs) control.removeAttribute("aria-invalid");
  const missing = pairs.filter(([control]) => !control.value.trim());
  if (!missing.length) return true;
  for (const [control] of missing) control.setAttribute("aria-invalid", "true");
  alertError(missing.map(([, message]) => message).join(" "));
  missing[0]?.[0].focus();
  return false;
}

/** Open a case for one of a concern's pupils, joining the concern to it. */
export function openCaseForm(concern: Concern): HTMLFormElement | null {
  const pupils = concern.pupils ?? [];
  const first = pupils[0];
  if (!first) return null;
  const pupil = h(
    "select",
    { id: "case-pupil" },
    pupils.map((each) => h("option", { value: each.id }, each.display_name)),
  );
  const level = select("case-level", LEVELS, "monitoring");
  const summary = h("textarea", { id: "case-summary", rows: 3, maxlength: 5000 });
  const form = h(
    "form",
    { class: "panel", novalidate: true },
    h("h2", {}, "Open a case"),
    pupils.length > 1 ? field("Pupil", pupil) : null,
    field("Level", level),
    field("Summary", summary, "What the case is about, in a sentence or two."),
    h("button", { type: "submit", class: "secondary" }, "Open case"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearError();
    if (!required([[summary, "Write a summary."]])) return;
    call(() =>
      api.POST("/api/v1/cases", {
        body: {
          pupil_id: pupils.length > 1 ? pupil.value : first.id,
          level: level.value as CaseLevel,
          summary: summary.value,
          concern_ids: [concern.id],
        },
      }),
    )
      .then((opened) => {
        announce("Case opened.");
        void casePage(opened.id);
      })
      .catch((error: unknown) => alertError(plainError(error)));
  });
  return form;
}

function actionForm(caseId: string, etag: string): HTMLFormElement {
  const type = select("action-type", ACTIONS, "discussion");
  const description = h("textarea", { id: "action-description", rows: 3, maxlength: 5000 });
  const withWhom = h("input", { type: "text", id: "action-with", maxlength: 500 });
  const when = h("input", { type: "datetime-local", id: "action-when", value: localInputValue(new Date()) });
  const form = h(
    "form",
    { class: "panel", novalidate: true },
    h("h2", {}, "Record an action"),
    field("What kind", type),
    field("What was done", description),
    field("With whom (optional)", withWhom),
    field("When", when),
    h("button", { type: "submit", class: "secondary" }, "Record action"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearError();
    if (!required([[description, "Write what was done."], [when, "Enter when."]])) return;
    call(() =>
      api.POST("/api/v1/cases/{case_id}/actions", {
        params: { path: { case_id: caseId }, header: { "If-Match": etag } },
        body: {
          type: type.value as ActionType,
          description: description.value,
          occurred_at: new Date(when.value).toISOString(),
          with_whom: withWhom.value.trim() || null,
        },
      }),
    )
      .then(() => {
        announce("Action recorded.");
        void casePage(caseId);
      })
      .catch((error: unknown) => {
        alertError(refused(error));
        if (error instanceof ApiError && error.status === 412) void casePage(caseId);
      });
  });
  return form;
}

function decisionForm(caseId: string, etag: string): HTMLFormElement {
  const decision = h("textarea", { id: "decision-text", rows: 2, maxlength: 5000 });
  const reason = h("textarea", { id: "decision-reason", rows: 2, maxlength: 5000 });
  const form = h(
    "form",
    { class: "panel", novalidate: true },
    h("h2", {}, "Record a decision"),
    field("Decision", decision),
    field("Why", reason),
    h("button", { type: "submit", class: "secondary" }, "Record decision"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearError();
    if (!required([[decision, "Write the decision."], [reason, "Write why."]])) return;
    call(() =>
      api.POST("/api/v1/cases/{case_id}/decisions", {
        params: { path: { case_id: caseId }, header: { "If-Match": etag } },
        body: { decision: decision.value, reason: reason.value },
      }),
    )
      .then(() => {
        announce("Decision recorded.");
        void casePage(caseId);
      })
      .catch((error: unknown) => {
        alertError(refused(error));
        if (error instanceof ApiError && error.status === 412) void casePage(caseId);
      });
  });
  return form;
}

export async function pupilCases(pupilId: string): Promise<void> {
  try {
    const page = await call(() => api.GET("/api/v1/cases", { params: { query: { pupil_id: pupilId } } }));
    const only = page.items.length === 1 ? page.items[0] : undefined;
    if (only) {
      await casePage(only.id);
    } else if (!page.items.length) {
      announce("This pupil has no case.");
      alertError("This pupil has no case yet.");
    } else {
      casesList("Cases", page.items);
    }
  } catch (error) {
    alertError(plainError(error));
  }
}

function casesList(title: string, items: Schemas["CaseSummary"][]): void {
  show(
    h("h1", {}, title),
    items.length
      ? h(
          "ul",
          { class: "cards" },
          items.map((summary) =>
            h(
              "li",
              {},
              h(
                "button",
                { type: "button", class: "card", onclick: () => void casePage(summary.id) },
                h("span", { class: "card-title" }, summary.pupils.map((pupil) => pupil.display_name).join(", ")),
                h("span", {}, `${words(summary.level)} · ${summary.status} · opened ${formatWhen(summary.opened_at)}`),
              ),
            ),
          ),
        )
      : h("p", {}, "No case."),
  );
}

export async function casesPage(): Promise<void> {
  leave();
  clearError();
  try {
    const page = await call(() => api.GET("/api/v1/cases", { params: { query: { status: ["open"] } } }));
    casesList("Open cases", page.items);
  } catch (error) {
    alertError(plainError(error));
  }
}

function list<T>(title: string, items: T[], line: (item: T) => Child): HTMLElement {
  return h(
    "section",
    { class: "panel" },
    h("h2", {}, `${title} (${items.length})`),
    items.length ? h("ul", {}, items.map((item) => h("li", {}, line(item)))) : h("p", { class: "hint" }, "None."),
  );
}

export async function casePage(caseId: string): Promise<void> {
  leave();
  clearError();
  try {
    const { data: found, response } = await callFull(() =>
      api.GET("/api/v1/cases/{case_id}", { params: { path: { case_id: caseId } } }),
    );
    const etag = response.headers.get("ETag") ?? "";
    show(
      h("h1", {}, `Case: ${found.pupils.map((pupil) => pupil.display_name).join(", ")}`),
      h(
        "dl",
        { class: "facts panel" },
        h("dt", {}, "Level"),
        h("dd", {}, words(found.level)),
        h("dt", {}, "Status"),
        h("dd", {}, found.status),
        h("dt", {}, "Opened"),
        h("dd", {}, `${formatWhen(found.opened_at)} by ${found.opened_by.display_name}`),
        h("dt", {}, "Lead"),
        h("dd", {}, found.assigned_to?.display_name ?? "Nobody yet"),
        h("dt", {}, "Review"),
        h("dd", {}, found.review_on ?? "Not set"),
        h("dt", {}, "Summary"),
        h("dd", {}, found.summary),
      ),
      list("Concerns", found.concerns, (concern) =>
        h("button", { type: "button", class: "link", onclick: () => void concernPage(concern.id) }, `Seen ${formatWhen(concern.observed_at)}: ${words(concern.status)}`),
      ),
      list("Actions", found.actions, (action) => `${formatWhen(action.occurred_at)} · ${words(action.type)}: ${action.description}`),
      list("Decisions", found.decisions, (decision) => `${formatWhen(decision.decided_at)} · ${decision.decision} (why: ${decision.reason})`),
      list("Tasks", found.tasks, (task) => `${task.title}, due ${task.due_on} (${task.status})`),
      list("Referrals", found.referrals, (referral) => `${words(referral.agency)}, made ${formatWhen(referral.made_at)}${referral.outcome ? `: ${referral.outcome}` : ""}`),
      found.status === "open" ? actionForm(found.id, etag) : null,
      found.status === "open" ? decisionForm(found.id, etag) : null,
      h(
        "div",
        { class: "actions" },
        found.pupils.map((pupil) =>
          h("button", { type: "button", class: "secondary", onclick: () => void chronologyPage(pupil.id, pupil.display_name) }, `Chronology: ${pupil.display_name}`),
        ),
      ),
    );
  } catch (error) {
    alertError(plainError(error));
  }
}

