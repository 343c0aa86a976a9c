// Energy Tokens dashboard card: balances against allowances, status, projected run-out, each
// device's burn-down chart, where the household's tokens went, transfers between devices, and
// the ledger's latest movements. Its texts are the integration's translations (the "card"
// category, loaded through Home Assistant's translation machinery in the user's language).
// Plain JavaScript served as is by the integration (no build step); data comes from the
// `energy_tokens/subscribe_household` WebSocket subscription (pushed on every change, never
// polled), transfers go through the `energy_tokens.transfer`
// action, so the card can do nothing the user could not do with the action itself.

const DOMAIN = "energy_tokens";
const CARD_TYPE = "energy-tokens-card";
const RETRY_MS = 10000; // a household not loaded yet is asked for again after this
const CLOCK_MS = 30000; // re-render "time left" twice a minute

const SVG = "http://www.w3.org/2000/svg";
const SLICES = 24; // the view's burn-down points: one per 24th of the period (history.py)
const CHART = { width: 300, height: 72, pad: 6 }; // viewBox units; stretched to the card's width
const SYSTEM_ACCOUNTS = ["pool", "provider", "market", "consumed", "for_sale"]; // named by the translations
const MEMBER_PREFIX = "member:"; // a recipient on another instance: "member:<household id>"

const STYLE = `
  :host { display: block; }
  ha-card { padding: 16px; color: var(--primary-text-color); }
  .header { display: flex; justify-content: space-between; align-items: baseline; gap: 8px;
    flex-wrap: wrap; margin-bottom: 12px; }
  .title { font-size: var(--ha-font-size-xl, 20px); font-weight: var(--ha-font-weight-medium, 500); }
  .household-figures { color: var(--secondary-text-color); font-size: 14px; display: flex;
    gap: 16px; flex-wrap: wrap; }
  .figure strong { color: var(--primary-text-color); font-weight: 500; }
  .device { padding: 8px 0; border-top: 1px solid var(--divider-color); }
  .device:first-child { border-top: none; }
  .row { display: flex; justify-content: space-between; align-items: center; gap: 8px; }
  .name { font-weight: 500; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .status { font-size: 12px; padding: 2px 8px; border-radius: 12px; color: var(--text-primary-color, #fff);
    background: var(--success-color, #43a047); white-space: nowrap; }
  .status.low { background: var(--warning-color, #ffa600); }
  .status.borrowing { background: var(--info-color, #039be5); }
  .status.exhausted { background: var(--error-color, #db4437); }
  .bar { height: 8px; border-radius: 4px; margin: 6px 0 4px;
    background: var(--secondary-background-color, rgba(127, 127, 127, 0.2)); overflow: hidden; }
  .fill { height: 100%; background: var(--primary-color); transition: width 0.4s ease; }
  .fill.low { background: var(--warning-color, #ffa600); }
  .fill.borrowing { background: var(--info-color, #039be5); }
  .fill.exhausted { background: var(--error-color, #db4437); }
  .details { display: flex; justify-content: space-between; gap: 8px; font-size: 13px;
    color: var(--secondary-text-color); }
  .chart { display: block; width: 100%; height: 72px; margin: 4px 0 2px; overflow: visible; }
  .chart .axis { stroke: var(--divider-color); stroke-width: 1; }
  .chart .allowance { stroke: var(--secondary-text-color); stroke-width: 1; stroke-dasharray: 4 3; }
  .chart .left { fill: none; stroke: var(--primary-color); stroke-width: 2; stroke-linejoin: round; }
  .chart .left.low { stroke: var(--warning-color, #ffa600); }
  .chart .left.exhausted { stroke: var(--error-color, #db4437); }
  .chart .projected { fill: none; stroke: var(--primary-color); stroke-width: 1.5; stroke-dasharray: 2 3;
    opacity: 0.8; }
  .chart .borrowed { stroke: var(--info-color, #039be5); stroke-width: 2; }
  .chart * { vector-effect: non-scaling-stroke; }
  .legend { display: flex; flex-wrap: wrap; gap: 4px 12px; font-size: 12px; color: var(--secondary-text-color); }
  .legend .key { display: inline-block; width: 14px; height: 0; margin-right: 4px; vertical-align: middle;
    border-top: 2px solid var(--primary-color); }
  .legend .key.allowance { border-top: 1px dashed var(--secondary-text-color); }
  .legend .key.projected { border-top: 2px dotted var(--primary-color); }
  .legend .key.borrowed { width: 2px; height: 10px; border: none; background: var(--info-color, #039be5); }
  .legend .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px;
    vertical-align: middle; }
  .breakdown svg { display: block; width: 100%; height: 16px; border-radius: 4px; margin: 4px 0 6px; }
  h3 { font-size: 15px; font-weight: 500; margin: 16px 0 8px; }
  form { display: grid; grid-template-columns: repeat(auto-fit, minmax(110px, 1fr)); gap: 8px;
    align-items: end; }
  label { display: flex; flex-direction: column; font-size: 12px; color: var(--secondary-text-color); gap: 2px; }
  select, input { font: inherit; color: var(--primary-text-color); min-width: 0;
    background: var(--input-fill-color, var(--secondary-background-color, transparent));
    border: 1px solid var(--divider-color); border-radius: 4px; padding: 6px; }
  button { font: inherit; cursor: pointer; border: none; border-radius: 4px; padding: 8px 12px;
    background: var(--primary-color); color: var(--text-primary-color, #fff); }
  button[disabled] { opacity: 0.5; cursor: default; }
  .message { font-size: 13px; margin-top: 6px; min-height: 1em; }
  .message.error { color: var(--error-color, #db4437); }
  .message.ok { color: var(--success-color, #43a047); }
  .ledger-summary { font-size: 13px; color: var(--secondary-text-color); }
  ol { list-style: none; padding: 0; margin: 4px 0 0; font-size: 13px; }
  li { display: grid; grid-template-columns: auto 1fr auto; gap: 8px; padding: 3px 0;
    border-top: 1px solid var(--divider-color); }
  li .seq, li .time { color: var(--secondary-text-color); font-variant-numeric: tabular-nums; }
  code { font-size: 12px; }
  .ranking-list li { display: block; }
  .offers-list { list-style: none; padding: 0; margin: 4px 0; }
  .offers-list li { display: flex; align-items: center; justify-content: space-between; gap: 8px; padding: 2px 0; }
  .ranking-list li.own { font-weight: 500; }
  .ranking-period, .ranking-none { font-size: 13px; color: var(--secondary-text-color); }
  .error-box { color: var(--error-color, #db4437); }
`;

