// Staff quick-log (phone first): who, what was seen (the guidance's words), what happened,
// when, immediate danger, send. Offline, the concern waits in memory and is sent with the
// same Idempotency-Key when the connection returns.

import { type Schemas, api, call, plainError } from "./api";
import {
  alertError,
  announce,
  clearError,
  field,
  formatWhen,
  h,
  localInputValue,
  show,
  uid,
} from "./dom";
import { type GuidanceDocument, guidanceDocuments, leaflet } from "./guidance";
import { type ConcernCreate, type Pending, enqueue, onChange } from "./outbox";
import { currentUser } from "./session";

type PupilMatch = Schemas["PupilSearchResult"];

function pupilLabel(pupil: PupilMatch): string {
  const extra = [pupil.year_group, pupil.registration_group].filter(Boolean).join(", ");
  return extra ? `${pupil.display_name} (${extra})` : pupil.display_name;
}

/** Search pupils by name and pick one or more. */
function pupilPicker(chosen: Map<string, PupilMatch>): HTMLElement {
  const input = h("input", {
    type: "search",
    id: "pupil-search",
    name: "pupil-search",
    autocomplete: "off",
    "aria-controls": "pupil-results",
  });
  const results = h("ul", { id: "pupil-results", class: "choices", "aria-live": "polite" });
  const picked = h("ul", { class: "picked", "aria-label": "Pupils chosen" });
  let timer: number | undefined;
  let asked = 0;

  const redraw = (): void => {
    picked.replaceChildren(
      ...[...chosen.values()].map((pupil) =>
        h(
          "li",
          {},
          h("span", {}, pupilLabel(pupil)),
          h(
            "button",
            {
              type: "button",
              class: "link",
              onclick: () => {
                chosen.delete(pupil.id);
                redraw();
                input.focus();
              },
            },
            "Remove",
            h("span", { class: "visually-hidden" }, ` ${pupil.display_name}`),
          ),
        ),
      ),
    );
  };

  const search = async (): Promise<void> => {
    const q = input.value.trim();
    const ticket = ++asked;
    if (q.length < 2) {
      results.replaceChildren();
      return;
    }
    try {
      const page = await call(() => api.GET("/api/v1/pupils", { params: { query: { q, limit: 8 } } }));
      if (ticket !== asked) return;
      if (!page.items.length) {
        results.replaceChildren(h("li", { class: "hint" }, "No pupil with that name."));
        return;
      }
      results.replaceChildren(
        ...page.items.map((pupil) =>
          h(
            "li",
            {},
            h(
              "button",
              {
                type: "button",
                class: "choice",
                onclick: () => {
                  chosen.set(pupil.id, pupil);
                  input.value = "";
                  results.replaceChildren();
                  redraw();
                  announce(`${pupil.display_name} chosen.`);
                  input.focus();
                },
              },
              pupilLabel(pupil),
            ),
          ),
        ),
      );
    } catch (error) {
      if (ticket === asked) results.replaceChildren(h("li", { class: "error-text" }, plainError(error)));
    }
  };
  input.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => void search(), 200);
  });
  return h(
    "div",
    { class: "field" },
    h("label", { for: "pupil-search" }, "Pupil's name"),
    h("p", { class: "hint", id: "pupil-search-hint" }, "Type at least 2 letters, then choose the pupil."),
    input,
    results,
    picked,
  );
}

/** The signs of the chosen guidance document, in its own words, under its title (its
 * category), with the leaflet's text one tap away. */
function indicatorGroups(picked: () => GuidanceDocument): HTMLElement {
  const box = h("div", { class: "indicators" });
  const draw = (): void => {
    const document = picked();
    box.replaceChildren(
      h(
        "fieldset",
        {},
        h("legend", {}, `What did you see? ${document.title}`),
        h("p", { class: "hint" }, "Tick any that fit, or none. ", lead(document)),
        h(
          "div",
          { class: "checks" },
          document.indicators.map((indicator) => {
            const id = uid("indicator");
            return h(
              "div",
              { class: "check" },
              h("input", { type: "checkbox", id, name: "indicator", value: indicator.id }),
              h("label", { for: id }, indicator.text),
            );
          }),
        ),
        leaflet(document),
      ),
    );
  };
  draw();
  box.addEventListener("guidance-changed", draw);
  return box;
}

function lead(document: GuidanceDocument): string {
  return document.sections.find((section) => section.lead)?.lead ?? "";
}

function actionText(document: GuidanceDocument, when: "always" | "immediate_danger"): string[] {
  return document.actions.filter((action) => action.when === when).map((action) => action.text);
}

