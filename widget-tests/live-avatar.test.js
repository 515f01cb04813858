// The widget's pure logic, under node's own test runner: `node --test widget-tests/`.
const test = require("node:test");
const assert = require("node:assert/strict");
const widget = require("../static/widget/live-avatar.js");

function parse(chunks) {
  const events = [];
  const parser = widget.createSseParser((event) => events.push(event));
  chunks.forEach((chunk) => parser.push(chunk));
  parser.end();
  return events;
}

const STREAM =
  'event: token\ndata: {"text":"Hel"}\n\n' +
  'event: tool_call_started\ndata: {"id":"call_0","name":"order_status"}\n\n' +
  'event: done\ndata: {"message":{"content":"Hello"}}\n\n';

test("events are read whole however the stream is cut", () => {
  const whole = parse([STREAM]);
  assert.deepEqual(
    whole.map((e) => e.event),
    ["token", "tool_call_started", "done"],
  );
  for (let size = 1; size < 9; size++) {
    const chunks = [];
    for (let at = 0; at < STREAM.length; at += size) chunks.push(STREAM.slice(at, at + size));
    assert.deepEqual(parse(chunks), whole, `chunks of ${size}`);
  }
});

test("CRLF and CR line ends count as one, even split between chunks", () => {
  const events = parse(["event: token\r", "\ndata: {}\r", "\n\r", "\nevent: done\rdata: 1\r\r"]);
  assert.deepEqual(events, [
    { event: "token", data: "{}" },
    { event: "done", data: "1" },
  ]);
});

test("comments are skipped, data lines join, and the event name defaults to message", () => {
  const events = parse([": keep-alive\n\ndata: one\ndata:two\n\n"]);
  assert.deepEqual(events, [{ event: "message", data: "one\ntwo" }]);
});

test("an event the stream cut off is dropped, not half delivered", () => {
  assert.deepEqual(parse(['event: token\ndata: {"text":"a"}\n\nevent: done\ndata: {']), [
    { event: "token", data: '{"text":"a"}' },
  ]);
});

test("refused starts are told in a visitor's words", () => {
  const cases = [
    [404, { code: "not_found" }, "err_unavailable"],
    [403, { code: "forbidden", details: { reason: "agent_draft" } }, "err_unavailable"],
    [403, { code: "forbidden", details: { reason: "origin_not_allowed" } }, "err_origin"],
    [410, { code: "gone", details: { reason: "single_use_used" } }, "err_used"],
    [410, { code: "gone", details: { reason: "single_use_expired" } }, "err_expired"],
    [410, { code: "gone", error: "This single-use agent has expired" }, "err_expired"],
    [429, { code: "rate_limited" }, "err_limit"],
    [502, null, "err_unavailable"],
    [0, null, "err_connection"],
  ];
  for (const [status, body, key] of cases) {
    assert.equal(widget.describeError(status, body, "start").key, key, `${status} ${key}`);
  }
});

test("an error's code is the server's most specific reason", () => {
  const body = { code: "gone", details: { reason: "single_use_used" } };
  assert.equal(widget.describeError(410, body, "start").code, "single_use_used");
  assert.equal(widget.describeError(429, { code: "rate_limited" }, "start").code, "rate_limited");
  assert.equal(widget.describeError(0, null, "message").code, "network");
});

test("refused messages say whether the agent is busy or the conversation over", () => {
  const busy = { code: "conflict", error: "The agent is still answering the last message." };
  const ended = {
    code: "conflict",
    error: "This session has ended; start a new one.",
    details: { reason: "session_ended" },
  };
  assert.equal(widget.describeError(409, busy, "message").key, "err_busy");
  assert.equal(widget.describeError(409, ended, "message").key, "err_ended");
  assert.equal(widget.describeError(403, { code: "forbidden" }, "message").key, "err_ended");
});

test("the endpoint defaults to the server the script came from", () => {
  assert.equal(
    widget.defaultEndpoint("https://parley.example.com/widget/live-avatar.js?v=2", "https://shop.example/"),
    "https://parley.example.com/v1/start-agent-session",
  );
  assert.equal(
    widget.defaultEndpoint("", "http://127.0.0.1:8000/page"),
    "http://127.0.0.1:8000/v1/start-agent-session",
  );
});

test("labels follow the lang attribute, falling back to English", () => {
  assert.equal(widget.label("de", "send"), "Senden");
  assert.equal(widget.label("fr-CA", "send"), "Envoyer");
  assert.equal(widget.label("es", "calling", { tool: "order_status" }), "Llamando a order_status…");
  assert.equal(widget.label("nl", "send"), "Send");
  assert.equal(widget.label(null, "calling", { tool: "x" }), "Calling x…");
});

test("every language has every label", () => {
  const keys = Object.keys(widget.LABELS.en).sort();
  for (const lang of Object.keys(widget.LABELS)) {
    assert.deepEqual(Object.keys(widget.LABELS[lang]).sort(), keys, lang);
  }
});