/** Builds an element: attributes (on* become listeners), then children (strings become text). */
function h(tag, attributes = {}, ...children) {
  return fill(document.createElement(tag), attributes, children);
}

/** Builds an SVG element, the same way. */
function svg(tag, attributes = {}, ...children) {
  return fill(document.createElementNS(SVG, tag), attributes, children);
}

function fill(element, attributes, children) {
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return element;
}

/** The points of a polyline, rounded to a hundredth of a unit. */
function polyline(points) {
  return points.map(([x, y]) => `${x.toFixed(2)},${y.toFixed(2)}`).join(" ");
}

class EnergyTokensCard extends HTMLElement {
  constructor() {
    super();
    this._config = {};
    this._hass = null;
    this._data = null;
    this._error = null;
    this._unsubscribe = null; // the household view's subscription, while there is one
    this._subscribing = false;
    this._retry = null;
    this._clock = null;
    this._busy = false;
    this._language = null; // the language whose texts are loaded (or loading)
    this._localizeTexts = null; // what loading them returned
    this.attachShadow({ mode: "open" });
  }

  // ----- Lovelace card API

  setConfig(config) {
    if (config.household !== undefined && typeof config.household !== "string") {
      throw new Error("household must be the config entry id of an Energy Tokens household");
    }
    this._config = { show_charts: true, show_ledger: true, ...config };
    this._data = null;
    this._build();
    this._unsubscribeView(); // another household, maybe: subscribe again
    this._subscribeView();
  }

