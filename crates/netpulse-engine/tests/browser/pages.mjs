// Headless Chromium check of what a person reads on the dashboard and the status page, driven
// by tests/it/browser_pages.rs (pages_people_read_in_chromium), which starts the real engine
// with a monitor "Checkout" whose target answers 503, its open incident (with a public
// message) and a status page /status/shop showing it:
//   NP_BASE, NP_TOKEN, NP_MONITOR, NP_INCIDENT, NP_CHANNEL (a webhook channel "on-call"),
//   NP_TLS_EXPIRING / NP_TLS_FRESH (TLS monitors whose certificates expire in 5 and 80 days,
//   warn_days 14), NP_ARTIFACTS (screenshot dir).
// The browser runs in Asia/Tokyo (UTC+9, no daylight saving) with an en-GB locale, so local
// times differ from the server's UTC fallback. Exits non-zero on any failed expectation.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import assert from "node:assert/strict";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const [base, token, monitor, incident, channel, artifacts] =
  ["NP_BASE", "NP_TOKEN", "NP_MONITOR", "NP_INCIDENT", "NP_CHANNEL", "NP_ARTIFACTS"].map(env);
const [expiring, fresh] = ["NP_TLS_EXPIRING", "NP_TLS_FRESH"].map(env);
const api = async (method, path, body) => {
  const r = await fetch(`${base}${path}`, {
    method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
};
mkdirSync(artifacts, { recursive: true });
const step = (s) => console.log(`browser: ${s}`);
const ZONE = "Asia/Tokyo";
const ISO_MS = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/;
const AGO = /^(just now|\d+ s ago|\d+ min ago|\d+ h ago)$/;
// What the page should show for an exact time, formatted here the way the page's script does.
const local = (iso) =>
  new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "short", timeZone: ZONE }).format(Date.parse(iso));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
});
const context = await browser.newContext({ viewport: { width: 1200, height: 800 }, timezoneId: ZONE, locale: "en-GB" });
context.setDefaultTimeout(20_000);
const page = await context.newPage();
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) errors.push(m.text()); });

/// Every <time> on the page: its datetime, text and hover title.
const times = () => page.$$eval("time", (ts) => ts.map((t) => ({
  datetime: t.getAttribute("datetime"), text: t.textContent, title: t.title, rel: t.hasAttribute("data-rel"),
})));
/// The page's visible text carries no ISO time with milliseconds, and every <time> is to the
/// second, relative ones read "… ago" with the local time in Tokyo on hover, exact ones show
/// the local date and time.
async function readable(what) {
  const text = await page.innerText("body");
  assert.doesNotMatch(text, ISO_MS, `${what}: an ISO time with milliseconds is shown`);
  const ts = await times();
  for (const t of ts) {
    assert.match(t.datetime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, `${what}: datetime ${t.datetime}`);
    assert.ok(t.title.endsWith(`(${ZONE})`), `${what}: the hover names the viewer's zone: ${t.title}`);
    if (t.rel) assert.match(t.text.trim(), AGO, `${what}: relative time`);
    else assert.equal(t.text.trim(), local(t.datetime), `${what}: exact local time`);
  }
  return ts;
}

