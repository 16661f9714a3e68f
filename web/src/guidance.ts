// The guidance documents (public): the words staff tick, and the leaflet behind them.

import { type Schemas, api, call } from "./api";
import { type Child, h } from "./dom";

export type GuidanceDocument = Schemas["GuidanceDocument"];
type Item = Schemas["GuidanceItem-Output"];

let documents: Promise<GuidanceDocument[]> | null = null;

/** Every built-in guidance document, loaded once per page. */
export function guidanceDocuments(): Promise<GuidanceDocument[]> {
  if (!documents) {
    documents = (async () => {
      const list = await call(() => api.GET("/api/v1/guidance"));
      return Promise.all(
        list.map((summary) =>
          call(() => api.GET("/api/v1/guidance/{key}", { params: { path: { key: summary.key } } })),
        ),
      );
    })();
    documents.catch(() => {
      documents = null;
    });
  }
  return documents;
}

function items(list: Item[]): Child {
  if (!list.length) return null;
  return h("ul", {}, list.map((item) => h("li", {}, item.text, items(item.items ?? []))));
}

/** The leaflet's text, in its own words, folded away behind one tap. */
export function leaflet(document: GuidanceDocument): HTMLDetailsElement {
  return h(
    "details",
    { class: "leaflet" },
    h("summary", {}, `Read the guidance: ${document.title}`),
    document.sections.map((section) =>
      h(
        "section",
        {},
        h("h3", {}, section.heading),
        section.lead ? h("p", {}, section.lead) : null,
        items(section.items),
      ),
    ),
  );
}

export function indicatorText(document: GuidanceDocument | undefined, id: string): string {
  return document?.indicators.find((indicator) => indicator.id === id)?.text ?? id;
}
