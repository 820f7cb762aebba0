// Exchange the API key for the session cookie (JSON POST), then open the explorer.
import { localeSwitch, t } from "./i18n.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
localeSwitch(document.getElementById("locale-switch"));

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  const apiKey = document.getElementById("api-key").value.trim();
  const response = await fetch("/explore/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ apiKey }),
    credentials: "same-origin",
  });
  if (response.ok) {
    window.location.assign("/explore");
  } else {
    error.textContent = response.status === 401
      ? t("login.rejected") : t("login.failed", { status: response.status });
  }
});
