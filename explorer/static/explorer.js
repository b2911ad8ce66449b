// Crucible explorer: renders each page from the JSON API and re-renders when the server-sent event
// stream says something changed. Charts are inline SVG drawn here; nothing is loaded from elsewhere.
"use strict";

const PAGE = document.body.dataset.page;
const KEY = document.body.dataset.key;
const API = { market: "/api/market", job: `/api/jobs/${KEY}`, provider: `/api/providers/${KEY}`, challenger: `/api/challengers/${KEY}` };
const SVG = "http://www.w3.org/2000/svg";
// Seconds from a checkpoint on the worker (its signed record's time) to its point on this page, by step.
window.progressDelays = {};

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

function s(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function eth(wei) {
  if (wei === null || wei === undefined) return "–";
  const v = BigInt(wei), unit = 10n ** 18n, frac = (v % unit).toString().padStart(18, "0").slice(0, 4);
  return `${v / unit}.${frac} ETH`;
}

const short = (x) => (x ? `${x.slice(0, 8)}…${x.slice(-4)}` : "–");
const addrLink = (kind, a) => (a ? h("a", { href: `/${kind}/${a}`, class: "mono", title: a }, short(a)) : "–");
const jobLink = (id) => h("a", { href: `/jobs/${id}` }, `#${id}`);
const pill = (status) => h("span", { class: `pill ${status}` }, status);
const when = (t) => (t ? new Date(t * 1000).toLocaleTimeString() : "–");

function duration(sec) {
  sec = Math.max(0, Math.round(sec));
  const hh = Math.floor(sec / 3600), mm = Math.floor((sec % 3600) / 60), ss = sec % 60;
  return hh ? `${hh}h ${mm}m ${ss}s` : mm ? `${mm}m ${ss}s` : `${ss}s`;
}

// A deadline (unix seconds) shown as a countdown against this computer's clock, ticking.
function countdown(deadline) {
  return deadline ? h("span", { class: "countdown", "data-deadline": deadline }, "") : h("span", { class: "muted" }, "–");
}

function tick() {
  const now = Date.now() / 1000;
  for (const node of document.querySelectorAll("[data-deadline]")) {
    const left = Number(node.dataset.deadline) - now;
    node.textContent = left >= 0 ? `in ${duration(left)}` : `passed ${duration(-left)} ago`;
    node.classList.toggle("bad", left < 0);
  }
}

function card(label, value, id) {
  return h("div", { class: "card" }, h("div", { class: "label" }, label), h("div", { class: "value", id }, value));
}

function table(headers, rows, id) {
  return h("table", { id },
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { class: x.endsWith(" ") ? "num" : null }, x.trim())))),
    h("tbody", {}, rows.length ? rows.map((r) => h("tr", {}, r.map((c, i) => h("td", { class: headers[i].endsWith(" ") ? "num" : null }, c))))
      : h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, "none yet"))));
}

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

// ------------------------------------------------------------------ charts