  set hass(hass) {
    this._hass = hass;
    this._loadTexts(); // once per language
    this._subscribeView(); // once: the integration pushes every change after that
  }

  get hass() {
    return this._hass;
  }

  connectedCallback() {
    this._clock = setInterval(() => this._render(), CLOCK_MS);
    this._subscribeView();
  }

  disconnectedCallback() {
    clearInterval(this._clock);
    clearTimeout(this._retry);
    this._clock = this._retry = null;
    this._unsubscribeView();
  }

  getCardSize() {
    const devices = this._data ? this._data.devices.length : 3;
    return 4 + devices * (this._config.show_charts ? 3 : 1) + (this._config.show_ledger ? 4 : 0);
  }

  getGridOptions() {
    return { columns: 12, min_columns: 6, rows: "auto" };
  }

  static getStubConfig() {
    return {};
  }

  static getConfigForm() {
    return {
      schema: [
        { name: "household", selector: { config_entry: { integration: DOMAIN } } },
        { name: "title", selector: { text: {} } },
        { name: "show_charts", default: true, selector: { boolean: {} } },
        { name: "show_ledger", default: true, selector: { boolean: {} } },
      ],
      // The editor passes Home Assistant's localize: the card's texts once a card has loaded them.
      computeLabel: (schema, localize) =>
        (localize && localize(`component.${DOMAIN}.card.editor.${schema.name}`)) || schema.name,
    };
  }

  // ----- texts

  /** Load the card's texts (the integration's "card" translations) in the user's language. */
  async _loadTexts() {
    const hass = this._hass;
    if (!hass || this._language === hass.language || !hass.loadBackendTranslation) return;
    const language = (this._language = hass.language);
    try {
      const localize = await hass.loadBackendTranslation("card", DOMAIN);
      if (this._language === language) this._localizeTexts = localize;
    } catch (err) {
      this._language = null; // asked again on the next update
      return;
    }
    this._render();
  }

  /** A text of the card, its placeholders filled (ICU messages, as Home Assistant's own). */
  _t(key, values) {
    const full = `component.${DOMAIN}.card.${key}`;
    const text = (this._hass && this._hass.localize(full, values)) || "";
    return text || (this._localizeTexts && this._localizeTexts(full, values)) || "";
  }

  get _textsLoaded() {
    return this._t("pool") !== "";
  }


  // ----- data

  /** Subscribe to the household's view: sent now, then pushed whenever it changes. */
  async _subscribeView() {
    if (!this._hass || !this.isConnected || this._unsubscribe || this._subscribing) return;
    this._subscribing = true;
    const message = { type: `${DOMAIN}/subscribe_household` };
    if (this._config.household) message.household = this._config.household;
    try {
      this._unsubscribe = await this._hass.connection.subscribeMessage((view) => {
        this._data = view;
        this._error = null;
        this._render();
      }, message);
    } catch (err) {
      // Not loaded yet, say: shown, and tried again in a while.
      this._error = (err && err.message) || String(err);
      this._render();
      this._retry = setTimeout(() => {
        this._retry = null;
        this._subscribeView();
      }, RETRY_MS);
    } finally {
      this._subscribing = false;
    }
    if (!this.isConnected) this._unsubscribeView(); // removed while subscribing
  }

  _unsubscribeView() {
    const unsubscribe = this._unsubscribe;
    this._unsubscribe = null;
    if (unsubscribe) unsubscribe().catch(() => {}); // the connection may be gone already
  }

