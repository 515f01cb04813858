// The analytics page's charts, drawn with uPlot (static/build/uplot/, from config/assets.py) from
// the figures the page carries as JSON (#analytics-charts, written by analytics/views.py). Each
// chart has its table beside it on the page; this only draws. Drawn again when HTMX swaps the
// figures in, and when the chart's box changes width (a phone turned, a sidebar opened).
(() => {
  const COLORS = ["#4f46e5", "#0ea5e9", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#64748b"];
  const HEIGHT = 220;
  const drawn = new Map(); // element: {plot, observer}

  const format = (value, unit) => {
    if (value == null) return "—";
    if (unit === "ms") return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(2)} s`;
    if (unit === "%") return `${value.toFixed(1)} %`;
    return Math.round(value).toLocaleString();
  };

  // Stacked bars: each series is drawn from zero to the sum of those below it and itself, the
  // tallest first, so that each one shows its own part; the legend shows each series' own value.
  const stack = (series) => {
    const sums = [];
    let below = series[0].values.map(() => 0);
    for (const s of series) {
      below = s.values.map((v, i) => below[i] + (v || 0));
      sums.push(below);
    }
    return sums;
  };

  function options(spec, width) {
    const count = spec.labels.length;
    const byTime = Array.isArray(spec.times);
    const widest = Math.max(...spec.labels.map((label) => label.length));
    const grouped = !spec.stacked && spec.series.length > 1;
    const series = spec.series.map((s, index) => ({
      label: s.label,
      stroke: COLORS[index % COLORS.length],
      fill: COLORS[index % COLORS.length],
      width: 0,
      value: (u, v, seriesIndex, row) => format(row == null ? null : s.values[row], spec.unit),
      paths: uPlot.paths.bars({
        size: [grouped ? 0.8 / spec.series.length : 0.8, 64],
        align: grouped ? (index === 0 ? -1 : 1) : 0,
      }),
      points: { show: false },
    }));
    const step = byTime && count > 1 ? spec.times[1] - spec.times[0] : 1;
    const first = byTime ? spec.times[0] : 0;
    const last = byTime ? spec.times[count - 1] : count - 1;
    return {
      width,
      height: HEIGHT,
      series: [
        {
          label: spec.axis,
          value: (u, v, seriesIndex, row) => (row == null ? "" : spec.labels[row]),
        },
        ...(spec.stacked ? series.slice().reverse() : series),
      ],
      scales: {
        x: { time: byTime, range: () => [first - step / 2, last + step / 2] },
        y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] },
      },
      axes: [
        byTime
          ? { space: 60 }
          : {
              // One tick per bar where its label fits, every other one (or fewer) where not.
              space: Math.max(24, widest * 6 + 8),
              incrs: [1, 2, 3, 5, 10, 20, 50],
              values: (u, splits) => splits.map((i) => (Number.isInteger(i) ? spec.labels[i] ?? "" : "")),
            },
        {
          values: (u, splits) => splits.map((v) => format(v, spec.unit)),
          size: spec.unit ? 64 : 44,
          // Counts are whole: no tick at 2.5 sessions.
          ...(spec.unit ? {} : { incrs: [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 1e4, 1e5, 1e6] }),
        },
      ],
      legend: { live: true },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
    };
  }

  function data(spec) {
    const x = Array.isArray(spec.times) ? spec.times : spec.labels.map((_, i) => i);
    if (!spec.stacked) return [x, ...spec.series.map((s) => s.values)];
    return [x, ...stack(spec.series).reverse()];
  }

  function draw(element, spec) {
    forget(element);
    const width = Math.max(element.clientWidth, 200);
    const plot = new uPlot(options(spec, width), data(spec), element);
    const observer = new ResizeObserver(() => {
      const now = Math.max(element.clientWidth, 200);
      if (now !== plot.width) plot.setSize({ width: now, height: HEIGHT });
    });
    observer.observe(element);
    drawn.set(element, { plot, observer });
  }

  function forget(element) {
    const chart = drawn.get(element);
    if (chart) {
      chart.observer.disconnect();
      chart.plot.destroy();
      drawn.delete(element);
    }
    element.replaceChildren();
  }

  function drawAll() {
    for (const element of drawn.keys()) if (!element.isConnected) forget(element);
    const source = document.getElementById("analytics-charts");
    if (!source || typeof uPlot === "undefined") return;
    for (const spec of JSON.parse(source.textContent)) {
      const element = document.querySelector(`[data-chart="${spec.key}"]`);
      if (element) draw(element, spec);
    }
  }

  // htmx says so of the page once loaded (htmx is deferred: it runs after this file), and of each
  // region it swaps in after, the filtered figures among them.
  document.addEventListener("htmx:load", (event) => {
    if (event.target.querySelector("[data-chart]")) drawAll();
  });
  document.addEventListener("htmx:historyRestore", drawAll);
})();
