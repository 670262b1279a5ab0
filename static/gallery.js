/* Gallery Arena researcher pages: a full-screen view of any image marked data-lightbox, with
   the previous/next image of the same page (the compare page, the sample grids). */
(function () {
  "use strict";
  var current = -1;

  function images() {
    return Array.prototype.slice.call(document.querySelectorAll("img[data-lightbox]"));
  }

  function show(index) {
    var all = images();
    var box = document.getElementById("lightbox");
    if (!box || !all.length) return;
    current = (index + all.length) % all.length;
    var img = all[current];
    var shown = document.getElementById("lightbox-image");
    shown.src = img.currentSrc || img.src;
    shown.alt = img.alt;
    document.getElementById("lightbox-caption").textContent = img.dataset.lightbox;
    if (!box.open) box.showModal();
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!target || !target.closest) return;
    var img = target.closest("img[data-lightbox]");
    if (img && !target.closest("#lightbox")) { show(images().indexOf(img)); return; }
    var box = document.getElementById("lightbox");
    if (target.closest("#lightbox-prev")) show(current - 1);
    else if (target.closest("#lightbox-next")) show(current + 1);
    else if (target.closest("#lightbox-close") || target === box) box.close();
  });

  document.addEventListener("keydown", function (event) {
    var box = document.getElementById("lightbox");
    if (!box || !box.open) {
      // Enter or space on a focused image opens it.
      var focused = document.activeElement;
      if (focused && focused.matches && focused.matches("img[data-lightbox]") &&
          (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        show(images().indexOf(focused));
      }
      return;
    }
    if (event.key === "ArrowLeft") { event.preventDefault(); show(current - 1); }
    else if (event.key === "ArrowRight") { event.preventDefault(); show(current + 1); }
  });

  // Images that open the full-screen view are reachable with the keyboard.
  images().forEach(function (img) {
    img.tabIndex = 0;
    img.setAttribute("role", "button");
    img.setAttribute("aria-haspopup", "dialog");
  });
})();
