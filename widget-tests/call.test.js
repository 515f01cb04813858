// The widget's calls, apart from the page: node's test runner with stand-ins for the browser's
// fetch, microphone and RTCPeerConnection. `node --test widget-tests/`.
const test = require("node:test");
const assert = require("node:assert/strict");
const widget = require("../static/widget/live-avatar.js");

const SESSION = {
  sessionId: "6f1c0c9e-0000-4000-8000-000000000001",
  sessionToken: "st_call",
  type: "voice",
  transport: "webrtc",
  offerUrl: "https://parley.example.com/v1/sessions/6f1c/webrtc",
  iceServers: [{ urls: "stun:stun.example.com:3478" }],
  endUrl: "https://parley.example.com/api/v1/sessions/6f1c/end",
};
const ENDPOINT = "https://parley.example.com/v1/start-agent-session";

class FakeTrack {
  constructor() {
    this.kind = "audio";
    this.enabled = true;
    this.stopped = false;
  }
  stop() {
    this.stopped = true;
  }
}

class FakeStream {
  constructor() {
    this.track = new FakeTrack();
  }
  getAudioTracks() {
    return [this.track];
  }
  getTracks() {
    return [this.track];
  }
}

class FakeChannel {
  constructor(label, init) {
    this.label = label;
    this.init = init;
    this.readyState = "connecting";
    this.sent = [];
  }
  send(data) {
    this.sent.push(data);
  }
  open() {
    this.readyState = "open";
    this.onopen();
  }
  deliver(message) {
    this.onmessage({ data: typeof message === "string" ? message : JSON.stringify(message) });
  }
}

/** What the widget does with its peer connection, in order, and the means to play the far end. */
class FakePeerConnection extends EventTarget {
  constructor(config) {
    super();
    FakePeerConnection.last = this;
    this.config = config;
    this.steps = [];
    this.transceivers = [];
    this.iceGatheringState = "new";
    this.connectionState = "new";
    this.closed = false;
  }
  addTransceiver(trackOrKind, init) {
    this.steps.push("transceiver");
    this.transceivers.push({ trackOrKind, init });
  }
  createDataChannel(label, init) {
    this.steps.push("data channel");
    this.channel = new FakeChannel(label, init);
    return this.channel;
  }
  async createOffer() {
    this.steps.push("offer");
    return { type: "offer", sdp: "v=0 offer" };
  }
  async setLocalDescription(description) {
    this.localDescription = { type: description.type, sdp: description.sdp + " and its candidates" };
    setTimeout(() => {
      this.iceGatheringState = "complete";
      this.dispatchEvent(new Event("icegatheringstatechange"));
    }, 5);
  }
  async setRemoteDescription(description) {
    this.steps.push("answer");
    this.remoteDescription = description;
  }
  close() {
    this.closed = true;
  }
  becomes(state) {
    this.connectionState = state;
    this.onconnectionstatechange();
  }
}

function response(status, body) {
  return { ok: status >= 200 && status < 300, status, json: async () => body };
}

/** A call against scripted answers: `answers` maps a URL to [status, body]. */
function aCall({ mode = "voice", answers = {}, microphone, secure = true, csrf = null } = {}) {
  const requests = [];
  const seen = { phases: [], started: [], ended: [], errors: [], tracks: [] };
  const stream = new FakeStream();
  const asked = [];
  const routes = {
    [ENDPOINT]: [200, SESSION],
    [SESSION.offerUrl]: [200, { type: "answer", sdp: "v=0 answer", pc_id: "pc-1" }],
    [SESSION.endUrl]: [200, {}],
    ...answers,
  };
  const env = {
    isSecureContext: secure,
    RTCPeerConnection: FakePeerConnection,
    mediaDevices: {
      getUserMedia: async (constraints) => {
        asked.push(constraints);
        if (microphone) throw microphone;
        return stream;
      },
    },
    fetch: async (url, init) => {
      requests.push({ url, init, body: init.body ? JSON.parse(init.body) : null });
      const [status, body] = routes[url];
      return response(status, body);
    },
  };
  FakePeerConnection.last = null;
  const call = new widget.Call({
    env,
    endpoint: ENDPOINT,
    agentId: "6f1c0c9e-0000-4000-8000-000000000000",
    mode,
    csrf,
    onChange: (c) => {
      if (seen.phases[seen.phases.length - 1] !== c.state.phase) seen.phases.push(c.state.phase);
    },
    onTrack: (event) => seen.tracks.push(event),
    onStarted: (session) => seen.started.push(session.sessionId),
    onEnded: (session) => seen.ended.push(session.sessionId),
    onError: (why) => seen.errors.push(why),
  });
  return { call, requests, seen, stream, asked };
}

