// PRSNL Video's web library: plain JavaScript over the JSON API (no build step, nothing from a CDN).
"use strict";

const KEY = "prsnl.apiKey";
const PAGE = 24;
const TREND_DAYS = 30;
const SVG = "http://www.w3.org/2000/svg";
const REASONS = {
  too_large: "it is larger than the size limit",
  too_long: "it is longer than the duration limit",
  live_stream: "live streams and premieres cannot be saved",
  private_or_login_required: "it is private or needs a login",
  not_found: "it does not exist any more",
  unsupported_url: "this link is not a video that can be saved",
  blocked_url: "this address is not allowed",
  quota_exceeded: "your storage is full",
  invalid_media: "the file is damaged or is not a video",
  no_video: "there is no picture in it, only sound",
  transient: "the site did not answer; try again later",
  missing_objects: "its stored files are missing",
};
const $ = (id) => document.getElementById(id);
const state = { cursor: null, loading: false, done: false, query: "" };

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${localStorage.getItem(KEY) || ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = data.error || {};
    if (response.status === 401 && method === "GET" && path.startsWith("api/videos?")) signOut();
    throw new ApiError(response.status, error.code || "error", error.message || `HTTP ${response.status}`);
  }
  return data;
}

// -- signing in ----------------------------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  localStorage.setItem(KEY, key);
  try {
    await api("GET", "api/videos?limit=1");
    $("api-key").value = "";
    show();
  } catch (error) {
    localStorage.removeItem(KEY);
    showError("sign-in-error", error.status === 401 ? "That API key was not accepted. Check it and try again."
      : `Could not sign in: ${error.message}`);
  }
}

function signOut() {
  localStorage.removeItem(KEY);
  show();
}

function show() {
  const signedIn = Boolean(localStorage.getItem(KEY));
  $("sign-in").hidden = signedIn;
  $("library").hidden = !signedIn;
  $("sign-out").hidden = !signedIn;
  if (signedIn) {
    reload();
    loadTrend();
  }
}

function showError(id, message) {
  $(id).textContent = message;
  $(id).hidden = !message;
}

// -- capturing -----------------------------------------------------------------------------------

async function capture(event) {
  event.preventDefault();
  showError("capture-error", "");
  const links = $("links").value.split("\n").map((line) => line.trim()).filter(Boolean);
  $("links").value = "";
  for (const url of links) {
    try {
      const answer = await api("POST", "api/capture", $("audio-only").checked ? { url, audio_only: true } : { url });
      follow(answer.job_id, url, answer.status);
    } catch (error) {
      showError("capture-error", `${url}: ${error.message}`);
    }
  }
  reload();
}

function follow(jobId, url, status) {
  const item = document.createElement("li");
  item.dataset.job = jobId;
  item.textContent = `${url}: ${status}`;
  $("jobs").prepend(item);
  const tick = async () => {
    let job;
    try {
      job = await api("GET", `api/jobs/${jobId}`);
    } catch (error) {
      item.textContent = `${url}: ${error.message}`;
      return;
    }
    item.textContent = `${url}: ${describeJob(job)}`;
    item.dataset.status = job.status;
    if (job.status === "queued" || job.status === "running") {
      setTimeout(tick, 1000);
    } else {
      reload();
      loadTrend();
      if (job.status === "succeeded") setTimeout(() => item.remove(), 15000);
    }
  };
  tick();
}

function describeJob(job) {
  if (job.status === "failed") return `failed: ${reason(job.error_code, job.error_message)}`;
  if (job.status === "succeeded") return "ready";
  const progress = job.progress || {};
  const parts = [progress.stage || job.status];
  if (progress.percent !== undefined) parts.push(`${Number(progress.percent).toFixed(0)}%`);
  if (progress.bytes) parts.push(progress.total ? `${size(progress.bytes)} of ${size(progress.total)}` : size(progress.bytes));
  if (progress.speed) parts.push(`${size(progress.speed)}/s`);
  if (progress.eta !== undefined && progress.eta !== null) parts.push(`${clock(progress.eta)} left`);
  return parts.join(" · ");
}

// -- the library ---------------------------------------------------------------------------------

function reload() {
  state.cursor = null;
  state.done = false;
  $("grid").replaceChildren();
  loadMore();
}

