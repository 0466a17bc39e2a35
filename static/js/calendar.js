// Drag to move on the calendar (templates/posting/calendar.html), with HTML5 drag and drop.
// Dropping never acts by itself: it opens the entry's "Move" form (its data-move-url, the same
// page its "Move" link opens without JavaScript) with the new time in "at", and the person
// confirms there. A month's day keeps the entry's time of day (data-time); a week's hour cell
// gives its hour. Only days and hours that have not passed are drop targets (data-drop-date,
// data-drop-at); the form checks the time again.
(function () {
  "use strict";

  var dragged = null;

  function target(node) {
    return node && node.closest ? node.closest("[data-drop-at], [data-drop-date]") : null;
  }

  function newTime(cell, entry) {
    if (cell.dataset.dropAt) return cell.dataset.dropAt;
    return cell.dataset.dropDate + "T" + (entry.dataset.time || "09:00");
  }

  function clear() {
    document.querySelectorAll(".is-drop-target").forEach(function (cell) {
      cell.classList.remove("is-drop-target");
    });
  }

  function bind(calendar) {
    calendar.addEventListener("dragstart", function (event) {
      var entry = event.target.closest && event.target.closest("[data-move-url]");
      if (!entry) return;
      dragged = entry;
      entry.classList.add("is-dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/uri-list", entry.dataset.moveUrl);
    });
    calendar.addEventListener("dragend", function () {
      if (dragged) dragged.classList.remove("is-dragging");
      dragged = null;
      clear();
    });
    calendar.addEventListener("dragover", function (event) {
      var cell = target(event.target);
      if (!dragged || !cell) return;
      event.preventDefault(); // allows the drop here
      event.dataTransfer.dropEffect = "move";
      if (!cell.classList.contains("is-drop-target")) {
        clear();
        cell.classList.add("is-drop-target");
      }
    });
    calendar.addEventListener("drop", function (event) {
      var cell = target(event.target);
      if (!dragged || !cell) return;
      event.preventDefault();
      var url = new URL(dragged.dataset.moveUrl, window.location.href);
      url.searchParams.set("at", newTime(cell, dragged));
      clear();
      window.location.assign(url.toString());
    });
  }

  document.querySelectorAll("[data-calendar]").forEach(bind);
})();