test("a voice call asks for the microphone, then starts a WebRTC session with the page's CSRF token", async () => {
  const { call, requests, seen, asked } = aCall({ csrf: "csrf-1" });
  await call.start();
  assert.deepEqual(asked, [{ audio: true }]);
  const start = requests[0];
  assert.equal(start.url, ENDPOINT);
  assert.equal(start.init.method, "POST");
  assert.equal(start.init.headers["Content-Type"], "application/json");
  assert.equal(start.init.headers["X-CSRFToken"], "csrf-1");
  assert.deepEqual(start.body, {
    agentId: "6f1c0c9e-0000-4000-8000-000000000000",
    mode: "voice",
    transport: "webrtc",
  });
  assert.deepEqual(seen.phases, ["permission", "connecting"]);
  assert.deepEqual(seen.started, [SESSION.sessionId]);
});

test("the offer has the microphone, a data channel and ICE candidates, with the session's token", async () => {
  const { call, requests, stream } = aCall();
  await call.start();
  const pc = FakePeerConnection.last;
  assert.deepEqual(pc.config, { iceServers: SESSION.iceServers });
  // The data channel is the client's to open (pipecat's SmallWebRTC only answers one), before the offer.
  assert.deepEqual(pc.steps, ["transceiver", "data channel", "offer", "answer"]);
  assert.equal(pc.transceivers.length, 1);
  assert.equal(pc.transceivers[0].trackOrKind, stream.track);
  assert.equal(pc.transceivers[0].init.direction, "sendrecv");
  assert.deepEqual(pc.channel.init, { ordered: true });
  const offer = requests[1];
  assert.equal(offer.url, SESSION.offerUrl);
  assert.equal(offer.init.method, "POST");
  assert.equal(offer.init.headers.Authorization, "Bearer st_call");
  assert.equal(offer.init.headers["X-CSRFToken"], undefined);
  assert.deepEqual(offer.body, { type: "offer", sdp: "v=0 offer and its candidates" });
  assert.deepEqual(pc.remoteDescription, { type: "answer", sdp: "v=0 answer" });
  call.hangUp();
});

test("a video call also receives video, on the second transceiver", async () => {
  const { call, requests } = aCall({ mode: "video" });
  await call.start();
  const pc = FakePeerConnection.last;
  assert.equal(requests[0].body.mode, "video");
  assert.deepEqual(
    pc.transceivers.map((t) => t.init.direction),
    ["sendrecv", "recvonly"],
  );
  assert.equal(pc.transceivers[1].trackOrKind, "video");
  call.hangUp();
});

test("the offer waits for ICE gathering, but no longer than the cap", async () => {
  const pc = new EventTarget();
  pc.iceGatheringState = "gathering";
  const began = Date.now();
  await widget.iceGathered(pc, 60);
  assert.ok(Date.now() - began >= 55);
  pc.iceGatheringState = "complete";
  const again = Date.now();
  await widget.iceGathered(pc, 5000);
  assert.ok(Date.now() - again < 100);
});

test("once the data channel opens the widget says it is ready, then pings while it stays open", async (t) => {
  t.mock.timers.enable({ apis: ["setInterval"] });
  const { call } = aCall();
  await call.start();
  const channel = FakePeerConnection.last.channel;
  channel.open();
  const ready = JSON.parse(channel.sent[0]);
  assert.equal(ready.label, "rtvi-ai");
  assert.equal(ready.type, "client-ready");
  assert.equal(ready.data.version, widget.RTVI_VERSION);
  assert.equal(typeof ready.id, "string");
  t.mock.timers.tick(2000);
  assert.equal(channel.sent.length, 3);
  assert.match(channel.sent[1], /^ping: \d+$/);
  call.hangUp();
  t.mock.timers.tick(2000);
  assert.equal(channel.sent.length, 3);
});

