// The before/after handle, reachable by keyboard: Gradio's ImageSlider moves only by dragging (d3-drag on the
// handle). This makes the handle focusable as an ARIA slider and turns Left/Right (5 %), Shift+arrows (1 %),
// Home and End into the same drag the mouse would do, so the component's own state stays the one truth.
() => {
  const HANDLE = "#result-slider [data-testid='slider']";
  const label = (h) => {
    const wrap = h.parentElement.getBoundingClientRect();
    const box = h.getBoundingClientRect();
    const pct = Math.round((100 * (box.left + box.width / 2 - wrap.left)) / Math.max(wrap.width, 1));
    h.setAttribute("aria-valuenow", String(Math.min(100, Math.max(0, pct))));
    return pct;
  };
  const arm = () => {
    for (const h of document.querySelectorAll(HANDLE)) {
      if (h.hasAttribute("tabindex")) continue;
      h.setAttribute("tabindex", "0");
      h.setAttribute("role", "slider");
      h.setAttribute("aria-label", "Before / after: how much of the result to show");
      h.setAttribute("aria-valuemin", "0");
      h.setAttribute("aria-valuemax", "100");
      label(h);
    }
  };
  new MutationObserver(arm).observe(document.body, { childList: true, subtree: true });
  arm();
  document.addEventListener("keydown", (event) => {
    const h = event.target.closest && event.target.closest(HANDLE);
    if (!h) return;
    const wrap = h.parentElement.getBoundingClientRect();
    const box = h.getBoundingClientRect();
    const x0 = box.left + box.width / 2;
    const y = box.top + box.height / 2;
    const step = (event.shiftKey ? 0.01 : 0.05) * wrap.width;
    const moves = { ArrowLeft: x0 - step, ArrowRight: x0 + step, Home: wrap.left, End: wrap.right };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const x1 = Math.min(wrap.right, Math.max(wrap.left, moves[event.key]));
    const at = (x) => ({ clientX: x, clientY: y, bubbles: true, cancelable: true, view: window, button: 0 });
    h.dispatchEvent(new MouseEvent("mousedown", at(x0)));
    window.dispatchEvent(new MouseEvent("mousemove", at(x1)));
    window.dispatchEvent(new MouseEvent("mouseup", at(x1)));
    requestAnimationFrame(() => label(h));
  });
}
