// Simple charts as inline SVG (no style attributes: the page policy allows no inline
// style), each with a table of the same numbers for screen readers and keyboard users.

import { type Child, h, svg, uid } from "./dom";

export interface Bar {
  label: string;
  value: number;
}

const ROW = 28;
const LABEL_WIDTH = 330;
const BAR_WIDTH = 300;

export function barChart(title: string, bars: Bar[]): HTMLElement {
  const id = uid("chart");
  const max = Math.max(1, ...bars.map((bar) => bar.value));
  const height = Math.max(ROW, bars.length * ROW);
  const width = LABEL_WIDTH + BAR_WIDTH + 60;
  const rows: Child[] = bars.map((bar, index) => {
    const y = index * ROW;
    const length = Math.round((bar.value / max) * BAR_WIDTH);
    const label = bar.label.length > 40 ? `${bar.label.slice(0, 39)}…` : bar.label;
    return [
      svg("text", { x: LABEL_WIDTH - 8, y: y + 19, "text-anchor": "end" }, svg("title", {}, bar.label), label),
      svg("rect", { class: "bar", x: LABEL_WIDTH, y: y + 5, width: Math.max(length, 1), height: ROW - 10 }),
      svg("text", { x: LABEL_WIDTH + length + 6, y: y + 19 }, String(bar.value)),
    ];
  });
  return h(
    "figure",
    { class: "chart-figure" },
    h("figcaption", { id: `${id}-title` }, h("h2", {}, title)),
    bars.length
      ? svg(
          "svg",
          {
            class: "chart",
            viewBox: `0 0 ${width} ${height}`,
            width: "100%",
            role: "img",
            "aria-labelledby": `${id}-title`,
            preserveAspectRatio: "xMinYMin meet",
          },
          ...rows,
        )
      : h("p", {}, "Nothing to show yet."),
    bars.length
      ? h(
          "details",
          {},
          h("summary", {}, "Show as a table"),
          h(
            "table",
            {},
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "What"), h("th", { scope: "col" }, "Concerns"))),
            h(
              "tbody",
              {},
              bars.map((bar) => h("tr", {}, h("td", {}, bar.label), h("td", {}, String(bar.value)))),
            ),
          ),
        )
      : null,
  );
}
