// Headless Chromium check of real-visitor checks, driven by tests/it/browser_visitors.rs
// (real_visitors_in_chromium), which starts the engine with one monitor ("Storefront"), its
// real-visitor source (every view sampled, health URL /health) and a status page "shop", and
// two sites on 127.0.0.1 embedding the source's tags: the shop (the source's origin) and a
// foreign one. Environment: NP_BASE, NP_TOKEN, NP_MONITOR, NP_SITE, NP_FOREIGN, NP_ARTIFACTS.
// Exits non-zero on any failed expectation.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import assert from "node:assert/strict";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const [base, token, monitor, site, foreign, artifacts] =
  ["NP_BASE", "NP_TOKEN", "NP_MONITOR", "NP_SITE", "NP_FOREIGN", "NP_ARTIFACTS"].map(env);
mkdirSync(artifacts, { recursive: true });
const step = (s) => console.log(`browser: ${s}`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
});
const context = await browser.newContext({ viewport: { width: 1200, height: 800 }, timezoneId: "Europe/Paris" });
const page = await context.newPage();
page.setDefaultTimeout(20_000);
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) errors.push(m.text()); });

/** Open `url` and wait for its beacon's answer; returns its status. */
async function visit(url) {
  const answered = page.waitForResponse((r) => r.url().includes("/beacon") && r.request().method() === "POST");
  await page.goto(url);
  return (await answered).status();
}

try {
  step("three page views of the shop report, each with its own token");
  for (let i = 0; i < 3; i++) assert.equal(await visit(site), 204, `view ${i + 1}`);

  step("the shop's health URL fails: the next view reports a failed load");
  assert.equal((await fetch(`${site}/down`, { method: "POST" })).status, 200);
  assert.equal(await visit(site), 204);

  step("a page without scripts reports through the pixel");
  const pixel = page.waitForResponse((r) => r.url().includes("/pixel.gif"));
  await page.goto(`${site}/plain`);
  assert.equal((await pixel).status(), 200);

  step("the same script on another origin's page is refused (the visitors page counts it below)");
  const sent = page.waitForRequest((r) => r.url().includes("/beacon") && r.method() === "POST");
  await page.goto(foreign);
  const refused = await sent;
  // No CORS answer for a foreign origin: the browser keeps the 403 from the page.
  const outcome = await Promise.race([
    refused.response().then((r) => (r ? r.status() : "blocked")),
    page.waitForEvent("requestfailed", (r) => r === refused).then(() => "blocked"),
  ]);
  assert.ok(outcome === 403 || outcome === "blocked", `the foreign beacon: ${outcome}`);

  step("a browser sending Do Not Track gets a script that reports nothing");
  const dnt = await (await browser.newContext({ extraHTTPHeaders: { DNT: "1" } })).newPage();
  const served = dnt.waitForResponse((r) => r.url().includes("/script.js"));
  await dnt.goto(site);
  assert.match(await (await served).text(), /nothing is reported/);

  step("sign in; the monitor's page shows what visitors saw, under its own label");
  await page.goto(`${base}/login`);
  await page.fill("#token", token);
  await Promise.all([page.waitForURL(`${base}/`), page.click("button[type=submit]")]);
  await page.goto(`${base}/monitors/${monitor}`);
  const line = "Seen by real visitors: 80 % of 5 page loads in 24 h";
  assert.match(await page.textContent("p.visitors"), new RegExp(line));
  await page.click("#real-visitors");
  await page.waitForURL(`${base}/monitors/${monitor}/visitors`);
  assert.match(await page.textContent("p.visitors"), new RegExp(line));
  assert.match(await page.textContent("[data-snippet=script]"), /<script src=".*\/rv\/pk_\w+\/script\.js" async><\/script>/);
  assert.match(await page.textContent("[data-dropped]"), /1 from other origins/);
  await page.screenshot({ path: `${artifacts}/real-visitors.png`, fullPage: true });

  step("the status page shows it under the component");
  await page.goto(`${base}/status/shop`);
  assert.match(await page.textContent("section.monitor p.visitors"), new RegExp(line));
  await page.screenshot({ path: `${artifacts}/status-real-visitors.png`, fullPage: true });

  assert.deepEqual(errors, [], "no script error and no CSP violation");
  step("ok");
} finally {
  await browser.close();
}
