// The web chat: one Socket.IO connection to the master, one "entry" per question.
// Events follow protos/README.md: we emit `user-query` {query, api_key?, request_id} and
// `new-conversation`, and receive `session`, `conversation`, `task-queued`, `task-retrying`,
// `ai-chunk` (the answer growing), `ai-response` and `task-error`, matched to their question
// by request_id (or task_id). The master says which answered questions the model is given
// again with the next one (`context`); the page marks the others. All text from users or the LLM goes
// through textContent, never innerHTML.
(() => {
  "use strict";

  const STORAGE = {
    session: "ai-system.session-id",
    token: "ai-system.session-token",
    apiKey: "ai-system.api-key",
    conversation: "ai-system.conversation",
  };
  const MAX_ENTRIES = 100;
  // After a stopping master's goodbye: by then it no longer takes connections.
  const SERVER_GOODBYE_RECONNECT_MS = 1000;
  const STATUS_TEXT = {
    connecting: "Connecting…",
    connected: "Connected",
    reconnecting: "Reconnecting…",
    disconnected: "Disconnected",
  };

  const el = (id) => document.getElementById(id);
  const ui = {
    status: el("status"),
    session: el("session-id"),
    messages: el("messages"),
    emptyHint: el("empty-hint"),
    form: el("composer"),
    query: el("query"),
    send: el("send"),
    count: el("char-count"),
    tooLong: el("too-long"),
    apiKey: el("api-key"),
    banner: el("banner"),
    strip: el("system-strip"),
    forgetKey: el("forget-key"),
    newConversation: el("new-conversation"),
    keyProviders: el("key-providers"),
    keyUse: el("key-use"),
    contextNote: el("context-note"),
  };
  // Not the textarea's maxlength: that cuts a long paste without a word.
  const maxChars = Number(ui.query.dataset.maxChars) || 4000;
  // After this long without a chunk, a streamed answer is written and the worker finishes.
  const QUIET_CHUNKS_MS = 1500;

  // localStorage can be missing or full (private windows); the chat still works without it.
  const storage = {
    get(key) {
      try { return window.localStorage.getItem(key); } catch { return null; }
    },
    set(key, value) {
      try { window.localStorage.setItem(key, value); } catch { /* not persisted */ }
    },
    remove(key) {
      try { window.localStorage.removeItem(key); } catch { /* nothing stored */ }
    },
  };

  // crypto.randomUUID needs a secure context; the lab serves plain http.
  function newRequestId() {
    const bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return "r-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // --- the conversation model ---------------------------------------------------------
  // entry: {id, session, query, taskId, state: sending|queued|running|retrying|done|error,
  //         position, retry, answer, meta, error, at}; `view` holds its DOM nodes (not stored).
  // The id is public (shown on the page); the token is the secret that resumes the session.
  let sessionId = storage.get(STORAGE.session) || "";
  let sessionToken = storage.get(STORAGE.token) || "";
  let masterInstance = null;  // the instance_id of the master we are connected to
  const entries = [];
  const byId = new Map();
  const byTask = new Map();
  // Request and task ids of a conversation the user has left: their late events are dropped.
  const left = new Set();
  // The task ids of the answers the model is given again, as the master last said; null
  // until it has.
  let context = null;

  function loadConversation() {
    let saved = [];
    try { saved = JSON.parse(storage.get(STORAGE.conversation) || "[]"); } catch { saved = []; }
    if (!Array.isArray(saved)) saved = [];
    for (const data of saved) {
      if (!data || typeof data.id !== "string") continue;
      // Never acknowledged by the master: the page closed before the question went out.
      if (data.state === "sending") {
        Object.assign(data, { state: "error", error: "This question was not sent. Please ask again." });
      }
      addEntry(data);
    }
  }

  function saveConversation() {
    while (entries.length > MAX_ENTRIES) {
      const old = entries.shift();
      byId.delete(old.id);
      if (old.taskId) byTask.delete(old.taskId);
      old.view.row.remove();
    }
    const plain = entries.map(({ view, partial, partialAttempt, partialSeq, ...data }) => (
      data.state === "streaming" ? { ...data, state: "running" } : data));
    storage.set(STORAGE.conversation, JSON.stringify(plain));
  }

  function addEntry(data) {
    const entry = { ...data, view: renderEntry(data) };
    entries.push(entry);
    byId.set(entry.id, entry);
    if (entry.taskId) byTask.set(entry.taskId, entry);
    updateReply(entry);
    return entry;
  }

  // An event names its question by request_id (ours) or task_id; an answer for a question
  // this page never saw (asked from another tab with the same session) gets its own entry.
  function findEntry(payload, createIfMissing) {
    if (left.has(payload.request_id) || left.has(payload.task_id)) return null;
    let entry = (payload.request_id && byId.get(payload.request_id))
      || (payload.task_id && byTask.get(payload.task_id));
    if (!entry && createIfMissing) {
      entry = addEntry({
        id: payload.request_id || "task-" + (payload.task_id || newRequestId()),
        session: sessionId, query: null, taskId: null, state: "running", at: Date.now(),
      });
    }
    if (entry && payload.task_id && entry.taskId !== payload.task_id) {
      entry.taskId = payload.task_id;
      byTask.set(payload.task_id, entry);
    }
    return entry;
  }

  function isPending(entry) {
    return ["sending", "queued", "running", "retrying", "streaming"].includes(entry.state);
  }

  function update(entry, changes) {
    Object.assign(entry, changes);
    updateReply(entry);
    saveConversation();
    updateStrip();
  }

  // --- rendering ----------------------------------------------------------------------
  function node(tag, className, text) {
    const n = document.createElement(tag);
    if (className) n.className = className;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function renderEntry(entry) {
    const row = node("section", "exchange");
    if (entry.query !== null && entry.query !== undefined) {
      const question = node("div", "message question");
      question.appendChild(node("p", "message-text", entry.query));
      row.appendChild(question);
    }
    const reply = node("div", "message reply");
    row.appendChild(reply);
    ui.emptyHint.hidden = true;
    const nearBottom = isNearBottom();
    ui.messages.appendChild(row);
    if (nearBottom) scrollToBottom();
    return { row, reply };
  }

  function formatMs(ms) {
    if (typeof ms !== "number" || !Number.isFinite(ms)) return "—";
    return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  }

  function metaItem(field, label, value) {
    const item = node("span", "meta-item");
    item.dataset.field = field;
    item.appendChild(node("span", "meta-label", label + " "));
    item.appendChild(node("span", "meta-value", value));
    return item;
  }

  function renderMeta(meta) {
    const box = node("div", "meta");
    const provider = meta.model ? `${meta.provider || "?"} / ${meta.model}` : (meta.provider || "?");
    box.append(
      metaItem("worker", "worker", meta.worker_id || "?"),
      metaItem("node", "node", meta.node || "?"),
      metaItem("provider", "provider", provider),
      metaItem("processing", "processing", formatMs(meta.processing_time_ms)),
      metaItem("queue-wait", "queue wait", formatMs(meta.queue_wait_ms)),
    );
    return box;
  }

  function pendingText(entry) {
    if (entry.state === "sending") return "Sending…";
    if (entry.state === "queued" && entry.position) {
      return `Queued: position ${entry.position}. Waiting for an idle worker…`;
    }
    if (entry.state === "retrying" && entry.retry) {
      const { attempt, max_attempts: max, error } = entry.retry;
      return `Attempt ${attempt} of ${max} failed (${error}). Trying again…`;
    }
    return "A worker is answering…";
  }

  function elapsed(entry) {
    return `${Math.max(0, Math.round((Date.now() - (entry.at || Date.now())) / 1000))} s`;
  }

  // The streamed text may be whole long before the answer is: the worker still works.
  function streamingText(entry) {
    return Date.now() - (entry.lastChunkAt || 0) < QUIET_CHUNKS_MS
      ? `Writing… ${elapsed(entry)}`
      : `Still working: the worker finishes its answer (${elapsed(entry)} so far)…`;
  }

  function updateReply(entry) {
    const reply = entry.view.reply;
    const nearBottom = isNearBottom();
    reply.replaceChildren();
    reply.className = "message reply";
    reply.dataset.requestId = entry.id;
    if (entry.taskId) reply.dataset.taskId = entry.taskId;
    const outside = entry.state === "done" && context !== null && !context.has(entry.taskId);
    entry.view.row.classList.toggle("outside-context", outside);
    if (entry.state === "done") {
      reply.classList.add("answer");
      reply.appendChild(renderMarkdown(entry.answer || ""));
      reply.appendChild(renderMeta(entry.meta || {}));
      if (outside) {
        reply.appendChild(node("p", "outside-note",
          "Outside the conversation the model sees: new questions are asked without this one."));
      }
    } else if (entry.state === "streaming") {
      reply.classList.add("pending", "streaming");
      const partial = node("p", "message-text partial", entry.partial || "");
      partial.appendChild(node("span", "cursor"));
      reply.appendChild(partial);
      reply.appendChild(node("span", "progress-text still-working", streamingText(entry)));
    } else if (entry.state === "error") {
      reply.classList.add("error");
      reply.setAttribute("role", "alert");
      reply.appendChild(node("p", "message-text", entry.error || "The question failed."));
    } else {
      reply.classList.add("pending", entry.state);
      reply.appendChild(node("span", "spinner"));
      reply.appendChild(node("span", "progress-text", `${pendingText(entry)} ${elapsed(entry)}`));
    }
    if (nearBottom) scrollToBottom();
  }

  // --- answers as Markdown ------------------------------------------------------------
  // Raw HTML in an answer stays text (an LLM may quote a user's markup: it must stay inert),
  // and DOMPurify cleans what marked makes, as a second fence.
  const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const markdown = window.marked ? new window.marked.Marked({
    gfm: true,
    breaks: true,
    renderer: { html: (token) => escapeHtml(token.text || token.raw || "") },
  }) : null;
  if (window.DOMPurify) {
    window.DOMPurify.addHook("afterSanitizeAttributes", (el) => {
      if (el.tagName === "A") {
        el.setAttribute("target", "_blank");
        el.setAttribute("rel", "noopener noreferrer");
      }
    });
  }

  function renderMarkdown(text) {
    const box = node("div", "message-text markdown");
    if (!markdown || !window.DOMPurify) {
      box.textContent = text;  // the libraries did not load: plain text is still right
      return box;
    }
    box.innerHTML = window.DOMPurify.sanitize(markdown.parse(text), { USE_PROFILES: { html: true } });
    for (const block of box.querySelectorAll("pre")) {
      const copy = node("button", "copy", "Copy");
      copy.type = "button";
      copy.addEventListener("click", () => {
        const code = block.querySelector("code") || block;
        navigator.clipboard?.writeText(code.textContent).then(
          () => { copy.textContent = "Copied"; },
          () => { copy.textContent = "Copy failed"; });
      });
      block.prepend(copy);
    }
    return box;
  }

  function isNearBottom() {
    const m = ui.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
  }

  function scrollToBottom() {
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function setContext(ids) {
    if (!Array.isArray(ids)) return;
    context = new Set(ids);
    for (const entry of entries) if (entry.state === "done") updateReply(entry);
    const n = context.size;
    ui.contextNote.textContent = n
      ? `The model sees your last ${n === 1 ? "question" : `${n} questions`} and ${n === 1 ? "its answer" : "their answers"} with the next one.`
      : "A new conversation: the next question goes alone.";
  }

  function setStatus(state) {
    ui.status.dataset.state = state;
    ui.status.textContent = STATUS_TEXT[state];
    updateBanner();
  }

  // --- what the page knows of the system: the status strip and the banner -------------
  let system = null;  // the last /api/status, or null while unknown

  function updateBanner() {
    let text = "";
    if (ui.status.dataset.state !== "connected") {
      text = "The server is unreachable. Questions you send now go out when it is back.";
    } else if (system && system.mqtt_connected === false) {
      text = "The server has lost its message broker: answers are delayed until it is back.";
    } else if (system && system.online === 0) {
      text = "No worker is online: questions wait in the queue until one registers.";
    }
    ui.banner.textContent = text;
    ui.banner.hidden = !text;
  }

  function updateStrip() {
    const waiting = entries.filter((e) => e.state === "queued" && e.position)
      .map((e) => e.position);
    const parts = [];
    if (system) parts.push(`${system.online} worker${system.online === 1 ? "" : "s"} online`);
    // The status is polled; our own place in the queue is newer: at least that many wait.
    if (system) parts.push(`${Math.max(system.queued, ...waiting)} waiting`);
    if (waiting.length) parts.push(`your next question: position ${Math.min(...waiting)}`);
    ui.strip.textContent = parts.join(" · ");
  }

  async function refreshSystem() {
    try {
      const response = await fetch("api/status", { cache: "no-store" });
      const data = await response.json();
      const online = (data.workers || []).filter((w) => w.state !== "offline");
      system = {
        mqtt_connected: data.mqtt_connected,
        online: online.length,
        queued: data.queue_depth || 0,
        keyProviders: [...new Set(online.map((w) => w.user_key_provider).filter(Boolean))].sort(),
      };
    } catch {
      system = null;
    }
    updateBanner();
    updateStrip();
    updateKeyLabel();
  }

  const PROVIDER_NAMES = { gemini: "Gemini", openai: "OpenAI", deepseek: "DeepSeek" };

  // Which provider a typed key is for: the workers say where they send one.
  function updateKeyLabel() {
    const names = (system ? system.keyProviders : []).map((p) => PROVIDER_NAMES[p] || p);
    ui.keyProviders.textContent = names.length ? ` for ${names.join(" or ")}` : "";
    ui.keyUse.textContent = names.length > 1
      ? ": the worker that takes it uses it with its own provider, so give a key that one accepts"
      : names.length ? ` to ${names[0]}` : "";
  }

  let refreshTimer = null;
  function refreshSoon() {
    if (refreshTimer === null) {
      refreshTimer = window.setTimeout(() => { refreshTimer = null; refreshSystem(); }, 500);
    }
  }

  function updateComposer() {
    const length = ui.query.value.length;
    ui.count.textContent = `${length} / ${maxChars}`;
    ui.count.classList.toggle("near-limit", length > maxChars * 0.9);
    ui.send.disabled = ui.query.value.trim().length === 0 || length > maxChars;
    ui.tooLong.hidden = length <= maxChars;
    ui.tooLong.textContent = length > maxChars
      ? `Your question is ${length} characters long; the limit is ${maxChars}. Shorten it to send it.`
      : "";
    // Grow with the text up to the CSS max-height.
    ui.query.style.height = "auto";
    ui.query.style.height = ui.query.scrollHeight + "px";
  }

  // --- the connection -----------------------------------------------------------------
  // `auth` as a function: every reconnection presents the current session token, so answers
  // that arrived while we were away are delivered. Closing on unload tells the master at
  // once that we left, so it keeps our answers instead of sending them to a dead socket.
  const socket = window.io({
    auth: (cb) => cb(sessionToken ? { session_token: sessionToken } : {}),
    closeOnBeforeunload: true,
  });

  socket.on("connect", () => setStatus("connected"));
  socket.on("disconnect", (reason) => {
    if (reason === "io server disconnect") {
      // A master that stops (an update, a restart) sends its browsers away, and Socket.IO
      // does not come back after that by itself; the next master holds our session.
      setTimeout(() => socket.connect(), SERVER_GOODBYE_RECONNECT_MS);
      setStatus("reconnecting");
      return;
    }
    setStatus(socket.active ? "reconnecting" : "disconnected");
  });
  socket.on("connect_error", () => setStatus(socket.active ? "reconnecting" : "disconnected"));
  socket.io.on("reconnect_failed", () => setStatus("disconnected"));

  socket.on("session", (payload) => {
    if (!payload || typeof payload.session_id !== "string") return;
    const previous = sessionId;
    sessionId = payload.session_id;
    sessionToken = typeof payload.session_token === "string" ? payload.session_token : "";
    masterInstance = payload.instance_id || null;
    storage.set(STORAGE.session, sessionId);
    storage.set(STORAGE.token, sessionToken);
    ui.session.textContent = sessionId;
    // A new session (the master forgot ours) cannot receive answers to the old one's questions.
    for (const entry of entries) {
      if (!isPending(entry)) continue;
      if (previous && previous !== sessionId && entry.session === previous) {
        update(entry, {
          state: "error",
          error: "The server started a new session, so this answer cannot arrive. Please ask again.",
        });
      } else if (entry.instance && masterInstance && entry.instance !== masterInstance) {
        update(entry, {
          state: "error",
          error: "The server lost its record of this question, so this answer cannot arrive. Please ask again.",
        });
      }
    }
  });

  socket.on("conversation", (payload) => setContext(payload && payload.context));

  socket.on("task-queued", (payload) => {
    const entry = payload && findEntry(payload, false);
    if (entry && isPending(entry)) update(entry, { state: "queued", position: payload.position });
    refreshSoon();
  });

  socket.on("task-retrying", (payload) => {
    const entry = payload && findEntry(payload, false);
    if (entry && isPending(entry)) update(entry, { state: "retrying", retry: payload });
  });

  // Chunks are deltas of the current attempt, in order; a new attempt starts over. One lost
  // on the way (a reconnection) is shown as a gap, and the text goes on. They are not
  // stored: the final ai-response replaces them.
  socket.on("ai-chunk", (payload) => {
    const entry = payload && findEntry(payload, false);
    if (!entry || !isPending(entry) || typeof payload.text !== "string") return;
    if (entry.state !== "streaming" || entry.partialAttempt !== payload.attempt) {
      Object.assign(entry, { state: "streaming", partial: "", partialAttempt: payload.attempt,
        partialSeq: 0 });
    }
    if (payload.seq < entry.partialSeq) return;  // a repeat
    if (payload.seq > entry.partialSeq) entry.partial += " … ";
    entry.partial += payload.text;
    entry.partialSeq = payload.seq + 1;
    entry.lastChunkAt = Date.now();
    updateReply(entry);
  });

  socket.on("ai-response", (payload) => {
    if (!payload) return;
    const entry = findEntry(payload, true);
    if (!entry || entry.state === "done") return;  // at-least-once delivery: the first answer
    update(entry, {
      state: "done",
      answer: payload.response,
      meta: {
        worker_id: payload.worker_id,
        node: payload.node,
        provider: payload.provider,
        model: payload.model,
        processing_time_ms: payload.processing_time_ms,
        queue_wait_ms: payload.queue_wait_ms,
      },
    });
    setContext(payload.context);
  });

  socket.on("task-error", (payload) => {
    if (!payload) return;
    const entry = findEntry(payload, true);
    if (entry && entry.state !== "done") update(entry, { state: "error", error: payload.error });
  });

  // --- sending ------------------------------------------------------------------------
  function send() {
    const query = ui.query.value;
    if (!query.trim() || query.length > maxChars) return;
    const entry = addEntry({
      id: newRequestId(), session: sessionId, query, taskId: null, state: "sending",
      at: Date.now(),
    });
    saveConversation();
    ui.query.value = "";
    updateComposer();
    scrollToBottom();

    const payload = { query, request_id: entry.id };
    const apiKey = ui.apiKey.value.trim();
    if (apiKey) payload.api_key = apiKey;
    // Emits made while disconnected are buffered by the client and sent on reconnection.
    socket.emit("user-query", payload, (ack) => {
      if (ack && ack.error) {
        update(entry, { state: "error", error: ack.error });
      } else if (ack && ack.task_id) {
        entry.instance = masterInstance;  // the journal that holds the task
        findEntry({ request_id: entry.id, task_id: ack.task_id }, false);
        if (entry.state === "sending") update(entry, { state: "running" });
        else saveConversation();
      }
    });
  }

  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  ui.query.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  ui.query.addEventListener("input", updateComposer);

  ui.apiKey.value = storage.get(STORAGE.apiKey) || "";
  ui.apiKey.addEventListener("input", () => {
    const key = ui.apiKey.value.trim();
    if (key) storage.set(STORAGE.apiKey, key);
    else storage.remove(STORAGE.apiKey);
  });
  ui.forgetKey.addEventListener("click", () => {
    ui.apiKey.value = "";
    storage.remove(STORAGE.apiKey);
  });

  // The master forgets the conversation first (the ack), then the page does.
  ui.newConversation.addEventListener("click", () => {
    ui.newConversation.disabled = true;
    socket.emit("new-conversation", {}, (ack) => {
      ui.newConversation.disabled = false;
      if (!ack || ack.error) {
        ui.contextNote.textContent = (ack && ack.error) || "The server did not start a new conversation.";
        return;
      }
      for (const entry of entries) {
        entry.view.row.remove();
        left.add(entry.id);
        if (entry.taskId) left.add(entry.taskId);
      }
      entries.length = 0;
      byId.clear();
      byTask.clear();
      storage.remove(STORAGE.conversation);
      ui.emptyHint.hidden = false;
      setContext(ack.context);
      updateStrip();
    });
  });

  // The time so far of every question still waiting, once a second.
  window.setInterval(() => {
    for (const entry of entries) if (isPending(entry)) updateReply(entry);
  }, 1000);

  refreshSystem();
  window.setInterval(refreshSystem, 10000);
  if (sessionId) ui.session.textContent = sessionId;
  loadConversation();
  updateComposer();
  scrollToBottom();
})();
