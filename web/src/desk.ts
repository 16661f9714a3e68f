// The DSL desk: the inbox (urgent first) kept up to date by the event stream, triage with
// a reason, a concern's pupils' chronologies (step-up), cases, search, reports, exports.
// Pages are in memory: nothing about a child reaches the address bar or the history.

import { type Schemas, ApiError, api, call, callFull, plainError } from "./api";
import { type Bar, barChart } from "./charts";
import { type Child, alertError, announce, clearError, field, formatWhen, h, show, uid, words } from "./dom";
import { guidanceDocuments } from "./guidance";
import { addendumForm, concernText } from "./quicklog";
import type { paths } from "./generated/api";
import { casePage, casesPage, openCaseForm, pupilCases } from "./cases";
import { openStream } from "./stream";

type Concern = Schemas["ConcernPublic"];
type ConcernFilters = NonNullable<paths["/api/v1/concerns"]["get"]["parameters"]["query"]>;
type Page = { label: string; open: () => Promise<void> | void };
type TriageStatus = Schemas["TriageStatus"];
type RiskLevel = Schemas["RiskLevel"];

const STATUSES: TriageStatus[] = ["new", "acknowledged", "in_progress", "closed", "no_further_action"];
const RISKS: RiskLevel[] = ["low", "medium", "high", "critical"];

let stopStream: (() => void) | null = null;
let onInbox = false;
let liveText: HTMLElement | null = null;
let live = false;
const LIVE = "Live: updates as concerns come in.";
const NOT_LIVE = "Connecting to live updates…";

export function deskPages(): Page[] {
  startStream();
  return [
    { label: "Inbox", open: inboxPage },
    { label: "Find concerns", open: searchPage },
    { label: "Cases", open: casesPage },
    { label: "Reports", open: reportsPage },
  ];
}

export function stopDesk(): void {
  stopStream?.();
  stopStream = null;
  live = false;
  onInbox = false;
}

export function leave(): void {
  onInbox = false;
}

function startStream(): void {
  stopDesk();
  stopStream = openStream(
    (event) => {
      if (!event.type.startsWith("concern.")) return;
      announce(event.urgent ? "An urgent concern has come in." : "A new concern has come in.");
      if (onInbox) void inboxPage(true);
    },
    (connected) => {
      live = connected;
      if (liveText) liveText.textContent = live ? LIVE : NOT_LIVE;
    },
  );
}

function pupilNames(concern: Concern): string {
  return (concern.pupils ?? []).map((pupil) => pupil.display_name).join(", ") || "Pupil";
}

function concernCard(concern: Concern): HTMLElement {
  const texts = concern.indicator_texts ?? {};
  return h(
    "li",
    {},
    h(
      "button",
      { type: "button", class: "card", onclick: () => void concernPage(concern.id) },
      h("span", { class: "card-title" }, pupilNames(concern)),
      concern.immediate_danger ? h("span", { class: "tag urgent" }, "Immediate danger") : null,
      h("span", {}, `Seen ${formatWhen(concern.observed_at)} · logged by ${concern.recorded_by.display_name}`),
      h("span", {}, concern.indicators.map((id) => texts[id] ?? id).join("; ") || "No sign ticked"),
      h("span", {}, `Status: ${words(concern.status)}`),
    ),
  );
}

function section(title: string, items: Child[], empty: string): HTMLElement {
  const id = uid("section");
  return h(
    "section",
    { class: "inbox-section", "aria-labelledby": id },
    h("h2", { id }, `${title} (${items.length})`),
    items.length ? h("ul", { class: "cards" }, items) : h("p", { class: "hint" }, empty),
  );
}

export async function inboxPage(quiet = false): Promise<void> {
  onInbox = false;
  if (!quiet) clearError();
  try {
    const inbox = await call(() => api.GET("/api/v1/desk/inbox"));
    liveText = h("p", { class: "live", id: "live" }, live ? LIVE : NOT_LIVE);
    const flags = inbox.flags ?? [];
    const focusBack = quiet ? document.activeElement : null;
    show(
      h("h1", {}, "Inbox"),
      liveText,
      section("Urgent", inbox.urgent.map(concernCard), "No urgent concern is waiting."),
      section("New", inbox.new.map(concernCard), "No new concern is waiting."),
      section(
        "Patterns to look at",
        flags.map((flag) =>
          h(
            "li",
            { class: "panel" },
            h("p", { class: "card-title" }, flag.pupil.display_name),
            h("p", {}, flag.explanation),
            h(
              "button",
              { type: "button", class: "secondary", onclick: () => void chronologyPage(flag.pupil_id, flag.pupil.display_name) },
              "Open chronology",
            ),
          ),
        ),
        "No pattern flag is open.",
      ),
      section(
        "Tasks due",
        inbox.tasks_due.map((task) => h("li", { class: "panel" }, `${task.title}, due ${task.due_on}`)),
        "No task is due.",
      ),
      section(
        "Case reviews due",
        inbox.reviews_due.map((summary) =>
          h(
            "li",
            {},
            h(
              "button",
              { type: "button", class: "card", onclick: () => void casePage(summary.id) },
              h("span", { class: "card-title" }, summary.pupils.map((pupil) => pupil.display_name).join(", ")),
              h("span", {}, `Review due ${summary.review_on ?? ""}`),
            ),
          ),
        ),
        "No case review is due.",
      ),
      section(
        "Transfers due",
        inbox.transfers_due.map((transfer) => h("li", { class: "panel" }, `Transfer to ${transfer.to_school_urn ?? ""}`)),
        "No transfer is due.",
      ),
    );
    if (quiet && focusBack instanceof HTMLElement && document.contains(focusBack)) focusBack.focus();
    onInbox = true;
  } catch (error) {
    alertError(plainError(error));
  }
}

