// The project page's label colours: a colour box per label (editors and admins) that sets the
// label's colour (POST /ui/p/{p}/labels/{id}/colour with the session's CSRF token).
"use strict";

(function () {
  const table = document.getElementById("project-labels");
  if (!table) return;
  for (const input of table.querySelectorAll("input.label-colour")) {
    input.addEventListener("change", async () => {
      const id = input.dataset.colourLabelId;
      const row = table.querySelector(`tr[data-label-id="${id}"]`);
      const response = await fetch(`${table.dataset.colourUrl}${id}/colour`, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": table.dataset.csrf },
        body: JSON.stringify({ colour: input.value }),
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        input.title = `Could not set the colour: ${(answer.error && answer.error.message) || response.status}`;
        input.classList.add("refused");
        return;
      }
      input.classList.remove("refused");
      const swatch = row && row.querySelector("svg.swatch rect");
      if (swatch) swatch.setAttribute("fill", answer.colour);
      input.dataset.saved = answer.colour;
    });
  }
})();