function live(phase = "connecting") {
  return widget.callState(phase);
}

function rtvi(type, data) {
  return { label: "rtvi-ai", type, data };
}

function captions(state) {
  return state.lines.map((line) => [line.role, line.text, line.interim]);
}

test("the agent's RTVI messages move the call through listening, thinking and speaking", () => {
  const state = live();
  const phases = [];
  for (const type of [
    "bot-ready",
    "user-started-speaking",
    "user-stopped-speaking",
    "bot-started-speaking",
    "bot-stopped-speaking",
    "user-started-speaking",
    "bot-started-speaking",
    "bot-interrupted",
  ]) {
    widget.callMessage(state, rtvi(type));
    phases.push(state.phase);
  }
  assert.deepEqual(phases, [
    "listening",
    "listening",
    "thinking",
    "speaking",
    "listening",
    "listening",
    "speaking",
    "listening",
  ]);
});

test("the visitor's captions show interim words until they are final, a line per turn", () => {
  const state = live("listening");
  widget.callMessage(state, rtvi("user-transcription", { text: "What time", final: false }));
  assert.deepEqual(captions(state), [["user", "", "What time"]]);
  widget.callMessage(state, rtvi("user-transcription", { text: "What time do boats", final: false }));
  widget.callMessage(state, rtvi("user-transcription", { text: "What time do boats leave?", final: true }));
  assert.deepEqual(captions(state), [["user", "What time do boats leave?", ""]]);
  widget.callMessage(state, rtvi("user-transcription", { text: "To the", final: false }));
  assert.deepEqual(captions(state), [["user", "What time do boats leave?", "To the"]]);
  widget.callMessage(state, rtvi("user-transcription", { text: "To the island.", final: true }));
  widget.callMessage(state, rtvi("bot-output", { text: "At nine.", spoken: true }));
  widget.callMessage(state, rtvi("user-transcription", { text: "Thanks!", final: true }));
  assert.deepEqual(captions(state), [
    ["user", "What time do boats leave? To the island.", ""],
    ["agent", "At nine.", ""],
    ["user", "Thanks!", ""],
  ]);
});

test("the agent's captions show each segment once, as far as it has been spoken", () => {
  const state = live("speaking");
  const segment = (id, text, accumulated, status) =>
    rtvi("bot-output", {
      text,
      output_type: "sentence",
      segment_id: id,
      will_be_spoken: true,
      spoken_status: status,
      spoken_progress: { accumulated_text: accumulated, remaining_text: text.slice(accumulated.length) },
    });
  widget.callMessage(state, segment(1, "Boats leave at nine.", "", "new"));
  assert.deepEqual(captions(state), [["agent", "", ""]]);
  assert.deepEqual(widget.captionLines(state.lines), []); // no empty bubble before the words
  widget.callMessage(state, segment(1, "Boats leave at nine.", "Boats leave", "in-progress"));
  assert.deepEqual(captions(state), [["agent", "Boats leave", ""]]);
  widget.callMessage(state, segment(1, "Boats leave at nine.", "Boats leave at nine.", "completed"));
  widget.callMessage(state, segment(2, "Be early.", "Be early.", "completed"));
  assert.deepEqual(captions(state), [["agent", "Boats leave at nine. Be early.", ""]]);
  // Older servers send each piece once, with no segment: each is added.
  widget.callMessage(state, rtvi("bot-output", { text: "See you.", spoken: true }));
  assert.deepEqual(captions(state), [["agent", "Boats leave at nine. Be early. See you.", ""]]);
});

test("unknown, unlabelled and late messages change nothing", () => {
  const state = live("listening");
  assert.equal(widget.callMessage(state, rtvi("metrics", { processing: [] })), false);
  assert.equal(widget.callMessage(state, { type: "bot-started-speaking" }), false);
  assert.equal(widget.callMessage(state, null), false);
  assert.equal(state.phase, "listening");
  const ended = live("ended");
  assert.equal(widget.callMessage(ended, rtvi("bot-started-speaking")), false);
  assert.equal(ended.phase, "ended");
});

