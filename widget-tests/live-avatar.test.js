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

test("the agent's card is read from the start endpoint's server", () => {
  assert.equal(
    widget.cardUrl("https://parley.example.com/v1/start-agent-session", "6f1c0c9e-0000"),
    "https://parley.example.com/widget/agents/6f1c0c9e-0000",
  );
  assert.equal(widget.cardUrl("not a url", "6f1c"), "");
});

test("the card gives the agent's name, or why it cannot take a conversation", () => {
  assert.deepEqual(widget.cardReading(200, { name: "Harbour help" }), { name: "Harbour help" });
  const used = widget.cardReading(410, { code: "gone", details: { reason: "single_use_used" } });
  assert.equal(used.why.key, "err_used");
  assert.equal(widget.cardReading(404, { code: "not_found" }).why.key, "err_unavailable");
  assert.equal(widget.cardReading(429, { code: "rate_limited" }).why.key, "err_limit");
  // Not Parley's answer, or none: the Start button stays, and the start will tell.
  assert.deepEqual(widget.cardReading(404, null), {});
  assert.deepEqual(widget.cardReading(500, { code: "server_error" }), {});
  assert.deepEqual(widget.cardReading(200, { roomUrl: "https://iwy.daily.co/x" }), {});
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

test("long runs with no spaces break between their parts, never inside a word", () => {
  const json = '{"city":"Paris","temperature_c":21}';
  const pieces = widget.breakPieces("It is " + json + " now.");
  assert.equal(pieces.join(""), "It is " + json + " now."); // nothing added or lost
  assert.deepEqual(pieces.slice(1, 3), ['"Paris",', '"temperature_c":']);
  assert.ok(pieces.every((piece) => !/temperature_$/.test(piece)));
  assert.deepEqual(widget.breakPieces("Short words, as usual: fine."), [
    "Short words, as usual: fine.",
  ]);
});
