// The agent page's test call: once the <live-avatar> widget says which session it started, the
// region beside it shows that session's timeline (the sessions pages' partial, which refreshes
// itself while the session runs); once the call ends, a link leads to the recorded session.
(() => {
  const panel = document.getElementById("test-call");
  const timeline = panel && panel.querySelector("[data-timeline]");
  if (!timeline) return;
  const recorded = panel.querySelector("[data-recorded]");
  const urlFor = (template, sessionId) =>
    template.replace(panel.dataset.placeholder, encodeURIComponent(sessionId));

  panel.addEventListener("session-started", (event) => {
    recorded.hidden = true;
    const url = urlFor(panel.dataset.timelineUrl, event.detail.sessionId);
    htmx.ajax("GET", url, { target: timeline, swap: "innerHTML" });
  });

  panel.addEventListener("session-ended", (event) => {
    recorded.querySelector("a").href = urlFor(panel.dataset.sessionUrl, event.detail.sessionId);
    recorded.hidden = false;
  });
})();