test("messages over the data channel are drawn; an error is told, a fatal one ends the call", async () => {
  const { call, seen, requests } = aCall();
  await call.start();
  const pc = FakePeerConnection.last;
  pc.becomes("connected");
  assert.equal(call.state.phase, "listening");
  pc.channel.deliver(rtvi("bot-started-speaking"));
  pc.channel.deliver("not json");
  assert.equal(call.state.phase, "speaking");
  // The agent's side words errors for its logs; the visitor reads the widget's own words.
  pc.channel.deliver(rtvi("error", { error: "TTS context 5e1c completed with no audio", fatal: false }));
  assert.equal(call.state.notice, "err_hiccup");
  assert.equal(call.state.phase, "speaking");
  pc.channel.deliver(rtvi("user-started-speaking"));
  assert.equal(call.state.notice, "");
  pc.channel.deliver(rtvi("error", { error: "PiperTTSService#0 exception: onnxruntime", fatal: true }));
  assert.equal(call.state.phase, "error");
  assert.deepEqual(seen.errors, [{ code: "call_failed", key: "err_call_failed" }]);
  assert.equal(pc.closed, true);
  assert.equal(requests[requests.length - 1].url, SESSION.endUrl);
});

test("the agent's tracks go to the page", async () => {
  const { call, seen } = aCall();
  await call.start();
  const event = { track: { kind: "audio" }, streams: [] };
  FakePeerConnection.last.ontrack(event);
  assert.deepEqual(seen.tracks, [event]);
  call.hangUp();
});

test("mute switches the microphone track off and on", async () => {
  const { call, stream } = aCall();
  await call.start();
  call.setMuted(true);
  assert.equal(stream.track.enabled, false);
  assert.equal(call.muted, true);
  call.setMuted(false);
  assert.equal(stream.track.enabled, true);
  call.hangUp();
});

test("hanging up closes the connection, frees the microphone and ends the session with its token", async () => {
  const { call, requests, seen, stream } = aCall();
  await call.start();
  call.hangUp();
  assert.equal(call.state.phase, "ended");
  assert.equal(FakePeerConnection.last.closed, true);
  assert.equal(stream.track.stopped, true);
  const end = requests[2];
  assert.equal(end.url, SESSION.endUrl);
  assert.equal(end.init.method, "POST");
  assert.equal(end.init.headers.Authorization, "Bearer st_call");
  assert.deepEqual(end.body, {});
  assert.equal(end.init.keepalive, true);
  assert.deepEqual(seen.ended, [SESSION.sessionId]);
  call.hangUp();
  assert.equal(requests.length, 3);
  assert.deepEqual(seen.ended, [SESSION.sessionId]);
});

test("a session ends with its token, in a request that outlives the page", () => {
  const init = widget.endRequest({ sessionToken: "st_chat" });
  assert.equal(init.method, "POST");
  assert.equal(init.headers.Authorization, "Bearer st_chat");
  assert.equal(init.headers["Content-Type"], "application/json");
  assert.equal(init.body, "{}");
  assert.equal(init.keepalive, true); // sent on pagehide, it must survive the page
});

test("when the agent leaves, the call is over without another end request", async () => {
  const { call, requests, seen } = aCall();
  await call.start();
  FakePeerConnection.last.channel.deliver({ type: "signalling", message: { type: "peerLeft" } });
  assert.equal(call.state.phase, "ended");
  assert.equal(requests.length, 2);
  assert.deepEqual(seen.ended, [SESSION.sessionId]);
});

test("a lost connection fails the call with the connection's words", async () => {
  const { call, seen } = aCall();
  await call.start();
  FakePeerConnection.last.becomes("failed");
  assert.equal(call.state.phase, "error");
  assert.deepEqual(seen.errors, [{ code: "network", key: "err_connection" }]);
});

test("a blocked, missing or busy microphone is told, and no session is started", async () => {
  const cases = [
    ["NotAllowedError", "microphone_denied", "err_mic_denied"],
    ["SecurityError", "microphone_denied", "err_mic_denied"],
    ["NotFoundError", "microphone_missing", "err_mic_missing"],
    ["NotReadableError", "microphone_busy", "err_mic_busy"],
    ["TypeError", "microphone", "err_failed"],
  ];
  for (const [name, code, key] of cases) {
    const error = new Error("refused");
    error.name = name;
    const { call, requests, seen } = aCall({ microphone: error });
    await call.start();
    assert.equal(call.state.phase, "error", name);
    assert.deepEqual(seen.errors, [{ code, key }], name);
    assert.equal(requests.length, 0, name);
  }
});