  async _transfer(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const from = form.elements.from.value;
    const to = form.elements.to.value;
    const amount = Number(form.elements.amount.value);
    if (!from || !to || !(amount > 0)) {
      this._showMessage("error", this._t("transfer_invalid"));
      return;
    }
    // A member of the community (another instance's household) or one of this instance's devices.
    const member = to.startsWith(MEMBER_PREFIX) ? to.slice(MEMBER_PREFIX.length) : null;
    this._busy = true;
    this._showMessage(null, "");
    this._renderForm();
    try {
      await this._hass.callWS({
        type: "call_service",
        domain: DOMAIN,
        service: "transfer",
        service_data: member
          ? { from_device: from, to_member: member, amount }
          : { from_device: from, to_device: to, amount },
      });
      const names = this._deviceNames();
      const members = Object.fromEntries((this._data.members || []).map((m) => [m.household, m.name]));
      const values = { tokens: this._tokens(amount), source: names[from], target: member ? members[member] : names[to] };
      this._showMessage("ok", member ? this._t("transfer_offered", values) : this._t("transfer_done", values));
      form.elements.amount.value = "";
    } catch (err) {
      this._showMessage("error", (err && err.message) || String(err)); // translated by the action
    } finally {
      this._busy = false;
      this._renderForm(); // the new balances and the movement are pushed by the subscription
    }
  }

  // ----- formatting

  _statusLabel(status) {
    return this._hass.localize(`component.${DOMAIN}.entity.sensor.status.state.${status}`) || status;
  }

  _number(value, digits = 1) {
    const locale = (this._hass && this._hass.locale && this._hass.locale.language) || undefined;
    return new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(value);
  }

  /** An amount of money in ``currency``, to the millionth a price may have. */
  _money(value, currency) {
    const locale = (this._hass && this._hass.locale && this._hass.locale.language) || undefined;
    return new Intl.NumberFormat(locale, { style: "currency", currency, maximumFractionDigits: 6 }).format(value);
  }

  /** A text in the plural form the user's language takes for ``count`` (``key_one``, ...). */
  _plural(key, count, values) {
    const locale = (this._hass && this._hass.locale && this._hass.locale.language) || undefined;
    const form = new Intl.PluralRules(locale).select(count);
    return this._t(`${key}_${form}`, values) || this._t(`${key}_other`, values);
  }

  // Exact: the ledger counts thousandths, so 24.817 is shown as it is (never "-0" for -0.001).
  _tokens(value) {
    const exact = Math.round(value * 1000) / 1000 || 0;
    return this._plural("tokens", exact, { count: this._number(exact, 3) });
  }

  _time(iso, withDay = false) {
    const locale = (this._hass && this._hass.locale && this._hass.locale.language) || undefined;
    // The user's profile chooses the browser's time zone ("local", the default) or the server's.
    const server = this._hass.locale && this._hass.locale.time_zone === "server";
    const options = { hour: "2-digit", minute: "2-digit" };
    if (server) options.timeZone = this._hass.config.time_zone;
    if (withDay) Object.assign(options, { weekday: "short", day: "numeric", month: "short" });
    return new Intl.DateTimeFormat(locale, options).format(new Date(iso));
  }

  /** A moment, with its day when it is not within the next 24 hours. */
  _moment(iso) {
    return this._time(iso, Date.parse(iso) - Date.now() > 86400000);
  }

  _duration(ms) {
    if (ms <= 0) return this._t("ending_now");
    const minutes = Math.floor(ms / 60000);
    const days = Math.floor(minutes / 1440);
    const hours = Math.floor((minutes % 1440) / 60);
    if (days > 0) return this._t("days_hours", { days, hours });
    if (hours > 0) return this._t("hours_minutes", { hours, minutes: minutes % 60 });
    return this._t("minutes", { minutes });
  }

  _deviceNames() {
    const names = {};
    for (const device of this._data ? this._data.devices : []) {
      names[device.device_id] = this._displayName(device);
    }
    return names;
  }

  _displayName(device) {
    const registered = this._hass.devices && this._hass.devices[device.device_id];
    return (registered && registered.name_by_user) || device.device;
  }

  _accountName(name) {
    return SYSTEM_ACCOUNTS.includes(name) ? this._t(`account.${name}`) : name || "";
  }

  // ----- rendering

