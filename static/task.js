/* Gallery Arena task pages: images scaled to the space they have, a full-screen view of either
   image, a magnifier that shows the same region of every image of the task, the instructions
   again on `?`, and an announcement of each new task for screen readers. Keys are in keys.js;
   this file only adds what the page can do without (every answer is a plain form button). */
(function () {
  "use strict";
  document.documentElement.dataset.taskJs = "ready";
  var ZOOM = 3;
  var lastSide = null;

  function stageImages() {
    return Array.prototype.slice.call(document.querySelectorAll("#stage img[data-lightbox]"));
  }

  // Scale each image up or down to the largest size its cell allows (the study's display box
  // ratio comes from the width/height attributes, the same for every image of the task).
  function fit() {
    stageImages().forEach(function (img) {
      var cell = img.parentElement;
      var w = Number(img.getAttribute("width")) || img.naturalWidth;
      var h = Number(img.getAttribute("height")) || img.naturalHeight;
      if (!w || !h) return;
      var scale = Math.min(cell.clientWidth / w, cell.clientHeight / h);
      if (!(scale > 0)) return;
      img.style.maxWidth = "none";
      img.style.maxHeight = "none";
      img.style.width = Math.floor(w * scale) + "px";
      img.style.height = Math.floor(h * scale) + "px";
    });
  }

  // ---- full-screen view -------------------------------------------------------------------
  function lightbox() { return document.getElementById("lightbox"); }

  function showInLightbox(img) {
    var box = lightbox();
    if (!box || !img) return;
    var shown = document.getElementById("lightbox-image");
    shown.src = img.currentSrc || img.src;
    shown.alt = img.alt;
    document.getElementById("lightbox-caption").textContent = img.dataset.lightbox;
    lastSide = img;
    var other = document.getElementById("lightbox-other");
    if (other) other.hidden = stageImages().length < 2;
    if (!box.open) box.showModal();
  }

  function otherImage() {
    var images = stageImages();
    if (images.length < 2) return;
    var index = images.indexOf(lastSide);
    showInLightbox(images[(index + 1) % images.length]);
  }

  function closeLightbox() {
    var box = lightbox();
    if (box && box.open) box.close();
  }

  // ---- magnifier -----------------------------------------------------------------------------
  var magnifying = false;

  function lensFor(img) {
    var figure = img.parentElement;
    var lens = figure.querySelector(".lens");
    if (!lens) {
      lens = document.createElement("div");
      lens.className = "lens";
      lens.hidden = true;
      lens.setAttribute("aria-hidden", "true");
      var inner = document.createElement("img");
      inner.alt = "";
      lens.appendChild(inner);
      figure.appendChild(lens);
    }
    var copy = lens.firstChild;
    if (copy.getAttribute("src") !== img.getAttribute("src")) copy.src = img.currentSrc || img.src;
    return lens;
  }

  function hideLenses() {
    var lenses = document.querySelectorAll("#stage .lens");
    for (var i = 0; i < lenses.length; i++) lenses[i].hidden = true;
  }

  // Show the point (u, v) — fractions of the image's width and height — enlarged on every image.
  function magnifyAt(u, v) {
    stageImages().forEach(function (img) {
      var lens = lensFor(img);
      var rect = img.getBoundingClientRect();
      var figureRect = img.parentElement.getBoundingClientRect();
      lens.hidden = false;
      var size = lens.offsetWidth;
      var x = rect.left - figureRect.left + u * rect.width;
      var y = rect.top - figureRect.top + v * rect.height;
      lens.style.left = Math.round(x - size / 2) + "px";
      lens.style.top = Math.round(y - size / 2) + "px";
      var copy = lens.firstChild;
      copy.style.width = rect.width * ZOOM + "px";
      copy.style.height = rect.height * ZOOM + "px";
      copy.style.left = Math.round(size / 2 - u * rect.width * ZOOM) + "px";
      copy.style.top = Math.round(size / 2 - v * rect.height * ZOOM) + "px";
    });
  }

  function setMagnifier(on) {
    magnifying = on;
    var toggle = document.getElementById("magnifier-toggle");
    if (toggle) toggle.setAttribute("aria-pressed", on ? "true" : "false");
    var stage = document.getElementById("stage");
    if (stage) stage.classList.toggle("magnifying", on);
    if (!on) hideLenses();
  }

  function pointerMove(event) {
    if (!magnifying) return;
    var img = event.target;
    if (!img || !img.matches || !img.matches("#stage img[data-lightbox]")) return;
    var rect = img.getBoundingClientRect();
    var u = (event.clientX - rect.left) / rect.width;
    var v = (event.clientY - rect.top) / rect.height;
    if (u < 0 || u > 1 || v < 0 || v > 1) { hideLenses(); return; }
    magnifyAt(u, v);
  }

  // ---- instructions ----------------------------------------------------------------------------
  function openHelp() {
    var help = document.getElementById("help");
    if (help && !help.open) help.showModal();
  }

  // ---- wiring ----------------------------------------------------------------------------------
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!target || !target.closest) return;
    var img = target.closest("#stage img[data-lightbox]");
    if (img && !magnifying) { showInLightbox(img); return; }
    if (target.closest("#open-lightbox")) { showInLightbox(stageImages()[0]); return; }
    if (target.closest("#magnifier-toggle")) { setMagnifier(!magnifying); return; }
    if (target.closest("#lightbox-other")) { otherImage(); return; }
    if (target.closest("#lightbox-close")) { closeLightbox(); return; }
    if (target.closest("#help-link")) { event.preventDefault(); openHelp(); return; }
    if (target.id === "lightbox") closeLightbox();  // a click on the dark surround
  });

  document.addEventListener("pointermove", pointerMove);
  document.addEventListener("pointerdown", function (event) {
    if (magnifying && event.pointerType !== "mouse") pointerMove(event);
  });
  document.addEventListener("pointerleave", hideLenses, true);

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var box = lightbox();
    if (box && box.open) {
      if (["ArrowLeft", "ArrowRight", "1", "2", "Tab"].indexOf(event.key) >= 0) {
        event.preventDefault();
        otherImage();
      } else if (event.key === "f" || event.key === "F") {
        event.preventDefault();
        closeLightbox();
      }
      return;  // Escape closes the dialog natively
    }
    if (document.querySelector("dialog[open]")) return;
    var target = event.target;
    if (target && (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type === "text"))) return;
    if (!document.getElementById("task-form")) return;
    if (event.key === "?") { event.preventDefault(); openHelp(); }
    else if (event.key === "f" || event.key === "F") { event.preventDefault(); showInLightbox(stageImages()[0]); }
    else if (event.key === "m" || event.key === "M") { event.preventDefault(); setMagnifier(!magnifying); }
  });

  // ---- the next task's images, ahead of time -------------------------------------------------
  // The server holds the next task ahead and names its images in an inert <template>: fetch and
  // decode them now, so the answer's response shows them from the browser's cache. The count
  // of decoded images is on <html data-preloaded> (the browser tests read it).
  var preloaded = 0;
  var keep = [];  // decoded images stay referenced until the next task arrives
  function preloadAhead() {
    var holder = document.getElementById("ahead-images");
    keep = [];
    if (!holder || !holder.content) return;
    var sources = holder.content.querySelectorAll("img");
    for (var i = 0; i < sources.length; i++) {
      var img = new Image();
      img.decoding = "async";
      img.src = sources[i].getAttribute("src");
      keep.push(img);
      if (img.decode) {
        img.decode().then(function () {
          preloaded += 1;
          document.documentElement.dataset.preloaded = String(preloaded);
        }, function () { /* gone (expired): the answer's response shows another task */ });
      }
    }
  }

  // A new task: scale its images, keep the magnifier as it was, announce it, move focus to it.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!event.target || event.target.id === "flash") return;
    closeLightbox();
    setMagnifier(magnifying);
    fit();
    announce(true);
    preloadAhead();
  });

  function announce(moveFocus) {
    var task = document.getElementById("task");
    var status = document.getElementById("task-status");
    if (!task || !status) return;
    if (task.dataset.kind === "done") {
      status.textContent = "All done: " + task.dataset.done + " tasks answered.";
    } else {
      status.textContent = "New task " + (Number(task.dataset.done) + 1) + " of " + task.dataset.total + ".";
    }
    var title = document.getElementById("task-title");
    if (moveFocus && title) title.focus({ preventScroll: true });
  }

  window.addEventListener("resize", fit);
  document.addEventListener("load", function (event) {
    if (event.target && event.target.matches && event.target.matches("#stage img")) fit();
  }, true);
  fit();
  preloadAhead();
})();