export async function concernPage(concernId: string): Promise<void> {
  leave();
  clearError();
  try {
    const { data: concern, response } = await callFull(() =>
      api.GET("/api/v1/concerns/{concern_id}", { params: { path: { concern_id: concernId } } }),
    );
    const etag = response.headers.get("ETag") ?? "";
    const pupils = concern.pupils ?? [];
    show(
      h("h1", {}, `Concern about ${pupilNames(concern)}`),
      h("div", { class: "panel" }, concernText(concern)),
      triageForm(concern, etag),
      h(
        "section",
        { class: "panel" },
        h("h2", {}, "The child's file"),
        h(
          "div",
          { class: "actions" },
          pupils.map((pupil) =>
            h(
              "button",
              { type: "button", class: "secondary", onclick: () => void chronologyPage(pupil.id, pupil.display_name) },
              `Chronology: ${pupil.display_name}`,
            ),
          ),
          pupils.map((pupil) =>
            h(
              "button",
              { type: "button", class: "secondary", onclick: () => void pupilCases(pupil.id) },
              `Cases: ${pupil.display_name}`,
            ),
          ),
        ),
      ),
      openCaseForm(concern),
      addendumForm(concern, () => void concernPage(concernId)),
      h("button", { type: "button", class: "link", onclick: () => void inboxPage() }, "Back to the inbox"),
    );
  } catch (error) {
    alertError(plainError(error));
  }
}

export function select<T extends string>(id: string, options: T[], current: T | null, blank?: string): HTMLSelectElement {
  return h(
    "select",
    { id, name: id },
    blank !== undefined ? h("option", { value: "" }, blank) : null,
    options.map((option) => h("option", { value: option, selected: option === current }, words(option))),
  );
}

function triageForm(concern: Concern, etag: string): HTMLFormElement {
  const status = select("triage-status", STATUSES, concern.status);
  const risk = select("triage-risk", RISKS, concern.risk_level ?? null, "Not set");
  const reason = h("textarea", { id: "triage-reason", rows: 3, maxlength: 2000 });
  const form = h(
    "form",
    { class: "panel", novalidate: true },
    h("h2", {}, "Triage"),
    field("Status", status),
    field("Risk level", risk),
    field("Reason", reason, "Why, in a sentence. It is kept with the change."),
    h("button", { type: "submit", class: "primary" }, "Save triage"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearError();
    if (!reason.value.trim()) {
      reason.setAttribute("aria-invalid", "true");
      alertError("Give a reason for the change.");
      reason.focus();
      return;
    }
    const body: Schemas["TriageChange"] = { reason: reason.value };
    if (status.value !== concern.status) body.status = status.value as TriageStatus;
    if (risk.value && risk.value !== concern.risk_level) body.risk_level = risk.value as RiskLevel;
    call(() =>
      api.POST("/api/v1/concerns/{concern_id}/triage", {
        params: { path: { concern_id: concern.id }, header: { "If-Match": etag } },
        body,
      }),
    )
      .then(() => {
        announce("Triage saved.");
        void concernPage(concern.id);
      })
      .catch((error: unknown) => {
        alertError(
          error instanceof ApiError && error.status === 412
            ? "Someone else changed this concern meanwhile. It has been reloaded: check and try again."
            : plainError(error),
        );
        if (error instanceof ApiError && error.status === 412) void concernPage(concern.id);
      });
  });
  return form;
}

async function download(pupilId: string, format: "pdf" | "csv" | "json"): Promise<void> {
  const blob = await call(() =>
    api.GET("/api/v1/pupils/{pupil_id}/export", {
      params: { path: { pupil_id: pupilId }, query: { format } },
      parseAs: "blob",
    }),
  );
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: `chronology-export.${format}` });
  document.body.appendChild(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
  announce(`The ${format.toUpperCase()} export has been downloaded.`);
}