  _build() {
    const root = this.shadowRoot;
    root.replaceChildren();
    this._card = h("ha-card");
    this._header = h("div", { class: "header" });
    this._breakdown = h("div", { class: "breakdown" });
    this._devices = h("div", { class: "devices" });
    this._transferTitle = h("h3");
    this._form = h("form", { onsubmit: (event) => this._transfer(event) });
    this._messageBox = h("div", { class: "message", role: "status" });
    this._ledger = h("div", { class: "ledger" });
    this._ranking = h("div", { class: "ranking" });
    this._offers = h("div", { class: "offers" });
    this._card.append(
      this._header,
      this._breakdown,
      this._devices,
      this._transferTitle,
      this._form,
      this._messageBox,
      this._offers,
      this._ranking,
      this._ledger
    );
    root.append(h("style", {}, STYLE), this._card);
    this._formDevices = null;
  }

  _render() {
    if (!this._card) this._build();
    if (this._error !== null && this._data === null) {
      this._header.replaceChildren(h("div", { class: "error-box" }, this._error));
      return;
    }
    const data = this._data;
    if (!data || !this._hass || !this._textsLoaded) {
      this._header.replaceChildren(h("div", { class: "title" }, this._config.title || (data && data.household) || ""));
      return;
    }
    const left = data.period_end ? Date.parse(data.period_end) - Date.now() : null;
    this._header.replaceChildren(
      h("div", { class: "title" }, this._config.title || data.household),
      h(
        "div",
        { class: "household-figures" },
        h("span", { class: "figure pool" }, this._t("pool"), " ", h("strong", {}, this._tokens(data.pool))),
        left === null
          ? null
          : h(
              "span",
              { class: "figure period", title: this._t("period_ends", { time: this._time(data.period_end, true) }) },
              this._t("period_left", { duration: this._duration(left) })
            )
      )
    );
    this._renderBreakdown();
    this._devices.replaceChildren(...data.devices.map((device) => this._renderDevice(device)));
    this._transferTitle.textContent = this._t("transfer_title");
    this._renderForm();
    this._renderOffers();
    this._renderRanking();
    this._renderLedger();
  }

  /** The community members' sale offers, each with a button to buy it (in a community). */
  _renderOffers() {
    const offers = this._data.offers || [];
    if (!offers.length) {
      this._offers.replaceChildren();
      return;
    }
    const rows = offers.map((offer) =>
      h(
        "li",
        { "data-offer": offer.offer },
        h(
          "span",
          { title: offer.note || "" },
          this._t("offer_row", {
            seller: offer.seller,
            tokens: this._tokens(offer.amount),
            price: this._money(offer.price, offer.currency),
            time: this._time(offer.expires, true),
          })
        ),
        h("button", { type: "button", name: "buy", disabled: this._busy, onclick: () => this._buy(offer) }, this._t("offer_buy"))
      )
    );
    this._offers.replaceChildren(h("h3", {}, this._t("offers_title")), h("ul", { class: "offers-list" }, rows));
  }

  async _buy(offer) {
    this._busy = true;
    this._showMessage(null, "");
    this._renderOffers();
    try {
      await this._hass.callWS({
        type: "call_service",
        domain: DOMAIN,
        service: "buy_offer",
        service_data: { household: this._data.entry_id, offer: offer.offer },
      });
      this._showMessage("ok", this._t("offer_bought", { tokens: this._tokens(offer.amount), seller: offer.seller }));
    } catch (err) {
      this._showMessage("error", (err && err.message) || String(err)); // translated by the action
    } finally {
      this._busy = false;
      this._renderOffers();
    }
  }

  /** The community's ranking: who consumed most in the latest closed period (in a community). */
  _renderRanking() {
    const ranking = this._data.ranking;
    if (!ranking) {
      this._ranking.replaceChildren();
      return;
    }
    const rows = ranking.households.map((row) =>
      h(
        "li",
        { class: row.own ? "own" : "", "data-rank": row.rank ?? "" },
        row.rank === null
          ? this._t("ranking_unranked", { name: row.name, kwh: this._number(row.consumed_kwh), period: row.period })
          : this._t("ranking_row", {
              rank: row.rank,
              name: row.name,
              kwh: this._number(row.consumed_kwh),
              share: this._number(row.share ?? 0),
            })
      )
    );
    this._ranking.replaceChildren(
      h("h3", {}, this._t("ranking_title")),
      ranking.period === null
        ? h("div", { class: "ranking-none" }, this._t("ranking_none"))
        : h("div", { class: "ranking-period" }, this._t("ranking_period", { period: ranking.period })),
      h("ol", { class: "ranking-list" }, rows)
    );
  }