try {
  step("sign in");
  await page.goto(`${base}/login`);
  await page.fill("#token", token);
  await Promise.all([page.waitForURL(`${base}/`), page.click("button[type=submit]")]);

  step("overview: the last check is relative, the exact Tokyo time on hover; a failed check's latency is –");
  const row = page.locator(`tr[data-monitor="${monitor}"]`);
  const last = row.locator('[data-cell="last"] time');
  assert.match((await last.textContent()).trim(), AGO);
  const iso = await last.getAttribute("datetime");
  const hour = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", hourCycle: "h23", timeZone: ZONE }).format(Date.parse(iso));
  assert.ok((await last.getAttribute("title")).includes(`${hour}:`), "the hover shows the hour in Tokyo");
  await readable("overview");
  assert.equal((await row.locator('[data-cell="latency"]').textContent()).trim(), "\u2013", "a failed check has no latency");

  step("monitor page: results started … ago, no ISO strings");
  await page.goto(`${base}/monitors/${monitor}`);
  assert.ok((await readable("monitor page")).length > 1, "the results show their times");
  const opened = page.locator(`#incidents tr[data-incident="${incident}"]`);
  const results = await page.$$eval("#results tbody tr", (rs) => rs.map((r) => [r.children[1].textContent, r.children[2].textContent]));
  assert.ok(results.length > 0 && results.every(([o, l]) => o !== "down" || l === "\u2013"), `failed checks show –: ${results}`);
  step("monitor page over the last hour: time labels in Tokyo, failures marked, the open incident shaded, 90 daily bars");
  await page.goto(`${base}/monitors/${monitor}?range=1h`);
  assert.equal(await page.locator("#range-chart .axis time").count(), 5, "five time labels under the chart");
  await readable("monitor page, last hour");
  assert.ok(await page.locator("#range-chart rect.shade.outage").count() >= 1, "the open incident is shaded");
  assert.ok(await page.locator("#range-chart rect.fail").count() >= 1, "the failed checks are marked");
  assert.equal(await page.locator("#days .bar").count(), 90, "90 daily uptime bars");
  assert.equal(await page.locator("#days .bar.down").count(), 1, "today's bar is red");
  const [chartW, mainW] = await page.evaluate(() =>
    [document.querySelector("#range-chart svg").getBoundingClientRect().width, document.querySelector("main").clientWidth]);
  assert.ok(chartW > mainW * 0.8, `the chart spans the page: ${chartW} of ${mainW} px`);
  await page.screenshot({ path: `${artifacts}/monitor-range.png`, fullPage: true });
  await page.goto(`${base}/monitors/${monitor}`);

  step("one vocabulary: the incident's badge says what the API's status says");
  const apiStatus = (await api("GET", `/api/v1/incidents/${incident}`)).body.status;
  assert.equal(apiStatus, "open");
  assert.equal((await opened.locator(".badge").first().textContent()).trim(), apiStatus);
  assert.equal(await opened.getAttribute("data-status"), apiStatus);
  assert.match(await opened.locator('[data-cell="duration"]').textContent(), /^\d+ (s|min) so far$/);

  step("incident page: its timeline in local time, its duration");
  await page.goto(`${base}/incidents/${incident}`);
  const timeline = await page.$$eval("#timeline time", (ts) => ts.length);
  assert.ok(timeline >= 1, "the timeline's entries carry times");
  await readable("incident page");

  step("incidents, deliveries, channels, members, tokens, regions, maintenance, status history: readable times");
  for (const path of ["/incidents?status=all", "/deliveries", "/channels", "/members", "/tokens", "/regions",
    `/monitors/${monitor}/maintenance`, "/status/shop/history"]) {
    await page.goto(`${base}${path}`);
    await readable(path);
  }

  step("alerting defaults: selects for yes/no and the quorum (majority), a channel picker");
  await page.goto(`${base}/settings/alerting`);
  assert.equal(await page.$$eval("#f-policy-notify_on_resolve option", (os) => os.map((o) => o.value).join(",")), ",yes,no");
  assert.ok((await page.textContent("#f-policy-quorum")).includes("a majority of live regions"));
  assert.match(await page.textContent("form#alerting-defaults"), /built-in: a majority of live regions/);
  assert.equal(await page.getAttribute("#f-policy-escalate_to", "multiple"), "");
  assert.match(await page.textContent("#f-policy-escalate_to"), /on-call \(webhook\)/);
  await page.selectOption("#f-policy-notify_on_resolve", "no");
  await page.selectOption("#f-policy-quorum", "majority");
  await page.fill("#f-policy-escalate_after_s", "600");
  await page.selectOption("#f-policy-escalate_to", [channel]);
  await Promise.all([page.waitForNavigation(), page.click("form#alerting-defaults button[type=submit]")]);
  assert.match(await page.textContent("#notice"), /saved/);
  const saved = (await api("GET", "/api/v1/settings/alerting")).body.policy;
  assert.deepEqual([saved.notify_on_resolve, saved.quorum, saved.escalate_after_s, saved.escalate_to], [false, null, 600, [channel]]);
  assert.equal(await page.inputValue("#f-policy-quorum"), "majority", "an explicit majority shows as chosen");
  assert.deepEqual(await page.$$eval("#f-policy-escalate_to option:checked", (os) => os.map((o) => o.value)), [channel]);
  await page.screenshot({ path: `${artifacts}/alerting-defaults.png`, fullPage: true });

  step("TLS: the overview flags the certificate expiring within warn_days, not the fresh one");
  await page.goto(`${base}/`);
  const flag = page.locator(`tr[data-monitor="${expiring}"] .cert-warn`);
  assert.match(await flag.textContent(), /^certificate expires in [45] days$/);
  assert.equal(await page.locator(`tr[data-monitor="${fresh}"] .cert-warn`).count(), 0);
  step("TLS: the monitor page shows the certificate's expiry and days left");
  await page.goto(`${base}/monitors/${expiring}`);
  const cert = page.locator("#certificate");
  assert.equal(await cert.getAttribute("data-warn"), "1");
  assert.match(await page.textContent("#cert-days-left"), /expires in [45] days \(warns below 14 days\)/);
  const expiresIso = await page.getAttribute("#cert-expires time", "datetime");
  const apiExpiry = (await api("GET", `/api/v1/monitors/${expiring}/results?limit=1`)).body.data[0].cert_expires_at;
  assert.equal(expiresIso, apiExpiry.slice(0, 19) + "Z", "the expiry the check recorded");
  assert.equal((await page.textContent("#cert-expires")).trim(), local(expiresIso));
  assert.match(await page.textContent("#cert-issuer"), /^NetPulse Test CA/, "the issuer the check recorded");
  await page.screenshot({ path: `${artifacts}/monitor-certificate.png`, fullPage: true });
  await page.goto(`${base}/monitors/${fresh}`);
  assert.equal(await page.locator("#certificate").getAttribute("data-warn"), null);
  assert.match(await page.textContent("#cert-days-left"), /expires in (79|80) days/);

  step("status page: local times, the incident's update, no ISO strings");
  await page.goto(`${base}/status/shop`);
  await page.waitForSelector("text=Checkout is down.");
  const shown = await readable("status page");
  assert.ok(shown.some((t) => t.rel), "the last check reads … ago");
  await page.screenshot({ path: `${artifacts}/status-times.png`, fullPage: true });

  step("on a phone (390 px): no sideways scrolling on the overview, a monitor page, the status page");
  const signedIn = await context.storageState();
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true,
    deviceScaleFactor: 2, timezoneId: ZONE, locale: "en-GB", storageState: signedIn });
  const mobile = await phone.newPage();
  mobile.on("pageerror", (e) => errors.push(String(e)));
  for (const [path, shot] of [["/", "mobile-overview"], [`/monitors/${monitor}`, "mobile-monitor"], [`/monitors/${expiring}`, null],
    [`/monitors/${monitor}?range=24h`, "mobile-monitor-range"],
    [`/incidents/${incident}`, null], ["/settings/alerting", null], ["/status/shop", "mobile-status-page"]]) {
    await mobile.goto(`${base}${path}`);
    // A mobile browser widens its layout viewport to fit content wider than the screen, so
    // both are compared with the screen's 390 px, not only with each other.
    const [scroll, inner] = await mobile.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert.ok(scroll <= 390 && inner === 390, `${path} is wider than a phone: content ${scroll} px, viewport ${inner} px`);
    if (shot) await mobile.screenshot({ path: `${artifacts}/${shot}.png`, fullPage: true });
  }
  await phone.close();

  step("dark mode follows the system setting: dark background, light text, on the dashboard and the status page");
  const dark = await browser.newContext({ viewport: { width: 1200, height: 800 }, colorScheme: "dark",
    timezoneId: ZONE, locale: "en-GB", storageState: signedIn });
  const night = await dark.newPage();
  night.on("pageerror", (e) => errors.push(String(e)));
  // Relative luminance of a computed "rgb(r, g, b)" colour, 0 (black) to 1 (white).
  const luminance = (rgb) => {
    const [r, g, b] = rgb.match(/\d+/g).slice(0, 3).map(Number).map((c) => c / 255)
      .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  for (const [path, shot] of [["/", "dark-overview"], [`/monitors/${expiring}`, "dark-monitor"], [`/monitors/${monitor}?range=24h`, null], ["/settings/alerting", null],
    ["/status/shop", "dark-status-page"]]) {
    await night.goto(`${base}${path}`);
    const [bg, fg, card] = await night.evaluate(() => {
      const c = (el, p) => getComputedStyle(el)[p];
      const panel = document.querySelector("table, section.monitor, form.monitor");
      return [c(document.body, "backgroundColor"), c(document.body, "color"), c(panel, "backgroundColor")];
    });
    assert.ok(luminance(bg) < 0.05 && luminance(card) < 0.1, `${path}: dark background (${bg}, panel ${card})`);
    assert.ok(luminance(fg) > 0.6, `${path}: light text (${fg})`);
    if (shot) await night.screenshot({ path: `${artifacts}/${shot}.png`, fullPage: true });
  }
  await dark.close();

  assert.deepEqual(errors, [], "no script error and no CSP violation");
  step("ok");
} finally {
  await browser.close();
}
