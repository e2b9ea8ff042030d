// Screenshots from a running demo engine (scripts/screenshots.sh starts it):
//   NP_BASE (engine URL), NP_OUT (where the PNGs go: docs/).
// Writes dashboard.png / dashboard-dark.png (a monitor page of the read-only demo at /demo, its
// last 24 h) and status-page.png / status-page-dark.png (the demo's public status page, an
// outage told in updates), and docs/tour/: every main page of the demo as a visitor sees it
// (overview, monitor, incident, channels, delivery log, regions, real visitors, status page),
// the overview on a phone, and the overview and an incident in dark mode. Light and dark come
// from the browser's colour scheme, as a visitor's system setting would choose them.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const [base, out] = ["NP_BASE", "NP_OUT"].map(env);
const step = (s) => console.log(`screenshots: ${s}`);
const tour = `${out}/tour`;
mkdirSync(tour, { recursive: true });

/** A demo visitor's page in `scheme` at `width`. */
async function demoPage(browser, scheme, width, height = 900) {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme: scheme, locale: "en-GB",
    timezoneId: "UTC" });
  const page = await context.newPage();
  await page.goto(`${base}/demo`);
  return page;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
});
try {
  for (const scheme of ["light", "dark"]) {
    const suffix = scheme === "dark" ? "-dark" : "";
    const page = await demoPage(browser, scheme, 1200);
    step(`${scheme}: a monitor page of the demo, its last 24 h`);
    const first = await page.getAttribute("#monitors tbody tr a", "href");
    await page.goto(`${base}${first}?range=24h`);
    await page.screenshot({ path: `${out}/dashboard${suffix}.png` });
    step(`${scheme}: the demo's status page`);
    await page.goto(`${base}/status/demo`);
    assert.match(await page.textContent("body"), /A failed database migration/);
    await page.screenshot({ path: `${out}/status-page${suffix}.png`, fullPage: true });
    await page.context().close();
  }

  step("the tour: every main page of the demo");
  const page = await demoPage(browser, "light", 1200);
  const shot = async (name, path) => {
    await page.goto(`${base}${path}`);
    await page.screenshot({ path: `${tour}/${name}.png`, fullPage: true });
  };
  await shot("overview", "/");
  const monitors = await page.$$eval("#monitors tbody tr a", (as) => as.map((a) => [a.textContent.trim(), a.getAttribute("href")]));
  const href = (name) => monitors.find(([n]) => n === name)[1];
  await shot("monitor", `${href("Checkout API")}?range=24h`);
  await page.goto(`${base}/incidents`);
  const open = await page.getAttribute(`a[href^="/incidents/inc_"]`, "href");
  await shot("incident", open);
  await shot("channels", "/channels");
  await shot("deliveries", "/deliveries");
  await shot("regions", "/regions");
  await shot("real-visitors", `${href("Storefront")}/visitors`);
  await shot("status-page", "/status/demo");
  await page.context().close();
  const phone = await demoPage(browser, "light", 390, 844);
  await phone.screenshot({ path: `${tour}/overview-phone.png`, fullPage: true });
  await phone.context().close();
  const dark = await demoPage(browser, "dark", 1200);
  await dark.screenshot({ path: `${tour}/overview-dark.png`, fullPage: true });
  await dark.goto(`${base}${open}`);
  await dark.screenshot({ path: `${tour}/incident-dark.png`, fullPage: true });
  await dark.context().close();
} finally {
  await browser.close();
}
step("done");
