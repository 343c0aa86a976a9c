// Energy Tokens dashboard card: balances against allowances, status, projected run-out, the
// household pool and period, transfers between devices, and the ledger's latest movements.
// Plain JavaScript served as is by the integration (no build step); data comes from the
// `energy_tokens/subscribe_household` WebSocket subscription (pushed on every change, never
// polled), transfers go through the `energy_tokens.transfer`
// action, so the card can do nothing the user could not do with the action itself.

const DOMAIN = "energy_tokens";
const CARD_TYPE = "energy-tokens-card";
const RETRY_MS = 10000; // a household not loaded yet is asked for again after this
const CLOCK_MS = 30000; // re-render "time left" twice a minute

const SYSTEM_ACCOUNTS = {
  pool: "Household pool",
  provider: "Provider",
  market: "Market",
  consumed: "Consumed",
};
const STATUS_LABELS = { ok: "OK", low: "Low", borrowing: "Borrowing", exhausted: "Exhausted" };
const KIND_LABELS = {
  purchase: "Purchase",
  allocate: "Allowance",
  debit: "Used",
  transfer: "Transfer",
  borrow: "Borrowed",
  sale: "Sold",
  rollover: "Rolled over",
  forfeit: "Forfeited",
  adjust: "Adjustment",
};

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
  .error-box { color: var(--error-color, #db4437); }
`;

/** Builds an element: attributes (on* become listeners), then children (strings become text). */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return element;
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
    this.attachShadow({ mode: "open" });
  }

  // ----- Lovelace card API

  setConfig(config) {
    if (config.household !== undefined && typeof config.household !== "string") {
      throw new Error("household must be the config entry id of an Energy Tokens household");
    }
    this._config = { show_ledger: true, ...config };
    this._data = null;
    this._build();
    this._unsubscribeView(); // another household, maybe: subscribe again
    this._subscribeView();
  }

  set hass(hass) {
    this._hass = hass;
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
    return 3 + (this._data ? this._data.devices.length : 3) + (this._config.show_ledger ? 4 : 0);
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
        { name: "show_ledger", default: true, selector: { boolean: {} } },
      ],
      computeLabel: (schema) =>
        ({
          household: "Household (optional when there is only one)",
          title: "Title",
          show_ledger: "Show the latest ledger movements",
        })[schema.name],
    };
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
      this._showMessage("error", "Choose two devices and an amount above zero.");
      return;
    }
    this._busy = true;
    this._showMessage(null, "");
    this._renderForm();
    try {
      await this._hass.callWS({
        type: "call_service",
        domain: DOMAIN,
        service: "transfer",
        service_data: { from_device: from, to_device: to, amount },
      });
      const names = this._deviceNames();
      this._showMessage("ok", `Moved ${this._tokens(amount)} from ${names[from]} to ${names[to]}.`);
      form.elements.amount.value = "";
    } catch (err) {
      this._showMessage("error", (err && err.message) || String(err));
    } finally {
      this._busy = false;
      this._renderForm(); // the new balances and the movement are pushed by the subscription
    }
  }

  // ----- formatting

  _localize(key, fallback) {
    const text = this._hass && this._hass.localize ? this._hass.localize(key) : "";
    return text || fallback;
  }

  _statusLabel(status) {
    return this._localize(
      `component.${DOMAIN}.entity.sensor.status.state.${status}`,
      STATUS_LABELS[status] || status
    );
  }

  _number(value, digits = 1) {
    const locale = (this._hass && this._hass.locale && this._hass.locale.language) || undefined;
    return new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(value);
  }

  // Exact: the ledger counts thousandths, so 24.817 is shown as it is (never "-0" for -0.001).
  _tokens(value) {
    return `${this._number(value, 3)} ${Math.abs(value) === 1 ? "token" : "tokens"}`;
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

  _duration(ms) {
    if (ms <= 0) return "ending now";
    const minutes = Math.floor(ms / 60000);
    const days = Math.floor(minutes / 1440);
    const hours = Math.floor((minutes % 1440) / 60);
    if (days > 0) return `${days} d ${hours} h`;
    if (hours > 0) return `${hours} h ${minutes % 60} min`;
    return `${minutes} min`;
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
    return SYSTEM_ACCOUNTS[name] || name || "";
  }

  // ----- rendering

  _build() {
    const root = this.shadowRoot;
    root.replaceChildren();
    this._card = h("ha-card");
    this._header = h("div", { class: "header" });
    this._devices = h("div", { class: "devices" });
    this._form = h("form", { onsubmit: (event) => this._transfer(event) });
    this._messageBox = h("div", { class: "message", role: "status" });
    this._ledger = h("div", { class: "ledger" });
    this._card.append(
      this._header,
      this._devices,
      h("h3", {}, "Transfer tokens"),
      this._form,
      this._messageBox,
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
    if (!data) {
      this._header.replaceChildren(h("div", { class: "title" }, this._config.title || "Energy Tokens"));
      return;
    }
    const left = data.period_end ? Date.parse(data.period_end) - Date.now() : null;
    this._header.replaceChildren(
      h("div", { class: "title" }, this._config.title || data.household),
      h(
        "div",
        { class: "household-figures" },
        h("span", { class: "figure pool" }, "Pool ", h("strong", {}, this._tokens(data.pool))),
        left === null
          ? null
          : h(
              "span",
              { class: "figure period", title: `Period ends ${this._time(data.period_end, true)}` },
              "Period ",
              h("strong", {}, this._duration(left)),
              " left"
            )
      )
    );
    this._devices.replaceChildren(...data.devices.map((device) => this._renderDevice(device)));
    this._renderForm();
    this._renderLedger();
  }

  _renderDevice(device) {
    const share = device.allowance > 0 ? Math.max(0, Math.min(1, device.balance / device.allowance)) : 0;
    // An exhausted device has run out already: it never "lasts the period".
    const runOut =
      device.status === "exhausted"
        ? "Out of tokens"
        : device.run_out
          ? `Runs out ${this._time(device.run_out, Date.parse(device.run_out) - Date.now() > 86400000)}`
          : "Lasts the period";
    return h(
      "div",
      { class: "device", "data-device": this._displayName(device), "data-device-id": device.device_id },
      h(
        "div",
        { class: "row" },
        h("span", { class: "name" }, this._displayName(device)),
        h("span", { class: `status ${device.status}` }, this._statusLabel(device.status))
      ),
      h(
        "div",
        {
          class: "bar",
          role: "progressbar",
          "aria-label": `${this._displayName(device)} balance`,
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
          `${this._tokens(device.balance)} of ${this._number(device.allowance)}`
        ),
        h("span", { class: "run-out" }, runOut)
      ),
      // A change made for the next period: this period keeps the allowance above.
      device.next_period_allowance == null
        ? null
        : h(
            "div",
            { class: "details next-allowance", "data-next-allowance": device.next_period_allowance },
            `From the next period: ${this._number(device.next_period_allowance)} tokens`
          )
    );
  }

  _renderForm() {
    if (!this._data) return;
    const devices = this._data.devices.filter((device) => device.device_id);
    const key = devices.map((device) => `${device.device_id}:${this._displayName(device)}`).join("|");
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
        h("label", {}, "From", h("select", { name: "from" }, options(keep || (devices[0] || {}).device_id))),
        h("label", {}, "To", h("select", { name: "to" }, options(keepTo || fallbackTo))),
        h(
          "label",
          {},
          "Tokens",
          h("input", { name: "amount", type: "number", min: "0.001", step: "any", inputmode: "decimal", value: keepAmount })
        ),
        h("button", { type: "submit", name: "transfer" }, "Transfer")
      );
      this._formDevices = key;
    }
    this._form.elements.transfer.disabled = this._busy || devices.length < 2;
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
      h("h3", {}, "Ledger"),
      h(
        "div",
        { class: "ledger-summary" },
        `${this._number(data.ledger.entries, 0)} entries · head `,
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
              `${KIND_LABELS[entry.kind] || entry.kind}: ${this._accountName(entry.from)} → ${this._accountName(entry.to)}, ${this._tokens(entry.amount)}`
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
    description: "Token balances, run-out, transfers and the latest ledger movements of a household.",
    documentationURL: "https://github.com/energy-tokens/energy_tokens#dashboard-card",
  });
}
