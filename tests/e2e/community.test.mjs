// End-to-end: two real Home Assistant processes in one community (tests/e2e/community_pair.py,
// started by scripts/e2e) send each other tokens through the card, in headless Chromium. After
// it, scripts/e2e stops both and has the auditor match their ledgers.
//
// Environment (scripts/e2e sets it): ET_PAIR (the pair.json the setup wrote), ET_SCREENSHOTS,
// CHROMIUM.

import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { chromium } from "playwright-core";

const PAIR = process.env.ET_PAIR;
const SCREENSHOTS = process.env.ET_SCREENSHOTS;
const TIMEOUT = 30_000;

assert.ok(PAIR && SCREENSHOTS, "run through scripts/e2e (ET_PAIR and ET_SCREENSHOTS unset)");
const pair = JSON.parse(readFileSync(PAIR, "utf8"));

let browser;
const pages = {};

before(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
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
  for (const name of ["north", "south"]) {
    // One context each: two users of two instances, each with its own session.
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, colorScheme: "light" });
    pages[name] = await context.newPage();
    pages[name].setDefaultTimeout(TIMEOUT);
    // What the browser says, for a run that fails: scripts/e2e keeps it in its output.
    pages[name].on("console", (message) => {
      if (message.type() === "error") console.error(`${name} console: ${message.text()}`);
    });
    pages[name].on("pageerror", (error) => console.error(`${name} page error: ${error.message}`));
    pages[name].on("requestfailed", (request) => console.error(`${name} request failed: ${request.url()}`));
  }
});

after(async () => {
  await browser?.close();
});

const card = (name) => pages[name].locator("energy-tokens-card");

/** The card's form: send ``amount`` tokens from the household's Heater to the other household. */
async function send(from, to, amount) {
  const form = card(from).locator("form");
  const heater = await card(from).locator('.device[data-device="Heater"]').getAttribute("data-device-id");
  await form.locator("select[name=from]").selectOption(heater);
  await form.locator("select[name=to]").selectOption(`member:${pair[to].entry_id}`);
  await form.locator("input[name=amount]").fill(String(amount));
  await form.locator("button[name=transfer]").click();
}

/** The newest movements the card lists. */
async function movements(name) {
  return card(name).locator(".movements li").allTextContents();
}

async function waitForMovement(name, text) {
  await card(name).locator(".movements li").filter({ hasText: text }).first().waitFor();
}

