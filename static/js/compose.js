// The post forms (templates/posting/compose.html, draft.html, post_edit.html). Under the strict
// CSP this file is the only script the pages need: it checks the video in the browser before
// any byte is sent (size, container, duration, 9:16), counts each chosen network's caption
// (its own, or the one for all), says what sending costs (one upload and one request per
// different caption), shows only the repost rules of the chosen accounts, lets the cover frame
// be picked on a slider over the video, and shows the upload's progress from htmx's
// `htmx:xhr:progress`. The server checks all of it again: this only saves a wasted upload.
// Sentences come from the form's data-msg-* attributes (translated by Django).
(function () {
  "use strict";

  function format(template, values) {
    return (template || "").replace(/\{(\w+)\}/g, function (match, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : match;
    });
  }

  function setMessages(element, messages) {
    element.textContent = "";
    messages.forEach(function (text) {
      var p = document.createElement("p");
      p.textContent = text;
      element.appendChild(p);
    });
  }

  function bind(form) {
    if (form.dataset.bound) return;
    form.dataset.bound = "1";
    var msg = form.dataset;
    var minSeconds = Number(msg.minSeconds);
    var maxSeconds = Number(msg.maxSeconds);
    var tolerance = Number(msg.ratioTolerance);
    var extensions = (msg.extensions || "").split(",");

    var fileInput = form.querySelector("[data-video-input]");
    var facts = form.querySelector("[data-video-facts]");
    var errors = form.querySelector("[data-video-errors]");
    var preview = form.querySelector("[data-cover-preview]");
    var video = form.querySelector("[data-preview-video]");
    var slider = form.querySelector("[data-cover-slider]");
    var cover = form.querySelector("[data-cover-second]");
    var description = form.querySelector("[data-description]");
    var counters = form.querySelector("[data-counters]");
    var counterNote = form.querySelector("[data-counter-note]");
    var schedule = form.querySelector("[data-schedule]");
    var progressBox = form.querySelector("[data-upload-progress]");
    var progressBar = form.querySelector("[data-upload-bar]");
    var progressPercent = form.querySelector("[data-upload-percent]");
    var separate = form.querySelector("[data-separate-captions]");
    var networkCaptions = form.querySelectorAll("[data-network-caption]");
    var cost = form.querySelector("[data-send-cost]");
    var hints = form.querySelector("[data-repost-hints]");
    var draftButton = form.querySelector("[data-save-draft]");

    // The form's own requests, and those of its "Save as draft" button (which posts the same
    // fields elsewhere).
    function ours(target) {
      return target === form || (draftButton !== null && target === draftButton);
    }

    // null: not known (no file yet, or the browser cannot decode it: the server decides);
    // true / false: the browser's verdict. `checking` while the metadata loads.
    var videoOk = null;
    var checking = null;
    var objectUrl = null;
    var waitingRequest = null;

    function finishCheck(ok) {
      videoOk = ok;
      var waiting = waitingRequest;
      checking = null;
      waitingRequest = null;
      if (waiting && ok !== false && descriptionOk()) waiting();
    }

    function checkFile() {
      var file = fileInput.files && fileInput.files[0];
      var problems = [];
      facts.textContent = "";
      preview.classList.add("is-hidden");
      if (objectUrl) {
        URL.revokeObjectURL(objectUrl);
        objectUrl = null;
      }
      if (!file) {
        setMessages(errors, []);
        finishCheck(null);
        return;
      }
      var dot = file.name.lastIndexOf(".");
      var extension = dot >= 0 ? file.name.slice(dot).toLowerCase() : "";
      if (file.size > Number(msg.maxBytes)) {
        problems.push(format(msg.msgTooLarge, {
          size: Math.round(file.size / 1048576), limit: msg.maxMb,
        }));
      }
      if (extensions.indexOf(extension) < 0) {
        problems.push(format(msg.msgExtension, { name: file.name }));
      }
      setMessages(errors, problems);
      if (problems.length) {
        fileInput.classList.add("is-danger");
        finishCheck(false);
        return;
      }
      fileInput.classList.remove("is-danger");
      checking = true;
      objectUrl = URL.createObjectURL(file);
      video.src = objectUrl;
    }

    if (video && fileInput) video.addEventListener("loadedmetadata", function () {
      var file = fileInput.files && fileInput.files[0];
      if (!file || !objectUrl) return;
      var seconds = video.duration;
      var width = video.videoWidth; // the browser applies a rotation flag already
      var height = video.videoHeight;
      var problems = [];
      var shape = width > height ? msg.msgLandscape : width < height ? msg.msgPortrait : msg.msgSquare;
      var what = width + "×" + height + ", " + shape;
      facts.textContent = format(msg.msgFacts, {
        what: what, seconds: seconds.toFixed(1), size: (file.size / 1048576).toFixed(1),
      });
      if (isFinite(seconds) && seconds < minSeconds) {
        problems.push(format(msg.msgTooShort, { seconds: seconds.toFixed(1) }));
      }
      if (isFinite(seconds) && seconds > maxSeconds) {
        problems.push(format(msg.msgTooLong, { seconds: seconds.toFixed(1) }));
      }
      if (width && height && Math.abs(width / height / (9 / 16) - 1) > tolerance) {
        problems.push(format(msg.msgNotVertical, { what: what }));
      }
      setMessages(errors, problems);
      fileInput.classList.toggle("is-danger", problems.length > 0);
      if (isFinite(seconds) && seconds > 0) {
        slider.max = String(Math.floor(seconds * 10) / 10);
        var wanted = Math.min(Number(cover.value) || 0, Number(slider.max));
        slider.value = String(wanted);
        cover.value = String(wanted);
        cover.max = slider.max;
        preview.classList.remove("is-hidden");
        seek(wanted);
      }
      finishCheck(problems.length === 0);
    });

    if (video) video.addEventListener("error", function () {
      if (!objectUrl) return;
      // Not decodable here (an AVI in Chromium, say): the server's probe decides.
      facts.textContent = msg.msgNoPreview;
      finishCheck(null);
    });

    function seek(seconds) {
      try {
        video.currentTime = seconds;
      } catch (e) {
        // Metadata not loaded yet: the frame follows on the next move.
      }
    }

    if (slider && cover) {
      slider.addEventListener("input", function () {
        cover.value = slider.value;
        seek(Number(slider.value));
      });
      cover.addEventListener("input", function () {
        if (preview.classList.contains("is-hidden")) return; // no video here to bound it
        var value = Math.max(0, Math.min(Number(cover.value) || 0, Number(slider.max) || 0));
        slider.value = String(value);
        seek(value);
      });
    }
    if (fileInput) fileInput.addEventListener("change", checkFile);

    function chosenNetworks() {
      return Array.prototype.filter.call(
        form.querySelectorAll("input[name='platforms']"),
        function (box) { return box.checked && !box.disabled; }
      );
    }

    // The caption a network gets: its own when captions differ per network and it has one,
    // else the one for all (as posting.sending.groups.caption_for decides).
    function captionFor(network) {
      if (separate && separate.checked) {
        for (var i = 0; i < networkCaptions.length; i++) {
          var field = networkCaptions[i];
          if (field.dataset.networkCaption === network && field.value.trim()) {
            return field.value.trim();
          }
        }
      }
      return description.value;
    }

    function descriptionOk() {
      return chosenNetworks().every(function (box) {
        return Array.from(captionFor(box.dataset.network)).length <= Number(box.dataset.limit);
      });
    }

    function showCost() {
      var distinct = {};
      var posts = 0;
      chosenNetworks().forEach(function (box) {
        var caption = captionFor(box.dataset.network);
        if (!Object.prototype.hasOwnProperty.call(distinct, caption)) {
          distinct[caption] = true;
          posts += 1;
        }
      });
      if (!cost || posts === 0) return;
      if (msg.editRows) {
        var cancels = Number(msg.editRows);
        cost.textContent = format(msg.msgEditCost, {
          requests: cancels + posts, cancels: cancels, uploads: posts,
        });
      } else {
        cost.textContent = posts === 1 ? msg.msgCostOne : format(msg.msgCostMany, { count: posts });
      }
    }

    function showHints() {
      if (!hints) return;
      var chosen = {};
      chosenNetworks().forEach(function (box) { chosen[box.value] = true; });
      var shown = 0;
      hints.querySelectorAll("[data-repost-from]").forEach(function (item) {
        var on = Object.prototype.hasOwnProperty.call(chosen, item.dataset.repostFrom);
        item.classList.toggle("is-hidden", !on);
        if (on) shown += 1;
      });
      hints.classList.toggle("is-hidden", shown === 0);
    }

    // Only the chosen networks' own captions are offered (all of them without JavaScript; the
    // server ignores those of networks not chosen).
    function showCaptionFields() {
      var networks = {};
      chosenNetworks().forEach(function (box) { networks[box.dataset.network] = true; });
      form.querySelectorAll("[data-caption-for]").forEach(function (field) {
        var network = field.dataset.captionFor;
        field.classList.toggle("is-hidden", !Object.prototype.hasOwnProperty.call(networks, network));
      });
    }

    function count() {
      showCaptionFields();
      var seen = {};
      var over = [];
      counters.textContent = "";
      chosenNetworks().forEach(function (box) {
        var network = box.dataset.network;
        var limit = Number(box.dataset.limit);
        var length = Array.from(captionFor(network)).length; // code points, as Python counts
        if (seen[network]) return;
        seen[network] = true;
        var li = document.createElement("li");
        li.dataset.network = network;
        li.textContent = format(msg.msgCounter, {
          network: network, count: length, limit: limit.toLocaleString(),
        });
        if (length > limit) {
          li.classList.add("has-text-danger");
          over.push(format(msg.msgCounterOver, { network: network, limit: limit, count: length }));
        }
        counters.appendChild(li);
      });
      over.forEach(function (text) {
        var li = document.createElement("li");
        li.className = "has-text-danger";
        li.setAttribute("role", "alert");
        li.textContent = text;
        counters.appendChild(li);
      });
      description.classList.toggle("is-danger", over.length > 0);
      if (counterNote) counterNote.classList.toggle("is-hidden", chosenNetworks().length > 0);
      showCost();
      showHints();
    }
    form.addEventListener("input", function (event) {
      if (event.target === description || event.target.dataset.networkCaption) count();
    });
    form.addEventListener("change", function (event) {
      if (event.target.name === "platforms" || event.target === separate) count();
      if (event.target.name === "when") showSchedule();
    });
    count();

    function showSchedule() {
      var later = form.querySelector("input[type='radio'][name='when'][value='later']");
      if (schedule && later) schedule.classList.toggle("is-hidden", !later.checked);
    }
    showSchedule();

    // Before htmx sends anything: refuse what the browser already knows Taisly would refuse,
    // and wait for the video's metadata if it is still loading.
    form.addEventListener("htmx:confirm", function (event) {
      if (!ours(event.target)) return;
      if (!descriptionOk()) {
        event.preventDefault();
        count();
        description.focus();
        return;
      }
      if (videoOk === false) {
        event.preventDefault();
        fileInput.focus();
        return;
      }
      if (checking) {
        event.preventDefault();
        waitingRequest = function () { event.detail.issueRequest(true); };
      }
    });

    form.addEventListener("htmx:beforeRequest", function (event) {
      if (!ours(event.target) || !progressBox) return;
      progressBar.value = 0;
      progressPercent.textContent = "0%";
      progressBox.classList.remove("is-hidden");
    });
    form.addEventListener("htmx:xhr:progress", function (event) {
      if (!progressBox || !event.detail.lengthComputable || !event.detail.total) return;
      var percent = Math.floor((event.detail.loaded * 100) / event.detail.total);
      progressBar.value = percent;
      progressBar.textContent = percent + "%";
      progressPercent.textContent = percent + "%";
    });
    form.addEventListener("htmx:afterRequest", function (event) {
      if (!ours(event.target)) return;
      // Sent: the page is about to become the post's (HX-Redirect). Its one-time id is used.
      if (event.detail.successful) form.dataset.sent = "1";
      if (progressBox && !event.detail.successful) progressBox.classList.add("is-hidden");
    });
    // Back (or Forward) to this page from the browser's back/forward cache brings it back as it
    // was left: mid-upload at "100%", or sent. A sent form is fetched again (a fresh form with
    // a new one-time id, instead of one that would only find the post already made); one that
    // was not sent keeps what was typed, with its counters and schedule shown again.
    window.addEventListener("pageshow", function (event) {
      if (!event.persisted || !document.contains(form)) return;
      if (form.dataset.sent) {
        window.location.reload();
        return;
      }
      if (progressBox) progressBox.classList.add("is-hidden");
      count();
      showSchedule();
    });
    form.addEventListener("htmx:sendError", function () {
      setMessages(errors, [msg.msgUploadFailed]);
    });
    // Refused with a sentence: too many uploads of this person at once (429), a body too slow
    // (408). The answer says why: show it like a refused form. htmx fires beforeSwap on the
    // target (#compose, the form's parent), not on the form, so it is caught on the document.
    document.addEventListener("htmx:beforeSwap", function (event) {
      var config = event.detail.requestConfig;
      if (!config || config.elt !== form) return;
      var status = event.detail.xhr.status;
      if (status === 429 || status === 408) {
        event.detail.shouldSwap = true;
        event.detail.isError = false;
      }
    });
    form.addEventListener("htmx:responseError", function (event) {
      var status = event.detail.xhr.status;
      if ([408, 413, 422, 429].indexOf(status) < 0) setMessages(errors, [msg.msgUploadFailed]);
    });
  }

  function init(root) {
    (root || document).querySelectorAll("form[data-compose]").forEach(bind);
  }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.querySelectorAll) {
      if (elt.matches && elt.matches("form[data-compose]")) bind(elt);
      init(elt);
    }
  });
})();