async function loadMore() {
  if (state.loading || state.done || !localStorage.getItem(KEY)) return;
  state.loading = true;
  try {
    const params = new URLSearchParams({ limit: PAGE });
    if (state.query) params.set("q", state.query);
    if (state.cursor) params.set("cursor", state.cursor);
    const page = await api("GET", `api/videos?${params}`);
    page.videos.forEach((video) => $("grid").append(card(video)));
    state.cursor = page.next_cursor;
    state.done = !page.next_cursor;
    $("empty").hidden = $("grid").children.length > 0;
  } catch (error) {
    showError("capture-error", `Could not load the library: ${error.message}`);
  } finally {
    state.loading = false;
  }
  if (!state.done && isVisible($("more"))) loadMore();
}

function isVisible(element) {
  return element.getBoundingClientRect().top < window.innerHeight;
}

function card(video) {
  const item = element("li", { className: "card", dataset: { video: video.video_id, status: video.status } });
  const thumb = element("button", { className: "thumb", type: "button", title: "Play" });
  if (video.watch_url && Object.keys(video.thumbnails || {}).length) {
    thumb.append(element("img", { src: `${video.watch_url}/poster`, alt: "", loading: "lazy" }));
  }
  thumb.append(element("span", { className: `badge ${video.status}`, textContent: video.status }));
  if (video.duration) thumb.append(element("span", { className: "length", textContent: clock(video.duration) }));
  if (video.kind === "audio") thumb.append(element("span", { className: "kind", textContent: "♪ audio" }));
  if (video.status === "ready") thumb.addEventListener("click", () => play(video));
  else thumb.disabled = true;

  const facts = [video.platform_meta?.uploader, size(video.bytes_stored || null)].filter(Boolean).join(" · ");
  const info = element("div", { className: "info" });
  info.append(element("h3", { textContent: video.title || video.source_url }));
  if (facts) info.append(element("p", { textContent: facts }));
  if (video.status === "failed" || video.status === "broken") {
    info.append(element("p", { className: "error", textContent: `Not saved: ${reason(video.error_code, video.error_message)}` }));
  }

  const actions = element("div", { className: "actions" });
  if (video.status === "ready") {
    actions.append(button("Play", () => play(video)));
    actions.append(button("Copy share link", () => copyLink(video, item), "secondary"));
    const quality = smallerQuality(video);
    if (quality) actions.append(button("Smaller copy", () => smallerCopy(video, quality, item), "secondary"));
  }
  if (video.status === "failed") actions.append(button("Retry", () => retryCapture(video, item)));
  actions.append(button("Delete", () => remove(video, item), "danger"));
  item.append(thumb, info, actions);
  return item;
}

function smallerQuality(video) {
  const side = Math.min(video.width || 0, video.height || 0);
  return ["720p", "480p", "360p"].find((q) => parseInt(q) < side && !(video.renditions || {})[q]);
}

async function smallerCopy(video, quality, item) {
  try {
    const answer = await api("POST", `api/videos/${video.video_id}/transcode`, { quality });
    note(item, `${quality} copy: ${answer.status}`);
    if (answer.job_id) follow(answer.job_id, `${video.title || video.video_id} (${quality})`, answer.status);
  } catch (error) {
    note(item, error.message);
  }
}

async function retryCapture(video, item) {
  try {
    const answer = await api("POST", `api/videos/${video.video_id}/retry`);
    follow(answer.job_id, video.title || video.source_url, answer.status);
    reload();
  } catch (error) {
    note(item, error.message);
  }
}

async function copyLink(video, item) {
  try {
    await navigator.clipboard.writeText(video.watch_url);
    note(item, "Share link copied");
  } catch {
    window.prompt("Share link", video.watch_url);
  }
}

async function remove(video, item) {
  if (!window.confirm(`Delete "${video.title || video.source_url}"? This cannot be undone.`)) return;
  try {
    await api("DELETE", `api/videos/${video.video_id}`);
    item.remove();
    $("empty").hidden = $("grid").children.length > 0;
  } catch (error) {
    note(item, error.message);
  }
}

function note(item, text) {
  const info = item.querySelector(".info");
  info.querySelector(".note")?.remove();
  info.append(element("p", { className: "note", textContent: text }));
}