test("log in to both instances and see the card", async () => {
  for (const [name, instance] of Object.entries(pair)) {
    const page = pages[name];
    await page.goto(`${instance.url}/energy-tokens/household`);
    await page.locator("input[name=username]").fill(instance.login.username);
    await page.locator("input[name=password]").fill(instance.login.password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(/\/energy-tokens\/household/);
    // Two instances and a browser on two shared cores: Home Assistant's own frontend bundle
    // sometimes fails to load on a first visit (a failed request, the splash screen stays), as
    // it would for a user, who reloads. The card itself is checked from here on.
    for (let attempt = 1; ; attempt++) {
      try {
        await card(name).locator('.device[data-device="Heater"]').waitFor({ timeout: 20_000 });
        break;
      } catch (error) {
        if (attempt === 3) throw error;
        console.error(`${name}: the frontend did not load, reloading (attempt ${attempt})`);
        await page.reload();
      }
    }
    await page.screenshot({ path: join(SCREENSHOTS, `community-00-${name}.png`), fullPage: true });
  }
});

test("the card offers the other household as a member of the community", async () => {
  for (const [name, other] of [
    ["north", "south"],
    ["south", "north"],
  ]) {
    const group = card(name).locator("select[name=to] optgroup");
    await group.waitFor({ state: "attached" });
    assert.equal(await group.getAttribute("label"), "Community members");
    assert.deepEqual(await group.locator("option").allTextContents(), [pair[other].name]);
    assert.equal(await group.locator("option").getAttribute("value"), `member:${pair[other].entry_id}`);
  }
  await pages.north.screenshot({ path: join(SCREENSHOTS, "community-01-north.png"), fullPage: true });
});

test("North sends South 2 tokens through the card; both cards show it", async () => {
  await send("north", "south", 2);
  await card("north")
    .locator(".message.ok")
    .filter({ hasText: "Offered 2 tokens from Heater to South: they arrive once South's Home Assistant takes them." })
    .waitFor();
  await waitForMovement("north", "Transfer: Heater → South, 2 tokens");
  // South's instance took it: the tokens reached its pool.
  await waitForMovement("south", "Transfer: North → Household pool, 2 tokens");
  await pages.south.screenshot({ path: join(SCREENSHOTS, "community-02-south-received.png"), fullPage: true });
});

test("South sends 1.5 tokens back; North's pool gets them", async () => {
  await send("south", "north", 1.5);
  await card("south").locator(".message.ok").filter({ hasText: "Offered 1.5 tokens from Heater to North" }).waitFor();
  await waitForMovement("south", "Transfer: Heater → North, 1.5 tokens");
  await waitForMovement("north", "Transfer: South → Household pool, 1.5 tokens");
  await pages.north.screenshot({ path: join(SCREENSHOTS, "community-03-north-received.png"), fullPage: true });
});

test("a transfer to a member beyond the balance is refused and moves nothing", async () => {
  const before = await movements("north");
  await send("north", "south", 100000);
  await card("north").locator(".message.error").filter({ hasText: "does not have that many tokens" }).waitFor();
  await pages.north.waitForTimeout(2000); // a commit would have landed by now
  assert.deepEqual(await movements("north"), before);
});

test("North offers a token for sale; South buys it with the card's button", async () => {
  // North's user offers through Home Assistant's own API, as an automation or the actions page would.
  const heater = await card("north").locator('.device[data-device="Heater"]').getAttribute("data-device-id");
  await pages.north.evaluate(
    (device) =>
      document
        .querySelector("home-assistant")
        .hass.callService("energy_tokens", "offer_for_sale", { device, amount: 1, price: 0.25, note: "sunny week" }),
    heater
  );
  await waitForMovement("north", "Transfer: Heater → For sale to the community, 1 token");
  const offer = card("south").locator(".offers-list li").filter({ hasText: "North: 1 token at €0.25 per token" });
  await offer.waitFor();
  assert.equal(await card("south").locator(".offers h3").textContent(), "Tokens for sale in the community");
  await pages.south.screenshot({ path: join(SCREENSHOTS, "community-04-south-offer.png"), fullPage: true });
  await offer.locator("button[name=buy]").click();
  await card("south").locator(".message.ok").filter({ hasText: "Bought 1 token from North" }).waitFor();
  await waitForMovement("south", "Transfer: North → Household pool, 1 token");
  await card("south").locator(".offers-list").waitFor({ state: "detached" }); // sold: gone from the list
  await pages.south.screenshot({ path: join(SCREENSHOTS, "community-05-south-bought.png"), fullPage: true });
});

/** Through the user's own session: opt in to publishing the totals, then close the period. */
async function shareAndClose(name) {
  await pages[name].evaluate(async (entryId) => {
    const hass = document.querySelector("home-assistant").hass;
    const subentries = await hass.callWS({ type: "config_entries/subentries/list", entry_id: entryId });
    const community = subentries.find((subentry) => subentry.subentry_type === "community");
    const path = "config/config_entries/subentries/flow";
    const form = await hass.callApi("POST", path, {
      handler: [entryId, "community"],
      source: "reconfigure",
      subentry_id: community.subentry_id,
    });
    const done = await hass.callApi("POST", `${path}/${form.flow_id}`, { share_totals: true });
    if (done.reason !== "reconfigure_successful") throw new Error(JSON.stringify(done));
  }, pair[name].entry_id);
  // Opting in reloads the household; once it is loaded again, its period is closed.
  await pages[name].evaluate(async (entryId) => {
    const hass = document.querySelector("home-assistant").hass;
    for (let attempt = 1; ; attempt++) {
      const [entry] = await hass.callWS({ type: "config_entries/get", domain: "energy_tokens" });
      if (entry.entry_id === entryId && entry.state === "loaded") break;
      if (attempt === 120) throw new Error(`the household did not load again: ${entry.state}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await hass.callService("energy_tokens", "close_period", { household: entryId });
  }, pair[name].entry_id);
}

test("both households opt in to the ranking; each card ranks both for the period closed", async () => {
  for (const name of ["north", "south"]) await shareAndClose(name);
  for (const name of ["north", "south"]) {
    const rows = card(name).locator(".ranking-list li");
    await rows.nth(1).waitFor();
    assert.equal(await card(name).locator(".ranking h3").textContent(), "Who consumed most");
    // Neither heater used anything: both are first, with the same consumption.
    assert.deepEqual((await rows.allTextContents()).sort(), ["1. North: 0 kWh (0 %)", "1. South: 0 kWh (0 %)"]);
    assert.equal(await card(name).locator(`.ranking-list li.own`).textContent(), `1. ${pair[name].name}: 0 kWh (0 %)`);
  }
  await pages.south.screenshot({ path: join(SCREENSHOTS, "community-06-south-ranking.png"), fullPage: true });
});
