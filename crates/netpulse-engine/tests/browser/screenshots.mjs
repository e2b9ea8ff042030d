// README screenshots from a running demo engine (scripts/screenshots.sh starts it):
//   NP_BASE (engine URL), NP_TOKEN (owner token), NP_OUT (where the PNGs go: docs/).
// Writes dashboard.png / dashboard-dark.png (a monitor page of the read-only demo at /demo, its last 24 h)
// and status-page.png / status-page-dark.png (a status page of the owner's organisation with
// one monitor up and one down, its incident posted publicly). Light and dark come from the
// browser's colour scheme, as a visitor's system setting would choose them.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const [base, token, out] = ["NP_BASE", "NP_TOKEN", "NP_OUT"].map(env);
const step = (s) => console.log(`screenshots: ${s}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const api = async (method, path, body) => {
  const r = await fetch(`${base}${path}`, {
    method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await r.json();
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
  return json;
};

step("the owner's status page: a monitor up, one down with a public update");
const up = await api("POST", "/api/v1/monitors", { name: "Website", kind: "http", url: `${base}/healthz`, interval_s: 10 });
const down = await api("POST", "/api/v1/monitors", { name: "Payments API", kind: "tcp", host: "127.0.0.1", port: 9, interval_s: 10 });
let incident;
for (let i = 0; i < 120 && !incident; i++) {
  await sleep(1000);
  incident = (await api("GET", `/api/v1/incidents?monitor_id=${down.id}`)).data[0];
}
assert.ok(incident, "the down monitor opened an incident within two minutes");
await api("POST", `/api/v1/incidents/${incident.id}/public-message`,
  { message: "Card payments fail for some customers. We are on it." });
await api("POST", "/api/v1/status-pages", {
  slug: "acme", title: "Acme status", message: "Live status of Acme's services.",
  monitors: [{ monitor_id: up.id, display_name: "Website", group: "Storefront" },
    { monitor_id: down.id, display_name: "Payments", group: "Storefront" }],
});

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
});
try {
  for (const scheme of ["light", "dark"]) {
    const suffix = scheme === "dark" ? "-dark" : "";
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 }, colorScheme: scheme,
      locale: "en-GB", timezoneId: "UTC" });
    const page = await context.newPage();
    step(`${scheme}: a monitor page of the demo, its last 24 h`);
    await page.goto(`${base}/demo`);
    const first = await page.getAttribute("#monitors tbody tr a", "href");
    await page.goto(`${base}${first}?range=24h`);
    await page.screenshot({ path: `${out}/dashboard${suffix}.png` });
    step(`${scheme}: the status page`);
    await page.goto(`${base}/status/acme`);
    await page.screenshot({ path: `${out}/status-page${suffix}.png`, fullPage: true });
    await context.close();
  }
} finally {
  await browser.close();
}
step("done");