// -- storage over time --------------------------------------------------------------------------

async function loadTrend() {
  try {
    const stats = await api("GET", `api/storage/stats?days=${TREND_DAYS}`);
    $("storage-now").textContent = `· now ${size(stats.bytes_used)} of ${size(stats.quota_bytes)}, ${stats.video_count} videos`;
    drawTrend(stats.series);
  } catch (error) {
    $("storage-now").textContent = `· could not load the figures: ${error.message}`;
  }
}

// One bar a day, scaled to the largest day; a day without a snapshot (null figures) is a short grey bar, so a gap
// shows as a gap and not as an empty library.
function drawTrend(series) {
  const chart = $("trend"), step = 10, height = 60;
  const top = Math.max(1, ...series.map((day) => day.bytes_used || 0));
  chart.setAttribute("viewBox", `0 0 ${series.length * step} ${height}`);
  chart.replaceChildren(...series.map((day, index) => {
    const gap = day.bytes_used === null;
    const tall = gap ? 3 : Math.max(0.5, (day.bytes_used / top) * (height - 2));
    const bar = svgElement("rect", { x: index * step + 1, y: height - tall, width: step - 2, height: tall,
      class: gap ? "gap" : "day", "data-day": day.day });
    const title = svgElement("title", {});
    title.textContent = gap ? `${day.day}: no snapshot` : `${day.day}: ${size(day.bytes_used)}, ${day.video_count} videos`;
    bar.append(title);
    return bar;
  }));
}

function svgElement(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  Object.entries(attributes).forEach(([name, value]) => node.setAttribute(name, value));
  return node;
}

// -- the player ----------------------------------------------------------------------------------

function play(video) {
  const player = $("player");
  const ready = Object.entries(video.renditions || {}).filter(([, entry]) => entry.status === "ready").map(([q]) => q);
  $("player-quality").replaceChildren(...["original", ...ready].map((q) => element("option", {
    value: q === "original" ? `${video.watch_url}/video` : `${video.watch_url}/video?quality=${q}`, textContent: q })));
  $("player-quality").parentElement.hidden = ready.length === 0;
  $("player-title").textContent = video.title || video.source_url;
  $("player-page").href = video.watch_url;
  player.poster = Object.keys(video.thumbnails || {}).length ? `${video.watch_url}/poster` : "";
  player.src = `${video.watch_url}/video`;
  player.replaceChildren(...Object.entries(video.captions || {}).map(([lang, entry], index) => element("track", {
    kind: entry.origin === "automatic" ? "captions" : "subtitles", srclang: lang, default: index === 0,
    label: entry.origin === "automatic" ? `${lang} (auto)` : lang, src: `${video.watch_url}/captions/${encodeURIComponent(lang)}` })));
  $("player-dialog").showModal();
  player.play().catch(() => {});
}

function switchQuality() {
  resumeFrom($("player"), $("player-quality").value);
}

// -- small helpers -------------------------------------------------------------------------------

function element(tag, props) {
  const node = document.createElement(tag);
  const { dataset, ...rest } = props;
  Object.assign(node, rest);
  Object.assign(node.dataset, dataset || {});
  return node;
}

function button(label, onClick, kind) {
  const node = element("button", { type: "button", textContent: label, className: kind || "" });
  node.addEventListener("click", onClick);
  return node;
}

function reason(code, message) {
  return REASONS[code] || message || code || "unknown reason";
}

function size(bytes) {
  if (bytes === null || bytes === undefined) return null;
  const units = ["B", "KB", "MB", "GB"];
  let value = Number(bytes), unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return unit === 0 ? `${value.toFixed(0)} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function clock(seconds) {
  const total = Math.round(Number(seconds));
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return `${h ? `${h}:` : ""}${mm}:${String(s).padStart(2, "0")}`;
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("capture-form").addEventListener("submit", capture);
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.query = $("search").value.trim();
    reload();
  });
  $("player-quality").addEventListener("change", switchQuality);
  keepPlaying($("player"));
  $("player-dialog").addEventListener("close", () => { $("player").pause(); $("player").removeAttribute("src"); $("player").load(); });
  new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) loadMore(); }).observe($("more"));
  show();
});
