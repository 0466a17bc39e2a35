// Small behaviours that would otherwise need inline script (the CSP forbids it).
// A form that fails validation answers 422 (413 for an upload over the limit) with itself and its
// errors: show it. htmx would otherwise leave 4xx answers unswapped.
document.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  if (status === 422 || status === 413) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

document.addEventListener("DOMContentLoaded", () => {
  // Sign-up: start in the browser's time zone (UTC without JavaScript; changeable in the profile).
  document.querySelectorAll("input[data-browser-timezone]").forEach((input) => {
    try {
      if (!input.value) input.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (e) {
      // Leave it empty: the server falls back to UTC.
    }
  });
});