function lossChart(points, total) {
  const W = 900, H = 260, L = 52, R = 12, T = 20, B = 28;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", id: "loss-chart", role: "img" });
  svg.append(s("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }), s("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }));
  svg.append(s("text", { x: W - R, y: H - 6, "text-anchor": "end" }, `step (of ${total})`), s("text", { x: L + 6, y: T - 6 }, "loss"));
  if (!points.length) { svg.append(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no progress reported yet")); return svg; }
  const maxLoss = Math.max(...points.map((p) => p.loss)) * 1.05 || 1;
  const x = (step) => L + ((W - L - R) * step) / Math.max(1, total);
  const y = (loss) => H - B - ((H - T - B) * loss) / maxLoss;
  for (const frac of [0, 0.5, 1]) svg.append(s("text", { x: L - 4, y: y(maxLoss * frac) + 4, "text-anchor": "end" }, (maxLoss * frac).toFixed(2)));
  svg.append(s("polyline", { class: "line", points: points.map((p) => `${x(p.step)},${y(p.loss)}`).join(" ") }));
  for (const p of points) {
    const c = s("circle", { class: "pt", cx: x(p.step), cy: y(p.loss), r: 3, "data-step": p.step });
    c.append(s("title", {}, `step ${p.step}: loss ${p.loss.toFixed(4)}`));
    svg.append(c);
    if (!(p.step in window.progressDelays)) window.progressDelays[p.step] = Date.now() / 1000 - p.time;
  }
  return svg;
}

// The dissection drawn as one bar per round: the disputed interval [a, b], the provider's points
// in it (ticks), and the part the challenger picked as the next round's bar, down to one step.
function dissectionChart(d, total) {
  const rounds = d.rounds, W = 900, L = 150, R = 16, T = 22, row = 22;
  const H = T + row * (rounds.length + (d.ready ? 1 : 0)) + 24;
  const lo = rounds[0].a, hi = Math.max(rounds[0].b, lo + 1);
  const x = (step) => L + ((W - L - R) * (step - lo)) / (hi - lo);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart dissection", id: `dissection-${d.id}` });
  svg.append(s("text", { x: L, y: 14 }, `step ${lo}`), s("text", { x: W - R, y: 14, "text-anchor": "end" }, `step ${hi}`));
  rounds.forEach((r, i) => {
    const yy = T + i * row, last = i === rounds.length - 1;
    svg.append(s("text", { x: 4, y: yy + 14 }, `${when(r.at)} ${r.move}`));
    const bar = s("rect", { class: `iv${last ? " last" : ""}`, x: x(r.a), y: yy + 3, width: Math.max(2, x(r.b) - x(r.a)), height: row - 8, "data-a": r.a, "data-b": r.b });
    bar.append(s("title", {}, `[${r.a}, ${r.b}]` + (r.points ? ` points ${r.points.join(", ")}` : "")));
    svg.append(bar, s("text", { x: Math.min(x(r.b) + 4, W - R - 50), y: yy + 14 }, `[${r.a}, ${r.b}]`));
    for (const m of (r.points || []).slice(1, -1)) svg.append(s("line", { class: "mid", x1: x(m), x2: x(m), y1: yy + 1, y2: yy + row - 3, "data-m": m }));
  });
  if (d.ready) {
    const yy = T + rounds.length * row;
    svg.append(s("text", { x: 4, y: yy + 14 }, `${when(d.ready.at)} oracle`), s("text", { x: x(d.ready.a), y: yy + 14 }, `replays step ${d.ready.a} → ${d.ready.a + 1}`));
  }
  svg.append(s("text", { x: W - R, y: H - 6, "text-anchor": "end" }, `${total} steps in the job`));
  return svg;
}

// Each party's chess clock: time left of its budget (a turn gets at least the move extension).
function clocksText(c) {
  if (!c) return "–";
  const left = (used) => duration(Math.max(0, c.budget - used));
  return `provider ${left(c.provider_used)} left, challenger ${left(c.challenger_used)} left of ${duration(c.budget)} (each move at least ${duration(c.move_extension)})`;
}

// ------------------------------------------------------------------ pages

function renderMarket(d) {
  const t = d.totals || {};
  const balanced = t.liabilities !== undefined && t.liabilities === t.balance;
  const jobs = d.jobs.map((j) => [jobLink(j.id), pill(j.status), addrLink("providers", j.provider), eth(j.reward), j.total_steps, j.disputes.map((x) => h("a", { href: `/disputes/${x}` }, `#${x} `))]);
  const providers = d.providers.map((p) => [addrLink("providers", p.address), eth(p.free), eth(p.locked), p.finalized, p.slashed, p.expired, eth(p.earnings)]);
  const challengers = d.challengers.map((c) => [addrLink("challengers", c.address), c.disputes.length, c.won, c.lost, eth(c.bonds_posted)]);
  const byStatus = Object.entries(t.jobs_by_status || {}).map(([k, v]) => h("span", {}, pill(k), ` ${v}  `));
  return [
    h("h1", {}, "Market ", h("span", { class: "mono" }, d.market), h("span", { class: "muted" }, `  chain ${d.chain_id}, block ${d.head ?? "–"}`)),
    h("div", { class: "grid", id: "totals" },
      card("escrow (rewards held)", eth(t.escrow), "total-escrow"), card("stakes", eth(t.stakes), "total-stakes"),
      card("live bonds", eth(t.bonds), "total-bonds"), card("credits owed", eth(t.credits), "total-credits"),
      card("liabilities (contract)", eth(t.liabilities), "total-liabilities"), card("contract balance", eth(t.balance), "total-balance")),
    h("p", { id: "solvency", class: balanced ? "ok" : "bad" }, balanced ? "The contract's balance equals what it owes." : "The contract's balance differs from what it owes!",
      h("span", { class: "muted" }, `  escrow + stakes + bonds + credits = ${eth(t.sum)}; burned so far ${eth(t.burned)}`)),
    h("h2", {}, "Jobs ", h("span", { id: "jobs-by-status" }, byStatus)),
    table(["job", "status", "provider", "reward ", "steps ", "disputes"], jobs, "jobs"),
    h("div", { class: "cols" },
      h("div", {}, h("h2", {}, "Providers"), table(["provider", "free ", "locked ", "finalized ", "slashed ", "expired ", "earned "], providers, "providers"),
        h("h2", {}, "Verifiers (challengers)"), table(["challenger", "disputes ", "won ", "lost ", "bonds "], challengers, "challengers"),
        h("h2", {}, "Oracles"), table(["oracle", "votes ", "fees "], Object.entries(d.oracles).map(([a, o]) => [h("span", { class: "mono" }, short(a)), o.votes, eth(o.fees)]), "oracles")),
      h("div", {}, h("h2", {}, "Events"), h("ul", { id: "feed" }, d.feed.map(feedItem)))),
  ];
}

function feedItem(e) {
  const what = e.job_id !== null ? jobLink(e.job_id) : "";
  return h("li", { "data-block": e.block }, h("span", { class: "muted" }, `${when(e.at)} block ${e.block} `), h("b", {}, e.event), " ", what,
    e.dispute_id !== undefined && e.dispute_id !== null ? h("span", {}, " dispute ", h("a", { href: `/disputes/${e.dispute_id}` }, `#${e.dispute_id}`)) : "");
}

function renderJob(d) {
  const j = d.job, p = d.progress, pts = p.points, last = pts[pts.length - 1];
  const spec = j.spec;
  const trace = j.manifest ? j.manifest.checkpoints.map((c) => [c.step, h("span", { class: "mono" }, c.state_hash), h("span", { class: "mono" }, c.cid)]) : [];
  const progressText = last
    ? `step ${last.step} of ${p.total_steps}, loss ${last.loss.toFixed(4)}` + (p.eta_seconds !== null ? `, about ${duration(p.eta_seconds)} to go` : last.step >= p.total_steps ? ", trained" : "")
    : "no progress reported yet";
  return [
    h("h1", {}, `Job #${j.id} `, h("span", { id: "job-status" }, pill(j.status))),
    h("div", { class: "cols" },
      kv([
        ["requester", h("span", { class: "mono" }, j.requester)],
        ["provider", j.provider ? addrLink("providers", j.provider) : "not claimed yet"],
        ["reward", eth(j.reward)], ["stake / bond", `${eth(j.stake)} / ${eth(j.bond)}`],
        ["steps, checkpoint every", `${j.total_steps}, ${j.interval}`],
        ["duration / challenge window", `${duration(j.duration)} / ${duration(j.challenge_window)}`],
        ["posted", when(j.posted_at)],
        ["submit by", j.claim_deadline ? h("span", {}, when(j.claim_deadline), " ", h("span", { id: "claim-countdown" }, countdown(j.status === "CLAIMED" ? j.claim_deadline : null))) : "–"],
        ["challenge window ends", j.window_end ? h("span", {}, when(j.window_end), " ", h("span", { id: "window-countdown" }, countdown(j.status === "SUBMITTED" || j.status === "DISPUTED" ? j.window_end : null))) : "–"],
        ["paid", j.paid ? eth(j.paid) : "–"],
        ["slashed", j.slash ? h("span", { id: "job-slash" }, `${eth(j.slash.amount)} by dispute #${j.slash.dispute_id}: oracles ${eth(j.slash.oracleFee)}, challengers' pool ${eth(j.slash.pool)} shared by ${j.slash.winners}, requester ${eth(j.slash.toRequester)}, burned ${eth(j.slash.burned)}`) : "–"],
        ["released", j.released ? `${j.released.how}: ${eth(j.released.to_requester)} of the stake to the requester${j.released.refunded ? ", reward refunded" : ""}` : "–"],
        ["progress on chain", j.reported.length ? h("span", { id: "chain-progress" }, `step ${j.reported[j.reported.length - 1].step} at ${when(j.reported[j.reported.length - 1].at)}`) : "–"],
        ["report progress by", j.status === "CLAIMED" && j.progress_deadline ? h("span", {}, when(j.progress_deadline), " ", countdown(j.progress_deadline)) : "–"],
        ["paid out by (latest)", j.payout_bound ? when(j.payout_bound) : "–"],
      ]),
      kv([
        ["spec", h("span", { class: "mono" }, j.spec_cid)],
        ["model", spec ? `${spec.model.arch} ${JSON.stringify(spec.model.hidden ?? spec.model.channels ?? "")}` : "–"],
        ["optimizer", spec ? `${spec.train.optimizer.name} lr ${spec.train.optimizer.lr}, batch ${spec.train.batch_size}, seed ${spec.train.seed}` : "–"],
        ["profile", spec ? spec.profile : "–"],
        ["trace root", j.result ? h("span", { class: "mono" }, j.result.trace_root) : "–"],
        ["final state hash", j.result ? h("span", { class: "mono" }, j.result.final_state_hash) : "–"],
        ["final model", j.result ? h("span", { class: "mono", id: "final-model" }, j.result.final_model_cid) : "–"],
        ["manifest", j.result ? h("span", { class: "mono" }, j.result.manifest_cid) : "–"],
      ])),
    spec ? h("details", {}, h("summary", {}, "full spec"), h("pre", {}, JSON.stringify(spec, null, 2))) : "",
    h("h2", {}, "Training progress"),
    h("p", { id: "progress-text" }, progressText, d.status.progress_error ? h("span", { class: "muted", id: "progress-error" }, ` (progress channel: ${d.status.progress_error})`) : ""),
    lossChart(pts, p.total_steps),
    h("h2", {}, `Disputes (${d.disputes.length})`),
    d.disputes.length ? d.disputes.map((x) => renderDispute(x, j)) : h("p", { class: "muted" }, "none"),
    h("h2", {}, "Trace"),
    table(["step ", "state hash", "CID"], trace, "trace"),
    j.manifest ? "" : h("p", { class: "muted" }, "the manifest appears when the provider submits; until then see the progress above"),
    h("h2", {}, "History"),
    table(["time", "block ", "event"], j.history.map((e) => [when(e.at), e.block, e.event]), "history"),
  ];
}

function renderDispute(d, job) {
  const ev = d.evidence;
  const verdict = d.votes.map((v) => `${v.verdict} by ${short(v.oracle)}`).join(", ");
  const clock = d.turn && d.deadline
    ? h("span", {}, `${d.turn}'s move, deadline ${when(d.deadline)} `, countdown(d.deadline))
    : d.settled_by_slash === false ? "won by another dispute's slash: waiting for settleDispute" : "stopped";
  const settled = d.settled_by_slash ? " (settled after another dispute's slash)" : "";
  return h("section", { id: `dispute-${d.id}`, class: "dispute" },
    h("h3", {}, `Dispute #${d.id} `, pill(d.status), ` ${d.kind} by `, addrLink("challengers", d.challenger)),
    kv([
      ["interval", h("span", { class: "interval" }, `[${d.a}, ${d.b}]`)],
      ["clock", h("span", { class: "clock" }, clock)],
      ["chess clocks", h("span", { class: "clocks" }, clocksText(d.clocks))],
      ["oracle epoch", d.epoch],
      ["agreed H(a)", h("span", { class: "mono" }, (ev && ev.agreed_hash) || (d.ready ? d.ready.hash_a : d.hash_a))],
      ["claimed H(b)", h("span", { class: "mono" }, (ev && ev.claimed_hash) || (d.ready ? d.ready.hash_b : d.hash_b))],
      ["replayed by the oracle", h("span", { class: "mono replayed" }, ev && ev.replayed_hash ? ev.replayed_hash : ev && ev.error ? ev.error : "–")],
      ["verdict", h("span", { class: "verdict" }, verdict || "–", ev && ev.reason ? h("span", { class: "muted" }, ` (${ev.reason})`) : "")],
      ["outcome", d.outcome ? h("span", {}, pill(d.outcome), settled) : "–"],
      ["bond", `${eth(d.bond)}${d.bond_forfeited ? `, forfeited ${eth(d.bond_forfeited)}` : ""}${d.voided ? `, voided: ${eth(d.voided.refund)} back, ${eth(d.voided.void_fee)} fee` : ""}${d.challenger_reward ? `, challenger rewarded ${eth(d.challenger_reward)}` : ""}`],
    ]),
    dissectionChart(d, job.total_steps));
}

function renderProvider(d) {
  const p = d.provider;
  return [
    h("h1", {}, "Provider ", h("span", { class: "mono" }, p.address)),
    h("div", { class: "grid" }, card("free stake", eth(p.free), "free-stake"), card("locked stake", eth(p.locked), "locked-stake"),
      card("jobs finalized", p.finalized, "finalized"), card("slashed", p.slashed, "slashed"), card("expired", p.expired, "expired"),
      card("earnings", eth(p.earnings), "earnings")),
    h("h2", {}, "Jobs"), table(["job", "status", "reward ", "stake ", "paid "], d.jobs.map((j) => [jobLink(j.id), pill(j.status), eth(j.reward), eth(j.stake), j.paid ? eth(j.paid) : "–"]), "provider-jobs"),
    h("h2", {}, "Slashes"), table(["job", "amount ", "time"], p.slashes.map((x) => [jobLink(x.job_id), eth(x.amount), when(x.at)]), "slashes"),
  ];
}

function renderChallenger(d) {
  const c = d.challenger;
  return [
    h("h1", {}, "Challenger ", h("span", { class: "mono" }, c.address)),
    h("div", { class: "grid" }, card("disputes", c.disputes.length, "disputes-count"), card("won", c.won, "won"), card("lost", c.lost, "lost"),
      card("voided", c.voided, "voided"), card("bonds posted", eth(c.bonds_posted), "bonds-posted"), card("bonds forfeited", eth(c.bonds_forfeited), "bonds-forfeited"),
      card("rewards", eth(c.rewards), "rewards")),
    h("h2", {}, "Disputes"),
    table(["dispute", "job", "kind", "status", "interval"], d.disputes.map((x) => [h("a", { href: `/disputes/${x.id}` }, `#${x.id}`), jobLink(x.job_id), x.kind, pill(x.status), `[${x.a}, ${x.b}]`]), "challenger-disputes"),
  ];
}

// ------------------------------------------------------------------ live updates

const RENDER = { market: renderMarket, job: renderJob, provider: renderProvider, challenger: renderChallenger };
let loading = false, again = false, lastFeedBlock = null;

async function load() {
  if (loading) { again = true; return; }
  loading = true;
  try {
    const reply = await fetch(API[PAGE], { cache: "no-store" });
    if (reply.ok) {
      const data = await reply.json();
      const open = [...document.querySelectorAll("details[open]")].length;
      document.getElementById("main").replaceChildren(...RENDER[PAGE](data).flat(3).filter((x) => x !== ""));
      if (open) for (const x of document.querySelectorAll("details")) x.open = true;
      showStatus(data.status);
      markFresh();
      tick();
    }
  } catch (err) {
    showStatus({ chain_error: `the explorer did not answer (${err.message})` });
  } finally {
    loading = false;
    if (again) { again = false; load(); }
  }
}

function markFresh() {
  const first = document.querySelector("#feed li");
  if (!first) return;
  if (lastFeedBlock !== null && first.dataset.block !== lastFeedBlock) first.classList.add("fresh");
  lastFeedBlock = first.dataset.block;
}

function showStatus(st) {
  if (!st) return;
  const banner = document.getElementById("banner"), parts = [];
  const age = st.updated_at ? ` (last read ${duration(Date.now() / 1000 - st.updated_at)} ago, block ${st.head ?? "–"})` : "";
  if (st.chain_error) parts.push(`Chain unreachable: showing cached data${age}. ${st.chain_error}`);
  if (st.ipfs_error) parts.push(`IPFS unreachable: specs and traces may be missing. ${st.ipfs_error}`);
  banner.hidden = !parts.length;
  banner.textContent = parts.join(" · ");
}

function connect() {
  const conn = document.getElementById("conn");
  const events = new EventSource("/api/stream");
  events.onopen = () => { conn.textContent = "live"; conn.classList.add("live"); };
  events.onerror = () => { conn.textContent = "reconnecting…"; conn.classList.remove("live"); };
  events.addEventListener("status", (e) => showStatus(JSON.parse(e.data)));
  events.addEventListener("chain", () => load());
  events.addEventListener("progress", (e) => { if (PAGE === "job" && String(JSON.parse(e.data).job_id) === KEY) load(); });
  window.addEventListener("beforeunload", () => events.close());
}

load();
connect();
setInterval(tick, 250);
