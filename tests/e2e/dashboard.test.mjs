// End-to-end: the demo household's dashboard in headless Chromium, against the real development
// instance that scripts/e2e starts (scripts/develop with a fresh copy of config/).
//
// Environment (scripts/e2e sets it): ET_URL, ET_CONFIG (the instance's config folder, holding
// the printed login and the demo household), ET_SCREENSHOTS (where pictures go), CHROMIUM.

import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { chromium } from "playwright-core";

const URL = process.env.ET_URL ?? "http://127.0.0.1:8123";
const CONFIG = process.env.ET_CONFIG;
const SCREENSHOTS = process.env.ET_SCREENSHOTS;
const DASHBOARD = `${URL}/energy-tokens/household`;
const TIMEOUT = 30_000;

assert.ok(CONFIG && SCREENSHOTS, "run through scripts/e2e (ET_CONFIG and ET_SCREENSHOTS unset)");
const login = JSON.parse(readFileSync(join(CONFIG, ".dev-login.json"), "utf8"));
// The demo's device names, as config/demo_household.yaml lists them.
const demoDevices = [...readFileSync(join(CONFIG, "demo_household.yaml"), "utf8").matchAll(/^ {2}- name: (.+)$/gm)].map(
  (match) => match[1].trim()
);

let browser;
let page;

before(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    // A closed network: nothing in the background may try to reach out.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  // Playwright gives every context a new, empty profile.
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, colorScheme: "light" });
  page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
});

after(async () => {
  await browser?.close();
});

/** Each device row of the card: name, balance (exact, from the view), status text. */
async function readDevices() {
  return page.locator("energy-tokens-card .device").evaluateAll((rows) =>
    rows.map((row) => ({
      name: row.dataset.device,
      id: row.dataset.deviceId,
      balance: Number(row.querySelector(".balance").dataset.balance),
      text: row.querySelector(".balance").textContent,
      status: row.querySelector(".status").textContent,
      exhausted: row.querySelector(".status").classList.contains("exhausted"),
      runOut: row.querySelector(".run-out").textContent,
    }))
  );
}

async function ledgerEntries() {
  return Number(await page.locator("energy-tokens-card .ledger-summary").getAttribute("data-entries"));
}

/** The household's view, as the card is sent it. */
async function householdView() {
  return page.evaluate(() => document.querySelector("home-assistant").hass.callWS({ type: "energy_tokens/household" }));
}

/** How many pixels of a PNG (a Playwright screenshot) are within ``tolerance`` of a CSS colour. */
async function pixelsOf(png, colour, tolerance = 40) {
  return page.evaluate(
    async ({ data, colour, tolerance }) => {
      const image = new Image();
      image.src = `data:image/png;base64,${data}`;
      await image.decode();
      const canvas = document.createElement("canvas");
      [canvas.width, canvas.height] = [image.width, image.height];
      const context = canvas.getContext("2d");
      context.drawImage(image, 0, 0);
      const [r, g, b] = colour.match(/\d+/g).map(Number);
      const { data: pixels } = context.getImageData(0, 0, image.width, image.height);
      let count = 0;
      for (let i = 0; i < pixels.length; i += 4) {
        if (Math.abs(pixels[i] - r) + Math.abs(pixels[i + 1] - g) + Math.abs(pixels[i + 2] - b) <= tolerance) count++;
      }
      return count;
    },
    { data: png.toString("base64"), colour, tolerance }
  );
}

