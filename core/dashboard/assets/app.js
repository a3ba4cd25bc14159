// Tipbox queue dashboard. Plain JS, no build step. Every value from the
// server reaches the page through textContent (never innerHTML).
"use strict";
(() => {
  const API = document.body.dataset.api;
  const QAPI = "/api/v1/admin/queues";
  const KEY = "tipbox.dashboard.token";
  const STATES = ["waiting", "active", "delayed", "completed", "failed", "cancelled"];
  const S = { token: sessionStorage.getItem(KEY), session: null, stats: {}, minutes: {}, view: null, gen: 0, lastId: "", ctl: null };
  const $ = (s, r = document) => r.querySelector(s);

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "style") e.style.cssText = v; // CSSOM: allowed by the page's CSP, unlike a style attribute
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids.flat(Infinity)) if (k != null) e.append(k.nodeType ? k : String(k));
    return e;
  }
  const svg = (tag, attrs) => {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const when = (t) => (t ? new Date(t).toLocaleString() : "—");
  const enc = encodeURIComponent;
  const badge = (s) => el("span", { class: "badge s-" + s, "data-state": s }, s);

  function toast(msg, bad) {
    const t = $("#toast");
    t.textContent = msg;
    t.style.background = bad ? "#7a1f1a" : "";
    t.classList.add("show");
    clearTimeout(toast.t);
    toast.t = setTimeout(() => t.classList.remove("show"), 2500);
  }

  async function api(method, path, body) {
    const h = { Authorization: "Bearer " + S.token };
    if (body !== undefined) h["Content-Type"] = "application/json";
    const r = await fetch(path, { method, headers: h, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body) });
    if (r.status === 401) {
      signOut("The token was refused or has expired.");
      throw new Error("signed out");
    }
    const txt = await r.text();
    const data = txt ? JSON.parse(txt) : null;
    if (!r.ok) {
      const err = new Error((data && data.error && data.error.message) || r.statusText);
      err.status = r.status;
      throw err;
    }
    return data;
  }

  function confirmDialog(text) {
    const d = $("#confirm");
    $("#confirm-text").textContent = text;
    d.returnValue = "";
    d.showModal();
    // The close event is queued a task after the dialog closes: one that
    // arrives while the dialog is open again belongs to the previous
    // question and must not answer this one.
    return new Promise((res) => {
      const done = () => {
        if (d.open) return;
        d.removeEventListener("close", done);
        res(d.returnValue === "ok");
      };
      d.addEventListener("close", done);
    });
  }

  // act runs an admin action; destructive ones ask first.
  async function act(method, path, body, label, ask) {
    if (ask && !(await confirmDialog(ask))) return null;
    try {
      const out = await api(method, path, body);
      toast(label + (out && out.count != null ? ": " + out.count : ""));
      refreshCounts();
      return out || true;
    } catch (e) {
      if (e.message !== "signed out") toast(label + " failed: " + e.message, true);
      return null;
    }
  }

  // ---- sign-in ----
  async function signIn(token) {
    S.token = token;
    try {
      S.session = await api("GET", API + "/session");
    } catch (e) {
      S.token = null;
      return e.status === 403 ? "This token has neither the admin nor the viewer role." : e.message === "signed out" ? "The token was refused or has expired." : e.message;
    }
    sessionStorage.setItem(KEY, token);
    $("#who").textContent = "user " + S.session.userId + " · " + S.session.role;
    $("#signout").hidden = false;
    $("#signin").hidden = true;
    renderNav();
    stream();
    await refreshCounts(true);
    route();
    return "";
  }

  function signOut(msg) {
    sessionStorage.removeItem(KEY);
    S.token = S.session = null;
    S.gen++;
    if (S.ctl) S.ctl.abort();
    S.lastId = "";
    $("#who").textContent = "";
    $("#signout").hidden = true;
    $("#live").hidden = true;
    $("#nav").replaceChildren();
    $("#view").replaceChildren();
    $("#signin").hidden = false;
    $("#signin-error").textContent = msg || "";
    $("#token").focus();
  }

  // ---- live events: one stream for every queue ----
  // EventSource cannot send an Authorization header, so the stream is read
  // with fetch and parsed here; Last-Event-ID is sent on every reconnect.
  async function stream() {
    const my = ++S.gen;
    S.paused = false;
    let delay = 1000;
    while (S.session && my === S.gen) {
      const ctl = (S.ctl = new AbortController());
      try {
        const h = { Authorization: "Bearer " + S.token, Accept: "text/event-stream" };
        if (S.lastId) h["Last-Event-ID"] = S.lastId;
        const r = await fetch(API + "/events", { headers: h, signal: ctl.signal, cache: "no-store" });
        if (r.status === 401) return signOut("The token was refused or has expired.");
        if (r.ok) {
          setLive(true);
          if (S.lastId) refreshCounts();
          const rd = r.body.pipeThrough(new TextDecoderStream()).getReader();
          let buf = "", id = "", data = [];
          for (;;) {
            const { value, done } = await rd.read();
            if (done) break;
            buf += value;
            let i;
            while ((i = buf.indexOf("\n")) >= 0) {
              let line = buf.slice(0, i);
              buf = buf.slice(i + 1);
              if (line.endsWith("\r")) line = line.slice(0, -1);
              if (line === "") {
                if (id) S.lastId = id;
                if (data.length) for (const ev of JSON.parse(data.join("\n"))) dispatch(ev);
                data = [];
                continue;
              }
              if (line[0] === ":") continue;
              const c = line.indexOf(":");
              const f = c < 0 ? line : line.slice(0, c);
              let v = c < 0 ? "" : line.slice(c + 1);
              if (v[0] === " ") v = v.slice(1);
              if (f === "data") data.push(v);
              else if (f === "id") id = v;
              else if (f === "retry") delay = Number(v) || delay;
            }
          }
        }
      } catch (e) {
        if (my !== S.gen) return;
      }
      setLive(false);
      await sleep(delay);
    }
  }

  function setLive(on) {
    const l = $("#live");
    l.hidden = false;
    l.textContent = S.paused ? "paused" : on ? "live" : "reconnecting";
    l.classList.toggle("on", on && !S.paused);
    l.classList.toggle("paused", !!S.paused);
    l.setAttribute("aria-pressed", S.paused ? "true" : "false");
  }

  // The live badge pauses the stream (to read a busy list) and resumes it
  // from where it stopped: what happened meanwhile is replayed.
  function toggleLive() {
    if (!S.session) return;
    S.paused = !S.paused;
    if (S.paused) {
      S.gen++;
      if (S.ctl) S.ctl.abort();
      setLive(false);
    } else {
      stream();
    }
  }

  function dispatch(ev) {
    refreshCountsSoon();
    if (ev.state === "completed" || ev.state === "failed") bumpMinute(ev);
    if (S.view && S.view.onEvent) S.view.onEvent(ev);
  }

  // Counts are re-read after events, at most twice a second: never polled.
  let countsTimer = null, countsBusy = false, countsAgain = false;
  function refreshCountsSoon() {
    if (!countsTimer) countsTimer = setTimeout(() => { countsTimer = null; refreshCounts(); }, 250);
  }
  async function refreshCounts(first) {
    if (countsBusy) { countsAgain = true; return; }
    countsBusy = true;
    try {
      for (const s of await api("GET", QAPI)) S.stats[s.name] = s;
      if (!first && S.view && S.view.onCounts) S.view.onCounts();
    } catch (e) { /* shown on the next action */ }
    countsBusy = false;
    if (countsAgain) { countsAgain = false; refreshCountsSoon(); }
  }

  function bumpMinute(ev) {
    const m = S.minutes[ev.queue];
    if (!m) return;
    const at = Math.floor(Date.parse(ev.at) / 60000) * 60000;
    for (const r of [m.h, m.d]) {
      let last = r[r.length - 1];
      if (!last || last.t < at) r.push((last = { t: at, completed: 0, failed: 0 }));
      if (last.t === at) last[ev.state]++;
    }
    if (S.view && S.view.onMinutes) S.view.onMinutes(ev.queue);
  }

  // ---- navigation ----
  function renderNav() {
    const nav = $("#nav");
    nav.replaceChildren(el("a", { href: "#/" }, "Overview"), ...S.session.queues.map((q) => el("a", { href: "#/q/" + enc(q) + "/failed", "data-q": q }, q)));
  }
  function markNav(q) {
    for (const a of $("#nav").children) a.toggleAttribute("aria-current", (a.dataset.q || "") === (q || ""));
  }

  function route() {
    if (!S.session) return;
    const [p, qs] = (location.hash.slice(1) || "/").split("?");
    const parts = p.split("/").filter(Boolean).map(decodeURIComponent);
    const params = new URLSearchParams(qs || "");
    S.view = null;
    $("#toast").classList.remove("show");
    if (parts[0] === "q" && parts[1]) {
      markNav(parts[1]);
      if (parts[2] === "job" && parts[3]) return viewJob(parts[1], parts[3]);
      if (parts[2] === "schedulers") return viewSchedulers(parts[1]);
      return viewJobs(parts[1], STATES.includes(parts[2]) ? parts[2] : "failed", params.get("q") || "");
    }
    markNav("");
    viewOverview();
  }

  function show(...nodes) {
    $("#view").replaceChildren(...nodes);
  }

  // ---- overview ----
  function countsRow(q) {
    const s = S.stats[q] || {};
    return el("div", { class: "counts", "data-counts": q },
      STATES.filter((st) => st !== "cancelled").map((st) =>
        el("a", { class: "count", href: "#/q/" + enc(q) + "/" + st, "data-count": st }, el("b", {}, s[st] ?? "–"), el("span", {}, st))));
  }

  function pauseButton(q) {
    if (!S.session.canAct) return null;
    const paused = S.stats[q] && S.stats[q].paused;
    return el("button", { type: "button", "data-act": paused ? "resume" : "pause", onclick: async () => {
      const what = paused ? "resume" : "pause";
      if (await act("POST", QAPI + "/" + enc(q) + "/" + what, undefined, "Queue " + q + ": " + what,
        paused ? null : "Pause queue " + q + "? Workers stop taking its jobs.")) route();
    } }, paused ? "Resume" : "Pause");
  }

  function queueHead(q, title) {
    const s = S.stats[q] || {};
    return el("div", { class: "qhead" }, title, s.paused ? el("span", { class: "badge paused" }, "paused") : null, pauseButton(q));
  }

  async function loadMinutes(q) {
    const [h, d] = await Promise.all([api("GET", QAPI + "/" + enc(q) + "/metrics?range=1h"), api("GET", QAPI + "/" + enc(q) + "/metrics?range=24h")]);
    const conv = (r) => r.map((m) => ({ t: Date.parse(m.at), completed: m.completed, failed: m.failed }));
    S.minutes[q] = { h: conv(h), d: conv(d) };
  }

  // chart draws completed and failed jobs per bucket over span ms.
  function chart(rows, span, bucket, title) {
    const W = 300, H = 90, n = Math.round(span / bucket), now = Date.now();
    const start = Math.floor((now - span) / bucket) * bucket;
    const c = new Array(n + 1).fill(0), f = new Array(n + 1).fill(0);
    for (const r of rows) {
      const i = Math.floor((r.t - start) / bucket);
      if (i >= 0 && i <= n) { c[i] += r.completed; f[i] += r.failed; }
    }
    const max = Math.max(1, ...c, ...f);
    const pts = (a) => a.map((v, i) => ((i / n) * W).toFixed(1) + "," + (H - 14 - (v / max) * (H - 24)).toFixed(1)).join(" ");
    const s = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${title}: ${c.reduce((a, b) => a + b, 0)} completed, ${f.reduce((a, b) => a + b, 0)} failed` });
    s.append(svg("line", { class: "ax", x1: 0, x2: W, y1: H - 14, y2: H - 14 }), svg("polyline", { class: "c", points: pts(c) }), svg("polyline", { class: "f", points: pts(f) }));
    const t = svg("text", { x: 0, y: H - 2 }); t.textContent = title + " · max " + max + "/" + (bucket / 60000) + "m";
    s.append(t);
    return s;
  }

  function charts(q) {
    const m = S.minutes[q];
    const box = el("div", { "data-charts": q });
    if (!m) return box;
    box.append(el("div", { class: "charts" }, chart(m.h, 3600e3, 60e3, "last hour"), chart(m.d, 86400e3, 900e3, "last 24 h")),
      el("div", { class: "legend" }, el("i", { style: "background:var(--ok)" }), "completed", el("i", { style: "background:var(--bad)" }), "failed"));
    return box;
  }

  function throttle(fn, ms) {
    let t = null;
    return (...a) => { if (!t) t = setTimeout(() => { t = null; fn(...a); }, ms); };
  }

  async function viewOverview() {
    const queues = S.session.queues;
    const cards = {};
    const grid = el("div", { class: "grid" }, queues.map((q) => (cards[q] = el("section", { class: "card", "data-queue": q, "aria-label": "Queue " + q }))));
    const fill = (q) => cards[q].replaceChildren(queueHead(q, el("h2", {}, el("a", { href: "#/q/" + enc(q) + "/failed" }, q))), countsRow(q), charts(q),
      el("a", { href: "#/q/" + enc(q) + "/schedulers" }, "Schedulers"));
    const rt = el("section", { class: "card", id: "runtime", "aria-label": "Cache and realtime" });
    show(el("h1", {}, "Queues"), grid, rt);
    queues.forEach(fill);
    const redraw = {};
    const view = (S.view = {
      onCounts: () => queues.forEach((q) => { cards[q].querySelector("[data-counts]").replaceWith(countsRow(q)); }),
      onMinutes: (q) => (redraw[q] = redraw[q] || throttle(() => { const c = cards[q].querySelector("[data-charts]"); if (c) c.replaceWith(charts(q)); }, 500))(),
    });
    renderRuntime(rt);
    await Promise.all(queues.map((q) => loadMinutes(q).then(() => { if (S.view === view) fill(q); }).catch(() => {})));
  }

  async function renderRuntime(box) {
    let rt;
    try { rt = await api("GET", API + "/runtime"); } catch (e) { return; }
    const pct = (r) => (r == null ? "—" : (r * 100).toFixed(1) + " %");
    box.replaceChildren(
      el("div", { class: "qhead" }, el("h2", {}, "Cache and realtime"), el("button", { type: "button", onclick: () => renderRuntime(box) }, "Refresh")),
      el("p", {}, "Realtime: ", el("b", { "data-sockets": "" }, rt.realtime.connections), " sockets open, ", el("b", {}, rt.realtime.onlineUsers), " users online."),
      rt.caches.length === 0 ? el("p", { class: "muted" }, "No cache reads yet.") :
        el("div", { class: "tablewrap" }, el("table", {}, el("thead", {}, el("tr", {}, ["cache", "hit rate", "hits", "misses", "bypasses", "errors", "breaker"].map((h) => el("th", {}, h)))),
          el("tbody", {}, rt.caches.map((c) => el("tr", {}, el("td", {}, c.name), el("td", {}, pct(c.hitRate)), el("td", {}, c.hits), el("td", {}, c.misses),
            el("td", {}, c.bypasses), el("td", {}, c.errors), el("td", {}, el("span", { class: "badge " + (c.breaker === "closed" ? "s-completed" : "s-failed") }, c.breaker))))))));
  }

  // ---- jobs of a state ----
  function rowActions(q, j) {
    if (!S.session.canAct) return null;
    const base = QAPI + "/" + enc(q) + "/jobs/" + enc(j.id);
    const b = (name, label, method, path, ask) => el("button", { type: "button", "data-act": name, class: ask ? "danger" : null,
      onclick: async () => {
        if (!(await act(method, path, undefined, label + " " + j.id, ask)) || name !== "remove") return;
        // A removed job sends no event: take it off the page here.
        for (const tr of document.querySelectorAll("tr[data-id]")) if (tr.dataset.id === j.id) tr.remove();
        if (location.hash.includes("/job/")) location.hash = "#/q/" + enc(q) + "/" + j.state;
      } }, label);
    const s = j.state, out = [];
    if (s === "failed" || s === "cancelled") out.push(b("retry", "Retry", "POST", base + "/retry"));
    if (s === "delayed") out.push(b("promote", "Promote", "POST", base + "/promote"));
    if (s === "waiting" || s === "delayed" || s === "active") out.push(b("cancel", "Cancel", "POST", base + "/cancel", "Cancel job " + j.id + "?"));
    if (s !== "active") out.push(b("remove", "Remove", "DELETE", base, "Remove job " + j.id + " for good?"));
    return el("div", { class: "actions" }, out);
  }

  function jobRow(q, j, at) {
    const tr = el("tr", { "data-id": j.id, "data-at": at || "" });
    const payload = j.payload === undefined ? "" : JSON.stringify(j.payload);
    tr.append(
      el("td", { class: "id" }, el("a", { href: "#/q/" + enc(q) + "/job/" + enc(j.id) }, j.id)),
      el("td", {}, j.name),
      el("td", { class: "state" }, badge(j.state)),
      el("td", { class: "h-opt attempts" }, (j.attempts ?? "") + (j.maxAttempts ? "/" + j.maxAttempts : "")),
      el("td", { class: "h-opt id" }, payload.length > 80 ? payload.slice(0, 80) + "…" : payload),
      el("td", { class: "err", title: j.error || "" }, j.error || ""),
      el("td", { class: "h-opt" }, when(j.finishedAt || j.startedAt || j.enqueuedAt || at)),
      el("td", {}, rowActions(q, j)));
    return tr;
  }

  async function viewJobs(q, state, search) {
    const tbody = el("tbody");
    const rows = new Map();
    const more = el("button", { type: "button", class: "more", hidden: true }, "Load more");
    const note = el("p", { class: "muted", role: "status" });
    const input = el("input", { type: "search", id: "search", placeholder: "Search id, name, payload, error", value: search, "aria-label": "Search jobs" });
    const form = el("form", { class: "toolbar", role: "search", onsubmit: (e) => {
      e.preventDefault();
      location.hash = "#/q/" + enc(q) + "/" + state + (input.value ? "?q=" + enc(input.value) : "");
    } }, input, el("button", { type: "submit" }, "Search"));
    const bulk = [];
    if (S.session.canAct) {
      if (state === "failed") bulk.push(el("button", { type: "button", "data-act": "retry-failed", onclick: () => act("POST", QAPI + "/" + enc(q) + "/retry-failed", undefined, "Retried", "Retry every failed job of " + q + "?") }, "Retry all failed"));
      if (["completed", "failed", "cancelled"].includes(state)) {
        const age = el("select", { "aria-label": "Older than" }, ["0s", "1m", "1h", "24h", "168h"].map((v) => el("option", { value: v }, v === "0s" ? "any age" : "older than " + v)));
        bulk.push(age, el("button", { type: "button", class: "danger", "data-act": "clean", onclick: async () => {
          if (await act("POST", QAPI + "/" + enc(q) + "/clean", { state, olderThan: age.value }, "Removed", "Remove every " + state + " job of " + q + (age.value === "0s" ? "" : " older than " + age.value) + "?")) route();
        } }, "Clean " + state));
      }
    }
    const tabs = () => el("nav", { class: "tabs", "aria-label": "States" }, STATES.map((st) => el("a", { href: "#/q/" + enc(q) + "/" + st, "aria-current": st === state ? "page" : null },
      st + (S.stats[q] && S.stats[q][st] != null ? " " + S.stats[q][st] : ""))));
    let tabsEl = tabs();
    let table;
    show(queueHead(q, el("h1", {}, q + " · " + state)), tabsEl, form, el("div", { class: "toolbar" }, bulk),
      el("div", { class: "tablewrap" }, (table = el("table", { "aria-label": state + " jobs", "aria-busy": "true", "data-search": search }, el("thead", {}, el("tr", {}, ["id", "name", "state", "attempts", "payload", "error", "when", ""].map((h, i) => el("th", { class: [3, 4, 6].includes(i) ? "h-opt" : null }, h)))), tbody))),
      note, more);
    let cursor = "";
    const view = (S.view = {
      onCounts: () => { const t = tabs(); tabsEl.replaceWith(t); tabsEl = t; },
      onEvent: (ev) => {
        if (ev.queue !== q) return;
        let tr = rows.get(ev.jobId);
        if (tr) {
          const j = { ...tr._job, state: ev.state, attempts: ev.attempts, error: ev.error || (ev.state === "failed" ? tr._job.error : null) };
          const nt = jobRow(q, j, ev.at);
          nt._job = j;
          nt.classList.toggle("moved", ev.state !== state);
          nt.classList.add("flash");
          tr.replaceWith(nt);
          rows.set(ev.jobId, nt);
        } else if (ev.state === state && !search) {
          const j = { id: ev.jobId, name: ev.name, state: ev.state, attempts: ev.attempts, error: ev.error || null };
          tr = jobRow(q, j, ev.at);
          tr._job = j;
          tr.classList.add("flash");
          tbody.prepend(tr);
          rows.set(ev.jobId, tr);
          while (tbody.children.length > 200) { const last = tbody.lastElementChild; rows.delete(last.dataset.id); last.remove(); }
        }
      },
    });
    // A search answers in steps (the server searches for about 180 ms per
    // request and says "partial"): follow them, showing the progress,
    // until a page's worth is found, the jobs are all searched, or 10 s
    // have passed (then "Load more" searches on).
    const load = async () => {
      more.hidden = true;
      table.setAttribute("aria-busy", "true");
      try { await loadPages(); } finally { table.setAttribute("aria-busy", "false"); }
    };
    const loadPages = async () => {
      let added = 0, scanned = 0;
      const t0 = Date.now();
      for (;;) {
        let page;
        try {
          page = await api("GET", QAPI + "/" + enc(q) + "/jobs?state=" + state + "&limit=50" + (search ? "&q=" + enc(search) : "") + (cursor ? "&cursor=" + enc(cursor) : ""));
        } catch (e) { note.textContent = e.message; return; }
        if (S.view !== view) return;
        for (const j of page.jobs) {
          if (rows.has(j.id)) continue;
          const tr = jobRow(q, j);
          tr._job = j;
          tbody.append(tr);
          rows.set(j.id, tr);
          added++;
        }
        cursor = page.next || "";
        scanned += page.scanned || 0;
        if (!(page.partial && cursor && added < 50 && Date.now() - t0 < 10000)) {
          more.hidden = !cursor;
          note.textContent = rows.size === 0 && !cursor ? (search ? "No job matches." : "No " + state + " jobs.") :
            page.partial ? "Searched " + scanned + " jobs; Load more searches on." : "";
          return;
        }
        note.textContent = "Searching… " + scanned + " jobs examined" + (added ? ", " + added + " found" : "");
      }
    };
    more.addEventListener("click", load);
    await load();
  }

  // ---- one job ----
  async function viewJob(q, id) {
    let j;
    try {
      j = await api("GET", QAPI + "/" + enc(q) + "/jobs/" + enc(id));
    } catch (e) {
      return show(el("h1", {}, "Job " + id), el("p", { class: "error" }, e.message), el("a", { href: "#/q/" + enc(q) + "/failed" }, "Back to " + q));
    }
    const timeline = el("ol", { class: "timeline", "aria-label": "Timeline" });
    const add = (at, text) => timeline.append(el("li", {}, el("span", { class: "muted" }, when(at)), " ", text));
    if (j.enqueuedAt) add(j.enqueuedAt, "enqueued");
    if (j.runAt && j.runAt !== j.enqueuedAt) add(j.runAt, "due");
    if (j.startedAt) add(j.startedAt, "started (attempt " + j.attempts + ")");
    if (j.finishedAt) add(j.finishedAt, j.state);
    const body = el("div");
    const render = (j) => {
      body.replaceChildren(
        el("div", { class: "qhead" }, el("h1", {}, j.name + " "), badge(j.state), el("span", { "data-job-actions": "" }, rowActions(q, j))),
        el("div", { class: "card" },
          el("dl", { class: "kv" }, [["id", j.id], ["queue", el("a", { href: "#/q/" + enc(q) + "/" + j.state }, q)], ["priority", j.priority],
            ["attempts", j.attempts + " of " + j.maxAttempts], ["stalls", j.stalls], ["enqueued", when(j.enqueuedAt)], ["started", when(j.startedAt)],
            ["finished", when(j.finishedAt)], ["runs at", when(j.runAt)]].map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
          el("p", {}, "Progress " + j.progress + " %"),
          el("div", { class: "progress", role: "progressbar", "aria-label": "Progress", "aria-valuenow": j.progress, "aria-valuemin": 0, "aria-valuemax": 100 },
            el("div", { style: "width:" + Math.max(0, Math.min(100, j.progress)) + "%" }))),
        j.error ? el("section", {}, el("h2", {}, "Error"), el("pre", { class: "error-text" }, j.error)) : null,
        el("h2", {}, "Payload"), el("pre", {}, JSON.stringify(j.payload, null, 2)),
        el("h2", {}, "Logs"), j.logs.length ? el("ol", { class: "logs" }, j.logs.map((l) => el("li", {}, el("span", { class: "muted" }, when(l.at)), " ", l.message))) : el("p", { class: "muted" }, "No log lines."),
        el("h2", {}, "Timeline"), timeline);
    };
    render(j);
    show(el("p", {}, el("a", { href: "#/q/" + enc(q) + "/failed" }, "← " + q)), body);
    const reload = throttle(async () => {
      try { const nj = await api("GET", QAPI + "/" + enc(q) + "/jobs/" + enc(id)); if (S.view === view) render(nj); } catch (e) { /* gone */ }
    }, 300);
    const view = (S.view = {
      onEvent: (ev) => {
        if (ev.queue !== q || ev.jobId !== id) return;
        add(ev.at, ev.state + (ev.progress != null ? " " + ev.progress + " %" : "") + " (attempt " + ev.attempts + ")" + (ev.error ? ": " + ev.error : ""));
        reload();
      },
    });
  }

  // ---- schedulers ----
  async function viewSchedulers(q) {
    let list;
    try {
      list = await api("GET", QAPI + "/" + enc(q) + "/schedulers");
    } catch (e) {
      return show(el("h1", {}, q + " · schedulers"), el("p", { class: "muted" }, e.status === 501 ? "This queue backend keeps no schedules." : e.message));
    }
    show(el("h1", {}, q + " · schedulers"), list.length === 0 ? el("p", { class: "muted" }, "No schedules.") :
      el("div", { class: "tablewrap" }, el("table", {}, el("thead", {}, el("tr", {}, ["id", "job", "when", "next", "payload"].map((h) => el("th", {}, h)))),
        el("tbody", {}, list.map((s) => el("tr", {}, el("td", { class: "id" }, s.id), el("td", {}, s.name), el("td", {}, s.cron || (s.every ? "every " + s.every : "")),
          el("td", {}, when(s.next)), el("td", { class: "id" }, s.payload === undefined ? "" : JSON.stringify(s.payload))))))));
  }

  // ---- start ----
  $("#signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("#signin-error").textContent = (await signIn($("#token").value.trim())) || "";
    $("#token").value = "";
  });
  $("#signout").addEventListener("click", () => signOut(""));
  $("#live").addEventListener("click", toggleLive);
  window.addEventListener("hashchange", route);
  if (S.token) signIn(S.token).then((err) => { if (err) signOut(err); });
  else signOut("");
})();
