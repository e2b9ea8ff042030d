// Headless Chromium test of the live dashboard, driven by tests/it/browser.rs, which starts
// the real engine and a monitored target and passes them in the environment:
//   NP_BASE (engine URL), NP_TOKEN (owner token), NP_TARGET (URL to monitor),
//   NP_TARGET_DOWN (POST here and the target answers 503), NP_ARTIFACTS (screenshot dir).
// Exits non-zero (and the Rust test fails) on any failed expectation.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
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
const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
page.setDefaultTimeout(20_000);
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
let navigations = 0;
page.on("framenavigated", (f) => { if (f === page.mainFrame()) navigations++; });

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
  const navsBefore = navigations;

  step("create a monitor through the API");
  const res = await fetch(`${base}/api/v1/monitors`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({
      name: "Shop front", kind: "http", url: env("NP_TARGET"), interval_s: 2, timeout_ms: 1500,
      policy: { confirm_threshold: 2, recovery_threshold: 1 },
    }),
  });
  const created = await res.json();
  assert.equal(res.status, 201, JSON.stringify(created));
  const id = created.id;

  step("its row appears, then its first result, live");
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
  assert.equal(navigations, navsBefore, "the overview navigated (reloaded) while updating");
  await page.screenshot({ path: `${artifacts}/overview-live.png` });

  step("open the monitor page");
  await Promise.all([page.waitForURL(`${base}/monitors/${id}`), page.click(`tr[data-monitor="${id}"] a`)]);
  await page.waitForSelector("body[data-live=connected]");
  const navsMonitor = navigations;
  const rowsBefore = await page.locator("#results tbody tr").count();
  await page.waitForFunction((n) => document.querySelectorAll("#results tbody tr").length > n, rowsBefore);

  step("stop the target: the badge turns down and an incident appears, live");
  const down = await fetch(env("NP_TARGET_DOWN"), { method: "POST" });
  assert.equal(down.status, 200);
  await page.waitForSelector("#state .badge.down");
  await page.waitForSelector("#incidents tr[data-incident] .badge.down");
  await page.waitForSelector("#results tbody tr .badge.down");
  assert.equal(navigations, navsMonitor, "the monitor page navigated (reloaded) while updating");
  await page.screenshot({ path: `${artifacts}/monitor-incident.png`, fullPage: true });

  step("the badge URL shown on the page serves an SVG that names no target");
  const markdown = await page.textContent("#badge-markdown");
  const badgeUrl = markdown.match(/\((http[^)]+status\.svg\?key=[0-9a-f]+)\)/)[1];
  const badge = await fetch(badgeUrl);
  assert.equal(badge.status, 200);
  const svg = await badge.text();
  assert.match(svg, />down</);
  assert.ok(!svg.includes(new URL(env("NP_TARGET")).host), "the badge reveals the target");
  assert.ok(!svg.includes("Shop front"), "the badge reveals the monitor name");
  assert.equal((await fetch(badgeUrl.replace(/key=[0-9a-f]+/, "key=" + "0".repeat(32)))).status, 404);

  assert.deepEqual(errors, [], "page errors");
  step("ok");
} catch (e) {
  await page.screenshot({ path: `${artifacts}/failure.png`, fullPage: true }).catch(() => {});
  console.error(e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