export async function quickLogPage(): Promise<void> {
  const documents = await guidanceDocuments();
  if (!documents.length) {
    show(h("h1", {}, "Log a concern"), h("p", {}, "No guidance is published yet."));
    return;
  }
  const first = documents[0] as GuidanceDocument;
  let document = first;
  const chosen = new Map<string, PupilMatch>();

  const kind =
    documents.length > 1
      ? h(
          "fieldset",
          { class: "kinds" },
          h("legend", {}, "What kind of worry is it?"),
          documents.map((each, index) => {
            const id = uid("kind");
            return h(
              "div",
              { class: "check" },
              h("input", { type: "radio", id, name: "guidance", value: each.key, checked: index === 0 }),
              h("label", { for: id }, each.title),
            );
          }),
        )
      : null;
  const indicators = indicatorGroups(() => document);
  kind?.addEventListener("change", (event) => {
    const key = (event.target as HTMLInputElement).value;
    document = documents.find((each) => each.key === key) ?? first;
    indicators.dispatchEvent(new Event("guidance-changed"));
    dangerBox.replaceChildren(...dangerContent());
  });

  const description = h("textarea", { id: "description", name: "description", rows: 6, maxlength: 20000 });
  const observed = h("input", {
    type: "datetime-local",
    id: "observed-at",
    name: "observed_at",
    value: localInputValue(new Date()),
    required: true,
  });
  const location = h("input", { type: "text", id: "location", name: "location", maxlength: 500 });
  const danger = h("input", { type: "checkbox", id: "immediate-danger", name: "immediate_danger" });
  const police = h("input", { type: "checkbox", id: "police-contacted", name: "police_contacted" });
  const dangerContent = (): HTMLElement[] => [
    h("p", { class: "danger-action" }, ...actionText(document, "immediate_danger").map((text) => h("strong", {}, text))),
    h("p", {}, "In an emergency call 999."),
    h(
      "div",
      { class: "check" },
      police,
      h("label", { for: "police-contacted" }, "I have contacted the police"),
    ),
  ];
  const dangerBox = h("div", { class: "danger", id: "danger-box", hidden: true }, ...dangerContent());
  danger.addEventListener("change", () => {
    dangerBox.hidden = !danger.checked;
    if (danger.checked) announce(actionText(document, "immediate_danger").join(" "));
  });

  const submit = h("button", { type: "submit", class: "primary big" }, "Log concern");
  const form = h(
    "form",
    { class: "panel", novalidate: true, id: "quick-log" },
    pupilPicker(chosen),
    kind,
    indicators,
    field("What happened, in your own words", description, "What you saw or heard. Use the child's own words where you can."),
    field("When it happened", observed, "Leave as now if it has just happened."),
    field("Where it happened (optional)", location),
    h(
      "div",
      { class: "check danger-toggle" },
      danger,
      h("label", { for: "immediate-danger" }, "The child is in immediate danger"),
    ),
    dangerBox,
    h("p", { class: "hint" }, ...actionText(document, "always")),
    submit,
  );

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearError();
    const problems: [string, HTMLElement][] = [];
    if (!chosen.size) problems.push(["Choose the pupil.", form.querySelector("#pupil-search") as HTMLElement]);
    if (!description.value.trim()) problems.push(["Write what happened.", description]);
    const when = observed.value ? new Date(observed.value) : null;
    if (!when || Number.isNaN(when.getTime())) {
      problems.push(["Enter when it happened.", observed]);
    } else if (when.getTime() > Date.now() + 5 * 60 * 1000) {
      problems.push(["When it happened cannot be in the future.", observed]);
    }
    for (const element of form.querySelectorAll("[aria-invalid]")) element.removeAttribute("aria-invalid");
    if (problems.length) {
      for (const [, element] of problems) element.setAttribute("aria-invalid", "true");
      alertError(problems.map(([message]) => message).join(" "));
      problems[0]?.[1].focus();
      return;
    }
    const user = currentUser();
    if (!user || !when) return;
    const body: ConcernCreate = {
      pupil_ids: [...chosen.keys()],
      guidance_key: document.key,
      indicators: [...form.querySelectorAll<HTMLInputElement>("input[name=indicator]:checked")].map(
        (box) => box.value,
      ),
      description: description.value,
      observed_at: when.toISOString(),
      location: location.value.trim() || null,
      immediate_danger: danger.checked,
      police_contacted: danger.checked && police.checked,
    };
    submit.disabled = true;
    void enqueue(body, user.id)
      .then((item) => {
        if (item.state === "refused") {
          alertError(item.problem ?? "The concern was not accepted.");
          submit.focus();
          return;
        }
        description.value = "";
        resultPage(item);
      })
      .finally(() => {
        submit.disabled = false;
      });
  });

  show(h("h1", {}, "Log a concern"), form);
}

