// The viewer's evaluation overlay: with ?evaluation=ID in the file page's address, colours each
// drawn instance as a true positive, false positive or false negative of that evaluation, with
// the IoU and score thresholds adjustable here (the page matches again itself, COCO's greedy
// rule: predictions by score, each taking the unmatched reference of its frame and label with
// the highest IoU), and steps through the review queue ("next file with errors").
// It only adds classes to the viewer's shapes (g.inst[data-instance-id]), so it keeps working
// whatever the viewer draws and however it redraws (a MutationObserver re-applies them).
(function () {
  "use strict";
  const query = new URLSearchParams(location.search);
  const evaluation = query.get("evaluation");
  const where = location.pathname.match(/^\/ui\/p\/([^/]+)\/files\/(\d+)/);
  if (!evaluation || !/^\d+$/.test(evaluation) || !where) return;
  const project = where[1];
  const fileId = where[2];
  const base = `/ui/p/${project}`;

  const state = { on: true, iou: 0.5, score: 0, outcome: new Map(), data: null, panel: null,
    loading: false };
  // A video's outcomes come a window of frames at a time (data.frames = [first, last]).
  const viewer = document.getElementById("viewer");
  const isVideo = !!viewer && viewer.dataset.mediaType === "video";

  function node(tag, attrs, parent, text) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
    if (text != null) n.textContent = text;
    if (parent) parent.appendChild(n);
    return n;
  }

  // COCO's greedy rule over this file's pairs, at the chosen thresholds.
  function match() {
    const data = state.data;
    const byPred = new Map();
    for (const [d, g, iou] of data.pairs) {
      if (!byPred.has(d)) byPred.set(d, []);
      byPred.get(d).push([g, iou]);
    }
    for (const list of byPred.values()) list.sort((a, b) => (b[1] - a[1]) || (b[0] - a[0]));
    const preds = data.predictions.filter((p) => p.score >= state.score - 1e-12);
    preds.sort((a, b) => (b.score - a.score) || (a.id - b.id));
    const taken = new Set();
    const outcome = new Map();
    const counts = { tp: 0, fp: 0, fn: 0 };
    for (const p of preds) {
      let hit = null;
      for (const [g, iou] of byPred.get(p.id) || []) {
        if (iou < Math.min(state.iou, 1 - 1e-10) - 1e-12) break;
        if (!taken.has(g)) { hit = g; break; }
      }
      if (hit != null) { taken.add(hit); outcome.set(String(p.id), "tp"); counts.tp++; }
      else { outcome.set(String(p.id), "fp"); counts.fp++; }
    }
    for (const r of data.references) {
      const found = taken.has(r.id);
      outcome.set(String(r.id), found ? "tp" : "fn");
      if (!found) counts.fn++;
    }
    state.outcome = outcome;
    return counts;
  }

  const CLASSES = ["eval-tp", "eval-fp", "eval-fn", "eval-other"];
  function apply() {
    const overlay = document.getElementById("overlay");
    if (!overlay) return;
    if (isVideo && state.data && state.data.frames && overlay.dataset.frame) {
      const frame = Number(overlay.dataset.frame);
      const [first, last] = state.data.frames;
      if (frame < first || frame > last) { load(frame); return; }
    }
    const stage = document.getElementById("stage") || overlay;
    stage.classList.toggle("eval-on", state.on);
    for (const g of overlay.querySelectorAll("g.inst[data-instance-id]")) {
      const result = state.outcome.get(g.dataset.instanceId) || "other";
      for (const c of CLASSES) g.classList.toggle(c, c === `eval-${result}`);
      g.dataset.outcome = result;
    }
  }

  let pending = false;
  function later() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; apply(); });
  }

  function refresh(panel) {
    const counts = match();
    for (const key of ["tp", "fp", "fn"]) {
      panel.querySelector(`[data-eval-count="${key}"]`).textContent = String(counts[key]);
    }
    const span = panel.querySelector("#eval-frames");
    if (span && state.data.frames) {
      span.textContent = `frames ${state.data.frames[0]}–${state.data.frames[1]}`;
    }
    apply();
  }

  function slider(panel, id, label, min, max, value, onchange) {
    const row = node("label", { class: "slider" }, panel);
    node("span", {}, row, label);
    const input = node("input", { type: "range", id, min, max, step: "0.05",
      value: String(value) }, row);
    const out = node("output", { for: id }, row, Number(value).toFixed(2));
    input.addEventListener("input", () => {
      out.textContent = Number(input.value).toFixed(2);
      onchange(Number(input.value));
    });
    return input;
  }

  function panelFor(data) {
    const aside = document.querySelector(".sidebar") || document.querySelector("main");
    const panel = node("section", { class: "card", id: "eval-panel" });
    aside.insertBefore(panel, aside.firstChild);
    node("h2", {}, panel, `Evaluation #${evaluation}`);
    const toggleRow = node("label", {}, panel);
    const toggle = node("input", { type: "checkbox", id: "eval-toggle" }, toggleRow);
    toggle.checked = true;
    toggleRow.appendChild(document.createTextNode(" Colour by outcome"));
    toggle.addEventListener("change", () => { state.on = toggle.checked; apply(); });
    const legend = node("div", { class: "eval-legend" }, panel);
    const counts = node("div", { class: "eval-counts" }, panel);
    if (isVideo) node("span", { id: "eval-frames", class: "muted" }, panel);
    for (const [key, text] of [["tp", "TP"], ["fp", "FP"], ["fn", "FN"]]) {
      const item = node("span", {}, legend);
      node("i", { class: `sw-${key}` }, item);
      item.appendChild(document.createTextNode(text));
      const c = node("span", {}, counts, `${text} `);
      node("strong", { "data-eval-count": key }, c, "0");
    }
    slider(panel, "eval-iou", "IoU ≥", "0.1", "0.95", state.iou,
      (v) => { state.iou = v; refresh(panel); });
    slider(panel, "eval-score", "score ≥", "0", "1", state.score,
      (v) => { state.score = v; refresh(panel); });
    const nav = node("div", { class: "eval-nav" }, panel);
    node("a", { id: "eval-run", href: data.run_url }, nav, "← the run");
    if (data.next_file_id != null) {
      node("a", { id: "eval-next", href: `${base}/files/${data.next_file_id}?evaluation=${evaluation}` },
        nav, "Next file with errors →");
    } else {
      node("span", { id: "eval-next", class: "muted" }, nav, "no more files with errors");
    }
    return panel;
  }

  async function fetchData(frame) {
    const range = isVideo ? `?frame_start=${Math.max(0, frame)}` : "";
    const response = await fetch(`${base}/evaluations/${evaluation}/files/${fileId}.json${range}`,
      { credentials: "same-origin" });
    return response.ok ? response.json() : null;
  }

  async function load(frame) {
    if (state.loading) return;
    state.loading = true;
    try {
      const data = await fetchData(frame);
      if (data) { state.data = data; refresh(state.panel); }
    } finally {
      state.loading = false;
    }
  }

  async function start() {
    if (!document.querySelector('link[href="/ui/static/evaluate.css"]')) {
      node("link", { rel: "stylesheet", href: "/ui/static/evaluate.css" }, document.head);
    }
    const overlayNow = document.getElementById("overlay");
    const data = await fetchData(Number((overlayNow && overlayNow.dataset.frame) || 0));
    if (!data) return;
    state.data = data;
    state.iou = data.parameters.iou;
    state.score = data.parameters.score_min;
    const panel = panelFor(data);
    state.panel = panel;
    refresh(panel);
    const overlay = document.getElementById("overlay");
    if (overlay) {
      new MutationObserver(later).observe(overlay,
        { childList: true, subtree: true, attributes: true, attributeFilter: ["data-frame"] });
    }
    document.addEventListener("keydown", (event) => {
      const next = document.getElementById("eval-next");
      if (event.key !== "n" || event.ctrlKey || event.metaKey || event.altKey) return;
      const typing = /input|select|textarea/i.test((event.target && event.target.tagName) || "");
      if (next && next.href && !typing) location.href = next.href;
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
