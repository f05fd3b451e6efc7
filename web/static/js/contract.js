// Code generated from package relay/wire by "go generate ./web"; DO NOT EDIT.
// The wire contract's names and numbers, for the pages. TestContractJS
// fails when this file and package wire differ.

// The "type" of every JSON text frame.
export const Type = Object.freeze({
  HELLO: "hello",
  PRESENCE: "presence",
  CHAT: "chat",
  FRAME: "frame",
  ACK: "ack",
  ERROR: "error",
  GAME: "game",
  PATCH: "patch",
  KEYFRAME: "keyframe",
});

// The "code" of an error event.
export const Code = Object.freeze({
  INVALID_IMAGE: "invalid_image",
  TOO_LARGE: "too_large",
  TOO_MANY_PIXELS: "too_many_pixels",
  UNSUPPORTED_FORMAT: "unsupported_format",
  RATE_LIMITED: "rate_limited",
  FORBIDDEN: "forbidden",
  BAD_REQUEST: "bad_request",
  INTERNAL: "internal",
  KEYFRAME_NEEDED: "keyframe_needed",
  PATCHES_UNSUPPORTED: "patches_unsupported",
});

// Close codes (4000–4999: the relay's own).
export const Close = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  ABNORMAL: 1006,
  INVALID_DATA: 1007,
  POLICY: 1008,
  TOO_BIG: 1009,
  SLOW_CONSUMER: 4001,
  QUEUE_OVERFLOW: 4002,
  PING_TIMEOUT: 4003,
  RELAY_MIN: 4000,
  RELAY_MAX: 4999,
});

// The "event" of a presence event.
export const Presence = Object.freeze({
  JOIN: "join",
  LEAVE: "leave",
});

// The "event" of {"type":"game"} from the relay.
export const GameEvent = Object.freeze({
  START: "start",
  TURN: "turn",
  GUESSED: "guessed",
  REVEAL: "reveal",
  OVER: "over",
});

// The "action" of {"type":"game"} to the relay.
export const GameAction = Object.freeze({
  START: "start",
  STOP: "stop",
});

// Query parameters of /ws/{room}.
export const Query = Object.freeze({
  NAME: "name",
  CLIENT: "client",
  RESUME: "resume",
  TOKEN: "token",
  MAX_WIDTH: "max_width",
  MAX_HEIGHT: "max_height",
  FORMAT: "format",
  QUALITY: "quality",
  PATCHES: "patches",
});

// Image format words.
export const Format = Object.freeze({
  PNG: "png",
  JPEG: "jpeg",
  GIF: "gif",
  WEBP: "webp",
});

// Limits and other constants of the contract (durations in ms).
export const Limits = Object.freeze({
  DEFAULT_MAX_BYTES: 8388608,
  DEFAULT_MAX_PIXELS: 16777216,
  MAX_RESUME_LEN: 64,
  MIN_ROUNDS: 1,
  MAX_ROUNDS: 10,
  DEFAULT_ROUNDS: 1,
  MIN_SECONDS: 15,
  MAX_SECONDS: 180,
  DEFAULT_SECONDS: 60,
  MAX_GAME_PAUSE_MS: 5000,
  KEYFRAME_MIN_BYTES: 65536,
  KEYFRAME_PATCHES: 512,
  MAX_LOG_PATCHES: 1024,
  MAX_ROOM_LEN: 64,
  MAX_ID_LEN: 64,
  NAME_RULE: "1 to 64 characters from A-Z a-z 0-9 . _ -",
});

// The formats a relay accepts by default (hello.formats).
export const DEFAULT_FORMATS = Object.freeze(["png", "jpeg", "gif", "webp"]);

// The WebSocket subprotocol the pages offer.
export const SUBPROTOCOL = "canvasrelay.v1";

// Room names and client ids: 1 to 64 characters from A-Z a-z 0-9 . _ -.
export const ROOM_RE = /^[A-Za-z0-9._-]{1,64}$/;