function resultPage(item: Pending): void {
  const heading = h("h1", {}, "");
  const detail = h("p", { id: "outcome" });
  const draw = (): void => {
    if (item.state === "sent") {
      heading.textContent = "Concern logged";
      detail.textContent = `Sent to the safeguarding team at ${formatWhen(new Date().toISOString())}.`;
    } else {
      heading.textContent = "Not sent yet";
      detail.textContent =
        "There is no connection. The concern is kept on this page and will be sent when the " +
        "connection returns. Keep this page open.";
    }
  };
  draw();
  const stop = onChange((changed) => {
    if (changed !== item) return;
    draw();
    if (item.state === "sent") {
      announce("Concern logged: it has been sent.");
      stop();
    }
  });
  show(
    heading,
    h("div", { class: "panel", id: "result" }, detail),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", class: "primary", onclick: () => void quickLogPage() }, "Log another concern"),
      h("button", { type: "button", class: "secondary", onclick: () => void myConcernsPage() }, "My concerns"),
    ),
  );
  if (item.state === "sent") announce("Concern logged: it has been sent.");
}

type Concern = Schemas["ConcernPublic"];

export async function myConcernsPage(): Promise<void> {
  show(h("h1", {}, "My concerns"), h("p", {}, "Loading…"));
  try {
    const page = await call(() => api.GET("/api/v1/concerns", { params: { query: { limit: 50 } } }));
    show(
      h("h1", {}, "My concerns"),
      page.items.length
        ? h(
            "ul",
            { class: "cards" },
            page.items.map((concern) =>
              h(
                "li",
                {},
                h(
                  "button",
                  { type: "button", class: "card", onclick: () => void concernDetail(concern) },
                  h("span", { class: "card-title" }, `Seen ${formatWhen(concern.observed_at)}`),
                  h("span", {}, `Status: ${concern.status.replace(/_/g, " ")}`),
                  concern.immediate_danger ? h("span", { class: "tag urgent" }, "Immediate danger") : null,
                ),
              ),
            ),
          )
        : h("p", {}, "You have not logged a concern yet."),
    );
  } catch (error) {
    alertError(plainError(error));
  }
}

export function concernText(concern: Concern): (HTMLElement | null)[] {
  const texts = concern.indicator_texts ?? {};
  return [
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Seen"),
      h("dd", {}, formatWhen(concern.observed_at)),
      h("dt", {}, "Logged"),
      h("dd", {}, `${formatWhen(concern.recorded_at)} by ${concern.recorded_by.display_name}`),
      h("dt", {}, "Status"),
      h("dd", {}, concern.status.replace(/_/g, " ")),
      concern.location ? [h("dt", {}, "Where"), h("dd", {}, concern.location)] : null,
      h("dt", {}, "Immediate danger"),
      h("dd", {}, concern.immediate_danger ? "Yes" : "No"),
    ),
    concern.indicators.length
      ? h("ul", { class: "ticked" }, concern.indicators.map((id) => h("li", {}, texts[id] ?? id)))
      : h("p", {}, "No sign from the guidance was ticked."),
    h("p", { class: "description" }, concern.description),
    concern.addenda.length
      ? h(
          "section",
          {},
          h("h2", {}, "Added later"),
          h(
            "ul",
            { class: "addenda" },
            concern.addenda.map((addendum) =>
              h(
                "li",
                {},
                h("p", {}, addendum.text),
                h(
                  "p",
                  { class: "hint" },
                  `${formatWhen(addendum.recorded_at)}, ${addendum.recorded_by.display_name}. Why: ${addendum.reason}`,
                ),
              ),
            ),
          ),
        )
      : null,
  ];
}

/** An addendum form; the original concern is never edited. */
export function addendumForm(concern: Concern, after: (updated: Concern) => void): HTMLFormElement {
  const text = h("textarea", { id: "addendum-text", rows: 4, maxlength: 20000 });
  const reason = h("input", { type: "text", id: "addendum-reason", maxlength: 500 });
  const form = h(
    "form",
    { class: "panel", novalidate: true },
    h("h2", {}, "Add to this concern"),
    field("What to add", text),
    field("Why you are adding it", reason, "For example: remembered more, or the child said more."),
    h("button", { type: "submit", class: "secondary" }, "Add"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearError();
    if (!text.value.trim() || !reason.value.trim()) {
      alertError("Write what to add and why.");
      (text.value.trim() ? reason : text).focus();
      return;
    }
    call(() =>
      api.POST("/api/v1/concerns/{concern_id}/addenda", {
        params: { path: { concern_id: concern.id } },
        body: { text: text.value, reason: reason.value },
      }),
    )
      .then(async () => {
        announce("Added.");
        const updated = await call(() =>
          api.GET("/api/v1/concerns/{concern_id}", { params: { path: { concern_id: concern.id } } }),
        );
        after(updated);
      })
      .catch((error: unknown) => alertError(plainError(error)));
  });
  return form;
}

function concernDetail(concern: Concern): void {
  show(
    h("h1", {}, "Your concern"),
    h("div", { class: "panel" }, concernText(concern)),
    addendumForm(concern, concernDetail),
    h("button", { type: "button", class: "secondary", onclick: () => void myConcernsPage() }, "Back to my concerns"),
  );
}
