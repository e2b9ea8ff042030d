// Headless Chromium check of the first-run guide, driven by tests/it/browser_pages.rs
// (first_run_guide_in_chromium), which starts the real engine with an empty account, a
// webhook receiver and a healthy target:
//   NP_BASE, NP_TOKEN, NP_RECEIVER (webhook URL), NP_TARGET (URL answering 200),
//   NP_ARTIFACTS (screenshot dir).
// The overview guides add a monitor → add a channel → send a test → see it delivered; each
// step is done here through the dashboard's own pages, following the guide's links, and the
// guide ticks it; once delivered, the guide is gone. Exits non-zero on any failed expectation.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import assert from "node:assert/strict";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const [base, token, receiver, target, artifacts] =
  ["NP_BASE", "NP_TOKEN", "NP_RECEIVER", "NP_TARGET", "NP_ARTIFACTS"].map(env);
mkdirSync(artifacts, { recursive: true });
const step = (s) => console.log(`browser: ${s}`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
});
const page = await (await browser.newContext({ viewport: { width: 1200, height: 800 } })).newPage();
page.setDefaultTimeout(20_000);
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) errors.push(m.text()); });

/// The guide's steps on the overview: [done, text] each.
async function guide() {
  await page.goto(`${base}/`);
  return page.$$eval("#first-run li", (ls) => ls.map((l) => [l.dataset.done === "yes", l.querySelector(".text").textContent]));
}
const ticks = async () => (await guide()).map(([done]) => done);
const follow = async (n) => {
  await page.goto(`${base}/`);
  await Promise.all([page.waitForNavigation(), page.click(`#first-run li[data-step="${n}"] a`)]);
};

try {
  step("sign in: an empty account's overview shows the four steps, none done");
  await page.goto(`${base}/login`);
  await page.fill("#token", token);
  await Promise.all([page.waitForURL(`${base}/`), page.click("button[type=submit]")]);
  const steps = await guide();
  assert.deepEqual(steps.map(([, t]) => t),
    ["Add a monitor", "Add a channel to be alerted on", "Send it a test notification", "See it delivered"]);
  assert.deepEqual(await ticks(), [false, false, false, false]);
  assert.match(await page.textContent("#first-run h2"), /0 of 4 done/);
  await page.screenshot({ path: `${artifacts}/first-run.png`, fullPage: true });

  step("1. add a monitor through the guide's link: ticked");
  await follow(1);
  assert.equal(new URL(page.url()).pathname, "/monitors/new");
  await page.fill("#f-name", "Website");
  await page.fill("#f-url", target);
  await Promise.all([page.waitForURL(/\/monitors\/mon_[^/]+$/), page.click("form.monitor button[type=submit]")]);
  assert.deepEqual(await ticks(), [true, false, false, false]);

  step("2. add a channel through the guide's link: ticked");
  await follow(2);
  assert.equal(new URL(page.url()).pathname, "/channels");
  await page.fill("#c-name", "ops");
  await page.selectOption("#c-kind", "webhook");
  await page.fill("#c-url", receiver);
  await Promise.all([page.waitForNavigation(), page.click("form#new-channel button[type=submit]")]);
  assert.deepEqual(await ticks(), [true, true, false, false]);

  step("3. send a test from the channels page: sent and delivered, so steps 3 and 4 are done and the guide is gone");
  await follow(3);
  await Promise.all([page.waitForNavigation(), page.click("button[data-action=test]")]);
  await page.goto(`${base}/`);
  assert.equal(await page.locator("#first-run").count(), 0, "every step done: no guide");

  step("4. the delivery log shows the delivered test");
  await page.goto(`${base}/deliveries`);
  assert.equal(await page.locator("tr[data-outcome=delivered]").count(), 1);

  assert.deepEqual(errors, [], "no script error and no CSP violation");
  step("ok");
} finally {
  await browser.close();
}