  /** Where the period's tokens went: used by each device, left on devices, in the pool, sold. */
  _renderBreakdown() {
    const data = this._data;
    if (!this._config.show_charts) {
      this._breakdown.replaceChildren();
      return;
    }
    const parts = data.devices
      .map((device, index) => ({
        key: `used-${index}`,
        label: this._t("breakdown_used", { device: this._displayName(device) }),
        tokens: Math.max(device.consumed, 0),
        color: `var(--graph-color-${(index % 15) + 1}, hsl(${(index * 137) % 360} 55% 50%))`,
      }))
      .concat([
        {
          key: "left",
          label: this._t("breakdown_left"),
          tokens: data.devices.reduce((sum, device) => sum + Math.max(device.balance, 0), 0),
          color: "var(--secondary-background-color, #e0e0e0)",
        },
        { key: "pool", label: this._t("breakdown_pool"), tokens: Math.max(data.pool, 0), color: "var(--disabled-color, #bdbdbd)" },
        { key: "sold", label: this._t("breakdown_sold"), tokens: Math.max(data.sold, 0), color: "var(--success-color, #43a047)" },
      ])
      .filter((part) => part.tokens > 0);
    const total = parts.reduce((sum, part) => sum + part.tokens, 0);
    if (total <= 0) {
      this._breakdown.replaceChildren();
      return;
    }
    let x = 0;
    const segments = parts.map((part) => {
      const width = (part.tokens / total) * 1000;
      const segment = svg(
        "rect",
        { x: x.toFixed(2), y: 0, width: width.toFixed(2), height: 16, fill: part.color, "data-part": part.key, "data-tokens": part.tokens },
        svg("title", {}, `${part.label}: ${this._tokens(part.tokens)}`)
      );
      x += width;
      return segment;
    });
    const summary = parts.map((part) => `${part.label} ${this._tokens(part.tokens)}`).join(", ");
    this._breakdown.replaceChildren(
      h("h3", {}, this._t("breakdown_title")),
      svg(
        "svg",
        {
          viewBox: "0 0 1000 16",
          preserveAspectRatio: "none",
          role: "img",
          "aria-label": this._t("breakdown_label", { total: this._tokens(total), parts: summary }),
          "data-total": total,
        },
        segments
      ),
      h(
        "div",
        { class: "legend" },
        parts.map((part) =>
          h(
            "span",
            { "data-part": part.key },
            h("span", { class: "swatch", style: `background: ${part.color}` }),
            `${part.label} ${this._tokens(part.tokens)}`
          )
        )
      )
    );
  }

  _renderDevice(device) {
    const share = device.allowance > 0 ? Math.max(0, Math.min(1, device.balance / device.allowance)) : 0;
    const name = this._displayName(device);
    // An exhausted device has run out already: it never "lasts the period".
    const runOut =
      device.status === "exhausted"
        ? this._t("out_of_tokens")
        : device.run_out
          ? this._t("runs_out", { time: this._moment(device.run_out) })
          : this._t("lasts_the_period");
    return h(
      "div",
      { class: "device", "data-device": name, "data-device-id": device.device_id },
      h(
        "div",
        { class: "row" },
        h("span", { class: "name" }, name),
        h("span", { class: `status ${device.status}` }, this._statusLabel(device.status))
      ),
      this._config.show_charts && device.chart
        ? this._renderChart(device, name)
        : h(
            "div",
            {
              class: "bar",
              role: "progressbar",
              "aria-label": this._t("balance_label", { device: name }),
              "aria-valuemin": 0,
              "aria-valuemax": device.allowance,
              "aria-valuenow": device.balance,
            },
            h("div", { class: `fill ${device.status}`, style: `width: ${(share * 100).toFixed(1)}%` })
          ),
      h(
        "div",
        { class: "details" },
        h(
          "span",
          { class: "balance", "data-balance": device.balance },
          this._t("balance_of_allowance", { balance: this._tokens(device.balance), allowance: this._number(device.allowance, 3) })
        ),
        h("span", { class: "run-out" }, runOut)
      ),
      // A change made for the next period: this period keeps the allowance above.
      device.next_period_allowance == null
        ? null
        : h(
            "div",
            { class: "details next-allowance", "data-next-allowance": device.next_period_allowance },
            this._t("next_allowance", { tokens: this._tokens(device.next_period_allowance) })
          )
    );
  }