test("without a secure context or WebRTC the call says so before asking for anything", async () => {
  const insecure = aCall({ secure: false });
  await insecure.call.start();
  assert.deepEqual(insecure.seen.errors, [{ code: "insecure_context", key: "err_insecure" }]);
  assert.deepEqual(insecure.asked, []);
  assert.deepEqual(widget.callSupport({ isSecureContext: true, mediaDevices: {} }), {
    code: "unsupported",
    key: "err_unsupported",
  });
});

test("a refused start is shown with the server's words, and the microphone is let go", async () => {
  const busy = {
    error: "No voice worker is running, so calls cannot start.",
    code: "busy",
    details: { reason: "no_worker" },
  };
  const { call, seen, stream, requests } = aCall({ answers: { [ENDPOINT]: [503, busy] } });
  await call.start();
  assert.equal(call.state.phase, "error");
  assert.deepEqual(seen.errors, [
    { code: "no_worker", key: "err_failed", message: "No voice worker is running, so calls cannot start." },
  ]);
  assert.equal(stream.track.stopped, true);
  assert.equal(FakePeerConnection.last, null);
  assert.equal(requests.length, 1);
  assert.deepEqual(seen.ended, []);
});

test("a refused offer is shown, and the session it started is ended", async () => {
  const refused = {
    error: "This call has ended; start a new one.",
    code: "conflict",
    details: { reason: "session_ended" },
  };
  const { call, seen, requests } = aCall({ answers: { [SESSION.offerUrl]: [409, refused] } });
  await call.start();
  assert.equal(call.state.phase, "error");
  assert.equal(seen.errors[0].message, "This call has ended; start a new one.");
  assert.equal(FakePeerConnection.last.closed, true);
  assert.equal(requests[2].url, SESSION.endUrl);
  assert.deepEqual(seen.ended, [SESSION.sessionId]);
});

test("a call's refusals keep the visitor's own words where the widget has them", () => {
  const used = widget.describeError(410, { code: "gone", details: { reason: "single_use_used" } }, "call");
  assert.deepEqual(used, { code: "single_use_used", key: "err_used" });
  assert.equal(widget.describeError(429, { error: "Too many", code: "rate_limited" }, "call").message, undefined);
  assert.equal(widget.describeError(404, { error: "No agent with this id exists." }, "call").key, "err_unavailable");
  const keyless = widget.describeError(409, { error: "Deepgram needs its key.", code: "conflict" }, "call");
  assert.equal(keyless.message, "Deepgram needs its key.");
  assert.equal(widget.describeError(503, null, "call").key, "err_unavailable");
});

test("modes: unknown ones are chat, and the switch offers the current mode too", () => {
  assert.equal(widget.modeOf("Voice"), "voice");
  assert.equal(widget.modeOf("phone"), "chat");
  assert.equal(widget.modeOf(null), "chat");
  assert.deepEqual(widget.modesOf("chat voice", "chat"), ["chat", "voice"]);
  assert.deepEqual(widget.modesOf("chat,video,video,phone", "chat"), ["chat", "video"]);
  assert.deepEqual(widget.modesOf("", "voice"), ["voice"]);
  assert.deepEqual(widget.modesOf("chat", "video"), ["video", "chat"]);
});

test("request shapes: the start and the offer", () => {
  const start = widget.callStartRequest("a1", "video", "");
  assert.deepEqual(JSON.parse(start.body), { agentId: "a1", mode: "video", transport: "webrtc" });
  assert.deepEqual(start.headers, { "Content-Type": "application/json" });
  const offer = widget.offerRequest({ sessionToken: "st_1" }, "v=0");
  assert.deepEqual(JSON.parse(offer.body), { type: "offer", sdp: "v=0" });
  assert.deepEqual(offer.headers, { "Content-Type": "application/json", Authorization: "Bearer st_1" });
});
