// The operator's dashboard: one Socket.IO connection to the /dashboard namespace (the sign-in
// cookie opens it). The first `dashboard-state` carries everything; later ones what is new in
// the charts and the log. All text goes through textContent, never innerHTML.
(() => {
  "use strict";

  const HISTORY = 600;  // samples, one a second
  const LOG_LINES = 500;
  const LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];
  const COUNTERS = [
    ["submitted", "asked"], ["completed", "answered"], ["failed", "failed"],
    ["requeued", "requeued"], ["retried", "retried"], ["rejected", "refused"],
    ["forged_results", "forged results"],
  ];

  const el = (id) => document.getElementById(id);
  let history = [];
  let logs = [];

  function node(tag, text, className) {
    const n = document.createElement(tag);
    if (text !== undefined && text !== null) n.textContent = String(text);
    if (className) n.className = className;
    return n;
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const cell of cells) tr.appendChild(cell instanceof Node ? wrap(cell) : node("td", cell));
    return tr;
  }

  function wrap(child) {
    const td = document.createElement("td");
    td.appendChild(child);
    return td;
  }

  function ms(value) {
    if (typeof value !== "number") return "—";
    return value < 1000 ? `${value} ms` : `${(value / 1000).toFixed(1)} s`;
  }

  function ago(timestampMs) {
    const seconds = Math.max(0, Math.round((Date.now() - timestampMs) / 1000));
    return seconds < 90 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`;
  }

  function pill(id, ok, good, bad) {
    const p = el(id);
    p.dataset.state = ok ? "ok" : "bad";
    p.textContent = ok ? good : bad;
  }

  // --- the parts of the page ---------------------------------------------------------
  function renderCounters(state) {
    const box = el("counters");
    box.replaceChildren();
    const items = [
      ["queue", state.queue_depth], ["oldest wait", `${Math.round(state.queue_oldest_seconds)} s`],
      ["retrying", state.tasks.retrying], ["in workers' hands", state.tasks.assigned],
      ...COUNTERS.map(([key, label]) => [label, state.tasks[key]]),
      ["sessions", state.sessions.sessions],
    ];
    for (const [label, value] of items) {
      const item = node("div", null, "counter");
      item.dataset.counter = label;
      item.append(node("span", value, "value"), node("span", label, "label"));
      box.appendChild(item);
    }
  }

  function renderWorkers(workers) {
    const body = el("workers").tBodies[0];
    body.replaceChildren();
    const sorted = [...workers].sort((a, b) =>
      (a.node || "").localeCompare(b.node || "") || a.worker_id.localeCompare(b.worker_id));
    for (const w of sorted) {
      const state = node("span", w.state, "state");
      state.dataset.state = w.state;
      const tr = row([w.node || "?", w.worker_id, w.language || "?", w.provider || "?", state,
        w.task_seconds === null ? "—" : `${w.task_seconds} s`, w.completed, ago(w.last_seen)]);
      tr.dataset.worker = w.worker_id;
      body.appendChild(tr);
    }
    if (!sorted.length) body.appendChild(row(["No worker has registered yet."]));
  }

  function renderTasks(tasks) {
    const body = el("tasks").tBodies[0];
    body.replaceChildren();
    for (const t of tasks) {
      const outcome = node("span", t.outcome === "answered" ? "answered" : `error: ${t.error}`,
        "outcome");
      outcome.dataset.outcome = t.outcome;
      body.appendChild(row([new Date(t.at).toLocaleTimeString(), t.session, t.worker || "—",
        t.attempts, ms(t.queue_wait_ms), ms(t.processing_ms), ms(t.latency_ms), outcome]));
    }
    if (!tasks.length) body.appendChild(row(["No task has finished yet."]));
  }

  // An SVG polyline of values over the sample times, scaled to the box.
  function chart(svgId, series, nowId, label) {
    const svg = el(svgId);
    svg.replaceChildren();
    const max = Math.max(1, ...series.flatMap((s) => s.values));
    for (const s of series) {
      const points = s.values.map((v, i) =>
        `${(i / (s.values.length - 1)) * 300},${80 - (v / max) * 76 - 2}`).join(" ");
      const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
      line.setAttribute("points", points);
      line.setAttribute("class", s.className);
      svg.appendChild(line);
    }
    el(nowId).textContent = label;
  }

  function renderCharts() {
    if (history.length < 2) return;
    const depth = history.map((s) => s.queue_depth);
    // Answers per second, averaged over 5 samples.
    const rate = history.map((s, i) => {
      const j = Math.max(0, i - 5);
      const seconds = (s.at - history[j].at) / 1000;
      return seconds > 0 ? (s.completed - history[j].completed) / seconds : 0;
    });
    const last = history[history.length - 1];
    chart("chart-queue", [{ values: depth, className: "line" }], "now-queue",
      `${last.queue_depth} waiting`);
    chart("chart-throughput", [{ values: rate, className: "line" }], "now-throughput",
      `${rate[rate.length - 1].toFixed(2)} / s`);
    chart("chart-workers", [
      { values: history.map((s) => s.online), className: "line faint" },
      { values: history.map((s) => s.busy), className: "line" },
    ], "now-workers", `${last.busy} of ${last.online} busy`);
  }

  function renderLog() {
    const min = LEVELS.indexOf(el("log-level").value);
    const source = el("log-source").value.trim().toLowerCase();
    const list = el("log");
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.replaceChildren();
    for (const line of logs) {
      if (LEVELS.indexOf(line.level) < min) continue;
      if (source && !String(line.source).toLowerCase().includes(source)) continue;
      const item = node("li", null, "log-line");
      item.dataset.level = line.level;
      item.append(node("time", new Date(line.timestamp).toLocaleTimeString()),
        node("span", line.level, "level"), node("span", line.source, "source"),
        node("span", line.message, "message"));
      list.appendChild(item);
    }
    if (nearBottom) list.scrollTop = list.scrollHeight;
  }

  // A push may repeat what an earlier one gave: only the lines and points newer than the last
  // ones shown are added. A connection's first state is whole (a restarted master counts anew).
  let whole = true;
  function apply(state) {
    if (whole) {
      history = [];
      logs = [];
      whole = false;
    }
    const lastAt = history.length ? history[history.length - 1].at : -Infinity;
    const lastSeq = logs.length ? logs[logs.length - 1].seq : -Infinity;
    history = history.concat(state.history.filter((s) => s.at > lastAt)).slice(-HISTORY);
    logs = logs.concat(state.logs.filter((l) => l.seq > lastSeq)).slice(-LOG_LINES);
    pill("broker", state.mqtt_connected, "broker connected", "broker unreachable");
    pill("journal", state.journal, "journal on", "no journal");
    renderCounters(state);
    renderWorkers(state.workers);
    renderTasks(state.recent_tasks);
    renderCharts();
    renderLog();
  }

  const socket = window.io("/dashboard");
  const link = el("link");
  socket.on("connect", () => { link.dataset.state = "ok"; link.textContent = "Live"; });
  socket.on("disconnect", () => {
    whole = true;
    link.dataset.state = "bad";
    link.textContent = "Reconnecting…";
  });
  socket.on("connect_error", (error) => {
    link.dataset.state = "bad";
    link.textContent = error && error.message ? error.message : "Not connected";
  });
  socket.on("dashboard-state", apply);
  el("log-level").addEventListener("change", renderLog);
  el("log-source").addEventListener("input", renderLog);
})();
