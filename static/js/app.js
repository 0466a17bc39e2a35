// Small behaviours that would otherwise need inline script (the CSP forbids it).
document.addEventListener("DOMContentLoaded", () => {
  // Bulma's navbar burger on small screens.
  document.querySelectorAll(".navbar-burger").forEach((burger) => {
    burger.addEventListener("click", () => {
      const target = document.getElementById(burger.dataset.target);
      const open = burger.classList.toggle("is-active");
      burger.setAttribute("aria-expanded", open ? "true" : "false");
      if (target) target.classList.toggle("is-active", open);
    });
  });

  // Sign-up: start in the browser's time zone (UTC without JavaScript; changeable in the profile).
  document.querySelectorAll("input[data-browser-timezone]").forEach((input) => {
    try {
      if (!input.value) input.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (e) {
      // Leave it empty: the server falls back to UTC.
    }
  });
});