export async function chronologyPage(pupilId: string, name: string): Promise<void> {
  leave();
  clearError();
  try {
    const page = await call(() =>
      api.GET("/api/v1/pupils/{pupil_id}/chronology", { params: { path: { pupil_id: pupilId }, query: { limit: 200 } } }),
    );
    show(
      h("h1", {}, `Chronology: ${name}`),
      h(
        "div",
        { class: "actions", role: "group", "aria-label": "Export" },
        (["pdf", "csv", "json"] as const).map((format) =>
          h(
            "button",
            {
              type: "button",
              class: "secondary",
              onclick: () => void download(pupilId, format).catch((error: unknown) => alertError(plainError(error))),
            },
            `Export ${format.toUpperCase()}`,
          ),
        ),
      ),
      page.items.length
        ? h(
            "ol",
            { class: "timeline" },
            page.items.map((item) =>
              h(
                "li",
                {},
                h("p", { class: "when" }, `${formatWhen(item.occurred_at)} · ${words(item.type)} · ${item.by.display_name}`),
                h("p", {}, item.summary),
              ),
            ),
          )
        : h("p", {}, "Nothing is recorded yet."),
      page.next_cursor ? h("p", { class: "hint" }, "Showing the first 200 entries; the export has them all.") : null,
    );
  } catch (error) {
    alertError(plainError(error));
  }
}

async function searchPage(): Promise<void> {
  leave();
  clearError();
  const documents = await guidanceDocuments().catch(() => []);
  const indicators = documents.flatMap((document) => document.indicators);
  const q = h("input", { type: "search", id: "filter-q", maxlength: 200 });
  const status = select("filter-status", STATUSES, null, "Any");
  const indicator = h(
    "select",
    { id: "filter-indicator" },
    h("option", { value: "" }, "Any"),
    indicators.map((each) => h("option", { value: each.id }, each.text)),
  );
  const from = h("input", { type: "date", id: "filter-from" });
  const to = h("input", { type: "date", id: "filter-to" });
  const urgent = h("input", { type: "checkbox", id: "filter-urgent" });
  const results = h("div", { id: "results", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "panel", novalidate: true, role: "search" },
    h(
      "div",
      { class: "filters" },
      field("Words in the description", q),
      field("Status", status),
      field("Sign from the guidance", indicator),
      field("Seen from", from),
      field("Seen to", to),
    ),
    h("div", { class: "check" }, urgent, h("label", { for: "filter-urgent" }, "Immediate danger only")),
    h("button", { type: "submit", class: "primary" }, "Find"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearError();
    const query: ConcernFilters = { limit: 50 };
    if (q.value.trim()) query.q = q.value.trim();
    if (status.value) query.status = [status.value as TriageStatus];
    if (indicator.value) query.indicator = [indicator.value];
    if (from.value) query.from = new Date(`${from.value}T00:00:00`).toISOString();
    if (to.value) query.to = new Date(`${to.value}T23:59:59`).toISOString();
    if (urgent.checked) query.immediate_danger = true;
    call(() => api.GET("/api/v1/concerns", { params: { query } }))
      .then((page) => {
        results.replaceChildren(
          h("h2", {}, `${page.items.length}${page.next_cursor ? "+" : ""} found`),
          page.items.length ? h("ul", { class: "cards" }, page.items.map(concernCard)) : h("p", {}, "No concern matches."),
        );
      })
      .catch((error: unknown) => alertError(plainError(error)));
  });
  show(h("h1", {}, "Find concerns"), form, results);
}

function bars(counts: Record<string, number>): Bar[] {
  return Object.entries(counts).map(([label, value]) => ({ label: words(label), value }));
}

async function reportsPage(): Promise<void> {
  leave();
  clearError();
  try {
    const [summary, byIndicator, byMonth] = await Promise.all([
      call(() => api.GET("/api/v1/reports/summary")),
      call(() => api.GET("/api/v1/reports/indicators", { params: { query: { group_by: "indicator" } } })),
      call(() => api.GET("/api/v1/reports/indicators", { params: { query: { group_by: "month" } } })),
    ]);
    show(
      h("h1", {}, "Reports"),
      h(
        "dl",
        { class: "facts panel" },
        h("dt", {}, "Concerns this month"),
        h("dd", {}, String(summary.this_month.concerns)),
        h("dt", {}, "Concerns last month"),
        h("dd", {}, String(summary.last_month.concerns)),
        h("dt", {}, "Waiting over 24 hours unacknowledged"),
        h("dd", {}, String(summary.unacknowledged_over_24h)),
      ),
      barChart("Concerns by status", bars(summary.concerns_by_status)),
      barChart("Open cases by level", bars(summary.open_cases_by_level)),
      barChart(
        "Concerns by sign from the guidance",
        byIndicator.groups.map((group) => ({ label: group.label ?? group.key ?? "Other", value: group.concerns })),
      ),
      barChart(
        "Concerns by month",
        byMonth.groups.map((group) => ({ label: group.key ?? "Unknown", value: group.concerns })),
      ),
    );
  } catch (error) {
    alertError(plainError(error));
  }
}
