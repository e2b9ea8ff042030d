// Headless Chromium check of alert delivery in the dashboard, driven by tests/it/browser.rs
// (failing_channel_in_chromium), which starts the real engine with one webhook channel ("dead")
// pointed at a closed local port and one test notification already sent to it:
//   NP_BASE (engine URL), NP_TOKEN (owner token), NP_CHANNEL (the dead channel's id),
//   NP_ARTIFACTS (screenshot dir).
// Signed in, the header flags the failing channel on every page, the channels page shows the
// channel failing with its last error, and the delivery log lists the failed attempt; no page
// breaks its Content-Security-Policy. Exits non-zero on any failed expectation.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import assert from "node:assert/strict";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const [base, token, channel, artifacts] = ["NP_BASE", "NP_TOKEN", "NP_CHANNEL", "NP_ARTIFACTS"].map(env);
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

try {
  step("sign in with the token form");
  await page.goto(`${base}/login`);
  await page.fill("#token", token);
  await Promise.all([page.waitForURL(`${base}/`), page.click("button[type=submit]")]);

  step("the overview names the failing channel, and the header flags it");
  assert.equal((await page.textContent("#failing-channels")).trim(), "1 channel failing");
  assert.match(await page.textContent("#channels-failing"), /dead \(failing since/);

  step("the channels page shows it failing, with its last error");
  await page.click("#failing-channels");
  await page.waitForURL(`${base}/channels`);
  const row = page.locator(`tr[data-channel="${channel}"]`);
  assert.equal(await row.getAttribute("data-health"), "failing");
  assert.ok(await row.locator("[data-health=failing]").isVisible(), "the failing badge is visible");
  assert.match(await row.locator(".last-error").textContent(), /refused|connect/);
  await page.screenshot({ path: `${artifacts}/channels-failing.png`, fullPage: true });

  step("the delivery log lists the failed attempt");
  await row.locator("a", { hasText: "log" }).click();
  await page.waitForURL(new RegExp(`/deliveries\\?channel=${channel}$`));
  assert.equal(await page.locator("tr[data-outcome=failed]").count(), 1);
  assert.match(await page.locator("tr[data-outcome=failed]").textContent(), /test/);
  await page.screenshot({ path: `${artifacts}/deliveries.png`, fullPage: true });

  assert.deepEqual(errors, [], "no script error and no CSP violation");
  step("ok");
} finally {
  await browser.close();
}