test("log in with the printed owner account", async () => {
  assert.ok(demoDevices.length >= 4, `demo devices: ${demoDevices}`);
  await page.goto(DASHBOARD);
  await page.locator("input[name=username]").fill(login.username);
  await page.locator("input[name=password]").fill(login.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(/\/energy-tokens\/household/);
  await page.locator("energy-tokens-card .device").first().waitFor();
});

test("the card shows every demo device's balance against its allowance", async () => {
  await until(async () => (await page.locator("energy-tokens-card .device").count()) === demoDevices.length);
  const devices = await readDevices();
  assert.deepEqual(devices.map((device) => device.name).sort(), [...demoDevices].sort());
  for (const device of devices) {
    assert.ok(Number.isFinite(device.balance), `${device.name} has a balance`);
    assert.match(device.text, /tokens? of \d/, `${device.name} shows balance of allowance`);
    if (device.exhausted) {
      assert.equal(device.runOut, "Out of tokens", `${device.name} is out of tokens`);
    }
    await assertVisible(`energy-tokens-card .device[data-device="${device.name}"] svg.chart`);
  }
  await assertVisible("energy-tokens-card .figure.pool");
  await assertVisible("energy-tokens-card .figure.period");
  await page.screenshot({ path: join(SCREENSHOTS, "01-dashboard.png"), fullPage: true });
  await page.locator("energy-tokens-card ha-card").screenshot({ path: join(SCREENSHOTS, "00-card.png") });
});

test("a transfer through the card moves tokens and lands in the ledger", async () => {
  const before = await readDevices();
  const entriesBefore = await ledgerEntries();
  const [source, target] = [...before].sort((a, b) => b.balance - a.balance);
  const amount = source.balance >= 3 ? 1.234 : 0.125; // thousandths: shown exactly, not rounded
  const form = page.locator("energy-tokens-card form");
  await form.locator("select[name=from]").selectOption(source.id);
  await form.locator("select[name=to]").selectOption(target.id);
  await form.locator("input[name=amount]").fill(String(amount));
  await page.screenshot({ path: join(SCREENSHOTS, "02-transfer-filled.png"), fullPage: true });
  await form.locator("button[name=transfer]").click();

  await page.locator("energy-tokens-card .message.ok").filter({ hasText: "Moved" }).waitFor();
  // The ledger's newest movement is this transfer, once the group commit made it durable.
  const newest = page.locator("energy-tokens-card .movements li").first();
  await newest.filter({ hasText: `Transfer: ${source.name} → ${target.name}, ${amount} tokens` }).waitFor();
  const entriesAfter = await ledgerEntries();
  assert.ok(entriesAfter > entriesBefore, `ledger entries ${entriesBefore} -> ${entriesAfter}`);

  const afterDevices = await readDevices();
  const find = (list, name) => list.find((device) => device.name === name).balance;
  // The source only loses (the transfer, and metering); the target gains the transfer, less at
  // most what its meter charged during these seconds.
  const sourceDrop = find(before, source.name) - find(afterDevices, source.name);
  const targetGain = find(afterDevices, target.name) - find(before, target.name);
  assert.ok(sourceDrop >= amount - 0.001, `${source.name} dropped by ${sourceDrop}`);
  assert.ok(targetGain <= amount + 0.001 && targetGain > amount - 1, `${target.name} gained ${targetGain}`);
  await page.screenshot({ path: join(SCREENSHOTS, "03-after-transfer.png"), fullPage: true });
});

test("a refused transfer shows the integration's message and moves nothing", async () => {
  const devices = await readDevices();
  const form = page.locator("energy-tokens-card form");
  await form.locator("select[name=from]").selectOption(devices[0].id);
  await form.locator("select[name=to]").selectOption(devices[1].id);
  await form.locator("input[name=amount]").fill("100000");
  await form.locator("button[name=transfer]").click();
  await page
    .locator("energy-tokens-card .message.error")
    .filter({ hasText: "does not have that many tokens" })
    .waitFor();
  await page.waitForTimeout(2000); // a commit would have landed by now
  const movements = await page.locator("energy-tokens-card .movements li").allTextContents();
  assert.ok(!movements.some((text) => text.includes("100,000") || text.includes("100000")));
});

test("an allowance set for the next period shows beside this period's", async () => {
  const [device] = await readDevices();
  const row = `energy-tokens-card .device[data-device="${device.name}"]`;
  const allowanceNow = async () => (await page.locator(`${row} .balance`).textContent()).match(/of ([\d.,]+)/)[1];
  const before = await allowanceNow();
  await page.evaluate(
    (id) =>
      document
        .querySelector("home-assistant")
        .hass.callService("energy_tokens", "set_allowance", { device: id, amount: 42.5, when: "next_period" }),
    device.id
  );
  const line = page.locator(`${row} .next-allowance`);
  await line.waitFor();
  assert.equal(await line.getAttribute("data-next-allowance"), "42.5");
  assert.match(await line.textContent(), /next period: 42\.5 tokens/);
  assert.equal(await allowanceNow(), before, "this period keeps its allowance");
  await page.screenshot({ path: join(SCREENSHOTS, "04-next-allowance.png"), fullPage: true });
});

test("the card follows the theme: dark mode changes its colours", async () => {
  const colours = () =>
    page.locator("energy-tokens-card ha-card").evaluate((card) => {
      const style = getComputedStyle(card);
      return { background: style.backgroundColor, text: style.color };
    });
  const light = await colours();
  await page.emulateMedia({ colorScheme: "dark" });
  let dark;
  // The default theme switches on the media query.
  await until(async () => (dark = await colours()).background !== light.background);
  assert.notEqual(dark.background, light.background);
  assert.notEqual(dark.text, light.text);
  await page.screenshot({ path: join(SCREENSHOTS, "05-dark-theme.png"), fullPage: true });
});

test("each device's burn-down chart draws its course, projection, allowance and borrowing", async () => {
  // The demo's appliances run 60 times faster than real time: within a minute one has used some.
  let view;
  await until(async () => (view = await householdView()).devices.some((device) => device.consumed >= 1));
  for (const device of view.devices) {
    const row = page.locator(`energy-tokens-card .device[data-device-id="${device.device_id}"]`);
    const line = row.locator("svg.chart polyline.left");
    // The start, one point per 24th of the period gone by, and the live balance.
    assert.ok(device.chart.left.length >= 1, `${device.device} has a course`);
    await until(async () => Number(await line.getAttribute("data-points")) >= device.chart.left.length + 1);
    assert.equal(await row.locator("svg.chart line.allowance").count(), 1);
    assert.equal(await row.locator("svg.chart polyline.projected").count(), 1);
    const borrowedSlices = device.chart.borrowed.filter((tokens) => tokens > 0).length;
    assert.equal(await row.locator("svg.chart line.borrowed").count(), borrowedSlices, `${device.device} borrowing marks`);
    const label = await row.locator("svg.chart").getAttribute("aria-label");
    assert.match(label, new RegExp(`^${device.device}: .* left of .*; at this pace`), label);
  }
  // The chart is drawn: its line, in the theme's primary colour, shows in a screenshot.
  const busiest = [...view.devices].sort((a, b) => b.consumed - a.consumed)[0];
  const chart = page.locator(`energy-tokens-card .device[data-device-id="${busiest.device_id}"] svg.chart`);
  const stroke = await chart.locator("polyline.left").evaluate((line) => getComputedStyle(line).stroke);
  const png = await chart.screenshot({ path: join(SCREENSHOTS, "06-burn-down.png") });
  assert.ok((await pixelsOf(png, stroke)) > 40, `the line (${stroke}) is drawn`);
  // The README's picture of the card (docs/card.png is copied from it): light, all of it in view.
  await page.emulateMedia({ colorScheme: "light" });
  await page.setViewportSize({ width: 1280, height: 2400 });
  await page.locator("energy-tokens-card input[name=amount]").fill(""); // the refused transfer's
  await page.locator("energy-tokens-card .message").evaluate((box) => (box.textContent = ""));
  try {
    await page.locator("energy-tokens-card ha-card").screenshot({ path: join(SCREENSHOTS, "card.png") });
  } finally {
    await page.setViewportSize({ width: 1280, height: 1000 });
  }
});

test("the household's bar shows where the period's tokens went", async () => {
  const view = await householdView();
  const bar = page.locator("energy-tokens-card .breakdown svg");
  await bar.waitFor();
  const parts = await bar.locator("rect").evaluateAll((rects) =>
    rects.map((rect) => ({ part: rect.dataset.part, tokens: Number(rect.dataset.tokens), width: Number(rect.getAttribute("width")) }))
  );
  const used = view.devices.reduce((sum, device) => sum + device.consumed, 0);
  const left = view.devices.reduce((sum, device) => sum + Math.max(device.balance, 0), 0);
  const total = used + left + view.pool + view.sold;
  const sum = (key) => parts.filter((part) => part.part.startsWith(key)).reduce((s, part) => s + part.tokens, 0);
  // Read a moment apart (meters keep running): within a token.
  assert.ok(Math.abs(sum("used") - used) < 1, `used ${sum("used")} vs ${used}`);
  assert.ok(Math.abs(sum("pool") - view.pool) < 1, `pool ${sum("pool")} vs ${view.pool}`);
  assert.ok(Math.abs(parts.reduce((s, part) => s + part.width, 0) - 1000) < 0.1, "the bar is full");
  assert.ok(total > 0);
  const png = await page.locator("energy-tokens-card .breakdown").screenshot({ path: join(SCREENSHOTS, "07-breakdown.png") });
  assert.ok(png.length > 1000);
});

test("on a phone (390 px wide) the card, its charts and its form fit", async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    const card = page.locator("energy-tokens-card ha-card");
    await until(async () => (await card.boundingBox()).width <= 390);
    const overflow = await card.evaluate((element) => element.scrollWidth - element.clientWidth);
    assert.ok(overflow <= 0, `the card overflows by ${overflow} px`);
    for (const box of await page.locator("energy-tokens-card svg.chart").evaluateAll((charts) =>
      charts.map((chart) => chart.getBoundingClientRect().toJSON())
    )) {
      assert.ok(box.width >= 250 && box.right <= 390, `a chart ${box.width} px wide, to ${box.right}`);
    }
    await card.screenshot({ path: join(SCREENSHOTS, "08-phone.png") });
  } finally {
    await page.setViewportSize({ width: 1280, height: 1000 });
  }
});

