// Headless Chromium test of the dashboard, driven by tests/it/browser.rs, which starts the
// real engine and a monitored target and passes them in the environment:
//   NP_BASE (engine URL), NP_TOKEN (owner token), NP_TARGET (URL to monitor),
//   NP_TARGET_DOWN (POST here and the target answers 503), NP_ARTIFACTS (screenshot dir).
// Also: the monitor page's latency chart, state badge and 24 h uptime follow the results
// live, and an overview rendered before a health change but subscribed after it shows it.
// A monitor page whose stream drops (a proxy resets it and refuses for 5 s) and reconnects shows the
// results it missed once, newest first, counts them once, and resumes from its newest.
// Exits non-zero (and the Rust test fails) on any failed expectation.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import http from "node:http";
import assert from "node:assert/strict";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const base = env("NP_BASE");
const token = env("NP_TOKEN");
const artifacts = env("NP_ARTIFACTS");
mkdirSync(artifacts, { recursive: true });
const step = (s) => console.log(`browser: ${s}`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
  ],
});
const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
context.setDefaultTimeout(20_000);
const errors = [];
const navigations = new Map();
const track = (p) => {
  p.on("pageerror", (e) => errors.push(String(e)));
  // A Content-Security-Policy violation (an inline script or style the policy does not allow).
  p.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) errors.push(m.text()); });
  navigations.set(p, 0);
  p.on("framenavigated", (f) => { if (f === p.mainFrame()) navigations.set(p, navigations.get(p) + 1); });
  return p;
};
// The overview stays open in one tab while the monitor is created in another.
const page = track(await context.newPage());
const form = track(await context.newPage());
// The monitor tab's streams go through a pass-through proxy, so the test can cut them (a
// network blip: open streams are reset and new ones refused for a while).
const streams = new Set();
let cut = false;
const proxy = http.createServer((req, res) => {
  if (cut) return req.socket.destroy();
  const up = http.request(new URL(req.url, base), { method: req.method, headers: req.headers }, (r) => {
    res.writeHead(r.statusCode, r.headers);
    r.pipe(res);
  });
  up.on("error", () => req.socket.destroy());
  res.on("close", () => up.destroy());
  streams.add(req.socket);
  req.socket.on("close", () => streams.delete(req.socket));
  req.pipe(up);
});
await new Promise((r) => proxy.listen(0, "127.0.0.1", r));
const proxied = `http://127.0.0.1:${proxy.address().port}`;
await form.route("**/events*", (route) => {
  const u = new URL(route.request().url());
  route.continue({ url: `${proxied}${u.pathname}${u.search}` });
});
const api = (method, path, body) =>
  fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body && JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, body: await r.json().catch(() => null) }));

// Private values planted in the fixtures; none may reach the public status page.
const secret = {
  name: "Shop front internal-name-4c1d",
  query: "qs-secret-7d2e90",
  header: "hdr-secret-31fa6b",
  email: "oncall-secret-e5@example.com",
};
const targetUrl = `${env("NP_TARGET")}?key=${secret.query}`;
const targetHost = new URL(targetUrl).host;