  /**
   * A device's burn-down: tokens left at the start and at the end of each 24th of the period so
   * far, the live balance now, the line its pace projects to the period's end (or to zero, at its
   * run-out), its allowance (dashed) and the slices in which it borrowed.
   */
  _renderChart(device, name) {
    const data = this._data;
    const chart = device.chart;
    const start = Date.parse(data.period_start);
    const end = Date.parse(data.period_end);
    const now = Math.min(Math.max(Date.parse(data.now), start), end);
    const slice = (end - start) / SLICES;
    const line = chart.left.map((left, index) => [start + index * slice, left]).concat([[now, device.balance]]);
    // The projection stops at zero: where it crosses it is the run-out.
    let projected = [end, chart.projected];
    if (chart.projected < 0 && device.balance > 0) {
      projected = [now + ((end - now) * device.balance) / (device.balance - chart.projected), 0];
    }
    const values = line.map(([, value]) => value).concat([device.allowance, 0, projected[1]]);
    const top = Math.max(...values);
    const bottom = Math.min(...values);
    const { width, height, pad } = CHART;
    const x = (time) => ((time - start) / (end - start || 1)) * width;
    const y = (value) => pad + ((top - value) / (top - bottom || 1)) * (height - 2 * pad);
    const toPoints = (points) => polyline(points.map(([time, value]) => [x(time), y(value)]));
    const borrowed = chart.borrowed.reduce((sum, tokens) => sum + tokens, 0);
    // In words, as the entities say it: the run-out (to its grain), or what is left at the end.
    const projection = device.run_out
      ? this._t("chart_projection_run_out", { time: this._moment(device.run_out) })
      : this._t("chart_projection_end", { tokens: this._tokens(chart.projected) });
    return h(
      "div",
      { class: "burn-down" },
      svg(
        "svg",
        {
          class: "chart",
          viewBox: `0 0 ${width} ${height}`,
          preserveAspectRatio: "none",
          role: "img",
          "aria-label": this._t("chart_label", {
            device: name,
            balance: this._tokens(device.balance),
            allowance: this._tokens(device.allowance),
            projection,
          }),
        },
        svg("line", { class: "axis", x1: 0, x2: width, y1: y(0), y2: y(0) }),
        svg("line", { class: "allowance", x1: 0, x2: width, y1: y(device.allowance), y2: y(device.allowance) }),
        chart.borrowed.map((tokens, index) =>
          tokens > 0
            ? svg(
                "line",
                {
                  class: "borrowed",
                  x1: x(Math.min(start + (index + 0.5) * slice, now)),
                  x2: x(Math.min(start + (index + 0.5) * slice, now)),
                  y1: pad,
                  y2: height - pad,
                  "data-tokens": tokens,
                },
                svg("title", {}, this._t("chart_borrowed", { tokens: this._tokens(tokens) }))
              )
            : null
        ),
        svg("polyline", { class: `left ${device.status}`, points: toPoints(line), "data-points": line.length }),
        svg("polyline", { class: "projected", points: toPoints([[now, device.balance], projected]), "data-projected": chart.projected })
      ),
      h(
        "div",
        { class: "legend" },
        h("span", {}, h("span", { class: "key allowance" }), this._t("chart_allowance")),
        h("span", {}, h("span", { class: "key projected" }), this._t("chart_projected")),
        borrowed > 0
          ? h("span", {}, h("span", { class: "key borrowed" }), this._t("chart_borrowed", { tokens: this._tokens(borrowed) }))
          : null
      )
    );
  }