test("the card follows the user's language (German, the second translation)", async () => {
  await page.evaluate(() => localStorage.setItem("selectedLanguage", JSON.stringify("de")));
  await page.reload();
  try {
    await page.locator("energy-tokens-card .figure.pool").filter({ hasText: "Vorrat" }).waitFor();
    await page.locator("energy-tokens-card h3").filter({ hasText: "Token übertragen" }).waitFor();
    const label = await page.locator("energy-tokens-card svg.chart").first().getAttribute("aria-label");
    assert.match(label, /übrig von .*; bei diesem Tempo/);
    assert.match(await page.locator("energy-tokens-card button[name=transfer]").textContent(), /Übertragen/);
    await page.locator("energy-tokens-card ha-card").screenshot({ path: join(SCREENSHOTS, "09-german.png") });
  } finally {
    await page.evaluate(() => localStorage.removeItem("selectedLanguage"));
    await page.reload();
    await page.locator("energy-tokens-card .figure.pool").filter({ hasText: "Pool" }).waitFor();
  }
});

test("a newcomer makes an automation from a blueprint, as the README says", async () => {
  const blueprints = await page.evaluate(() =>
    document.querySelector("home-assistant").hass.callWS({ type: "blueprint/list", domain: "automation" })
  );
  const path = "energy_tokens/notify_low_balance.yaml";
  assert.ok(path in blueprints, `blueprints: ${Object.keys(blueprints)}`);
  const [device] = await readDevices();
  // What the automation editor saves for "Create automation" from the blueprint.
  await page.evaluate(
    ({ path, device }) =>
      document.querySelector("home-assistant").hass.callApi("POST", "config/automation/config/newcomer_low", {
        alias: "Newcomer: budget low",
        use_blueprint: { path, input: { device } },
      }),
    { path, device: device.id }
  );
  await until(() =>
    page.evaluate(() => {
      const state = document.querySelector("home-assistant").hass.states["automation.newcomer_budget_low"];
      return state !== undefined && state.state === "on";
    })
  );
});

test("a newcomer asks by voice, as the README says", async () => {
  const answer = await page.evaluate(() =>
    document
      .querySelector("home-assistant")
      .hass.callWS({ type: "conversation/process", text: "energy token status", language: "en" })
  );
  assert.equal(answer.response.response_type, "action_done", JSON.stringify(answer));
  assert.match(answer.response.speech.plain.speech, /tokens unallocated/);
});

/** Polls ``check`` until it holds (Playwright's waits cannot count through shadow roots). */
async function until(check) {
  for (let waited = 0; waited < TIMEOUT; waited += 250) {
    if (await check()) return;
    await page.waitForTimeout(250);
  }
  assert.fail(`still not true after ${TIMEOUT} ms: ${check}`);
}

async function assertVisible(selector) {
  await page.locator(selector).first().waitFor({ state: "visible" });
}
