// The file viewer: every instance drawn in its label's colour as SVG over the media.
// Data from the page and the server is only ever put in the DOM with textContent and
// setAttribute: a label named "<img onerror=...>" stays text.
//
// Reviewing (images and video frames): zoom and pan (one CSS transform on the box that holds
// both the media and the SVG, so shapes stay on their pixels), the label name beside each
// shape, a score threshold and filters by model / model run / machine-made (instances are
// hidden, not dropped: `window.labelportViewer.instances()` keeps them all), keyboard access.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const file = data.file;
  const labels = new Map(data.labels.map((l) => [l.id, l]));
  const hidden = new Set();
  const overlay = document.getElementById("overlay");
  const note = document.getElementById("note");
  const WINDOW = 30; // video frames fetched per request
  const W = file.width || 1;
  const H = file.height || 1;
  const dot = Math.max(W, H) / 160; // point and node radius in media pixels
  const NAME_PX = 12; // a label name's size on screen, at any zoom
  const review = { threshold: 0, model: "", run: "", made: "" };
  let shown = []; // the instances of the image or the current frame, all of them (filters hide)
  let strokeHook = null; // see labelportViewer.setStrokeColour

  // -- helpers ----------------------------------------------------------------------------

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }

  function colourOf(inst) {
    const label = labels.get(inst.label_id);
    return label ? label.colour : "#888888";
  }

  // The colour a shape is drawn in: its label's, unless a hook (e.g. an evaluation's TP/FP/FN
  // colouring) decides otherwise for this instance (return null to keep the label's).
  function strokeColour(inst) {
    const decided = strokeHook ? strokeHook(inst) : null;
    return decided || colourOf(inst);
  }

  function nameOf(inst) {
    const label = labels.get(inst.label_id);
    return label ? label.name : "(no label)";
  }

  function showNote(text) {
    note.textContent = text || "";
    note.hidden = !text;
  }

  function pts(list) {
    return list.map((p) => `${p.x},${p.y}`).join(" ");
  }

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`${response.status} ${url}`);
    return response.json();
  }

  // -- details of one instance -------------------------------------------------------------

  const details = document.getElementById("details");
  const hint = document.getElementById("details-hint");
  let selected = null;

  function showDetails(inst, group) {
    if (selected) selected.classList.remove("selected");
    selected = group || null;
    if (selected) selected.classList.add("selected");
    details.replaceChildren();
    hint.hidden = true;
    const rows = [
      ["label", nameOf(inst)],
      ["type", inst.type],
      ["score", inst.score == null ? "–" : String(inst.score)],
      ["model", inst.model || "–"],
      ["machine made", inst.machine_made ? "yes" : "no"],
    ];
    if (inst.frame != null) rows.push(["frame", String(inst.frame)]);
    if (inst.number != null) rows.push(["sequence", `#${inst.number}`]);
    if (inst.external_id) rows.push(["id", inst.external_id]);
    rows.push(["instance", String(inst.id)]);
    const attrs = inst.attributes || {};
    for (const [k, v] of Object.entries(attrs)) rows.push([`attribute ${k}`, describe(v)]);
    for (const [k, v] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      if (k === "label") {
        dd.classList.add("with-swatch");
        dd.prepend(swatch(colourOf(inst)));
      }
      details.append(dt, dd);
    }
  }

  function describe(value) {
    if (value && typeof value === "object") {
      if (!Array.isArray(value) && (value.display_name || value.name)) {
        return String(value.display_name || value.name);
      }
      return JSON.stringify(value);
    }
    return String(value);
  }

  function swatch(colour) {
    const s = document.createElementNS(SVG, "svg");
    s.setAttribute("class", "swatch");
    s.setAttribute("viewBox", "0 0 10 10");
    el("rect", { width: 10, height: 10, rx: 2, fill: colour }, s);
    return s;
  }

  function tooltip(inst) {
    const bits = [nameOf(inst), inst.type];
    if (inst.number != null && inst.frame != null) bits.push(`#${inst.number}`);
    if (inst.score != null) bits.push(`score ${inst.score}`);
    if (inst.model) bits.push(`model ${inst.model}`);
    bits.push(inst.machine_made ? "machine made" : "human made");
    return bits.join(" · ");
  }

  // -- 2D shapes on images and video frames ---------------------------------------------------

  const DRAW = {
    box(g, i) {
      const x = Math.min(i.x_min, i.x_max);
      const y = Math.min(i.y_min, i.y_max);
      el("rect", { class: "shape", x, y, width: Math.abs(i.x_max - i.x_min),
        height: Math.abs(i.y_max - i.y_min) }, g);
    },
    polygon(g, i) {
      el("polygon", { class: "shape", points: pts(i.points) }, g);
    },
    point(g, i) {
      const p = i.points[0];
      el("circle", { class: "shape dot", cx: p.x, cy: p.y, r: dot }, g);
    },
    line(g, i) {
      el("polyline", { class: "shape open", points: pts(i.points) }, g);
    },
    ellipse(g, i) {
      const deg = ((i.rotation || 0) * 180) / Math.PI;
      el("ellipse", { class: "shape", cx: i.center_x, cy: i.center_y, rx: i.width / 2,
        ry: i.height / 2, transform: `rotate(${deg} ${i.center_x} ${i.center_y})` }, g);
    },
    curve(g, i) {
      el("path", { class: "shape open",
        d: `M ${i.p1.x} ${i.p1.y} Q ${i.cp.x} ${i.cp.y} ${i.p2.x} ${i.p2.y}` }, g);
    },
    cuboid(g, i) {
      const f = i.front_face;
      const r = i.rear_face;
      const face = (c) => [c.top_left, c.top_right, c.bot_right, c.bot_left];
      el("polygon", { class: "shape rear", points: pts(face(r)) }, g);
      for (const k of ["top_left", "top_right", "bot_left", "bot_right"]) {
        el("line", { class: "shape edge", x1: f[k].x, y1: f[k].y, x2: r[k].x, y2: r[k].y }, g);
      }
      el("polygon", { class: "shape front", points: pts(face(f)) }, g);
    },
    keypoints(g, i) {
      const byId = new Map(i.nodes.map((n) => [String(n.id), n]));
      for (const e of i.edges || []) {
        const a = byId.get(String(e.from));
        const b = byId.get(String(e.to));
        if (a && b) el("line", { class: "shape edge", x1: a.x, y1: a.y, x2: b.x, y2: b.y }, g);
      }
      for (const n of i.nodes) {
        el("circle", { class: n.occluded ? "shape dot occluded" : "shape dot", cx: n.x, cy: n.y,
          r: dot }, g);
      }
    },
  };

  function group(inst, parent) {
    const g = el("g", { class: "inst", "data-instance-id": inst.id, "data-type": inst.type,
      "data-label-id": inst.label_id == null ? "" : inst.label_id,
      "data-score": inst.score == null ? "" : inst.score,
      "data-model-run-id": inst.model_run_id == null ? "" : inst.model_run_id,
      "data-machine-made": inst.machine_made ? "true" : "false",
      tabindex: 0, role: "button", "aria-label": tooltip(inst) }, parent);
    g.style.setProperty("--c", strokeColour(inst));
    el("title", {}, g).textContent = tooltip(inst);
    if (hidden.has(inst.label_id)) g.classList.add("hidden");
    if (!passes(inst)) g.classList.add("filtered");
    g.addEventListener("click", (event) => {
      event.stopPropagation();
      if (zoom.dragged) return; // the end of a pan, not a click
      showDetails(inst, g);
    });
    g.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        event.stopPropagation();
        showDetails(inst, g);
      }
    });
    byElement.set(g, inst);
    return g;
  }

  const byElement = new WeakMap(); // g -> its instance

  // Every shape's outline twice: a dark halo under the label's colour, so that light colours
  // read on light images and dark ones on dark images.
  function addHalos(g) {
    for (const shape of g.querySelectorAll(".shape")) {
      const halo = shape.cloneNode(false);
      halo.setAttribute("class", shape.getAttribute("class").replace("shape", "halo"));
      shape.before(halo);
    }
  }

  // The label's name at the top left of the shape (inside it when there is no room above).
  // Its offset is in em, so that it follows the name's size as the zoom changes (no per-name
  // work on zoom); room above is judged at 100 %, where names are largest against the media.
  function addName(g, inst, box, room) {
    if (inst.label_id == null) return;
    const text = el("text", { class: "name", x: box.x, y: box.y,
      dy: box.y < room ? "1em" : "-0.45em" }, g);
    text.textContent = inst.number != null && inst.frame != null
      ? `${nameOf(inst)} #${inst.number}` : nameOf(inst);
  }

  // -- review: threshold and filters --------------------------------------------------------

  function passes(inst) {
    if (inst.score != null && inst.score < review.threshold) return false;
    if (review.model && String(inst.model_id ?? "none") !== review.model) return false;
    if (review.run && String(inst.model_run_id ?? "none") !== review.run) return false;
    if (review.made === "machine" && !inst.machine_made) return false;
    if (review.made === "human" && inst.machine_made) return false;
    return true;
  }

  function applyReview() {
    for (const g of overlay.querySelectorAll("g.inst")) {
      const inst = byElement.get(g);
      if (inst) g.classList.toggle("filtered", !passes(inst));
    }
    updateCounts();
  }

  // The legend's counts and the summary: what the image (or the current frame) shows now.
  function updateCounts() {
    const summary = document.getElementById("shown-summary");
    if (!summary) return;
    const drawable = shown.filter((i) => DRAW[i.type]);
    const perLabel = new Map();
    let passing = 0;
    for (const inst of drawable) {
      if (!passes(inst)) continue;
      passing += 1;
      perLabel.set(inst.label_id, (perLabel.get(inst.label_id) || 0) + 1);
    }
    for (const count of document.querySelectorAll("[data-count-label]")) {
      count.textContent = String(perLabel.get(Number(count.dataset.countLabel)) || 0);
    }
    const where = file.media_type === "video" ? "on this frame" : "";
    const out = drawable.length - passing;
    summary.textContent = `${passing} of ${drawable.length} shown ${where}`.trim() +
      (out ? ` · ${out} hidden by the filters` : "");
    summary.dataset.shown = String(passing);
    summary.dataset.total = String(drawable.length);
  }

  function reviewControls() {
    const slider = document.getElementById("score-threshold");
    if (!slider) return;
    const value = document.getElementById("score-value");
    if (!(data.models || []).some((row) => row.scored > 0)) {
      slider.disabled = true; // nothing here has a score
      value.textContent = "– (no scores)";
    }
    slider.addEventListener("input", () => {
      review.threshold = Number(slider.value);
      value.textContent = review.threshold.toFixed(2);
      applyReview();
    });
    const models = new Map();
    const runs = new Map();
    for (const row of data.models || []) {
      if (row.model_id != null) models.set(String(row.model_id), row.model || `model ${row.model_id}`);
      if (row.model_run_id != null) {
        runs.set(String(row.model_run_id),
          `${row.model ? row.model + " / " : ""}${row.model_run || `run ${row.model_run_id}`}`);
      }
    }
    const hasNone = (key) => (data.models || []).some((row) => row[key] == null);
    fill(document.getElementById("filter-model"), models, hasNone("model_id") ? "no model" : null);
    fill(document.getElementById("filter-run"), runs, hasNone("model_run_id") ? "no model run" : null);
    for (const [id, key] of [["filter-model", "model"], ["filter-run", "run"], ["filter-made", "made"]]) {
      const select = document.getElementById(id);
      select.addEventListener("change", () => {
        review[key] = select.value;
        applyReview();
      });
    }
  }

  function fill(select, options, noneText) {
    for (const [value, text] of options) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = text;
      select.append(option);
    }
    if (noneText && options.size) {
      const option = document.createElement("option");
      option.value = "none";
      option.textContent = noneText;
      select.append(option);
    }
    select.disabled = options.size === 0;
  }

  // -- label colours set from the legend ------------------------------------------------------

  function colourInputs() {
    for (const input of document.querySelectorAll("input.label-colour")) {
      input.addEventListener("change", async () => {
        const id = Number(input.dataset.colourLabelId);
        const response = await fetch(`${data.urls.label_colour}${id}/colour`, {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": data.csrf },
          body: JSON.stringify({ colour: input.value }),
        });
        const answer = await response.json().catch(() => ({}));
        if (!response.ok) {
          showNote(`Could not set the colour: ${(answer.error && answer.error.message) || response.status}`);
          return;
        }
        const label = labels.get(id);
        if (label) label.colour = answer.colour;
        recolour();
        for (const rect of document.querySelectorAll(
          `#label-toggles li[data-label-id="${id}"] svg.swatch rect, ` +
          `.seq-label[data-label-id="${id}"] svg.swatch rect, ` +
          `.seq-label[data-label-id="${id}"] rect.tick`)) {
          rect.setAttribute("fill", answer.colour);
        }
        input.dataset.saved = answer.colour;
      });
    }
  }

  function recolour() {
    for (const g of overlay ? overlay.querySelectorAll("g.inst") : []) {
      const inst = byElement.get(g);
      if (inst) g.style.setProperty("--c", strokeColour(inst));
    }
    for (const span of document.querySelectorAll("#text .tok")) {
      const label = labels.get(Number(span.dataset.labelId));
      if (label) span.style.setProperty("--c", label.colour);
    }
  }

  function drawFlat(instances, frame) {
    overlay.replaceChildren();
    shown = instances;
    const drawn = [];
    for (const inst of instances) {
      const draw = DRAW[inst.type];
      if (!draw) continue;
      const g = group(inst, overlay);
      draw(g, inst);
      drawn.push(g);
    }
    // Largest first, so that a small shape inside a big one stays on top and clickable.
    const boxes = new Map(drawn.map((g) => [g, g.getBBox()]));
    drawn.sort((a, b) => boxes.get(b).width * boxes.get(b).height -
      boxes.get(a).width * boxes.get(a).height);
    const img = document.getElementById("media");
    const room = (NAME_PX * 1.5 * W) / ((img && img.clientWidth) || W);
    for (const g of drawn) {
      addHalos(g);
      addName(g, byElement.get(g), boxes.get(g), room);
    }
    overlay.append(...drawn);
    placeNames();
    listTags(instances);
    updateCounts();
    overlay.setAttribute("data-frame", frame == null ? "" : String(frame));
    overlay.setAttribute("data-drawn", String(overlay.childElementCount));
  }

  function listTags(instances) {
    const list = document.getElementById("tags");
    list.replaceChildren();
    const tags = instances.filter((i) => i.type === "tag" || i.type === "global");
    for (const inst of tags) {
      const li = document.createElement("li");
      li.className = "tag";
      li.append(swatch(colourOf(inst)));
      const text = document.createElement("span");
      text.textContent = inst.type === "global" ? "global" : nameOf(inst);
      li.append(text);
      const attrs = Object.entries(inst.attributes || {});
      if (attrs.length) {
        const small = document.createElement("span");
        small.className = "muted";
        small.textContent = " " + attrs.map(([k, v]) => `${k}: ${describe(v)}`).join(", ");
        li.append(small);
      }
      li.tabIndex = 0;
      li.setAttribute("role", "button");
      li.addEventListener("click", () => showDetails(inst, null));
      li.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          showDetails(inst, null);
        }
      });
      list.append(li);
    }
    if (!tags.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = "none";
      list.append(li);
    }
  }

  // -- label toggles ------------------------------------------------------------------------

  for (const box of document.querySelectorAll("#label-toggles input[type=checkbox]")) {
    box.addEventListener("change", () => {
      const id = Number(box.dataset.labelId);
      if (box.checked) hidden.delete(id);
      else hidden.add(id);
      for (const node of document.querySelectorAll(`[data-label-id="${id}"].inst, ` +
        `[data-label-id="${id}"].tok`)) {
        node.classList.toggle("hidden", hidden.has(id));
      }
    });
  }

  // -- zoom and pan (images and video frames) --------------------------------------------------
  //
  // One transform, translate(x, y) scale(s) with its origin at the top left, on the box that
  // holds the media and the SVG: both move together, so shapes stay on their pixels. The
  // stage clips; at s = 1 the media fits the stage as before.

  const zoom = { s: 1, x: 0, y: 0, dragged: false, MAX: 32 };

  function stageBox() {
    const stage = document.getElementById("stage");
    return { w: stage.clientWidth, h: stage.clientHeight };
  }

  function applyZoom() {
    const box = document.getElementById("zoomable");
    if (!box) return;
    const { w, h } = stageBox();
    // Keep the media over the whole stage: no pan past its edges.
    zoom.x = Math.min(0, Math.max(w - w * zoom.s, zoom.x));
    zoom.y = Math.min(0, Math.max(h - h * zoom.s, zoom.y));
    box.style.transform = `translate(${zoom.x}px, ${zoom.y}px) scale(${zoom.s})`;
    const level = document.getElementById("zoom-level");
    if (level) level.textContent = `${Math.round(zoom.s * 100)}%`;
    overlay.dataset.zoom = String(zoom.s);
    document.getElementById("stage").classList.toggle("zoomed", zoom.s > 1);
    // Names leave while the zoom moves and come back at their new size once it rests: with
    // thousands of shapes, laying names out again on every wheel step is what makes it lag.
    overlay.classList.add("zooming");
    clearTimeout(zoom.rest);
    zoom.rest = setTimeout(() => {
      placeNames();
      overlay.classList.remove("zooming");
    }, 120);
  }

  // Zoom by `factor` keeping the stage point (px, py) where it is (default: the centre).
  function zoomBy(factor, px, py) {
    const { w, h } = stageBox();
    const cx = px == null ? w / 2 : px;
    const cy = py == null ? h / 2 : py;
    const next = Math.min(zoom.MAX, Math.max(1, zoom.s * factor));
    zoom.x = cx - ((cx - zoom.x) * next) / zoom.s;
    zoom.y = cy - ((cy - zoom.y) * next) / zoom.s;
    zoom.s = next;
    applyZoom();
  }

  function panBy(dx, dy) {
    zoom.x += dx;
    zoom.y += dy;
    applyZoom();
  }

  // Zoom onto one shape (the selected one: key z), centred, with room around it.
  function zoomTo(g) {
    const img = document.getElementById("media");
    if (!g || !img) return;
    const b = g.querySelector(".shape").getBBox();
    for (const shape of g.querySelectorAll(".shape")) {
      const o = shape.getBBox();
      const x1 = Math.max(b.x + b.width, o.x + o.width);
      const y1 = Math.max(b.y + b.height, o.y + o.height);
      b.x = Math.min(b.x, o.x);
      b.y = Math.min(b.y, o.y);
      b.width = x1 - b.x;
      b.height = y1 - b.y;
    }
    const fit = (img.clientWidth || W) / W;
    const { w, h } = stageBox();
    zoom.s = Math.min(zoom.MAX, Math.max(1, Math.min(
      w / (Math.max(b.width, 1) * fit * 2.5), h / (Math.max(b.height, 1) * fit * 2.5))));
    zoom.x = w / 2 - (b.x + b.width / 2) * fit * zoom.s;
    zoom.y = h / 2 - (b.y + b.height / 2) * fit * zoom.s;
    applyZoom();
  }

  function resetZoom() {
    zoom.s = 1;
    zoom.x = 0;
    zoom.y = 0;
    applyZoom();
  }

  // Names keep one size on screen whatever the zoom: font size in media pixels.
  function placeNames() {
    const img = document.getElementById("media");
    if (!img || !overlay) return;
    const fit = (img.clientWidth || W) / W; // screen px per media px at zoom 1
    const size = NAME_PX / (fit * zoom.s);
    overlay.style.setProperty("--name-size", `${size}px`);
    overlay.style.setProperty("--name-halo", `${size / 4}px`);
  }

  function zoomControls() {
    const stage = document.getElementById("stage");
    const box = document.getElementById("zoomable");
    if (!box) return;
    document.getElementById("zoom-in").addEventListener("click", () => zoomBy(1.5));
    document.getElementById("zoom-out").addEventListener("click", () => zoomBy(1 / 1.5));
    document.getElementById("zoom-reset").addEventListener("click", resetZoom);
    const names = document.getElementById("show-names");
    const syncNames = () => overlay.classList.toggle("no-names", !names.checked);
    names.addEventListener("change", syncNames);
    syncNames();
    stage.addEventListener("wheel", (event) => {
      if (zoom.s <= 1 && event.deltaY > 0) return; // nothing to zoom out of: scroll the page
      event.preventDefault();
      const r = stage.getBoundingClientRect();
      zoomBy(Math.exp(-event.deltaY * 0.0015), event.clientX - r.left, event.clientY - r.top);
    }, { passive: false });
    let drag = null;
    stage.addEventListener("pointerdown", (event) => {
      if (event.button !== 0 || zoom.s === 1) return;
      drag = { x: event.clientX, y: event.clientY, moved: 0 };
      zoom.dragged = false;
    });
    window.addEventListener("pointermove", (event) => {
      if (!drag) return;
      const dx = event.clientX - drag.x;
      const dy = event.clientY - drag.y;
      drag.moved += Math.abs(dx) + Math.abs(dy);
      drag.x = event.clientX;
      drag.y = event.clientY;
      if (drag.moved > 3) {
        zoom.dragged = true;
        stage.classList.add("panning");
        panBy(dx, dy);
      }
    });
    window.addEventListener("pointerup", () => {
      if (!drag) return;
      drag = null;
      stage.classList.remove("panning");
      // The click that ends a drag comes right after: let it see `dragged`, then forget it.
      setTimeout(() => { zoom.dragged = false; }, 0);
    });
    window.addEventListener("resize", applyZoom);
    const img = document.getElementById("media");
    img.addEventListener("load", placeNames);
  }

  // Keys: + / - / 0 zoom; arrows pan when zoomed; for video, arrows (at 100%) and , . step
  // frames and space plays. Keys typed into a field or on a slider stay theirs.
  function keyboard(video) {
    document.addEventListener("keydown", (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      const t = event.target;
      if (t instanceof HTMLInputElement || t instanceof HTMLSelectElement ||
        t instanceof HTMLTextAreaElement) return;
      const onControl = t instanceof HTMLButtonElement || (t instanceof Element &&
        (t.matches("g.inst") || t.matches("li.seq") || t.matches("li.tag")));
      const k = event.key;
      if (k === "+" || k === "=") { event.preventDefault(); zoomBy(1.5); return; }
      if (k === "-" || k === "_") { event.preventDefault(); zoomBy(1 / 1.5); return; }
      if (k === "0") { event.preventDefault(); resetZoom(); return; }
      if (k === "z" && selected) { event.preventDefault(); zoomTo(selected); return; }
      if (k === "Escape" && selected) { selected.classList.remove("selected"); selected = null; }
      const arrows = { ArrowLeft: [1, 0], ArrowRight: [-1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
      if (arrows[k] && zoom.s > 1) {
        event.preventDefault();
        const { w, h } = stageBox();
        panBy(arrows[k][0] * w * 0.1, arrows[k][1] * h * 0.1);
        return;
      }
      if (!video) return;
      if (k === "ArrowLeft" || k === ",") { event.preventDefault(); video.step(-1); }
      if (k === "ArrowRight" || k === ".") { event.preventDefault(); video.step(1); }
      if (k === " " && !onControl) { event.preventDefault(); video.play(); }
    });
  }

  // -- image ----------------------------------------------------------------------------------

  async function image() {
    zoomControls();
    keyboard(null);
    const answer = await getJSON(data.urls.instances);
    drawFlat(answer.instances, null);
    if (answer.truncated) {
      showNote(`Showing the first ${answer.instances.length} of ${data.instance_total} instances.`);
    }
  }

  // -- video ------------------------------------------------------------------------------------
  //
  // Frame steps never get lost: each press moves the *target* frame at once (the slider and
  // the frame number follow it), and one loader brings the picture and its shapes to the
  // target, frame after frame as fast as they load, until the two agree.

  function video() {
    const img = document.getElementById("media");
    const slider = document.getElementById("slider");
    const number = document.getElementById("frame-number");
    const playButton = document.getElementById("play");
    const last = Math.max((file.frame_count || 1) - 1, 0);
    const cache = new Map(); // frame -> instances (complete) ; bounded below
    const partial = new Map(); // frame -> instances when the frame alone exceeds one answer
    let current = -1; // the frame drawn
    let target = 0; // the frame asked for
    let loading = null; // the loader's promise while it runs
    let timer = null;

    async function instancesOf(frame) {
      if (cache.has(frame)) return cache.get(frame);
      if (partial.has(frame)) return partial.get(frame);
      const end = Math.min(frame + WINDOW - 1, last);
      const answer = await getJSON(
        `${data.urls.instances}?frame_start=${frame}&frame_end=${end}`);
      const byFrame = new Map();
      for (const inst of answer.instances) {
        if (!byFrame.has(inst.frame)) byFrame.set(inst.frame, []);
        byFrame.get(inst.frame).push(inst);
      }
      const through = answer.complete_through == null ? end : answer.complete_through;
      if (cache.size > 3000) cache.clear();
      for (let f = frame; f <= through; f++) cache.set(f, byFrame.get(f) || []);
      if (through < frame) partial.set(frame, byFrame.get(frame) || []);
      return cache.get(frame) || partial.get(frame) || [];
    }

    function picture(frame) {
      return new Promise((resolve) => {
        const next = new Image();
        next.onload = () => resolve(true);
        next.onerror = () => resolve(false);
        next.src = `${data.urls.frame}${frame}.jpg`;
      });
    }

    async function load() {
      while (current !== target) {
        const frame = target;
        const [instances] = await Promise.all([instancesOf(frame), picture(frame)]);
        img.src = `${data.urls.frame}${frame}.jpg`; // loaded: from the browser's cache
        await img.decode().catch(() => {});
        current = frame;
        drawFlat(instances, frame);
        showNote(partial.has(frame) ? `Frame ${frame}: showing the first ${instances.length} instances.` : "");
        highlightSequences(instances);
      }
    }

    function want(frame) {
      target = Math.max(0, Math.min(last, Math.round(frame)));
      slider.value = String(target);
      number.textContent = String(target);
      overlay.dataset.target = String(target);
      if (!loading) {
        loading = load()
          .catch((err) => showNote(`Could not load frame ${target}: ${err.message}`))
          .finally(() => { loading = null; });
      }
      return loading;
    }

    function step(delta) {
      stop();
      want(target + delta);
    }

    function stop() {
      if (timer) clearTimeout(timer);
      timer = null;
      playButton.textContent = "▶︎";
      playButton.setAttribute("aria-label", "play");
    }

    function play() {
      if (timer) return stop();
      playButton.textContent = "❚❚";
      playButton.setAttribute("aria-label", "pause");
      const interval = 1000 / Math.min(file.fps || 10, 30);
      const tick = async () => {
        if (target >= last) return stop();
        const started = performance.now();
        await want(target + 1);
        if (timer) timer = setTimeout(tick, Math.max(0, interval - (performance.now() - started)));
      };
      timer = setTimeout(tick, 0);
    }

    slider.addEventListener("input", () => {
      stop();
      want(Number(slider.value));
    });
    document.getElementById("prev").addEventListener("click", () => step(-1));
    document.getElementById("next").addEventListener("click", () => step(1));
    playButton.addEventListener("click", play);
    const jump = document.getElementById("jump-frame");
    document.getElementById("jump-form").addEventListener("submit", (event) => {
      event.preventDefault();
      if (jump.value === "") return;
      stop();
      want(Number(jump.value));
    });
    zoomControls();
    keyboard({ step, play });
    sequenceList((frame) => { stop(); want(frame); });
    want(0);
  }

  // -- sequences (video) ------------------------------------------------------------------------

  function sequenceList(jump) {
    const root = document.getElementById("sequences");
    const byLabel = new Map();
    for (const s of data.sequences) {
      if (!byLabel.has(s.label_id)) byLabel.set(s.label_id, []);
      byLabel.get(s.label_id).push(s);
    }
    const last = Math.max((file.frame_count || 1) - 1, 1);
    if (!byLabel.size) {
      const p = document.createElement("p");
      p.className = "empty";
      p.textContent = "No sequences.";
      root.append(p);
    }
    for (const [labelId, list] of byLabel) {
      const label = labels.get(labelId) || { name: String(labelId), colour: "#888888" };
      const total = data.sequence_totals[String(labelId)] || list.length;
      const block = document.createElement("div");
      block.className = "seq-label";
      block.dataset.labelId = String(labelId);
      block.dataset.count = String(total);
      const head = document.createElement("h3");
      head.append(swatch(label.colour));
      const name = document.createElement("span");
      name.textContent = ` ${label.name} `;
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = `${total} sequence${total === 1 ? "" : "s"}`;
      head.append(name, count);
      block.append(head);
      const ul = document.createElement("ul");
      ul.className = "seqs";
      for (const s of list) {
        const li = document.createElement("li");
        li.className = "seq";
        li.dataset.sequenceId = String(s.id);
        li.dataset.firstKeyframe = String(s.keyframes.length ? s.keyframes[0] : s.first_frame);
        li.title = `jump to frame ${li.dataset.firstKeyframe}`;
        const title = document.createElement("span");
        title.className = "seq-title";
        title.textContent = `#${s.number}`;
        const facts = document.createElement("span");
        facts.className = "muted";
        facts.textContent = ` ${s.instance_count} inst. · frames ${s.first_frame}–${s.last_frame}`;
        const bar = document.createElementNS(SVG, "svg");
        bar.setAttribute("class", "ticks");
        bar.setAttribute("viewBox", `0 0 ${last + 1} 10`);
        bar.setAttribute("preserveAspectRatio", "none");
        el("rect", { class: "track", x: 0, y: 4, width: last + 1, height: 2 }, bar);
        for (const k of s.keyframes) {
          el("rect", { class: "tick", x: k, y: 0, width: Math.max((last + 1) / 300, 0.6),
            height: 10, fill: label.colour }, bar);
        }
        li.append(title, facts, bar);
        li.tabIndex = 0;
        li.setAttribute("role", "button");
        li.setAttribute("aria-label",
          `${label.name} #${s.number}: ${s.instance_count} instances, frames ` +
          `${s.first_frame} to ${s.last_frame}; jump to frame ${li.dataset.firstKeyframe}`);
        const choose = () => {
          for (const other of root.querySelectorAll("li.seq.chosen")) other.classList.remove("chosen");
          li.classList.add("chosen");
          jump(Number(li.dataset.firstKeyframe));
        };
        li.addEventListener("click", choose);
        li.addEventListener("keydown", (event) => {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            choose();
          }
        });
        ul.append(li);
      }
      block.append(ul);
      if (total > list.length) {
        const more = document.createElement("p");
        more.className = "muted";
        more.textContent = `first ${list.length} of ${total} listed`;
        block.append(more);
      }
      root.append(block);
    }
  }

  function highlightSequences(instances) {
    const present = new Set(instances.map((i) => String(i.sequence_id)));
    for (const li of document.querySelectorAll("#sequences li.seq")) {
      li.classList.toggle("present", present.has(li.dataset.sequenceId));
    }
  }

  // -- text ---------------------------------------------------------------------------------------

  async function text() {
    const root = document.getElementById("text");
    const spans = data.tokens.map((tok, index) => {
      const span = document.createElement("span");
      span.className = "token";
      span.dataset.index = String(index);
      span.textContent = tok.text;
      return span;
    });
    let sentence = null;
    spans.forEach((span, index) => {
      const s = data.tokens[index].sentence;
      if (index > 0) root.append(document.createTextNode(s !== sentence && s != null ? "\n" : " "));
      sentence = s;
      root.append(span);
    });
    const answer = await getJSON(data.urls.instances);
    for (const inst of answer.instances) {
      if (inst.type !== "text_token") continue;
      const colour = colourOf(inst);
      for (let k = inst.start_token; k <= inst.end_token && k < spans.length; k++) {
        const span = spans[k];
        span.classList.add("tok");
        span.dataset.labelId = inst.label_id == null ? "" : String(inst.label_id);
        span.style.setProperty("--c", colour);
        span.title = tooltip(inst);
        if (k === inst.start_token) span.classList.add("tok-start");
        span.addEventListener("click", () => showDetails(inst, null));
      }
    }
    listTags(answer.instances);
    root.setAttribute("data-drawn", String(root.querySelectorAll(".tok-start").length));
    if (data.tokens.length < (file.token_count || 0)) {
      showNote(`Showing the first ${data.tokens.length} of ${file.token_count} tokens.`);
    }
  }

  // -- audio ----------------------------------------------------------------------------------------

  async function audio() {
    const player = document.getElementById("audio");
    const answer = await getJSON(data.urls.instances);
    const segments = answer.instances.filter((i) => i.type === "audio");
    const duration = file.duration || Math.max(1, ...segments.map((s) => s.end_time));
    const lanes = [...new Set(segments.map((s) => s.label_id))];
    const laneH = 28;
    const width = 1000;
    const height = Math.max(lanes.length, 1) * laneH + 24;
    overlay.setAttribute("viewBox", `0 0 ${width} ${height}`);
    overlay.replaceChildren();
    const scale = width / duration;
    for (let t = 0; t <= duration; t += niceStep(duration)) {
      el("line", { class: "grid", x1: t * scale, y1: 0, x2: t * scale, y2: height - 18 }, overlay);
      el("text", { class: "axis", x: t * scale + 2, y: height - 4 }, overlay).textContent =
        `${Number(t.toFixed(2))} s`;
    }
    for (const inst of segments) {
      const lane = lanes.indexOf(inst.label_id);
      const g = group(inst, overlay);
      el("rect", { class: "shape", x: inst.start_time * scale, y: lane * laneH + 4,
        width: Math.max((inst.end_time - inst.start_time) * scale, 1), height: laneH - 8 }, g);
      g.addEventListener("click", () => { player.currentTime = inst.start_time; });
    }
    const cursor = el("line", { class: "cursor", x1: 0, y1: 0, x2: 0, y2: height - 18 }, overlay);
    player.addEventListener("timeupdate", () => {
      cursor.setAttribute("x1", player.currentTime * scale);
      cursor.setAttribute("x2", player.currentTime * scale);
    });
    listTags(answer.instances);
    overlay.setAttribute("data-drawn", String(segments.length));
  }

  function niceStep(span) {
    const raw = span / 10;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return m * mag;
    return 10 * mag;
  }

  // -- point cloud: top-down (x right, y up), cuboids by their footprint -----------------------------

  async function pointCloud() {
    const answer = await getJSON(data.urls.instances);
    const cuboids = answer.instances.filter((i) => i.type === "cuboid_3d");
    const corners = [];
    const shapes = cuboids.map((i) => {
      const c = i.center_3d || i.position_3d || { x: 0, y: 0, z: 0 };
      const yaw = (i.rotation_euler_angles && i.rotation_euler_angles.z) || 0;
      const hw = i.dimensions_3d.width / 2;
      const hd = i.dimensions_3d.depth / 2;
      const foot = [[-hw, -hd], [hw, -hd], [hw, hd], [-hw, hd]].map(([dx, dy]) => ({
        x: c.x + dx * Math.cos(yaw) - dy * Math.sin(yaw),
        y: c.y + dx * Math.sin(yaw) + dy * Math.cos(yaw),
      }));
      corners.push(...foot);
      const nose = { x: c.x + hw * Math.cos(yaw), y: c.y + hw * Math.sin(yaw) };
      return { inst: i, foot, c, nose };
    });
    const b = file.bounds && file.bounds.length >= 6
      ? [file.bounds[0], file.bounds[1], file.bounds[3], file.bounds[4]] : null;
    plot(shapes, corners, b, (s, g) => {
      el("polygon", { class: "shape", points: s.foot.map((p) => `${p.x},${-p.y}`).join(" ") }, g);
      el("line", { class: "shape edge", x1: s.c.x, y1: -s.c.y, x2: s.nose.x, y2: -s.nose.y }, g);
    });
    listTags(answer.instances);
  }

  // -- geo: lon/lat plot (lon right, lat up) ---------------------------------------------------------

  async function geo() {
    const answer = await getJSON(data.urls.instances);
    const shapes = answer.instances.filter((i) => i.type.startsWith("geo_"));
    const corners = [];
    const ll = ([lon, lat]) => ({ x: lon, y: lat });
    for (const i of shapes) {
      if (i.lonlat) corners.push(ll(i.lonlat));
      for (const c of i.coords || []) corners.push(ll(c));
      for (const c of i.bounds_lonlat || []) corners.push(ll(c));
    }
    const b = file.bounds && file.bounds.length === 4 ? file.bounds : null;
    plot(shapes.map((inst) => ({ inst })), corners, b, (s, g, unit) => {
      const i = s.inst;
      const p = (c) => `${c[0]},${-c[1]}`;
      if (i.type === "geo_point") {
        el("circle", { class: "shape dot", cx: i.lonlat[0], cy: -i.lonlat[1], r: unit * 1.2 }, g);
      } else if (i.type === "geo_circle") {
        const r = i.radius / 111320; // metres to degrees of latitude
        el("circle", { class: "shape", cx: i.lonlat[0], cy: -i.lonlat[1], r }, g);
      } else if (i.type === "geo_polyline") {
        el("polyline", { class: "shape open", points: i.coords.map(p).join(" ") }, g);
      } else if (i.type === "geo_polygon") {
        el("polygon", { class: "shape", points: i.coords.map(p).join(" ") }, g);
      } else if (i.type === "geo_box") {
        const [[x0, y0], [x1, y1]] = i.bounds_lonlat;
        el("rect", { class: "shape", x: Math.min(x0, x1), y: -Math.max(y0, y1),
          width: Math.abs(x1 - x0), height: Math.abs(y1 - y0) }, g);
      }
    });
    listTags(answer.instances);
  }

  // A plot in data units with y flipped (SVG y grows down), padded, with a light grid.
  function plot(shapes, corners, bounds, drawOne) {
    let [x0, y0, x1, y1] = bounds || [Infinity, Infinity, -Infinity, -Infinity];
    for (const p of corners) {
      x0 = Math.min(x0, p.x); y0 = Math.min(y0, p.y);
      x1 = Math.max(x1, p.x); y1 = Math.max(y1, p.y);
    }
    if (!Number.isFinite(x0)) { x0 = 0; y0 = 0; x1 = 1; y1 = 1; }
    const span = Math.max(x1 - x0, y1 - y0, 1e-9);
    const pad = span * 0.08;
    const vb = [x0 - pad, -(y1 + pad), x1 - x0 + 2 * pad, y1 - y0 + 2 * pad];
    overlay.setAttribute("viewBox", vb.join(" "));
    overlay.replaceChildren();
    const unit = span / 100;
    const stepSize = niceStep(span);
    for (let x = Math.ceil(vb[0] / stepSize) * stepSize; x <= vb[0] + vb[2]; x += stepSize) {
      el("line", { class: "grid", x1: x, y1: vb[1], x2: x, y2: vb[1] + vb[3] }, overlay);
      el("text", { class: "axis", x: x + unit * 0.5, y: vb[1] + vb[3] - unit, "font-size": unit * 2.4 },
        overlay).textContent = String(Number(x.toFixed(6)));
    }
    for (let y = Math.ceil(-(vb[1] + vb[3]) / stepSize) * stepSize; y <= -vb[1]; y += stepSize) {
      el("line", { class: "grid", x1: vb[0], y1: -y, x2: vb[0] + vb[2], y2: -y }, overlay);
      el("text", { class: "axis", x: vb[0] + unit * 0.5, y: -y - unit * 0.5, "font-size": unit * 2.4 },
        overlay).textContent = String(Number(y.toFixed(6)));
    }
    for (const s of shapes) drawOne(s, group(s.inst, overlay), unit);
    overlay.setAttribute("data-drawn", String(shapes.length));
  }

  // -- start ------------------------------------------------------------------------------------------

  overlay && overlay.addEventListener("click", () => {
    if (selected) selected.classList.remove("selected");
    selected = null;
  });
  // For other features of the page (e.g. an evaluation's TP/FP/FN colouring): the instances
  // loaded (image or current frame; each with score, model_id, model_run_id, machine_made),
  // and a hook deciding a shape's colour.
  window.labelportViewer = {
    instances: () => shown.slice(),
    setStrokeColour(decide) {
      strokeHook = typeof decide === "function" ? decide : null;
      recolour();
    },
    passes,
    zoomTo: (instanceId) => zoomTo(overlay.querySelector(`g.inst[data-instance-id="${instanceId}"]`)),
  };
  reviewControls();
  colourInputs();
  const start = { image, video, text, audio, point_cloud: pointCloud, geo }[file.media_type];
  if (start) {
    Promise.resolve(start()).catch((err) => showNote(`Could not load the instances: ${err.message}`));
  }
})();
