// Live progress of running imports: poll a small JSON endpoint for the unfinished rows of this
// page only (at most 100 ids), update status, bar and counts; stop when all have finished.
"use strict";

(function () {
  const container = document.querySelector("[data-poll]");
  if (!container) return;
  const url = container.dataset.poll;
  let delay = 700;

  function pending() {
    return [...container.querySelectorAll("[data-import-id][data-finished=no]")];
  }

  async function poll() {
    const rows = pending();
    if (!rows.length) return;
    const ids = rows.map((r) => r.dataset.importId).join(",");
    let answer;
    try {
      const response = await fetch(`${url}?ids=${ids}`, { credentials: "same-origin" });
      if (!response.ok) throw new Error(String(response.status));
      answer = await response.json();
    } catch (err) {
      delay = Math.min(delay * 2, 10000);
      setTimeout(poll, delay);
      return;
    }
    let reload = false;
    for (const imp of answer.imports) {
      const row = container.querySelector(`[data-import-id="${imp.id}"]`);
      if (!row) continue;
      const status = row.querySelector("[data-role=status]") || document.querySelector(".pagehead [data-role=status]");
      if (status) {
        status.textContent = imp.status;
        status.className = `badge status-${imp.status}`;
      }
      const bar = row.querySelector("[data-role=bar]");
      // An import that ended without storing shows a full red bar and its status, not where
      // it stopped; the page then reloads with its first problem (import.html).
      const ended = imp.status === "failed" || imp.status === "rejected";
      if (bar) {
        bar.value = ended ? 100 : imp.percent;
        bar.className = `status-${imp.status}`;
        if (ended) bar.title = imp.status;
      }
      const percent = row.querySelector("[data-role=percent]");
      if (percent) percent.textContent = ended ? imp.status : `${Math.round(imp.percent)}%`;
      const instances = row.querySelector("[data-role=instances]");
      if (instances && imp.instances != null) instances.textContent = imp.instances.toLocaleString("en");
      const problems = row.querySelector("[data-role=problems]");
      if (problems) problems.textContent = imp.problem_count.toLocaleString("en");
      if (imp.finished) {
        row.dataset.finished = "yes";
        // The detail page shows problems and reconciliation only once finished: fetch them.
        if (row.dataset.reload === "yes") reload = true;
      }
    }
    if (reload) {
      window.location.reload();
      return;
    }
    setTimeout(poll, delay);
  }

  setTimeout(poll, delay);
})();