try {
  step("sign in with the token form");
  await page.goto(`${base}/login`);
  await page.fill("#token", token);
  await Promise.all([page.waitForURL(`${base}/`), page.click("button[type=submit]")]);
  await page.waitForSelector("body[data-live=connected]");
  await page.screenshot({ path: `${artifacts}/overview-empty.png` });

  // Record every text the "last check" cells show, so a quick first result cannot hide "never".
  await page.evaluate(() => {
    window.__seen = [];
    new MutationObserver(() => {
      document.querySelectorAll("tr[data-monitor] [data-cell=last]").forEach((c) => {
        const row = c.closest("tr").dataset.monitor;
        const last = window.__seen.filter((s) => s[0] === row).pop();
        if (!last || last[1] !== c.textContent) window.__seen.push([row, c.textContent]);
      });
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  const navsBefore = navigations.get(page);

  step("open the new-monitor form in a second tab and submit a bad interval");
  await form.goto(`${base}/monitors/new`);
  await form.selectOption("#f-kind", "tcp");
  assert.ok(await form.isHidden("#f-url"), "the URL field is hidden for a tcp monitor");
  await form.selectOption("#f-kind", "http");
  await form.fill("#f-name", secret.name);
  await form.fill("#f-url", targetUrl);
  await form.fill("#f-headers", `X-Api-Key: ${secret.header}`);
  await form.fill("#f-interval_s", "90000");
  await form.fill("#f-timeout_ms", "1500");
  await form.fill("#f-tags", "shop, eu");
  await form.fill("#f-policy-recovery_threshold", "1");
  await Promise.all([form.waitForURL(`${base}/monitors/new`), form.click("form.monitor button[type=submit]")]);
  const inline = (await form.textContent("#f-interval_s-error")).trim();
  const refused = await api("POST", "/api/v1/monitors", { name: "x", kind: "http", url: targetUrl, interval_s: 90000 });
  assert.equal(refused.status, 422);
  assert.equal(refused.body.error.message, `interval_s: ${inline}`, "the form and the API say the same");
  assert.equal(await form.inputValue("#f-name"), secret.name, "the name was kept");
  assert.equal(await form.inputValue("#f-headers"), `X-Api-Key: ${secret.header}`, "the headers were kept");
  assert.equal(await form.inputValue("#f-interval_s"), "90000", "the bad value was kept to correct");
  await form.screenshot({ path: `${artifacts}/form-error.png`, fullPage: true });

  step("correct it and create the monitor through the form");
  await form.fill("#f-interval_s", "2");
  await Promise.all([form.waitForURL(/\/monitors\/mon_[^/]+$/), form.click("form.monitor button[type=submit]")]);
  const id = new URL(form.url()).pathname.split("/").pop();
  const created = await api("GET", `/api/v1/monitors/${id}`);
  assert.equal(created.body.interval_s, 2);
  assert.deepEqual(created.body.tags, ["shop", "eu"]);
  assert.equal(created.body.policy.recovery_threshold, 1);

  step("the other tab gets its row, then its first result, live");
  const last = `tr[data-monitor="${id}"] [data-cell=last]`;
  await page.waitForSelector(last);
  await page.waitForFunction(
    (id) => window.__seen.some(([m, t]) => m === id && /ago|just now/.test(t)),
    id,
  );
  const seen = (await page.evaluate(() => window.__seen)).filter(([m]) => m === id).map(([, t]) => t);
  assert.equal(seen[0], "never", `first text of the last-check cell: ${seen}`);
  await page.waitForSelector(`tr[data-monitor="${id}"] [data-cell=state] .badge.up`);
  const latency = await page.textContent(`tr[data-monitor="${id}"] [data-cell=latency]`);
  assert.match(latency, /\d+ ms/);
  assert.equal(navigations.get(page), navsBefore, "the overview navigated (reloaded) while updating");
  await page.screenshot({ path: `${artifacts}/overview-live.png` });

  step("on the monitor page, results arrive live");
  await form.waitForSelector("body[data-live=connected]");
  const navsMonitor = navigations.get(form);
  const rowsBefore = await form.locator("#results tbody tr").count();
  await form.waitForFunction((n) => document.querySelectorAll("#results tbody tr").length > n, rowsBefore);

  step("the chart and the state badge follow the results, not the page's first rendering");
  await form.waitForFunction(() => document.querySelectorAll("#latency-chart circle.pt").length > 0);
  assert.equal(await form.locator("#chart-empty").count(), 0, "the chart still says no results yet");
  assert.equal(await form.locator("#latency-chart polyline[data-series=local]").count(), 1, "one line per region");
  await form.waitForSelector("#state .badge.up");
  const uptimeText = () => form.textContent("#uptime-24h");
  await form.waitForFunction(() => document.getElementById("uptime-24h").textContent === "100.00 %");

  step("the monitor page's stream drops and reconnects: what came meanwhile appears once, in order, counted once");
  const snapshot = () => form.evaluate(() => ({
    rows: [...document.querySelectorAll("#results tbody tr")].map((r) => [r.dataset.result, Number(r.dataset.ms)]),
    total: Number(document.getElementById("uptime-24h").dataset.total),
  }));
  const requested = [];
  form.on("request", (r) => { if (r.url().includes("/events")) requested.push(r.url()); });
  const before = await snapshot();
  const shownBefore = new Set(before.rows.map(([id]) => id));
  const offlineAt = Date.now();
  cut = true;
  for (const sock of streams) sock.destroy();
  await form.waitForSelector("body[data-live=reconnecting]");
  await new Promise((r) => setTimeout(r, 5000)); // two or three checks happen meanwhile
  cut = false;
  const onlineAt = Date.now();
  await form.waitForSelector("body[data-live=connected]");
  await form.waitForFunction((t) => [...document.querySelectorAll("#results tbody tr")]
    .some((r) => Number(r.dataset.ms) > t), onlineAt);
  const after = await snapshot();
  const ids = after.rows.map(([id]) => id);
  assert.equal(new Set(ids).size, ids.length, `a result is shown twice: ${ids}`);
  for (let i = 1; i < after.rows.length; i++) {
    assert.ok(after.rows[i - 1][1] >= after.rows[i][1], `results not newest first: ${JSON.stringify(after.rows)}`);
  }
  const fresh = after.rows.filter(([id]) => !shownBefore.has(id));
  assert.ok(fresh.some(([, ms]) => ms > offlineAt && ms < onlineAt), "the results of the outage are shown");
  assert.ok(fresh.every(([, ms]) => ms > before.rows[0][1]), "an old result reappeared");
  assert.equal(after.total - before.total, fresh.length, "each result shown is counted once in the 24 h uptime");
  const resumed = requested.map((u) => new URL(u).searchParams.get("since")).pop();
  assert.ok(Number(resumed) >= before.rows[0][1], `the reconnection resumed from ${resumed}, not the newest shown`);

  step("an overview rendered while up, subscribed only after the monitor went down, shows it down");
  const late = track(await context.newPage());
  let subscribe;
  const held = new Promise((resolve) => { subscribe = resolve; });
  await late.route("**/events*", async (route) => { await held; await route.continue(); });
  await late.goto(`${base}/`);
  const lateState = `tr[data-monitor="${id}"] [data-cell=state]`;
  assert.equal((await late.textContent(lateState)).trim(), "up", "the overview was rendered while the monitor was up");
  const navsLate = navigations.get(late);
  const down = await fetch(env("NP_TARGET_DOWN"), { method: "POST" });
  assert.equal(down.status, 200);
  // The live monitor page saw the change: it was committed and published before the overview subscribed.
  await form.waitForSelector("#state .badge.down");
  assert.equal((await late.textContent(lateState)).trim(), "up", "the held overview has no stream yet");
  subscribe();
  await late.waitForSelector("body[data-live=connected]");
  await late.waitForSelector(`${lateState} .badge.down`);
  assert.equal(navigations.get(late), navsLate, "the overview navigated (reloaded) to show the change");
  await late.screenshot({ path: `${artifacts}/overview-caught-up.png` });

  step("the target is down: the badge is down, an incident appears and the 24 h uptime drops, live");
  await form.waitForSelector("#state .badge.down");
  await form.waitForFunction(() => /^\d+\.\d\d %$/.test(document.getElementById("uptime-24h").textContent) &&
    document.getElementById("uptime-24h").textContent !== "100.00 %");
  assert.ok(parseFloat(await uptimeText()) < 100, `uptime after failing results: ${await uptimeText()}`);
  await form.waitForSelector("#incidents tr[data-incident] .badge.open");
  await form.waitForSelector("#results tbody tr .badge.down");
  await form.waitForSelector("#latency-chart circle.fail");
  const [points, timed] = await form.evaluate(() => [
    document.querySelectorAll("#latency-chart circle.pt").length,
    [...document.querySelectorAll("#results tbody tr td:nth-child(3)")].filter((c) => /ms$/.test(c.textContent)).length,
  ]);
  assert.equal(points, timed, "a point on the chart for each result with a latency in the table");
  assert.equal(navigations.get(form), navsMonitor, "the monitor page navigated (reloaded) while updating");
  await form.screenshot({ path: `${artifacts}/monitor-incident.png`, fullPage: true });

  step("the badge URL shown on the page serves an SVG that names no target");
  const markdown = await form.textContent("#badge-markdown");
  const badgeUrl = markdown.match(/\((http[^)]+status\.svg\?key=[0-9a-f]+)\)/)[1];
  const badge = await fetch(badgeUrl);
  assert.equal(badge.status, 200);
  const svg = await badge.text();
  assert.match(svg, />down</);
  assert.ok(!svg.includes(targetHost), "the badge reveals the target");
  assert.ok(!svg.includes(secret.name), "the badge reveals the monitor name");
  assert.equal((await fetch(badgeUrl.replace(/key=[0-9a-f]+/, "key=" + "0".repeat(32)))).status, 404);

  step("publish a status page (API) and open it: no planted private value appears");
  const mail = await api("POST", "/api/v1/channels", { name: "on-call", kind: "email", url: secret.email });
  assert.equal(mail.status, 201, JSON.stringify(mail.body));
  const incidents = await api("GET", `/api/v1/incidents?monitor_id=${id}`);
  const incident = incidents.body.data[0].id;
  const note = await api("POST", `/api/v1/incidents/${incident}/public-message`, { message: "The shop is down; we are on it." });
  assert.equal(note.status, 200, JSON.stringify(note.body));
  const sp = await api("POST", "/api/v1/status-pages", {
    slug: "shop", title: "Shop status", message: "Thanks for your patience.",
    monitors: [{ monitor_id: id, display_name: "Shop", group: "Storefront" }],
  });
  assert.equal(sp.status, 201, JSON.stringify(sp.body));
  const status = track(await browser.newPage({ viewport: { width: 1000, height: 800 } }));
  const answer = await status.goto(`${base}/status/shop`);
  assert.equal(answer.status(), 200);
  await status.waitForSelector("text=The shop is down; we are on it.");
  const html = await answer.text();
  const rendered = await status.content();
  const json = await (await fetch(`${base}/status/shop.json`)).text();
  assert.match(json, /"Shop"/);
  const planted = { ...secret, url: targetUrl, host: targetHost, monitor_id: id, incident_id: incident };
  for (const [what, value] of Object.entries(planted)) {
    for (const [where, text] of Object.entries({ html, rendered, json })) {
      assert.ok(!text.includes(value), `the status page's ${where} reveals the ${what} (${value})`);
    }
  }
  await status.screenshot({ path: `${artifacts}/status-page.png`, fullPage: true });

  assert.deepEqual(errors, [], "page errors");
  step("ok");
} catch (e) {
  await page.screenshot({ path: `${artifacts}/failure.png`, fullPage: true }).catch(() => {});
  console.error(e);
  process.exitCode = 1;
} finally {
  await browser.close();
  proxy.closeAllConnections();
  proxy.close();
}