  _renderForm() {
    if (!this._data) return;
    const devices = this._data.devices.filter((device) => device.device_id);
    const members = this._data.members || [];
    const key = [this._hass.language]
      .concat(devices.map((device) => `${device.device_id}:${this._displayName(device)}`))
      .concat(members.map((member) => `${MEMBER_PREFIX}${member.household}:${member.name}`))
      .join("|");
    if (key !== this._formDevices) {
      const keep = this._form.elements.from ? this._form.elements.from.value : "";
      const keepTo = this._form.elements.to ? this._form.elements.to.value : "";
      const keepAmount = this._form.elements.amount ? this._form.elements.amount.value : "";
      const options = (selected) =>
        devices.map((device) =>
          h("option", { value: device.device_id, selected: device.device_id === selected }, this._displayName(device))
        );
      const fallbackTo = devices.length > 1 ? devices[1].device_id : "";
      this._form.replaceChildren(
        h("label", {}, this._t("transfer_from"), h("select", { name: "from" }, options(keep || (devices[0] || {}).device_id))),
        h(
          "label",
          {},
          this._t("transfer_to"),
          h(
            "select",
            { name: "to" },
            options(keepTo || fallbackTo),
            members.length
              ? h(
                  "optgroup",
                  { label: this._t("transfer_members") },
                  members.map((member) => {
                    const value = `${MEMBER_PREFIX}${member.household}`;
                    return h("option", { value, selected: value === keepTo }, member.name);
                  })
                )
              : null
          )
        ),
        h(
          "label",
          {},
          this._t("transfer_amount"),
          h("input", { name: "amount", type: "number", min: "0.001", step: "any", inputmode: "decimal", value: keepAmount })
        ),
        h("button", { type: "submit", name: "transfer" }, this._t("transfer_button"))
      );
      this._formDevices = key;
    }
    const recipients = devices.length - 1 + members.length;
    this._form.elements.transfer.disabled = this._busy || !devices.length || recipients < 1;
  }

  _showMessage(kind, text) {
    this._messageBox.className = `message ${kind || ""}`;
    this._messageBox.textContent = text;
  }

  _renderLedger() {
    const data = this._data;
    if (!this._config.show_ledger) {
      this._ledger.replaceChildren();
      return;
    }
    this._ledger.replaceChildren(
      h("h3", {}, this._t("ledger_title")),
      h(
        "div",
        { class: "ledger-summary", "data-entries": data.ledger.entries },
        `${this._plural("ledger_summary", data.ledger.entries, { entries: this._number(data.ledger.entries, 0) })} `,
        h("code", { class: "head", title: data.ledger.head }, data.ledger.head.slice(0, 12))
      ),
      h(
        "ol",
        { class: "movements" },
        data.recent.map((entry) =>
          h(
            "li",
            { "data-seq": entry.seq, title: `${entry.note || ""} ${entry.hash}`.trim() },
            h("span", { class: "seq" }, `#${entry.seq}`),
            h(
              "span",
              { class: "what" },
              this._t("movement", {
                kind: this._t(`kind.${entry.kind}`) || entry.kind,
                source: this._accountName(entry.from),
                target: this._accountName(entry.to),
                tokens: this._tokens(entry.amount),
              })
            ),
            h("span", { class: "time" }, this._time(entry.time))
          )
        )
      )
    );
  }
}

if (!customElements.get(CARD_TYPE)) {
  customElements.define(CARD_TYPE, EnergyTokensCard);
  window.customCards = window.customCards || [];
  window.customCards.push({
    type: CARD_TYPE,
    name: "Energy Tokens",
    description: "Token balances, burn-down charts, transfers and the latest ledger movements of a household.",
    documentationURL: "https://github.com/energy-tokens/energy_tokens#dashboard-card",
  });
}
